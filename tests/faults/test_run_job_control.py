"""`kbackend run -- CMD`: the command is a job of its own, as a shell would run it.

Signals sent to kbackend reach the command's whole process group, what the command
leaves running is ended when it ends, and on a terminal the command is the
foreground job: it reads the terminal, Ctrl-C and Ctrl-Z reach it, and `fg`
resumes it. Real processes, a real pseudo-terminal and a real interactive bash.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_process_cleanup import Box, finish, survivors, wait_for  # noqa: E402

PY = sys.executable


@pytest.fixture
def box(tmp_path):
    b = Box(tmp_path)
    yield b
    b.cleanup()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_sent_to_kbackend_reaches_the_commands_whole_group(box, tmp_path, sig):
    got = tmp_path / "got"
    script = textwrap.dedent(f"""\
        sleep 1000 &
        trap 'echo "$1" > {got}; exit 5' {sig.name[3:]}
        echo > {box.ready}/$$
        wait
        """)
    p = box.kbackend("run", "--", "sh", "-c", script, "sh", "trapped")
    wait_for(lambda: box.started() == 1, proc=p, what="the command started")
    p.send_signal(sig)
    code, out = finish(p)
    assert got.read_text().strip() == "trapped"  # the command handled it itself
    assert code == 5, out  # and kbackend exits with the command's status, as `run` promises
    assert survivors(box.mark) == []  # its background sleep was in the group: it got the signal too
    assert box.tmp_left() == []


def test_sigint_sent_to_kbackend_without_a_terminal_reaches_the_command(box):
    code = f"import os, time; open({str(box.ready)!r} + '/x', 'w').close(); time.sleep(1000)"
    p = box.kbackend("run", "--", PY, "-c", code)
    wait_for(lambda: box.started() == 1, proc=p, what="the command started")
    p.send_signal(signal.SIGINT)
    rc, out = finish(p)
    assert rc == 130, out  # the command died of its KeyboardInterrupt, as in a shell
    assert "KeyboardInterrupt" in out
    assert survivors(box.mark) == []


def test_what_the_command_leaves_running_is_ended_with_it(box):
    # One straggler ignores SIGTERM: SIGKILL follows.
    script = "(trap '' TERM; sleep 1000; :) & sleep 1000 & exit 3"
    p = box.kbackend("run", "--", "sh", "-c", script)
    code, out = finish(p)
    assert code == 3, out
    assert survivors(box.mark) == []
    assert box.tmp_left() == []


def test_the_command_keeps_the_users_tmpdir(box):
    p = box.kbackend("run", "--", PY, "-c", "import tempfile; print(tempfile.gettempdir())")
    code, out = finish(p)
    assert code == 0 and out.strip() == str(box.tmp)


# ---------------------------------------------------------------- on a terminal

class Pty:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.buf = b""

    def read_until(self, pattern: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while not re.search(pattern.encode(), self.buf):
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} on the terminal; it shows: {self.buf.decode(errors='replace')}"
            r, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if r:
                try:
                    self.buf += os.read(self.master, 65536)
                except OSError:  # EIO: every slave end is closed
                    time.sleep(0.05)
        m = re.search(pattern.encode(), self.buf)
        out = self.buf[: m.end()].decode(errors="replace")
        self.buf = self.buf[m.end():]
        return out

    def write(self, data: str) -> None:
        os.write(self.master, data.encode())

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def _controlling(fd: int) -> None:
    """In the child: make the terminal on `fd` the controlling terminal of its new session."""
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)


READER = textwrap.dedent(
    """
    import os, sys, time
    print("ready", flush=True)
    line = sys.stdin.readline().strip()
    print("got:%s foreground:%s" % (line, os.tcgetpgrp(0) == os.getpgrp()), flush=True)
    for i in range(1000):
        print("tick%d" % i, flush=True)
        time.sleep(0.2)
    """
)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs pseudo-terminals")
def test_on_a_terminal_the_command_reads_it_and_gets_ctrl_c(box):
    t = Pty()
    try:
        p = subprocess.Popen([PY, "-m", "kbackend", "run", "--", PY, "-c", READER], env=box.env(),
                             stdin=t.slave, stdout=t.slave, stderr=t.slave, start_new_session=True,
                             preexec_fn=lambda: _controlling(0))  # noqa: PLW1509
        box.procs.append(p)
        t.read_until("ready")
        t.write("hello\n")
        assert "got:hello foreground:True" in t.read_until(r"foreground:\w+")
        t.read_until("tick1")
        t.write("\x03")  # Ctrl-C: the terminal signals its foreground job
        assert p.wait(timeout=30) == 130
        assert "KeyboardInterrupt" in t.read_until("KeyboardInterrupt")
        assert survivors(box.mark) == []
    finally:
        t.close()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_ctrl_z_stops_the_job_and_fg_resumes_it_in_a_real_interactive_bash(box, tmp_path):
    """What a user does at a prompt: run, Ctrl-Z, `fg`, Ctrl-C. The terminal is never left stuck."""
    t = Pty()
    env = box.env(PS1="PROMPT$ ", HISTFILE=os.devnull, TERM="dumb")
    reader = tmp_path / "reader.py"
    reader.write_text(READER)
    try:
        sh = subprocess.Popen(["bash", "--norc", "--noprofile", "-i"], env=env, stdin=t.slave, stdout=t.slave,
                              stderr=t.slave, start_new_session=True,
                              preexec_fn=lambda: _controlling(0))  # noqa: PLW1509
        box.procs.append(sh)
        t.read_until(r"PROMPT\$ ")
        t.write(f"{PY} -m kbackend run -- {PY} {reader}\n")
        t.read_until("ready")
        t.write("hi\n")
        assert "got:hi foreground:True" in t.read_until(r"foreground:\w+")
        t.read_until("tick1")
        t.write("\x1a")  # Ctrl-Z
        t.read_until(r"Stopped")  # bash saw its job (kbackend) stop
        t.read_until(r"PROMPT\$ ")  # and has the terminal back
        t.write("echo alive\n")
        t.read_until("alive")
        t.write("fg\n")
        t.read_until(r"tick\d+")  # the command runs again, in the foreground
        t.write("\x03")
        t.read_until(r"PROMPT\$ ")
        t.write("echo status=$?\n")
        assert "status=130" in t.read_until(r"status=\d+")
        t.write("exit\n")
        sh.wait(timeout=30)
        assert survivors(box.mark) == []
    finally:
        t.close()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_started_in_the_background_it_stops_on_reading_the_terminal_and_fg_gives_it_the_terminal(box, tmp_path):
    t = Pty()
    env = box.env(PS1="PROMPT$ ", HISTFILE=os.devnull, TERM="dumb")
    reader = tmp_path / "reader.py"
    reader.write_text(READER)
    try:
        sh = subprocess.Popen(["bash", "--norc", "--noprofile", "-i"], env=env, stdin=t.slave, stdout=t.slave,
                              stderr=t.slave, start_new_session=True,
                              preexec_fn=lambda: _controlling(0))  # noqa: PLW1509
        box.procs.append(sh)
        t.read_until(r"PROMPT\$ ")
        t.write("set -b\n")  # report a job's change of state at once
        t.read_until(r"PROMPT\$ ")
        t.write(f"{PY} -m kbackend run -- {PY} {reader} &\n")
        t.read_until("ready")
        t.read_until(r"Stopped")  # it read the terminal from the background: SIGTTIN, and kbackend stopped too
        t.write("fg\n")
        time.sleep(0.5)
        t.write("there\n")
        assert "got:there foreground:True" in t.read_until(r"foreground:\w+")
        t.read_until("tick1")
        t.write("\x03")
        t.read_until(r"PROMPT\$ ")
        t.write("echo status=$?\n")
        assert "status=130" in t.read_until(r"status=\d+")
        t.write("exit\n")
        sh.wait(timeout=30)
        assert survivors(box.mark) == []
    finally:
        t.close()


TICKER = textwrap.dedent(
    """
    import time
    for i in range(1000):
        print("tick%d" % i, flush=True)
        time.sleep(0.2)
    """
)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_in_a_pipeline_ctrl_z_fg_and_ctrl_c_work_and_the_terminal_stays_with_the_pipeline(box, tmp_path):
    """`kbackend run -- CMD | cat`: kbackend shares its job with `cat`, so it keeps the terminal and
    passes Ctrl-Z, the continue of `fg` and Ctrl-C on to the command."""
    t = Pty()
    env = box.env(PS1="PROMPT$ ", HISTFILE=os.devnull, TERM="dumb")
    ticker = tmp_path / "ticker.py"
    ticker.write_text(TICKER)
    try:
        sh = subprocess.Popen(["bash", "--norc", "--noprofile", "-i"], env=env, stdin=t.slave, stdout=t.slave,
                              stderr=t.slave, start_new_session=True,
                              preexec_fn=lambda: _controlling(0))  # noqa: PLW1509
        box.procs.append(sh)
        t.read_until(r"PROMPT\$ ")
        t.write(f"{PY} -m kbackend run -- {PY} {ticker} | cat\n")
        t.read_until("tick2")
        t.write("\x1a")  # Ctrl-Z: the whole pipeline, the command included, stops
        t.read_until(r"Stopped")
        t.read_until(r"PROMPT\$ ")
        t.write("echo alive\n")
        t.read_until("alive")
        t.write("fg\n")
        t.read_until(r"tick\d+")  # ticking again
        t.read_until(r"tick\d+")
        t.write("\x03")
        t.read_until(r"PROMPT\$ ")
        t.write("echo status=${PIPESTATUS[0]}\n")
        assert "status=130" in t.read_until(r"status=\d+")
        t.write("exit\n")
        sh.wait(timeout=30)
        assert survivors(box.mark) == []
    finally:
        t.close()
