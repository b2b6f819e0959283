"""Resume a stopped run: make sure no run is alive here, unlock, re-run unfinished jobs.

After a hard kill (SIGKILL, power loss, a node lost) Snakemake leaves its lock and marks the
jobs that were running as incomplete; resuming takes `snakemake --unlock` and then
`snakemake --rerun-incomplete`. But `--unlock` also removes the lock of a run that is still
going, without a word, and two runs writing the same files spoil each other's outputs. So
this refuses while any Snakemake process works in the current folder (where Snakemake keeps
its lock, `.snakemake/`), and names it.

    python tools/resume.py [snakemake arguments, e.g. --configfile my.yaml --cores 4]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

def live_snakemake_processes(folder: Path) -> list[psutil.Process]:
    """Snakemake processes (other than this one's ancestors) working in `folder`."""
    own = {os.getpid(), *(parent.pid for parent in psutil.Process().parents())}
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        info = process.info
        if info["pid"] in own or not info["cmdline"] or info["cwd"] is None:
            continue
        # `snakemake ...`, `python -m snakemake ...` or `python .../snakemake/__main__.py`;
        # a job's own script runs as plain python, under a live Snakemake process anyway.
        launcher = info["cmdline"][:3]
        if any("snakemake" in argument for argument in launcher) and (
            Path(info["cwd"]).resolve() == folder.resolve()
        ):
            found.append(process)
    return found


def resume(arguments: list[str], folder: Path) -> int:
    """Unlock and re-run unfinished jobs in `folder`; 2 if a run is still alive there."""
    live = live_snakemake_processes(folder)
    if live:
        print(
            f"A Snakemake run is still working in {folder}; not unlocking:\n"
            + "\n".join(f"  pid {p.pid}: {' '.join(p.cmdline())}" for p in live)
            + "\nWait for it to finish, or stop it (kill <pid>), then resume again.",
            file=sys.stderr,
        )
        return 2
    snakemake = [sys.executable, "-m", "snakemake"]
    unlocked = subprocess.run([*snakemake, "--unlock", *arguments], cwd=folder, check=False)
    if unlocked.returncode:
        return unlocked.returncode
    return subprocess.run(
        [*snakemake, "--rerun-incomplete", *arguments], cwd=folder, check=False
    ).returncode


if __name__ == "__main__":
    sys.exit(resume(sys.argv[1:], Path.cwd()))
