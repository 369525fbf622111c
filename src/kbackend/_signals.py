"""Signals and kbackend's way out: every exit path kills the children and removes the temp folder.

While a command runs, SIGTERM and SIGHUP raise `Terminated` in the main thread
and SIGINT raises KeyboardInterrupt, each after stopping any new child from
starting and killing the running ones (with their process groups), so that
`finally` blocks run and the exception reaches the entry point,
which exits 128 + the signal's number (143, 129, 130). Whatever way the command
ends, every child's process group is killed and kbackend's temporary folder
removed before the exit. A second signal during that clean-up is only noted; one
arriving while the first was swallowed somewhere finishes the job at once.

A signal the caller set to be ignored (`nohup` for SIGHUP, a background job for
SIGINT) stays ignored.

Light on purpose (imported by every command): the children's module is touched
only when a command started a child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable

HANDLED = ("SIGTERM", "SIGHUP", "SIGINT")


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind, then exit 128 + its number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        return signame(self.signum)


class Closing(BaseException):
    """kbackend is exiting (a signal, or its end): no new child, no new temporary folder."""


def signame(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def _procs():
    """kbackend._procs if some child was started in this process, else None."""
    return sys.modules.get("kbackend._procs")


def _stop_children() -> None:
    """No new child from now on, and every running one killed with its group at once: a thread
    waiting for a child (the GPU probe beside doctor's backend probes) must not hold up the exit."""
    m = _procs()
    if m is not None:
        m.begin_closing()
        m.kill_all()


def cleanup(*, reopen: bool = False) -> None:
    """Kill every child's group and remove the temporary folder; `reopen`: allow children again
    after (another command in this process, as in tests). After a signal the process is on its
    way out: a worker thread still winding down must not start a child, so it stays closed."""
    m = _procs()
    if m is not None:
        m.shutdown()
        if reopen:
            m.reopen()


_DEFER = {"depth": 0, "pending": None}
_SESSION: Session | None = None


@contextlib.contextmanager
def deferred():
    """Hold a signal's exception back while the main thread does what must not be cut in two
    (starting a child and recording it, so that it is killed later); raise it right after."""
    import threading  # already loaded by whoever starts children

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _DEFER["depth"] += 1
    try:
        yield
    finally:
        _DEFER["depth"] -= 1
        if _DEFER["depth"] == 0 and _DEFER["pending"] is not None and _SESSION is not None:
            signum, _DEFER["pending"] = _DEFER["pending"], None
            _SESSION.handler(signum, None)


def _importing(frame) -> bool:
    """Whether the interrupted main thread is inside the import system (importlib's frames)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _redeliver(sess: Session, signum: int, delay: float = 0.02) -> None:
    """Deliver `signum` to the main thread again after `delay` seconds, while `sess` is still the
    running session (`_thread.interrupt_main` calls the handler installed then, not the process's
    default action). A session that ends first takes the signal as its exit code (`guarded`)."""
    import _thread
    import threading

    def again() -> None:
        if _SESSION is sess and not sess.closing and sess.first is None:
            _thread.interrupt_main(signum)

    t = threading.Timer(delay, again)
    t.daemon = True
    t.start()


class Session:
    def __init__(self) -> None:
        self.first: int | None = None
        #: a signal held back while the main thread was importing (delivered again soon after).
        self.pending: int | None = None
        self.closing = False
        self.old: dict[int, object] = {}

    def handler(self, signum, frame):
        if self.closing:  # the clean-up is under way and ends soon: only note it
            self.first = self.first or signum
            return
        if self.first is None:
            if _DEFER["depth"]:
                _DEFER["pending"] = signum
                return
            if _importing(frame):
                # An exception raised inside the import system can leave a module's import lock
                # held by this thread, and a worker thread importing the same module then waits
                # forever while this one joins it. Kill the children now; deliver the signal
                # again in a moment, when the import is over.
                _stop_children()
                self.pending = signum
                _redeliver(self, signum)
                return
            self.first = signum
            _stop_children()
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise Terminated(signum)
        # The first one was swallowed somewhere: finish now.
        with contextlib.suppress(BaseException):
            cleanup()
        os._exit(128 + self.first)

    def install(self) -> bool:
        """Install the handlers; False where this is not the main thread (Python allows none there)."""
        for name in HANDLED:
            s = getattr(signal, name, None)
            if s is None:
                continue
            old = signal.getsignal(s)
            if old == signal.SIG_IGN:
                continue
            try:
                signal.signal(s, self.handler)
            except ValueError:  # not the main thread
                return False
            self.old[s] = old
        return True

    def restore(self) -> None:
        for s, h in self.old.items():
            with contextlib.suppress(ValueError, TypeError, OSError):
                signal.signal(s, h)
        self.old.clear()


def guarded(fn: Callable[..., int], *args) -> int:
    """Run `fn(*args)` (a command, returning its exit code) under the signal contract; its exit code."""
    global _SESSION
    sess = Session()
    main = sess.install()
    if main:
        _SESSION = sess
    code: int
    try:
        code = fn(*args)
    except Terminated as e:
        code = e.exit_code
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"Terminated by {e.name}.\n")
            sys.stderr.flush()
    except KeyboardInterrupt:  # the entry point maps it itself; this is for any other caller
        code = 128 + signal.SIGINT
    except Closing:  # a worker thread refused to start a child after the signal; the signal decides
        code = 128 + (sess.first or signal.SIGTERM)
    finally:
        sess.closing = True
        try:
            cleanup(reopen=sess.first is None)
        finally:
            if main:
                sess.restore()
                _SESSION = None
                _DEFER["pending"] = None
    if sess.first is None and sess.pending is not None:  # it ended before the signal came again
        sess.first = sess.pending
    if sess.first is not None:
        code = 128 + sess.first  # also when it came too late to interrupt anything, or was swallowed
    return code
