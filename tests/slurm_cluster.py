"""A real single-node SLURM cluster on localhost, as a session-scoped pytest fixture.

Use it from a test module (or register it in conftest.py) with

    from slurm_cluster import slurm_cluster  # noqa: F401  (pytest finds it by name)

    def test_x(slurm_cluster):
        subprocess.run([...], env=slurm_cluster.env(), check=True)

The fixture never installs anything: `bash tests/install_slurm.sh` (called by .ci/run)
installs slurmctld, slurmd, slurm-client and munge. Without them, without root or off
Debian, every test that uses the fixture is skipped with the reason.

What it starts, and stops again by PID at teardown:
  * munged, only when no working munged answers already (munge is a machine-wide service:
    a running one is reused and left alone);
  * slurmctld and slurmd in the foreground (-D), as children of pytest, with a private
    slurm.conf in a scratch folder (state, spool, pid files, logs there too) and free TCP
    ports, so a cluster left running by another session (or a system one on 6817/6818)
    does not interfere. Clients find it through SLURM_CONF only (see `env()`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REQUIRED_PROGRAMS = (
    "slurmctld", "slurmd", "munged", "munge", "unmunge",
    "sbatch", "squeue", "sinfo", "scontrol", "scancel", "srun",
)
SBIN = ("/usr/sbin", "/sbin")  # daemons live here; a non-login PATH may lack them
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_RUN_DIR = Path("/run/munge")
STARTUP_TIMEOUT = 60  # seconds until the node must be idle
# The plugin's squeue status mode needs MinJobAge >= 3 x slurm-init-seconds-before-status-checks
# (profiles/slurm/config.yaml uses 40 s), else it falls back to sacct, which hangs without slurmdbd.
MIN_JOB_AGE = 600


def _which(program: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    return shutil.which(program, path=path)


def missing_requirements() -> list[str]:
    """Why a local cluster cannot run here (empty list: it can)."""
    reasons = []
    if not Path("/etc/debian_version").exists():
        reasons.append("not Debian (/etc/debian_version is missing)")
    if os.name != "posix" or os.geteuid() != 0:
        reasons.append("not running as root")
    missing = [program for program in REQUIRED_PROGRAMS if _which(program) is None]
    if missing:
        reasons.append(
            f"not on PATH: {', '.join(missing)} (install with `bash tests/install_slurm.sh`)"
        )
    if not MUNGE_KEY.exists():
        reasons.append(f"{MUNGE_KEY} is missing (install with `bash tests/install_slurm.sh`)")
    return reasons


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as error:
        return f"<{path}: {error}>"
    return "\n".join(text[-lines:]) or f"<{path} is empty>"


@dataclass
class SlurmCluster:
    """A running local cluster: what the tests need to talk to it."""

    scratch: Path
    conf: Path
    partition: str
    node: str
    slurmctld_log: Path
    slurmd_log: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    started_munged: subprocess.Popen | None = None

    @property
    def env_vars(self) -> dict[str, str]:
        """The variables that point SLURM clients (sbatch, squeue...) at this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """os.environ (or base) + env_vars, without SLURM_* left over from an outer job."""
        env = {
            key: value
            for key, value in (os.environ if base is None else base).items()
            if not key.startswith(("SLURM_", "SBATCH_", "SQUEUE_", "SRUN_", "SALLOC_"))
        }
        env["PATH"] = os.pathsep.join([env.get("PATH", ""), *SBIN])
        env.update(self.env_vars)
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 30) -> str:
        """Run a SLURM client command against this cluster; returns its stdout."""
        result = subprocess.run(
            args, env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout

    def submitted_job_ids(self) -> list[str]:
        """Job ids slurmctld accepted from sbatch, read from its log."""
        pattern = re.compile(r"_slurm_rpc_submit_batch_job: JobId=(\d+)")
        return pattern.findall(self.slurmctld_log.read_text(errors="replace"))

    def log_tails(self, lines: int = 40) -> str:
        return (
            f"--- slurmctld log ({self.slurmctld_log}) ---\n{_tail(self.slurmctld_log, lines)}\n"
            f"--- slurmd log ({self.slurmd_log}) ---\n{_tail(self.slurmd_log, lines)}"
        )


def _munge_works() -> bool:
    try:
        token = subprocess.run(
            [_which("munge"), "-n"], capture_output=True, timeout=5, check=True
        ).stdout
        subprocess.run(
            [_which("unmunge")], input=token, capture_output=True, timeout=5, check=True
        )
    except (subprocess.SubprocessError, OSError):
        return False
    return True


def _start_munged(scratch: Path) -> subprocess.Popen | None:
    """Reuse a working munged; otherwise start one (as user munge) and return it."""
    if _munge_works():
        return None
    import pwd

    munge_user = pwd.getpwnam("munge")
    MUNGE_RUN_DIR.mkdir(parents=True, exist_ok=True)
    os.chown(MUNGE_RUN_DIR, munge_user.pw_uid, munge_user.pw_gid)
    MUNGE_RUN_DIR.chmod(0o755)
    log = open(scratch / "log" / "munged.out", "wb")
    process = subprocess.Popen(
        [_which("munged"), "--foreground"],
        user=munge_user.pw_uid,
        group=munge_user.pw_gid,
        extra_groups=[],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while not _munge_works():
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            raise RuntimeError(
                f"munged did not start (exit code {process.poll()}):\n"
                f"{_tail(scratch / 'log' / 'munged.out')}\n"
                "(look at /var/log/munge/munged.log too)"
            )
        time.sleep(0.2)
    return process


def _node_line(node_name: str) -> str:
    """The NodeName= line from `slurmd -C`, with some memory left for the OS."""
    output = subprocess.run(
        [_which("slurmd"), "-C"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    first = next(line for line in output.splitlines() if line.startswith("NodeName="))
    fields = dict(item.split("=", 1) for item in first.split())
    memory = max(int(fields.get("RealMemory", "1024")) - 256, 512)
    keep = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore")
    hardware = " ".join(f"{key}={fields[key]}" for key in keep if key in fields)
    return f"NodeName={node_name} NodeAddr=127.0.0.1 {hardware} RealMemory={memory} State=UNKNOWN"


def write_slurm_conf(scratch: Path, partition: str = "debug") -> tuple[Path, str]:
    """slurm.conf (+ empty cgroup.conf) for a one-node cluster whose files all live in scratch."""
    node_name = socket.gethostname().split(".")[0]
    for folder in ("state", "spool", "log", "run"):
        (scratch / folder).mkdir(parents=True, exist_ok=True)
    cluster_name = f"clir{uuid.uuid4().hex[:8]}"  # lower case, unique per session
    lines = [
        f"ClusterName={cluster_name}",
        f"SlurmctldHost={node_name}(127.0.0.1)",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        # No systemd/cgroups in containers: track processes through /proc, no task binding.
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "DefMemPerCPU=1024",  # else a job without --mem takes the whole node
        f"MinJobAge={MIN_JOB_AGE}",  # finished jobs stay visible to squeue (the plugin polls it)
        "ReturnToService=2",
        "MailProg=/bin/true",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={scratch / 'log' / 'jobcomp.txt'}",
        f"StateSaveLocation={scratch / 'state'}",
        f"SlurmdSpoolDir={scratch / 'spool'}",
        f"SlurmctldPidFile={scratch / 'run' / 'slurmctld.pid'}",
        f"SlurmdPidFile={scratch / 'run' / 'slurmd.pid'}",
        f"SlurmctldLogFile={scratch / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={scratch / 'log' / 'slurmd.log'}",
        "SlurmctldDebug=info",  # info logs every `_slurm_rpc_submit_batch_job`
        "SlurmdDebug=info",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=30",
        "InactiveLimit=0",
        "KillWait=5",
        "Waittime=0",
        _node_line(node_name),
        f"PartitionName={partition} Nodes={node_name} Default=YES MaxTime=INFINITE State=UP",
    ]
    conf = scratch / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n")
    (scratch / "cgroup.conf").write_text("")  # read (if present) next to slurm.conf
    return conf, node_name


def _stop(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM one process we started (by its PID), SIGKILL if it does not exit."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(5)


def _wait_until_idle(cluster: SlurmCluster, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        for name, process in cluster.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {process.returncode} while starting "
                    f"(slurm.conf: {cluster.conf})\n{cluster.log_tails()}"
                )
        result = subprocess.run(
            ["sinfo", "-h", "-o", "%T", "-n", cluster.node],
            env=cluster.env(), capture_output=True, text=True, timeout=10,
        )
        state = (result.stdout or result.stderr).strip()
        if result.returncode == 0 and state.startswith("idle"):
            return
        time.sleep(0.5)
    raise RuntimeError(
        f"the local SLURM node is not idle after {timeout:.0f} s (last sinfo: {state!r}; "
        f"slurm.conf: {cluster.conf})\n{cluster.log_tails()}"
    )


def _cancel_all_jobs(cluster: SlurmCluster) -> None:
    """Jobs still queued or running (a test failed or was interrupted) go before slurmd."""
    with contextlib.suppress(Exception):
        cluster.run("scancel", "--full", "--user", "root", check=False, timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            states = cluster.run("squeue", "-h", "-o", "%T", check=False, timeout=10).split()
            if not set(states) & {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING"}:
                return
            time.sleep(0.5)


@contextlib.contextmanager
def local_slurm_cluster(scratch: Path, partition: str = "debug"):
    """Start munged (if needed), slurmctld and slurmd; yield a SlurmCluster; stop them."""
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "log").mkdir(exist_ok=True)
    conf, node_name = write_slurm_conf(scratch, partition)
    cluster = SlurmCluster(
        scratch=scratch,
        conf=conf,
        partition=partition,
        node=node_name,
        slurmctld_log=scratch / "log" / "slurmctld.log",
        slurmd_log=scratch / "log" / "slurmd.log",
    )
    env = cluster.env()
    try:
        cluster.started_munged = _start_munged(scratch)
        for name, command in (
            # -D: foreground, so the PID we hold is the daemon's; -i: ignore stale state.
            ("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(conf)]),
            ("slurmd", [_which("slurmd"), "-D", "-f", str(conf), "-N", node_name]),
        ):
            out = open(scratch / "log" / f"{name}.out", "wb")
            cluster.processes[name] = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of pytest reaches teardown, not the daemons
            )
            if name == "slurmctld":
                time.sleep(0.5)  # slurmd registers faster when slurmctld listens already
        _wait_until_idle(cluster)
        yield cluster
    finally:
        if "slurmctld" in cluster.processes:
            _cancel_all_jobs(cluster)
        for name in ("slurmd", "slurmctld"):
            if name in cluster.processes:
                _stop(cluster.processes[name])
        if cluster.started_munged is not None:
            _stop(cluster.started_munged)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A running single-node SLURM cluster (skips unless root on Debian with SLURM installed)."""
    reasons = missing_requirements()
    if reasons:
        pytest.skip("local SLURM cluster unavailable: " + "; ".join(reasons))
    with local_slurm_cluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster
