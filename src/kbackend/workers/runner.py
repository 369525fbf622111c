"""Run worker scripts in child processes of the target interpreter.

The model is pyperf's: the parent spawns the child, results travel as a
versioned JSON document on a channel of their own (a result file), the child's
stdout/stderr are a log, and the child is killed on timeout or on any exception
in the parent. Every outcome is a `ChildResult` with one of the statuses
`ok`, `import_error`, `error`, `timeout`, `crashed`, `bad_output`: never an
exception of kbackend.

>>> r = run_worker(sys.executable, "echo.py", {"x": 1}, timeout=30)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Mapping, Sequence

from kbackend._record import field, record

PROTOCOL = 1
#: the child-side folder: every script run in the target interpreter (kbackend/child/).
CHILD_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "child")
WORKERS_DIR = CHILD_DIR
BOOT = os.path.join(CHILD_DIR, "_boot.py")
#: the op cases and the comparison, loaded by path in verify's and bench's children.
CASES_PATH = os.path.join(CHILD_DIR, "cases.py")
COMPARE_PATH = os.path.join(CHILD_DIR, "compare.py")
LOG_LIMIT = 20_000

STATUSES = ("ok", "import_error", "error", "timeout", "crashed", "bad_output")


def kill_all() -> None:
    """Kill every child still running, with its whole process group (Ctrl-C, any exception)."""
    from kbackend import _procs

    _procs.kill_all()


@record
class ChildResult:
    status: str
    data: Any = None
    error: str | None = None
    returncode: int | None = None
    elapsed_s: float = 0.0
    log: str = ""
    traceback: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@record
class Job:
    python: str
    worker: str
    input: Any
    timeout: float = 120.0
    env: Mapping[str, str] | None = None
    key: Any = None


def child_env(extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: the user's, with safe-path on and our overrides."""
    env = dict(os.environ if base is None else base)
    env["PYTHONSAFEPATH"] = "1"
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env.pop("PYTHONSTARTUP", None)
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
    return env


def worker_path(worker: str) -> str:
    """The path of a child-side script (a name in kbackend/child/, or an absolute path)."""
    return worker if os.path.isabs(worker) else os.path.join(WORKERS_DIR, worker)


def _tail(b: bytes) -> str:
    s = b.decode("utf-8", "replace")
    return s[-LOG_LIMIT:]


def run_worker(
    python: str,
    worker: str,
    inp: Any,
    *,
    timeout: float = 120.0,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> ChildResult:
    """Run one worker to completion; never raises for anything the child does."""
    from kbackend import _procs

    t0 = time.monotonic()
    with _procs.temp_dir("worker-") as tmp:
        inp_path = os.path.join(tmp, "input.json")
        out_path = os.path.join(tmp, "result.json")
        with open(inp_path, "w") as f:
            json.dump(inp, f)
        argv = [python, BOOT, worker_path(worker), inp_path, out_path]
        try:
            # Its own session and a TMPDIR of kbackend's; its whole group is killed however it ends.
            proc = _procs.run(argv, timeout=timeout, env=child_env(env), cwd=cwd, merge_stderr=True)
        except subprocess.TimeoutExpired as e:
            return ChildResult("timeout", error=f"no result after {timeout:g} s; killed",
                               returncode=getattr(e, "returncode", None),
                               elapsed_s=time.monotonic() - t0, log=_tail(e.output or b""))
        except OSError as e:
            return ChildResult("crashed", error=f"cannot start {python}: {e.strerror or e}",
                               elapsed_s=time.monotonic() - t0)
        return read_result(out_path, proc.returncode, proc.stdout or b"", time.monotonic() - t0)


def read_result(out_path: str, rc: int | None, output: bytes, elapsed: float) -> ChildResult:
    """A finished child's outcome: its result document (the `_boot.py` protocol), its exit status and log."""
    log = _tail(output)
    if os.path.exists(out_path):
        try:
            with open(out_path) as f:
                doc = json.load(f)
            if not isinstance(doc, dict) or doc.get("protocol") != PROTOCOL:
                raise ValueError(f"protocol {doc.get('protocol') if isinstance(doc, dict) else doc!r}")
        except (ValueError, OSError) as e:
            return ChildResult("bad_output", error=f"unreadable result: {e}", returncode=rc, elapsed_s=elapsed, log=log)
        if rc != 0 and doc.get("status") == "ok":
            return ChildResult("crashed", data=doc.get("data"), error=f"exit status {rc} after its result",
                               returncode=rc, elapsed_s=elapsed, log=log)
        return ChildResult(doc.get("status", "bad_output"), data=doc.get("data"), error=doc.get("error"),
                           returncode=rc, elapsed_s=elapsed, log=log, traceback=doc.get("traceback"))
    if rc is not None and rc < 0:
        try:
            sig = signal.Signals(-rc).name
        except ValueError:
            sig = f"signal {-rc}"
        return ChildResult("crashed", error=f"killed by {sig}", returncode=rc, elapsed_s=elapsed, log=log)
    if rc != 0:
        return ChildResult("crashed", error=f"exit status {rc} without a result", returncode=rc,
                           elapsed_s=elapsed, log=log)
    return ChildResult("bad_output", error="exited 0 without writing a result", returncode=rc,
                       elapsed_s=elapsed, log=log)


def run_parallel(fn: Callable[[Any], None], items: Sequence[Any], *, max_parallel: int | None = None) -> None:
    """Call `fn(item)` for each item in threads (bounded by the cores); an interrupt kills every child."""
    n = max(1, min(len(items) or 1, max_parallel or (os.cpu_count() or 1)))
    ex = ThreadPoolExecutor(max_workers=n)
    try:
        futures = [ex.submit(fn, it) for it in items]
        for f in futures:
            while True:
                try:
                    f.result(timeout=0.2)  # short waits keep the main thread interruptible
                    break
                except TimeoutError:
                    continue
    except BaseException:
        ex.shutdown(wait=False, cancel_futures=True)
        kill_all()
        raise
    ex.shutdown(wait=True)


def run_many(
    jobs: Sequence[Job],
    *,
    max_parallel: int | None = None,
    on_done: Callable[[Job, ChildResult], None] | None = None,
) -> list[ChildResult]:
    """Run jobs in parallel (bounded by the cores); results in the jobs' order."""
    n = max(1, min(len(jobs) or 1, max_parallel or (os.cpu_count() or 1)))
    results: list[ChildResult | None] = [None] * len(jobs)

    def one(i: int) -> None:
        j = jobs[i]
        r = run_worker(j.python, j.worker, j.input, timeout=j.timeout, env=j.env)
        results[i] = r
        if on_done:
            on_done(j, r)

    run_parallel(one, range(len(jobs)), max_parallel=n)
    return [r for r in results if r is not None]
