"""Which code ran, and on what machine: the workflow's commit and the hardware.

The commit is read with git from the workflow's own folder when the workflow starts
(`workflow/rules/common.smk`), with whether the checkout had uncommitted changes (tracked
files edited, or new files not ignored), so a report names the code that made it. Outside a
git checkout (a release tarball), or when git is missing, it is "unknown": a folder is only
taken for a checkout when git tracks the workflow's Snakefile there, so a tarball unpacked
inside some other repository does not borrow that repository's commit.

The hardware is read by the process that calls `hardware()` (the report job): with the
local executor, the machine that ran every job; on a cluster, only the report job's node,
which `hardware()` says when it sees a SLURM job.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

UNKNOWN = "unknown"
COMMAND_TIMEOUT_SECONDS = 10


def source_commit(folder: Path, tracked: str = "Snakefile") -> dict[str, Any]:
    """{"commit": 40-hex or "unknown", "uncommitted_changes": bool or None} of the git
    checkout `folder` is in, if git tracks `folder/tracked` there."""
    unknown: dict[str, Any] = {"commit": UNKNOWN, "uncommitted_changes": None}
    if shutil.which("git") is None:
        return unknown
    try:
        _git(folder, "ls-files", "--error-unmatch", "--", tracked)
        commit = _git(folder, "rev-parse", "--verify", "HEAD").strip()
        changes = _git(folder, "status", "--porcelain", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return unknown
    return {"commit": commit, "uncommitted_changes": bool(changes.strip())}


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
    ).stdout


def hardware() -> dict[str, Any]:
    """CPU model, logical cores (and how many this process may use), total memory, GPUs,
    operating system; and where they were read (see the module docstring)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    slurm_job = os.environ.get("SLURM_JOB_ID")
    recorded_on = (
        f"SLURM job {slurm_job} on node {os.environ.get('SLURMD_NODENAME', UNKNOWN)}"
        if slurm_job
        else "the machine that ran the report job"
    )
    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_bytes": total_memory_bytes(),
        "gpus": gpus(),
        "system": platform.platform(terse=True),
        "recorded_on": recorded_on,
        "cluster": bool(slurm_job),
    }


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (Linux's /proc/cpuinfo, else what `platform` knows)."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "Processor") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or UNKNOWN


def total_memory_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Physical memory in bytes (Linux's /proc/meminfo, else sysconf), None if unknown."""
    try:
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024  # the file says kB and means KiB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def gpus() -> list[str]:
    """Each NVIDIA GPU's name and memory (from nvidia-smi); none without nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            check=True,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ["nvidia-smi present but failed"]
    return [line.strip() for line in listed.splitlines() if line.strip()]
