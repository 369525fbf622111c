"""A real Slurm on localhost for the fleet tests: munged, slurmctld and two slurmd (node1, node2).

Debian's slurm-wlm (22.05 in bookworm) is built with several slurmd per host: each node has its
own NodeName, port, spool folder and log, all under one temporary folder, with ports picked
free. No cgroups (proctrack/linuxproc, task/none), no accounting, munge on its own socket and key.

Per-node environments: the TaskProlog reads NODES_DIR/<SLURMD_NODENAME>.env ("NAME=value"
lines) and exports them into that node's tasks, as a real node's own environment differs (its
driver, its keras.json). Tests write those files.

Skips only when the Slurm or munge programs are missing AND KBACKEND_REQUIRE_SLURM is not set
(CI sets it, so a missing package fails there instead of hiding). Every daemon runs in the
foreground in a session of its own; teardown kills each session and checks that nothing is left.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

PROGRAMS = ("munged", "slurmctld", "slurmd", "srun", "sinfo", "scontrol")
NODES = ("node1", "node2")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, root: Path):
        self.root = root
        self.conf = root / "slurm.conf"
        self.nodes_dir = root / "nodes"
        self.procs: list[subprocess.Popen] = []
        self.nodes = NODES

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def node_env(self, node: str, **values: str) -> None:
        """Variables that `node`'s tasks get (its TaskProlog exports them)."""
        lines = [f"{k}={v}" for k, v in values.items()]
        (self.nodes_dir / f"{node}.env").write_text("\n".join(lines) + "\n")

    def clear_node_envs(self) -> None:
        for f in self.nodes_dir.glob("*.env"):
            f.unlink()

    def logs(self) -> str:
        out = []
        for f in sorted((self.root / "log").glob("*")):
            out.append(f"== {f.name}\n" + "\n".join(f.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(out)


def _write_config(c: Cluster) -> None:
    root = c.root
    for d in ("munge", "state", "spool", "log", "nodes"):
        (root / d).mkdir(mode=0o700 if d == "munge" else 0o755)
    (root / "munge").chmod(0o755)  # the socket's folder must be searchable by every user
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o600)
    user = pwd.getpwuid(os.getuid()).pw_name
    prolog = root / "task_prolog.sh"
    prolog.write_text("#!/bin/sh\n"
                      f'f="{c.nodes_dir}/$SLURMD_NODENAME.env"\n'
                      '[ -f "$f" ] || exit 0\n'
                      'while IFS= read -r line; do [ -n "$line" ] && echo "export $line"; done < "$f"\n')
    prolog.chmod(0o755)
    host = socket.gethostname()
    nodes = "\n".join(f"NodeName={n} NodeHostname={host} NodeAddr=127.0.0.1 Port={_free_port()} CPUs=1 "
                      "State=UNKNOWN" for n in c.nodes)
    c.conf.write_text(f"""ClusterName=kbtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={root}/munge/munge.sock
CredType=cred/munge
SlurmUser={user}
SlurmdUser={user}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool/%n
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd-%n.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
TaskProlog={prolog}
SelectType=select/linear
SchedulerType=sched/builtin
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
MinJobAge=5
{nodes}
PartitionName=debug Nodes={','.join(c.nodes)} Default=YES MaxTime=INFINITE State=UP
""")


def _start(c: Cluster, argv: list[str]) -> None:
    log = open(c.root / "log" / f"{Path(argv[0]).name}-{len(c.procs)}.out", "wb")
    c.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env={**os.environ, "SLURM_CONF": str(c.conf)}))
    log.close()


def _stop(c: Cluster) -> None:
    for p in reversed(c.procs):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 3
    for p in reversed(c.procs):
        try:
            p.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)  # the session: slurmstepd and anything a task left
        except ProcessLookupError:
            pass
        p.wait()


def _wait_idle(c: Cluster, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for p in c.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args[0]} exited {p.returncode}\n{c.logs()}")
        r = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True, text=True,
                           env={**os.environ, **c.env}, timeout=10)
        last = r.stdout + r.stderr
        states = dict(line.split() for line in r.stdout.splitlines() if len(line.split()) == 2)
        if set(states) == set(c.nodes) and all(s == "idle" for s in states.values()):
            return
        time.sleep(0.3)
    raise RuntimeError(f"the nodes did not become idle in {timeout:.0f} s: {last}\n{c.logs()}")


def require_programs() -> None:
    """Skip when Slurm or munge is missing, unless KBACKEND_REQUIRE_SLURM is set: fail then (CI)."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        if os.environ.get("KBACKEND_REQUIRE_SLURM"):
            pytest.fail(f"KBACKEND_REQUIRE_SLURM is set but these programs are missing: {missing} "
                        "(apt-get install slurmctld slurmd slurm-client munge)")
        pytest.skip(f"Slurm is not installed ({', '.join(missing)} missing); CI installs it")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    require_programs()
    root = tmp_path_factory.mktemp("slurm")
    c = Cluster(root)
    _write_config(c)
    try:
        sock = root / "munge" / "munge.sock"
        _start(c, ["munged", "-F", "--force", f"--key-file={root}/munge/munge.key", f"--socket={sock}",
                   f"--pid-file={root}/munge/munged.pid", f"--log-file={root}/log/munged.log",
                   f"--seed-file={root}/munge/munged.seed"])
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        _start(c, ["slurmctld", "-D", "-i", "-f", str(c.conf)])
        for n in c.nodes:
            _start(c, ["slurmd", "-D", "-f", str(c.conf), "-N", n])
        _wait_idle(c)
    except BaseException:
        _stop(c)
        raise
    yield c
    _stop(c)
    left = [p.args[0] for p in c.procs if p.poll() is None] + _session_members(c)
    assert not left, f"still running after teardown: {left}"


def _session_members(c: Cluster) -> list[str]:
    """Processes left in the daemons' sessions (slurmscriptd, slurmstepd, a task's children)."""
    sids = {p.pid for p in c.procs}
    left = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.getsid(int(pid)) in sids:
                    left.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except (OSError, ProcessLookupError):
                pass
    return left
