"""Every child process kbackend starts, and the temporary folder its children share.

One rule for every child (workers, the interpreter query, nvidia-smi, ldconfig,
conda, the command of `kbackend run`): it runs in a process group of its own,
and that whole group is killed on every way out (the child's end, a timeout, an
exception, Ctrl-C, SIGTERM, SIGHUP, kbackend's own exit), so that nothing the
child started (a backgrounded `sleep`, a data-loader worker) outlives it.

Children get a temporary directory of kbackend's own: TMPDIR, TEMP and TMP name
a folder inside one per-run folder (`$TMPDIR/kbackend-XXXX`), removed when the
child ends and, as a whole, when kbackend exits (`shutdown`), so that what a
backend leaves there (TensorFlow's autograph files) never piles up.

>>> r = run([sys.executable, "-c", "print(1)"], timeout=10, text=True)  # doctest: +SKIP
>>> r.stdout  # doctest: +SKIP
'1\\n'
"""

from __future__ import annotations

import atexit
import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kbackend import _signals

#: seconds between SIGTERM and SIGKILL when a running child is killed.
KILL_GRACE = 0.5
#: seconds to read what is left in a child's pipes once its group is dead (a process that left
#: the group, e.g. with setsid, may hold them open forever).
DRAIN_S = 1.0
#: poll interval where the kernel has no pidfd (not Linux >= 5.3).
POLL_S = 0.02
TMP_VARS = ("TMPDIR", "TEMP", "TMP")
POSIX = os.name == "posix"

_LOCK = threading.RLock()
_LIVE: dict[int, Child] = {}
_closing = False
_root: str | None = None


Closing = _signals.Closing


# ------------------------------------------------------------------ the per-run folder

def tmp_root() -> str:
    """kbackend's own temporary folder for this run (created on first use)."""
    global _root
    with _LOCK:
        if _closing:
            raise Closing()
        if _root is None or not os.path.isdir(_root):
            _root = tempfile.mkdtemp(prefix="kbackend-")
        return _root


def mkdtemp(prefix: str = "tmp-") -> str:
    """A new folder inside the per-run folder (removed with it at the latest)."""
    with _LOCK:
        return tempfile.mkdtemp(prefix=prefix, dir=tmp_root())


@contextlib.contextmanager
def temp_dir(prefix: str = "tmp-") -> Iterator[str]:
    """`tempfile.TemporaryDirectory` inside the per-run folder."""
    d = mkdtemp(prefix)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def with_tmp(env: Mapping[str, str], tmp: str) -> dict[str, str]:
    """`env` with TMPDIR, TEMP and TMP pointing at `tmp`."""
    out = dict(env)
    for k in TMP_VARS:
        out[k] = tmp
    return out


# ------------------------------------------------------------------ children

def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None


