"""Ctrl-C in the parent kills every running child at once, not after their timeouts."""

import os
import signal
import subprocess
import sys
import textwrap
import time

HANG = textwrap.dedent(
    """
    import os, time
    def main(inp):
        with open(inp["pidfile"], "w") as f:
            f.write(str(os.getpid()))
        time.sleep(120)
    """
)

PARENT = textwrap.dedent(
    """
    import sys
    from kbackend.workers.runner import Job, run_many
    worker, d = sys.argv[1], sys.argv[2]
    jobs = [Job(sys.executable, worker, {"pidfile": f"{d}/pid{i}"}, timeout=120) for i in range(2)]
    try:
        run_many(jobs, max_parallel=2)
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_interrupt_kills_children_promptly(tmp_path):
    worker = tmp_path / "hang.py"
    worker.write_text(HANG)
    p = subprocess.Popen([sys.executable, "-c", PARENT, str(worker), str(tmp_path)])
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"pid{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.05)
    pids = [int((tmp_path / f"pid{i}").read_text()) for i in range(2)]
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=30) == 130
    assert time.monotonic() - t0 < 10  # not the children's 120 s timeout
    time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)
