"""Nothing kbackend starts outlives it, and nothing it or its children put in TMPDIR stays.

Real process groups and real signals: kbackend runs as a real process with a fresh
TMPDIR and a unique marker in its environment, which every process it starts (and
every process those start) inherits. After kbackend is signalled, times out or
ends, /proc must hold no process with the marker and TMPDIR must be empty.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc to find processes")

MARK = "KBACKEND_TEST_PROC_MARK"
EXIT = {signal.SIGTERM: 143, signal.SIGHUP: 129, signal.SIGINT: 130}
SIGNALS = [pytest.param(s, id=s.name) for s in EXIT]


def marked(mark: str, *, exclude: tuple[int, ...] = ()) -> list[str]:
    """`pid cmdline` of every live process whose environment holds the marker."""
    needle = f"{MARK}={mark}".encode()
    out = []
    for n in os.listdir("/proc"):
        if not n.isdigit() or int(n) in exclude or int(n) == os.getpid():
            continue
        try:
            with open(f"/proc/{n}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{n}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{n}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            out.append(f"{n} {cmd}")
        except (OSError, IndexError):
            continue
    return out


def survivors(mark: str, *, exclude: tuple[int, ...] = (), wait: float = 3.0) -> list[str]:
    """The marked processes still alive after up to `wait` seconds (a kill takes a moment to land)."""
    deadline = time.monotonic() + wait
    while True:
        left = marked(mark, exclude=exclude)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def wait_for(pred, timeout: float = 60.0, proc: subprocess.Popen | None = None, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"kbackend ended (exit {proc.returncode}) before {what}: {out}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Box:
    """A fresh TMPDIR, a marker, and kbackend runs that see them."""

    def __init__(self, root: Path):
        self.mark = uuid.uuid4().hex
        self.tmp = root / "tmpdir"
        self.tmp.mkdir()
        self.ready = root / "ready"
        self.ready.mkdir()
        self.procs: list[subprocess.Popen] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ, TMPDIR=str(self.tmp), **{MARK: self.mark})
        env.pop("TEMP", None)
        env.pop("TMP", None)
        env.update(extra)
        return env

    def start(self, argv: list[str], **extra: str) -> subprocess.Popen:
        p = subprocess.Popen(argv, env=self.env(**extra), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.procs.append(p)
        return p

    def kbackend(self, *args: str, **extra: str) -> subprocess.Popen:
        return self.start([sys.executable, "-m", "kbackend", *args], **extra)

    def tmp_left(self) -> list[str]:
        return sorted(str(p.relative_to(self.tmp)) for p in self.tmp.rglob("*"))

    def hang_script(self, name: str = "python") -> Path:
        """A fake interpreter: starts two `sleep`s in the background, says it started, hangs."""
        p = self.ready.parent / f"fake-{uuid.uuid4().hex[:6]}" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(f"""\
            #!/bin/sh
            sleep 1000 &
            (sleep 1000; echo never) &
            echo > "{self.ready}/$$"
            sleep 1000
            """))
        p.chmod(0o755)
        return p

    def started(self) -> int:
        return len(list(self.ready.iterdir()))

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()
        for line in marked(self.mark):
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture
def box(tmp_path):
    b = Box(tmp_path)
    yield b
    b.cleanup()


def finish(p: subprocess.Popen, timeout: float = 30) -> tuple[int, str]:
    out, _ = p.communicate(timeout=timeout)
    return p.returncode, out


# ---------------------------------------------------------------- item 12: --python that hangs

@pytest.mark.parametrize("sig", SIGNALS)
def test_a_signal_during_the_interpreter_query_kills_its_whole_group(box, sig):
    fake = box.hang_script()
    p = box.kbackend("--python", str(fake), "show")
    wait_for(lambda: box.started() == 1, proc=p, what="the fake interpreter started")
    time.sleep(0.2)  # its background sleeps are running too
    assert len(marked(box.mark, exclude=(p.pid,))) >= 3
    p.send_signal(sig)
    code, out = finish(p)
    assert code == EXIT[sig], out
    assert survivors(box.mark) == []
    assert box.tmp_left() == []
    assert "Traceback" not in out


def test_the_query_timeout_kills_the_group_not_only_the_interpreter(box):
    fake = box.hang_script()
    # The timeout path itself (kbackend's own is 20 s): the parent stays alive, so that an atexit
    # clean-up cannot be what ends the group.
    code = textwrap.dedent(f"""
        import sys
        from kbackend.envs.target import TargetError, query
        try:
            query({str(fake)!r}, "option:--python", timeout=1)
        except TargetError as e:
            print("error:", e.message, flush=True)
        sys.stdin.readline()
        """)
    p = subprocess.Popen([sys.executable, "-c", code], env=box.env(), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, start_new_session=True)
    box.procs.append(p)
    line = p.stdout.readline()
    assert "did not answer within 1 s" in line
    assert survivors(box.mark, exclude=(p.pid,)) == []
    p.stdin.close()
    assert p.wait(timeout=30) == 0
    assert box.tmp_left() == []


def test_an_interpreter_that_answers_but_leaves_a_process_holding_its_output(box, tmp_path):
    """Its answer is used at once (not a 20 s 'did not answer'), and what it left is killed."""
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nsleep 1000 &\nexec {sys.executable} "$@"\n')
    fake.chmod(0o755)
    p = box.kbackend("--python", str(fake), "--json", "show")
    code, out = finish(p, timeout=60)
    assert code == 0, out
    assert "did not answer" not in out
    assert survivors(box.mark) == []
    assert box.tmp_left() == []


def test_envs_with_hanging_interpreters_leaves_none_of_them(box, tmp_path):
    workon = tmp_path / "workon"
    for name in ("a", "b", "c"):
        env_dir = workon / name / "bin"
        env_dir.mkdir(parents=True)
        (env_dir / "python").symlink_to(box.hang_script())
    p = box.kbackend("envs", WORKON_HOME=str(workon))
    wait_for(lambda: box.started() == 3, proc=p, what="three fake interpreters started")
    time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    code, out = finish(p)
    assert code == 143, out
    assert survivors(box.mark) == []
    assert box.tmp_left() == []


# ---------------------------------------------------------------- item 13: verify and workers

def _worker_running(box: Box, p: subprocess.Popen) -> bool:
    return any("_boot.py" in line for line in marked(box.mark, exclude=(p.pid,)))


@pytest.mark.parametrize("sig", SIGNALS)
def test_verify_signalled_mid_run_leaves_no_worker_and_no_temp_folder(box, sig):
    p = box.kbackend("verify", "--backend", "numpy")
    wait_for(lambda: _worker_running(box, p), proc=p, what="the numpy worker started")
    time.sleep(0.5)  # importing Keras now
    p.send_signal(sig)
    code, out = finish(p)
    assert code == EXIT[sig], out
    assert survivors(box.mark) == []
    assert box.tmp_left() == []
    assert "Traceback" not in out


@pytest.mark.parametrize("argv", [
    pytest.param(["bench", "--backend", "numpy", "--quick"], id="bench"),
    pytest.param(["doctor", "--refresh"], id="doctor"),
    pytest.param(["--json", "verify", "--backend", "numpy", "--backend", "jax"], id="verify-json-two-backends"),
])
def test_other_commands_terminated_mid_run_leave_nothing(box, argv):
    p = box.kbackend(*argv)
    wait_for(lambda: _worker_running(box, p), proc=p, what="a worker started")
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    code, out = finish(p)
    assert code == 143, out
    assert survivors(box.mark) == []
    assert box.tmp_left() == []
    assert "Traceback" not in out


LITTER = textwrap.dedent(
    """
    import os, subprocess, tempfile, time
    def main(inp):
        # what TensorFlow's autograph does: files in the temporary directory
        fd, path = tempfile.mkstemp(prefix="__autograph_generated_file", suffix=".py")
        os.close(fd)
        subprocess.Popen(["sleep", "1000"])  # a grandchild, as a backend's helper process
        with open(inp["ready"], "w") as f:
            f.write(path)
        if inp.get("hang"):
            time.sleep(1000)
        return {"tmp": tempfile.gettempdir(), "file": path}
    """
)

PARENT = textwrap.dedent(
    """
    import json, os, sys
    from kbackend.workers.runner import Job, run_many, run_worker
    worker, ready, mode = sys.argv[1:4]
    if mode == "hang":
        run_many([Job(sys.executable, worker, {"ready": f"{ready}/{i}", "hang": True}, timeout=600)
                  for i in range(2)], max_parallel=2)
    elif mode == "timeout":
        r = run_worker(sys.executable, worker, {"ready": f"{ready}/t", "hang": True}, timeout=2)
        print(json.dumps({"status": r.status}), flush=True)
        sys.stdin.readline()
    else:
        r = run_worker(sys.executable, worker, {"ready": f"{ready}/n"}, timeout=120)
        print(json.dumps({"status": r.status, "data": r.data,
                          "file_left": os.path.exists(r.data["file"])}), flush=True)
        sys.stdin.readline()
    """
)


WRAP = textwrap.dedent(
    """
    import runpy, sys
    from kbackend import _signals
    sys.argv = sys.argv[1:]
    sys.exit(_signals.guarded(lambda: runpy.run_path(sys.argv[0], run_name="__main__") and 0))
    """
)


def _parent(tmp_path: Path, worker_text: str) -> tuple[Path, Path]:
    worker = tmp_path / "worker.py"
    worker.write_text(worker_text)
    parent = tmp_path / "parent.py"
    parent.write_text(PARENT)
    return worker, parent


def _start_parent(box: Box, parent: Path, worker: Path, mode: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, str(parent), str(worker), str(box.ready), mode], env=box.env(),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    box.procs.append(p)
    return p


@pytest.mark.parametrize("sig", SIGNALS)
def test_workers_signalled_leave_no_grandchild_and_no_file_in_tmpdir(box, tmp_path, sig):
    """Workers that litter TMPDIR (as TensorFlow's autograph does) and start helpers, under the
    entry point's signal handling: every group dies and TMPDIR is left empty."""
    worker, parent = _parent(tmp_path, LITTER)
    p = box.start([sys.executable, "-c", WRAP, str(parent), str(worker), str(box.ready), "hang"])
    wait_for(lambda: box.started() == 2, proc=p, what="two workers started")
    p.send_signal(sig)
    rc, out = finish(p)
    assert rc == EXIT[sig], out
    assert survivors(box.mark) == []
    assert box.tmp_left() == []


def test_a_worker_sees_a_temp_folder_of_kbackend_removed_when_it_ends(box, tmp_path):
    worker, parent = _parent(tmp_path, LITTER)
    p = _start_parent(box, parent, worker, "normal")
    doc = json.loads(p.stdout.readline())
    assert doc["status"] == "ok"
    child_tmp = Path(doc["data"]["tmp"])
    # inside kbackend's own per-run folder in TMPDIR, not TMPDIR itself
    assert child_tmp.parent.parent == box.tmp and child_tmp.parent.name.startswith("kbackend-")
    assert not doc["file_left"]  # removed as soon as the worker ended
    assert survivors(box.mark, exclude=(p.pid,)) == []  # the grandchild died with the worker
    p.stdin.close()
    assert p.wait(timeout=30) == 0
    assert box.tmp_left() == []


def test_a_worker_timeout_kills_its_group_even_what_ignores_sigterm(box, tmp_path):
    worker, parent = _parent(tmp_path, LITTER.replace(
        'subprocess.Popen(["sleep", "1000"])', 'subprocess.Popen(["sh", "-c", "trap \'\' TERM; sleep 1000; :"])'))
    p = _start_parent(box, parent, worker, "timeout")
    assert json.loads(p.stdout.readline())["status"] == "timeout"
    assert survivors(box.mark, exclude=(p.pid,)) == []
    p.stdin.close()
    assert p.wait(timeout=30) == 0
    assert box.tmp_left() == []


# ---------------------------------------------------------------- every other place that starts a child

HANG = '#!/bin/sh\nsleep 1000 &\nexec sleep 1000\n'
#: answers at once, as the real tool would, but leaves a process behind holding its output
ANSWER_AND_LEAVE = '#!/bin/sh\nsleep 1000 &\n{answer}\n'

CALLS = {
    "nvidia-smi hangs": (HANG, """
        from kbackend.gpu.smi import run_smi
        print(json.dumps({"smi": repr(run_smi(FAKE, dict(os.environ), timeout=1))}))
        """, "no answer within 1 s"),
    "nvidia-smi answers and leaves a process": (ANSWER_AND_LEAVE.format(answer="echo 'No devices were found'; exit 6"), """
        from kbackend.gpu.smi import run_smi
        print(json.dumps({"smi": repr(run_smi(FAKE, dict(os.environ), timeout=60))}))
        """, "no_devices"),
    "conda hangs": (HANG, """
        import subprocess
        from kbackend.envs.discover import conda_from_exe
        try:
            conda_from_exe(FAKE, dict(os.environ), timeout=1)
        except subprocess.TimeoutExpired:
            print(json.dumps({"timeout": True}))
        """, '"timeout": true'),
    "conda answers and leaves a process": (ANSWER_AND_LEAVE.format(answer="echo '{\"envs\": []}'"), """
        from kbackend.envs.discover import conda_from_exe
        print(json.dumps({"envs": conda_from_exe(FAKE, dict(os.environ), timeout=60)}))
        """, '"envs": []'),
    "ldconfig answers and leaves a process": (ANSWER_AND_LEAVE.format(answer="echo '0 libs found'"), """
        from kbackend.gpu.locate import SystemPaths, run_ldconfig
        errors = []
        print(json.dumps({"libs": run_ldconfig(SystemPaths(ldconfig=FAKE), errors), "errors": errors}))
        """, '"errors": []'),
}


@pytest.mark.parametrize("case", list(CALLS))
def test_every_child_is_killed_with_its_group_when_the_call_returns(box, tmp_path, case):
    """The call returns (answered, failed or timed out) and nothing the child started is left, while
    the caller is still running: it is not kbackend's exit that cleans up."""
    script, call, expected = CALLS[case]
    fake = tmp_path / "fake-tool"
    fake.write_text(script)
    fake.chmod(0o755)
    code = f"import json, os, sys\nFAKE = {str(fake)!r}\n" + textwrap.dedent(call) + "sys.stdin.readline()\n"
    p = subprocess.Popen([sys.executable, "-c", code], env=box.env(), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    box.procs.append(p)
    line = p.stdout.readline()
    assert line, p.stderr.read()
    # an answer is taken when the tool ends, not when the process it left closes the pipe (a timeout)
    assert expected in line
    assert survivors(box.mark, exclude=(p.pid,)) == [], line
    # the per-run folder is there while the caller runs, and holds nothing of the finished child
    assert all(Path(x).parts[0].startswith("kbackend-") and len(Path(x).parts) == 1 for x in box.tmp_left())
    p.stdin.close()
    assert p.wait(timeout=30) == 0
    assert box.tmp_left() == []


@pytest.mark.parametrize("argv", [pytest.param(["doctor", "--check", "gpu-driver"], id="gpu-check"),
                                  pytest.param(["doctor", "--refresh"], id="all-checks")])
def test_sigterm_while_doctor_waits_for_a_hung_nvidia_smi(box, tmp_path, argv):
    """kbackend exits at once, not after nvidia-smi's 10 s timeout, and leaves nothing of it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(f'#!/bin/sh\nsleep 1000 &\necho > "{box.ready}/$$"\nexec sleep 1000\n')
    smi.chmod(0o755)
    p = box.kbackend(*argv, PATH=f"{bin_dir}:{os.environ['PATH']}")
    wait_for(lambda: box.started() >= 1, proc=p, what="nvidia-smi started")
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    code, out = finish(p)
    assert code == 143, out
    assert time.monotonic() - t0 < 8  # not after nvidia-smi's 10 s timeout
    assert survivors(box.mark) == []
    assert box.tmp_left() == []


THREADED = textwrap.dedent(
    """
    import sys
    from concurrent.futures import ThreadPoolExecutor
    from kbackend import _procs, _signals

    def command():
        # doctor's shape: a child waited for in a pool thread, the pool's exit waiting for the thread
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(_procs.run, [sys.argv[1]], timeout=600).result() and 0

    sys.exit(_signals.guarded(command))
    """
)


def test_a_signal_kills_a_child_that_a_thread_waits_for_before_unwinding(box, tmp_path):
    """Unwinding waits for the pool's thread, which waits for its child: the signal itself must
    kill the child, or kbackend would wait for the child's timeout."""
    fake = box.hang_script("tool")
    p = box.start([sys.executable, "-c", THREADED, str(fake)])
    wait_for(lambda: box.started() == 1, proc=p, what="the tool started")
    p.send_signal(signal.SIGTERM)
    code, out = finish(p, timeout=60)
    assert code == 143, out
    assert survivors(box.mark) == []
    assert box.tmp_left() == []


RESTARTER = textwrap.dedent(
    """
    import sys, time
    from kbackend import _procs, _signals
    from kbackend.workers.runner import run_parallel

    def drive(i):
        while True:  # verify's restart after a crash: a new child, a moment later
            _procs.run([sys.argv[1]], timeout=600)
            time.sleep(1)

    sys.exit(_signals.guarded(lambda: run_parallel(drive, [0]) or 0))
    """
)


def test_a_thread_restarting_its_child_after_the_signal_starts_none(box):
    """After a signal, a worker thread still winding down must not start a child (nor a new
    temporary folder): the process would wait for it at exit and leave it behind."""
    fake = box.hang_script("tool")
    p = box.start([sys.executable, "-c", RESTARTER, str(fake)])
    wait_for(lambda: box.started() == 1, proc=p, what="the tool started")
    p.send_signal(signal.SIGTERM)
    code, out = finish(p, timeout=60)
    assert code == 143, out
    assert box.started() == 1  # no second start
    assert survivors(box.mark) == []
    assert box.tmp_left() == []