class Child:
    """One child in a session (or a process group) of its own.

    `close()` kills what is left of its group and reaps it; it is called on every
    path out. The group is always signalled before its leader is reaped, so the
    group id cannot have been reused by then.
    """

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None,
                 stdin: Any = subprocess.DEVNULL, stdout: Any = None, stderr: Any = None, tmp: bool = True,
                 session: bool = True, preexec_fn=None):
        env = dict(os.environ if env is None else env)
        self.tmp: str | None = None
        self.exited = False
        self._closed = False
        # A signal's exception waits until the child is recorded (so that it is killed with the rest).
        with _signals.deferred(), _LOCK:
            if _closing:
                raise Closing()
            if tmp:
                self.tmp = mkdtemp("child-")
                env = with_tmp(env, self.tmp)
            kw: dict[str, Any] = {}
            if POSIX:
                kw = {"start_new_session": True} if session else {"process_group": 0}
            try:
                self.proc = subprocess.Popen(list(argv), stdin=stdin, stdout=stdout, stderr=stderr, env=env,
                                             cwd=cwd, preexec_fn=preexec_fn, **kw)  # noqa: PLW1509 - `run` only, no threads
            except BaseException:
                self._rmtmp()
                raise
            self.pid = self.proc.pid
            self._fd = _pidfd(self.pid) if POSIX else None
            _LIVE[self.pid] = self

    # -- state of the leader, without reaping it
    def _exited_now(self) -> bool:
        if self.exited:
            return True
        if not POSIX:
            self.exited = self.proc.poll() is not None
            return self.exited
        try:
            self.exited = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            self.exited = True
        return self.exited

    def wait_exit(self, timeout: float | None) -> bool:
        """Wait up to `timeout` seconds (None: for ever) for the leader to end; it is not reaped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._exited_now():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            # One read of the pidfd: another thread (kill_all on a signal, a waiter) may close it meanwhile.
            fd = self._fd
            sel = selectors.DefaultSelector()
            try:
                if fd is None:
                    raise OSError("no pidfd")
                sel.register(fd, selectors.EVENT_READ)
                sel.select(left)
            except OSError:  # none, or closed under us: poll instead
                time.sleep(POLL_S if left is None else min(POLL_S, left))
            finally:
                sel.close()
        return True

    def signal_group(self, sig: int) -> None:
        """Send `sig` to the child's whole group (while it is still ours to signal)."""
        with _LOCK:
            if self._closed:
                return
            if POSIX:
                try:
                    os.killpg(self.pid, sig)
                    return
                except (ProcessLookupError, PermissionError, OSError):
                    pass
            if not self.exited:
                with contextlib.suppress(OSError):
                    self.proc.send_signal(sig) if POSIX else self.proc.kill()

    def kill(self, grace: float = KILL_GRACE) -> None:
        """SIGTERM to the group, up to `grace` seconds for the leader to end, then SIGKILL to the group."""
        if POSIX and grace > 0 and not self._exited_now():
            self.signal_group(signal.SIGTERM)
            self.wait_exit(grace)
        self.signal_group(signal.SIGKILL if POSIX else signal.SIGTERM)

    def close(self, grace: float = KILL_GRACE) -> int:
        """Kill what is left of the group, reap the leader, remove the child's folder; its exit status."""
        if not self._closed:
            if not self._exited_now():
                self.kill(grace)
            with _LOCK:
                self.signal_group(signal.SIGKILL if POSIX else signal.SIGTERM)  # what the leader left behind
                self._closed = True
                _LIVE.pop(self.pid, None)
            for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if f is not None:
                    with contextlib.suppress(OSError):
                        f.close()
            self.proc.wait()
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None
            self._rmtmp()
        return self.proc.returncode

    def _rmtmp(self) -> None:
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def communicate(self, timeout: float | None, *, grace: float = KILL_GRACE) -> tuple[bytes, bytes, bool]:
        """(stdout, stderr, timed out): read the pipes until the leader ends (then its group is killed)
        or `timeout` passes (then the group is killed). A process the child left behind holding a pipe
        never makes this wait."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pipes = {f.fileno(): f for f in (self.proc.stdout, self.proc.stderr) if f is not None}
        bufs: dict[int, list[bytes]] = {fd: [] for fd in pipes}
        sel = selectors.DefaultSelector()
        for fd in pipes:
            sel.register(fd, selectors.EVENT_READ)
        if self._fd is not None:
            sel.register(self._fd, selectors.EVENT_READ)
        timed_out = False
        drain_until: float | None = None
        try:
            while True:
                if drain_until is None and self._exited_now():
                    self.signal_group(signal.SIGKILL if POSIX else signal.SIGTERM)
                    drain_until = time.monotonic() + DRAIN_S
                if not any(fd in pipes for fd in _registered(sel)) and drain_until is not None:
                    break
                now = time.monotonic()
                if drain_until is not None and now >= drain_until:
                    break
                if drain_until is None and deadline is not None and now >= deadline:
                    timed_out = True
                    self.kill(grace)
                    drain_until = time.monotonic() + DRAIN_S
                    continue
                waits = [t - now for t in (deadline if drain_until is None else None, drain_until) if t is not None]
                if self._fd is None or self._fd not in _registered(sel):
                    waits.append(POLL_S)
                for key, _ in sel.select(max(0.0, min(waits)) if waits else None):
                    fd = key.fd
                    if fd == self._fd:
                        sel.unregister(fd)
                        continue
                    try:
                        data = os.read(fd, 65536)
                    except OSError:
                        data = b""
                    if data:
                        bufs[fd].append(data)
                    else:
                        sel.unregister(fd)
        finally:
            sel.close()
        out = b"".join(bufs[self.proc.stdout.fileno()]) if self.proc.stdout is not None else b""
        err = b"".join(bufs[self.proc.stderr.fileno()]) if self.proc.stderr is not None else b""
        return out, err, timed_out


def _registered(sel: selectors.BaseSelector) -> list[int]:
    return [k.fd for k in sel.get_map().values()]


def _decode(b: bytes, encoding: str | None, errors: str | None) -> str:
    import locale

    s = b.decode(encoding or locale.getpreferredencoding(False), errors or "strict")
    return s.replace("\r\n", "\n").replace("\r", "\n")


def run(argv: Sequence[str], *, timeout: float | None = None, env: Mapping[str, str] | None = None,
        cwd: str | None = None, stdin: Any = subprocess.DEVNULL, capture_output: bool = True,
        merge_stderr: bool = False, text: bool = False, encoding: str | None = None, errors: str | None = None,
        tmp: bool = True, grace: float = KILL_GRACE) -> subprocess.CompletedProcess:
    """`subprocess.run(..., capture_output=True)` in a group of its own, killed on every way out.

    Returns as soon as the child itself ends (what it left running is killed, its output kept);
    raises `subprocess.TimeoutExpired` after killing the group, and OSError when it cannot start.
    """
    del capture_output  # always captured
    if not POSIX:  # no process groups, and selectors do not take pipes: subprocess's own
        return subprocess.run(list(argv), timeout=timeout, env=None if env is None else dict(env), cwd=cwd,
                              stdin=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                              text=text, encoding=encoding, errors=errors, check=False)
    child = Child(argv, env=env, cwd=cwd, stdin=stdin, stdout=subprocess.PIPE,
                  stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE, tmp=tmp)
    try:
        out, err, timed_out = child.communicate(timeout, grace=grace)
    finally:
        rc = child.close(grace)
    o: Any = out
    e: Any = None if merge_stderr else err
    if text or encoding or errors:
        o = _decode(out, encoding, errors)
        e = None if merge_stderr else _decode(err, encoding, errors)
    if timed_out:
        exc = subprocess.TimeoutExpired(list(argv), timeout or 0, output=o, stderr=e)
        exc.returncode = rc  # how the killed child ended (-15, or -9 after the grace)
        raise exc
    return subprocess.CompletedProcess(list(argv), rc, o, e)


# ------------------------------------------------------------------ a command in the foreground

#: signals sent to kbackend that `kbackend run` passes on to the command's process group.
FORWARD = ("SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2")
#: seconds the processes a command left behind get between SIGTERM and SIGKILL.
STRAGGLER_GRACE = 1.0


def _terminal() -> tuple[int | None, bool]:
    """(a descriptor of kbackend's controlling terminal or None, whether kbackend is its foreground job)."""
    if not POSIX:
        return None, False
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return fd, os.tcgetpgrp(fd) == os.getpgrp()  # ENOTTY: a terminal, not ours
        except OSError:
            continue
    return None, False


def _foreground_of(fd: int, pgid: int) -> bool:
    try:
        return os.tcgetpgrp(fd) == pgid
    except OSError:
        return False


def _give_terminal(fd: int, pgid: int) -> None:
    """Make `pgid` the terminal's foreground group (SIGTTOU blocked, as a shell does)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
    try:
        os.tcsetpgrp(fd, pgid)
    except OSError:
        pass
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def group_members(pgid: int) -> list[int] | None:
    """The live processes of group `pgid` (zombies left out), from /proc; None where there is none."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    out = []
    for n in names:
        if not n.isdigit():
            continue
        try:
            with open(f"/proc/{n}/stat", "rb") as f:
                rest = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(rest) > 2 and rest[0] != b"Z" and int(rest[2]) == pgid:
            out.append(int(n))
    return out


def _alone_in_group() -> bool:
    """Is kbackend the only process of its process group (not one stage of a pipeline)?"""
    members = group_members(os.getpgrp())
    return members is None or members == [os.getpid()]


class Foreground:
    """The command of `kbackend run`, in a process group of its own, run as a shell runs a job.

    When kbackend is alone in the terminal's foreground group (the usual `kbackend run -- CMD`),
    the command's group gets the terminal: it reads input, Ctrl-C and Ctrl-Z reach it; when it
    stops, kbackend stops too (the shell sees its job stop) and `fg`/`bg` continue it. In a
    pipeline (`kbackend run -- CMD | tee log`) the terminal stays with the pipeline: Ctrl-C and
    Ctrl-Z reach kbackend, which passes them on. Signals sent to kbackend reach the command's whole
    group; when the command ends, what it left running in its group is ended.
    """

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, stdout: Any = None):
        self.tty, fg = _terminal()
        alone = self.tty is not None and _alone_in_group()
        #: kbackend stands in for the command as the shell's job: it follows the command's stops.
        self.job = alone
        tty = self.tty if fg and alone else None
        pre = None
        if tty is not None:
            def pre() -> None:  # in the child, after setpgid: take the terminal before exec (no race)
                _give_terminal(tty, os.getpgrp())
        # Not a new session (the command keeps the terminal), not kbackend's TMPDIR (the user's command).
        self.child = Child(argv, env=env, stdin=None, stdout=stdout, tmp=False, session=False, preexec_fn=pre)
        if tty is not None:
            _give_terminal(tty, self.child.pid)

    def wait(self) -> int:
        """Wait for the command (passing signals on); its return code (-N: killed by signal N)."""
        c = self.child
        if not POSIX:
            try:
                return c.proc.wait()
            finally:
                c.close()
        old: dict[int, Any] = {}

        def on_tstp(n, f) -> None:  # Ctrl-Z reached kbackend (a pipeline), or someone sent it
            c.signal_group(signal.SIGTSTP)
            self._stop_self()

        def on_cont(n, f) -> None:  # `fg`/`bg` of kbackend's job; as the job, _stopped continues it
            if not self.job:
                c.signal_group(signal.SIGCONT)

        handlers = {getattr(signal, name): (lambda n, f: c.signal_group(n)) for name in FORWARD
                    if hasattr(signal, name)}
        if self.tty is not None:
            handlers[signal.SIGTSTP] = on_tstp
            handlers[signal.SIGCONT] = on_cont
        if threading.current_thread() is threading.main_thread():
            for s, h in handlers.items():
                if signal.getsignal(s) != signal.SIG_IGN:
                    old[s] = signal.signal(s, h)
        try:
            flags = os.WEXITED | os.WNOWAIT | (os.WSTOPPED if self.job else 0)
            while True:
                info = os.waitid(os.P_PID, c.pid, flags)
                if info is None or info.si_code not in (os.CLD_STOPPED, os.CLD_TRAPPED):
                    break
                os.waitid(os.P_PID, c.pid, os.WSTOPPED | os.WNOHANG)  # take the stop
                self._stopped()
            c.exited = True
            self._end_stragglers()
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            if self.tty is not None and _foreground_of(self.tty, c.pid):
                _give_terminal(self.tty, os.getpgrp())
            rc = c.close()
        return rc

    @staticmethod
    def _stop_self() -> None:
        """Stop kbackend as Ctrl-Z would (discarded where no shell could continue it)."""
        h = signal.getsignal(signal.SIGTSTP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        try:
            os.kill(os.getpid(), signal.SIGTSTP)
        finally:
            signal.signal(signal.SIGTSTP, h)

    def _stopped(self) -> None:
        """The command stopped (Ctrl-Z, or it read the terminal from the background): stop kbackend
        too, as the shell's job it is; when continued (`fg`, `bg`), continue the command."""
        tty = self.tty
        if _foreground_of(tty, self.child.pid):
            _give_terminal(tty, os.getpgrp())
        self._stop_self()
        if _foreground_of(tty, os.getpgrp()):
            _give_terminal(tty, self.child.pid)
        else:
            time.sleep(0.1)  # in the background: it may stop again at once; do not spin
        self.child.signal_group(signal.SIGCONT)

    def _end_stragglers(self) -> None:
        members = group_members(self.child.pid)
        if members is not None and not members:
            return
        self.child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + (STRAGGLER_GRACE if members is not None else 0.1)
        while time.monotonic() < deadline:
            left = group_members(self.child.pid)
            if left is None or not left:
                break
            time.sleep(0.02)


# ------------------------------------------------------------------ every child at once

def live() -> list[Child]:
    with _LOCK:
        return list(_LIVE.values())


def kill_all(grace: float = KILL_GRACE) -> None:
    """Kill every running child's group: SIGTERM to all, up to `grace` seconds, SIGKILL to all.

    Their owners (the threads waiting for them) reap them and remove their folders."""
    kids = live()
    if POSIX and grace > 0:
        for c in kids:
            if not c._exited_now():
                c.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for c in kids:
            c.wait_exit(max(0.0, deadline - time.monotonic()))
    for c in kids:
        c.signal_group(signal.SIGKILL if POSIX else signal.SIGTERM)


def begin_closing() -> None:
    """From now on no child starts and no temporary folder is made (a signal arrived)."""
    global _closing
    with _LOCK:
        _closing = True


def closing() -> bool:
    return _closing


def shutdown(grace: float = KILL_GRACE) -> None:
    """kbackend's way out: no new child, every child's group killed, the per-run folder removed."""
    global _root
    begin_closing()
    kill_all(grace)
    with _LOCK:
        root, _root = _root, None
    if root:
        shutil.rmtree(root, ignore_errors=True)


def reopen() -> None:
    """After `shutdown`, allow children again (a second command in the same process, as in tests)."""
    global _closing
    with _LOCK:
        _closing = False


atexit.register(shutdown, 0)
