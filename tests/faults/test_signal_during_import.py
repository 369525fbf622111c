"""A signal that arrives while the main thread is inside the import system is delivered after it.

Raising an exception inside importlib can leave a module's import lock held by the main thread;
a worker thread importing the same module then waits forever while the main thread joins it
(seen: SIGTERM to `doctor --refresh`, its GPU-probe thread stuck in `import glob`). The handler
kills the children at once and delivers the signal again when the import is over.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from kbackend import _signals


def _in_fake_import(body):
    """Run `body` under a frame whose code claims to be importlib's, as an import's frames are."""
    code = compile("body()", "<frozen importlib._bootstrap>", "exec")
    exec(code, {"body": body})


def test_sigterm_inside_an_import_is_raised_after_it():
    events = []

    def body():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(20):  # bytecode boundaries inside the "import": the handler runs here
            time.sleep(0.005)
        events.append("import finished")

    def command():
        _in_fake_import(body)
        for _ in range(400):  # the re-delivered signal arrives within a few tens of ms
            time.sleep(0.005)
        events.append("not interrupted")
        return 0

    code = _signals.guarded(command)
    assert code == 143
    assert events == ["import finished"]


def test_sigterm_outside_an_import_is_raised_at_once():
    events = []

    def command():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(400):
            time.sleep(0.005)
        events.append("not interrupted")
        return 0

    assert _signals.guarded(command) == 143
    assert events == []


@pytest.mark.parametrize("where, expected", [("<frozen importlib._bootstrap>", True),
                                             ("<frozen importlib._bootstrap_external>", True),
                                             ("/usr/lib/python3.11/glob.py", False)])
def test_importing_reads_the_frames(where, expected):
    seen = {}

    def probe():
        import sys

        seen["v"] = _signals._importing(sys._getframe())

    exec(compile("probe()", where, "exec"), {"probe": probe})
    assert seen["v"] is expected


def test_a_session_that_ends_before_the_signal_comes_again_exits_with_it_and_leaves_none_behind():
    def body():
        os.kill(os.getpid(), signal.SIGTERM)

    def quick():
        _in_fake_import(body)  # held back; the command ends before it is delivered again
        return 0

    assert _signals.guarded(quick) == 143

    def later():
        for _ in range(60):  # a stray re-delivery would land here as 143
            time.sleep(0.005)
        return 0

    assert _signals.guarded(later) == 0
