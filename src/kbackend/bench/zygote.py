"""`--quick`'s measurement processes, forked after one import instead of each importing the backend.

A `Zygote` is one child per (interpreter, backend) in bench_worker's "serve" mode: it imports
NumPy, Keras and the backend once (with the same thread settings and environment a fresh process
would get) and forks one measurement process per request. Importing is most of a quick process's
time (torch 4.4 s, TensorFlow 3.8 s, jax 1.9 s on a 2-core machine, against about 0.5 s of
measuring), so its 10 processes cost one import instead of ten. The default (non-quick) run keeps
fresh processes: a forked process shares its parent's address-space layout and hash seed, which
fresh ones sample anew (pyperf's reason for many processes).

The importing processes of all the backends of a run start together, and nothing is timed until
every one has imported (`run._start_zygotes`): the imports overlap each other (about 7 s instead of 14 s for
five backends on 2 cores), never a measurement.

Every outcome is a `ChildResult`, as from `workers.runner.run_worker`: the forked process writes
the same result document, and a hang is killed on the same timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from typing import Mapping

from kbackend import _procs
from kbackend.workers.runner import BOOT, ChildResult, _tail, child_env, read_result, worker_path

#: how often the parent looks for a request's exit-status file.
POLL_S = 0.01


class Zygote:
    """One importing process and the measurement processes it forks (POSIX only)."""

    def __init__(self, python: str, worker: str, inp: dict, env: Mapping[str, str] | None = None):
        self.dir = _procs.mkdtemp("zygote-")
        self.log_path = os.path.join(self.dir, "log")
        self.n = 0
        inp_path = os.path.join(self.dir, "input.json")
        self.ready_path = os.path.join(self.dir, "ready")
        with open(inp_path, "w") as f:
            json.dump(dict(inp, mode="serve", ready=self.ready_path), f)
        self._log = open(self.log_path, "wb")
        try:
            self.child: _procs.Child | None = _procs.Child(
                [python, BOOT, worker_path(worker), inp_path, os.path.join(self.dir, "result.json")],
                env=child_env(env), stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT)
            self.error = None
        except OSError as e:
            self.child, self.error = None, f"cannot start {python}: {e.strerror or e}"

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the import is done (or failed, or the process ended): True when it is done."""
        deadline = time.monotonic() + timeout
        while self.child is not None and time.monotonic() < deadline:
            if os.path.exists(self.ready_path):
                return True
            if self.child._exited_now():
                return False
            time.sleep(POLL_S)
        return False

    def run(self, inp: dict, timeout: float) -> ChildResult:
        """One measurement process on `inp` (bench_worker's "run" input); never raises for what it does."""
        t0 = time.monotonic()
        if self.child is None:
            return ChildResult("crashed", error=self.error, elapsed_s=0.0)
        self.n += 1
        base = os.path.join(self.dir, f"p{self.n}")
        inp_path, out_path = base + ".in.json", base + ".json"
        with open(inp_path, "w") as f:
            json.dump(inp, f)
        try:
            self.child.proc.stdin.write((json.dumps({"inp": inp_path, "out": out_path}) + "\n").encode())
            self.child.proc.stdin.flush()
        except (OSError, ValueError):
            return self._dead(t0)
        deadline = t0 + timeout
        rc = None
        while rc is None:
            rc = _read(out_path + ".rc")
            if rc is not None:
                break
            if self.child._exited_now():
                return self._dead(t0)
            if time.monotonic() >= deadline:
                pid = _read(out_path + ".pid")
                if pid:
                    _kill(pid)
                    end = time.monotonic() + 5
                    while _read(out_path + ".rc") is None and time.monotonic() < end:
                        time.sleep(POLL_S)
                    return ChildResult("timeout", error=f"no result after {timeout:g} s; killed",
                                       elapsed_s=time.monotonic() - t0, log=_text(out_path + ".log"))
                # still importing past the limit: the whole zygote goes
                self.close()
                return ChildResult("timeout", error=f"no result after {timeout:g} s (importing); killed",
                                   elapsed_s=time.monotonic() - t0, log=_text(self.log_path))
            time.sleep(POLL_S)
        log = _bytes(out_path + ".log") or b""
        return read_result(out_path, int(rc), log, time.monotonic() - t0)

    def _dead(self, t0: float) -> ChildResult:
        rc = self.child.close() if self.child is not None else None
        self.child, self.error = None, f"the importing process ended (exit status {rc})"
        return ChildResult("crashed", error=self.error, returncode=rc, elapsed_s=time.monotonic() - t0,
                           log=_text(self.log_path))

    def close(self) -> None:
        if self.child is not None:
            try:
                self.child.proc.stdin.close()  # serve mode returns at the end of its input
            except OSError:
                pass
            if not self.child.wait_exit(5):
                self.child.kill()
            self.child.close()
            self.child = None
            self.error = "closed"
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _read(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _text(path: str) -> str:
    return _tail(_bytes(path) or b"")


def _kill(pid: int) -> None:
    try:
        os.kill(int(pid), signal.SIGKILL)
    except (OSError, ValueError):
        pass


def available() -> bool:
    """Forking needs POSIX (os.fork in the target interpreter)."""
    return os.name == "posix"
