"""A real single-node SLURM cluster on localhost, as a session-scoped pytest fixture.

Use it from a test module (or register it in conftest.py) with

    from slurm_cluster import slurm_cluster  # noqa: F401  (pytest finds it by name)

    def test_x(slurm_cluster):
        subprocess.run(["sbatch", ...], env=slurm_cluster.env(), check=True)

The fixture never installs anything: `bash tests/install_slurm.sh` (called by .ci/run)
installs slurmctld, slurmd, slurm-client and munge. Without them, without root or off
Debian, every test that uses the fixture is skipped with the reason.

Everything it starts is private to the session and stopped again by PID at teardown:
  * munged, with its own socket (slurm.conf AuthInfo=socket=...), so a munged of the system
    or of another session is neither needed nor touched;
  * slurmctld and slurmd in the foreground (-D), as children of pytest, with their own
    slurm.conf, state, spool, pid and log files in a scratch folder, and free TCP ports, so
    a cluster still running from an earlier session (or a system one on 6817/6818) does not
    interfere. Clients find this cluster through SLURM_CONF (see `SlurmCluster.env()`).
Nothing is written outside the scratch folder but the munged folder /tmp/clirbench-munge-*
(removed at teardown): munged insists on a folder its user owns, and the scratch folder
under /tmp/pytest-of-root is private to root.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REQUIRED_PROGRAMS = (
    "slurmctld",
    "slurmd",
    "munged",
    "munge",
    "unmunge",
    "sbatch",
    "squeue",
    "sinfo",
    "scontrol",
    "scancel",
    "srun",
)
SBIN = ("/usr/sbin", "/sbin")  # daemons live here; a non-login PATH may lack them
MUNGE_KEY = Path("/etc/munge/munge.key")
STARTUP_TIMEOUT = 60  # seconds until the node must be idle
# The plugin's squeue status mode needs MinJobAge >= 3 x slurm-init-seconds-before-status-checks
# (profiles/slurm/config.yaml: 40 s), else it falls back to sacct, which fails without slurmdbd.
MIN_JOB_AGE = 600
MIN_NODE_MEMORY_MB = 32000  # declared node memory is at least this (see _node_line)
_LIBC = ctypes.CDLL(None, use_errno=True)


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
    else:
        try:
            pwd.getpwnam("munge")
        except KeyError:
            reasons.append("no user munge (install with `bash tests/install_slurm.sh`)")
        if not MUNGE_KEY.exists():
            reasons.append(f"{MUNGE_KEY} is missing (install with `bash tests/install_slurm.sh`)")
    return reasons


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM this daemon when pytest dies without its teardown (SIGKILL).
    libc is loaded in the parent: the child may already be user munge, which cannot read
    Python's library folder to import ctypes."""
    with contextlib.suppress(Exception):
        _LIBC.prctl(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG


def _as_user_dying_with_parent(uid: int, gid: int):
    """preexec_fn: switch to uid/gid, then _die_with_parent (a later change of user would
    clear the parent-death signal, so Popen(user=...) cannot be combined with it)."""

    def preexec() -> None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        _die_with_parent()

    return preexec


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
    munge_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def munge_socket(self) -> Path:
        return self.munge_dir / "munge.socket"

    @property
    def slurmctld_log(self) -> Path:
        return self.scratch / "log" / "slurmctld.log"

    @property
    def slurmd_log(self) -> Path:
        return self.scratch / "log" / "slurmd.log"

    @property
    def bin_dir(self) -> Path:
        """Shims of SLURM clients (see _write_srun_shim), first on PATH in env()."""
        return self.scratch / "bin"

    @property
    def env_vars(self) -> dict[str, str]:
        """The variables that point SLURM clients (sbatch, squeue...) at this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """os.environ (or base) + env_vars, without SLURM_* left over from an outer job,
        with the srun shim first on PATH (jobs inherit this environment through sbatch)."""
        env = {
            key: value
            for key, value in (os.environ if base is None else base).items()
            if not key.startswith(("SLURM_", "SBATCH_", "SQUEUE_", "SRUN_", "SALLOC_"))
        }
        env["PATH"] = os.pathsep.join([str(self.bin_dir), env.get("PATH", ""), *SBIN])
        env.update(self.env_vars)
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 30) -> str:
        """Run a SLURM client command against this cluster; returns its stdout."""
        result = subprocess.run(
            args, check=False, env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout

    def submitted_job_ids(self) -> list[str]:
        """Ids of the batch jobs slurmctld accepted (from its log, SlurmctldDebug=info)."""
        pattern = re.compile(r"_slurm_rpc_submit_batch_job: JobId=(\d+)")
        return pattern.findall(self.slurmctld_log.read_text(errors="replace"))

    def log_tails(self, lines: int = 40) -> str:
        parts = [
            ("slurmctld", self.slurmctld_log),
            ("slurmd", self.slurmd_log),
            ("munged", self.munge_dir / "munged.log"),
        ]
        return "\n".join(
            f"--- {name} log ({path}) ---\n{_tail(path, lines)}" for name, path in parts
        )


def _munge_works(socket_path: Path) -> bool:
    try:
        token = subprocess.run(
            [_which("munge"), "-S", str(socket_path), "-n"],
            capture_output=True,
            timeout=5,
            check=True,
        ).stdout
        subprocess.run(
            [_which("unmunge"), "-S", str(socket_path)],
            input=token,
            capture_output=True,
            timeout=5,
            check=True,
        )
    except (subprocess.SubprocessError, OSError):
        return False
    return True


def _start_munged(cluster: SlurmCluster) -> None:
    """A private munged (as user munge, with the system key) on cluster.munge_socket."""
    munge_user = pwd.getpwnam("munge")
    folder = cluster.munge_dir
    os.chown(folder, munge_user.pw_uid, munge_user.pw_gid)
    folder.chmod(0o755)  # munged refuses folders others can write; clients need to enter it
    with open(cluster.scratch / "log" / "munged.out", "wb") as out:
        process = subprocess.Popen(
            [
                _which("munged"),
                "--foreground",
                f"--socket={cluster.munge_socket}",
                f"--pid-file={folder / 'munged.pid'}",
                f"--log-file={folder / 'munged.log'}",
                f"--seed-file={folder / 'munged.seed'}",
                f"--key-file={MUNGE_KEY}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,
            start_new_session=True,  # a Ctrl-C of pytest reaches teardown, not the daemons
            # The fixture runs in pytest's main thread; the hook only calls setuid and prctl.
            preexec_fn=_as_user_dying_with_parent(munge_user.pw_uid, munge_user.pw_gid),  # noqa: PLW1509
        )
    cluster.processes["munged"] = process
    deadline = time.monotonic() + 15
    while not _munge_works(cluster.munge_socket):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"munged did not start (exit code {process.poll()}):\n"
                f"{_tail(cluster.scratch / 'log' / 'munged.out')}\n"
                f"{_tail(folder / 'munged.log')}"
            )
        time.sleep(0.1)


def _node_line(node_name: str, min_memory_mb: int) -> str:
    """The NodeName= line from `slurmd -C`: the real CPU layout, and its memory (less 256 MB
    for the OS) but at least min_memory_mb, so the rules' real mem_mb requests (8 GB for
    embeddings) fit on a small CI machine too. Nothing enforces memory here (no cgroups), and
    SlurmdParameters=config_overrides keeps slurmd from draining a node that has less."""
    output = subprocess.run(
        [_which("slurmd"), "-C"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    first = next(line for line in output.splitlines() if line.startswith("NodeName="))
    fields = dict(item.split("=", 1) for item in first.split())
    memory = max(int(fields.get("RealMemory", "1024")) - 256, min_memory_mb)
    keep = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore")
    hardware = " ".join(f"{key}={fields[key]}" for key in keep if key in fields)
    return f"NodeName={node_name} NodeAddr=127.0.0.1 {hardware} RealMemory={memory} State=UNKNOWN"


def write_slurm_conf(
    scratch: Path,
    munge_socket: Path,
    partition: str = "debug",
    min_memory_mb: int = MIN_NODE_MEMORY_MB,
) -> tuple[Path, str]:
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
        f"AuthInfo=socket={munge_socket}",  # the private munged, for daemons and clients
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
        "JobCompType=jobcomp/filetxt",  # one line per finished job, for debugging
        f"JobCompLoc={scratch / 'log' / 'jobcomp.txt'}",
        f"StateSaveLocation={scratch / 'state'}",
        f"SlurmdSpoolDir={scratch / 'spool'}",  # job scripts run from here: must allow exec
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
        "SlurmdParameters=config_overrides",
        _node_line(node_name, min_memory_mb),
        f"PartitionName={partition} Nodes={node_name} Default=YES MaxTime=INFINITE State=UP",
    ]
    conf = scratch / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n")
    (scratch / "cgroup.conf").write_text("")  # read (if present) next to slurm.conf
    return conf, node_name


def _write_srun_shim(cluster: SlurmCluster) -> None:
    """An `srun` that defaults SLURM_CONF to this cluster's config.

    Inside a job, snakemake-executor-plugin-slurm-jobstep (0.6.1) removes every SLURM_*
    variable except the job's identity (SLURM_CONF included) before it calls `srun` for the
    job step; srun then looks for /etc/slurm/slurm.conf or a DNS SRV record and fails with
    "Could not establish a configuration source". Real clusters have /etc/slurm/slurm.conf;
    this private cluster must not write there, so jobs (which inherit PATH through sbatch
    --export=ALL) find this shim first.
    """
    cluster.bin_dir.mkdir(parents=True, exist_ok=True)
    shim = cluster.bin_dir / "srun"
    shim.write_text(
        "#!/bin/sh\n"
        f"# tests/slurm_cluster.py: srun against the test cluster {cluster.conf}\n"
        f'export SLURM_CONF="${{SLURM_CONF:-{cluster.conf}}}"\n'
        f'exec {_which("srun")} "$@"\n'
    )
    shim.chmod(0o755)


def _stop(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM one process we started (by its PID), SIGKILL if it does not exit."""
    if process.poll() is None:
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
            check=False,
            env=cluster.env(),
            capture_output=True,
            text=True,
            timeout=10,
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
    """Start munged, slurmctld and slurmd; yield a SlurmCluster; stop them (by PID)."""
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "log").mkdir(exist_ok=True)
    munge_dir = Path(tempfile.mkdtemp(prefix="clirbench-munge-", dir="/tmp"))
    conf, node_name = write_slurm_conf(scratch, munge_dir / "munge.socket", partition)
    cluster = SlurmCluster(
        scratch=scratch, conf=conf, partition=partition, node=node_name, munge_dir=munge_dir
    )
    _write_srun_shim(cluster)
    env = cluster.env()
    try:
        _start_munged(cluster)
        for name, command in (
            # -D: foreground, so the PID we hold is the daemon's; -i: ignore stale state.
            ("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(conf)]),
            ("slurmd", [_which("slurmd"), "-D", "-f", str(conf), "-N", node_name]),
        ):
            with open(scratch / "log" / f"{name}.out", "wb") as out:
                cluster.processes[name] = subprocess.Popen(
                    command,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=out,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509  (see _start_munged)
                )
            if name == "slurmctld":
                time.sleep(0.5)  # slurmd registers at once when slurmctld listens already
        _wait_until_idle(cluster)
        yield cluster
    finally:
        if "slurmctld" in cluster.processes:
            _cancel_all_jobs(cluster)
        for name in ("slurmd", "slurmctld", "munged"):  # reverse order of start
            if name in cluster.processes:
                _stop(cluster.processes[name])
        shutil.rmtree(munge_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A running single-node SLURM cluster (skips unless root on Debian with SLURM installed)."""
    reasons = missing_requirements()
    if reasons:
        pytest.skip("local SLURM cluster unavailable: " + "; ".join(reasons))
    with local_slurm_cluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster
