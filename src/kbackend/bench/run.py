"""Running a bench: which cases, which backends, the child processes, the merged report.

The measurement itself happens in `child/bench_worker.py`, in the target
interpreter. Here: the plan (cases and options), the thread settings every
child gets before it starts, the order of the children (one NumPy peak child,
then `processes` rounds over the backends, interleaved so that a drift of the
machine hits every backend alike; never two children at once), and the merge
of their samples into `Result`s placed on the roofline.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from typing import Callable, Sequence

from kbackend import _procs
from kbackend import backends as B
from kbackend._record import field, record, replace
from kbackend.bench import roofline, stats
from kbackend.bench import zygote as _zygote
from kbackend.bench.model import BackendRun, BenchReport, Machine, PeakSource, Result
from kbackend.errors import KbackendError, UsageError
from kbackend.workers.runner import CASES_PATH, ChildResult, run_worker

WORKER = "bench_worker.py"
SIZES = ("small", "medium", "large")
DTYPES = ("float16", "bfloat16", "float32", "float64")
#: --quick: a few common ops of different categories, medium size, float32.
QUICK_CASES = ("add", "relu", "sum", "matmul", "softmax", "conv2d")
BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
LOG_KEEP = 4000
#: at most this many cases are left out of one backend for hanging or crashing its process.
MAX_EXCLUDED = 5


@record
class Item:
    case: str
    category: str
    size: str
    dtype: str

    def spec(self) -> dict:
        return {"case": self.case, "size": self.size, "dtype": self.dtype}


@record
class Plan:
    backends: tuple[str, ...]
    items: tuple[Item, ...]
    threads: int
    #: 5 a side lets the rank test reach p < 0.05 with one process out of order (3 need all in order).
    processes: int = 5
    #: many short samples: a median of 1-2 ms samples passes over the moments another
    #: process holds the core (measured: identical runs 6x closer than with 10 ms samples).
    rounds: int = 11
    min_time: float = 0.002
    warmup_time: float = 0.02
    jit: bool = False
    quick: bool = False
    #: {case: factor}: make a case slower in the child (measurement-quality checks only).
    slowdown: dict = field(default_factory=dict)
    #: seconds one step (set-up and first call, or one sample) may take before the case is left out.
    item_timeout: float = 60.0
    #: the op suite, loaded by path in the child.
    cases_path: str = CASES_PATH
    #: the backends' own matmul peak probe in their first process (off when the peak is cached).
    peak_probe: bool = True
    #: a name for progress lines (A/B sides, confirmation).
    label: str = ""
    #: `bench --model`: the saved model whose predict and train step are the items (see `model_items`).
    model: dict = field(default_factory=dict)
    #: processes forked after one import of the backend (--quick; bench/zygote.py), not fresh ones.
    fork: bool = False

    def options(self) -> dict:
        return {
            "threads": self.threads, "processes": self.processes, "rounds": self.rounds,
            "min_time_s": self.min_time, "jit": self.jit, "quick": self.quick, "item_timeout_s": self.item_timeout,
            "processes_forked": self.fork,
            "cases": sorted({i.case for i in self.items}), "sizes": sorted({i.size for i in self.items}),
            "dtypes": sorted({i.dtype for i in self.items}), **({"slowdown": self.slowdown} if self.slowdown else {}),
            **({"model": {k: self.model[k] for k in ("name", "sha256") if k in self.model}} if self.model else {}),
        }


@record
class Progress:
    """One step of a child: `stage` is "peak", "start", "prepare", "round i/n", "probe", or "done" (a
    process ended: `seconds` it took, `elapsed` since the run began, `processes` of this backend)."""

    backend: str
    process: int
    stage: str
    case: str = ""
    size: str = ""
    dtype: str = ""
    done: int = 0
    total: int = 0
    seconds: float = 0.0
    elapsed: float = 0.0
    processes: int = 0
    items: int = 0
    label: str = ""


# --------------------------------------------------------------------------- choosing


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def installed_backends(installed: dict[str, str], keras_version: str | None) -> list[str]:
    """Keras 3 backends whose packages are installed and that this Keras accepts."""
    from kbackend.config.judge import installed_backend

    out = []
    for name in B.KERAS3_ORDER:
        b = B.get(name)
        ok, _ = installed_backend(name, installed)
        if ok and (keras_version is None or b.accepted_by(keras_version)):
            out.append(name)
    return out


def catalog(python: str, timeout: float = 60, cases_path: str = CASES_PATH) -> list[dict]:
    """The cases of the suite, as the target interpreter sees them ({name, category, dtypes})."""
    r = run_worker(python, WORKER, {"mode": "list", "cases_path": cases_path}, timeout=timeout)
    if not r.ok:
        raise KbackendError(f"Cannot list the op cases in {python}: {r.status}: {r.error}.",
                            fix="check that numpy is installed there: `python -c 'import numpy'`")
    return list(r.data["cases"])


def _check(name: str, given: Sequence[str], allowed: Sequence[str]) -> None:
    from kbackend import names

    expected = "case names of the suite (see `kbackend verify --list`)" if name == "op" else None
    names.check(f"--{name}", list(given), list(allowed), expected=expected, fix=f"kbackend bench --{name} {{}}")


def select(cases: Sequence[dict], *, ops: Sequence[str] = (), categories: Sequence[str] = (),
           sizes: Sequence[str] = (), dtypes: Sequence[str] = (), quick: bool = False) -> tuple[Item, ...]:
    """The items to time: cases filtered by name and category, times sizes and dtypes.

    >>> cs = [{"name": "add", "category": "elementwise", "dtypes": ["float32"]},
    ...       {"name": "matmul", "category": "matmul", "dtypes": ["float32", "float64"]}]
    >>> [(i.case, i.dtype) for i in select(cs, dtypes=["float64"])]
    [('matmul', 'float64')]
    >>> [i.case for i in select(cs + [{"name": "add.int8_uint8", "category": "elementwise"}])]  # variants by name only
    ['add', 'matmul']
    """
    names = [c["name"] for c in cases]
    cats = list(dict.fromkeys(c["category"] for c in cases))
    _check("op", ops, names)
    _check("category", categories, cats)
    _check("size", sizes, SIZES)
    _check("dtype", dtypes, DTYPES)
    chosen = [c for c in cases if (not ops or c["name"] in ops) and (not categories or c["category"] in categories)]
    if not ops:
        # verify's condition variants (OP.CONDITION: ties, NaN, a 1-D operand...) are correctness conditions,
        # not workloads: bench times them only when asked for by name.
        chosen = [c for c in chosen if "." not in c["name"]]
    if quick and not ops:
        firsts = list({c["category"]: c for c in reversed(chosen)}.values())[::-1]
        chosen = [c for c in chosen if c["name"] in QUICK_CASES] or firsts[: len(QUICK_CASES)]
    items = []
    for c in chosen:
        for size in sizes or ("medium",):
            for dt in dtypes or ("float32",):
                if not c.get("dtypes") or dt in c["dtypes"]:
                    items.append(Item(c["name"], c["category"], size, dt))
    if not items:
        raise UsageError("No op case matches the options. Received: "
                         f"op={list(ops) or 'all'}, category={list(categories) or 'all'}, "
                         f"dtype={list(dtypes) or ['float32']}",
                         fix="kbackend bench --quick")
    return tuple(items)


def thread_env(threads: int, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The variables that fix every library's thread count, set before the child starts.

    >>> thread_env(1)["OPENBLAS_NUM_THREADS"], "intra_op_parallelism_threads=1" in thread_env(1, {})["XLA_FLAGS"]
    ('1', True)
    """
    env = dict.fromkeys(BLAS_VARS, str(threads))
    env["TF_NUM_INTEROP_THREADS"] = "1"
    if threads == 1:
        base = (environ if environ is not None else os.environ).get("XLA_FLAGS", "")
        env["XLA_FLAGS"] = (base + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    return env


# --------------------------------------------------------------------------- running


def _timeout(plan: Plan, n_items: int) -> float:
    """The parent's last-resort limit for one child (the child's watchdog acts per item first)."""
    per_item = plan.rounds * max(plan.min_time, 0.05) * 4 + 10
    return 300 + per_item * n_items + plan.item_timeout


def _watch(path: str, backend: str, process: int, total: int, on_progress, stop: threading.Event) -> None:
    """Follow the child's progress file (one line per step) until `stop`."""
    seen = 0
    while True:
        finished = stop.wait(0.1)
        for line in _lines(path)[seen:]:
            parts = line.split("\t")
            if len(parts) == 4:
                seen += 1
                on_progress(Progress(backend, process, parts[0], *parts[1:], done=seen, total=total))
        if finished:
            return


def _lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def _child(python: str, inp: dict, env: dict, timeout: float, backend: str, process: int, total: int,
           on_progress, zygote=None) -> tuple[ChildResult, list[str]]:
    """Run one child; returns its result and its progress lines (they name the item it died on)."""
    with _procs.temp_dir("bench-") as tmp:
        inp = dict(inp, progress=os.path.join(tmp, "progress"))
        stop = threading.Event()
        watcher = None
        if on_progress is not None:
            watcher = threading.Thread(target=_watch, args=(inp["progress"], backend, process, total, on_progress,
                                                            stop), daemon=True)
            watcher.start()
        try:
            if zygote is not None:
                r = zygote.run(inp, timeout)
            else:
                r = run_worker(python, WORKER, inp, timeout=timeout, env=env)
        finally:
            stop.set()
            if watcher is not None:
                watcher.join()
        return r, _lines(inp["progress"])


def _culprit(r: ChildResult, lines: list[str], item_timeout: float) -> dict | None:
    """The item a dead child was on, as a result row, or None when no item was running."""
    if r.status != "crashed" or not lines:  # a parent timeout blames no case: the backend fails
        return None
    parts = lines[-1].split("\t")
    if len(parts) != 4:
        return None
    stage, case, size, dtype = parts
    if stage == "timeout":
        what = "the set-up and first call (compilation)" if lines[-2:-1] and lines[-2].startswith("prepare") \
            else "one sample"
        return {"case": case, "size": size, "dtype": dtype, "status": "timeout",
                "error": f"{what} took more than {item_timeout:g} s; the process was ended and run again without it"}
    if stage != "prepare" and not stage.startswith("round"):
        return None
    return {"case": case, "size": size, "dtype": dtype, "status": "crashed",
            "error": f"the process died during {stage} of this case ({r.status}: {r.error}); run again without it"}


def _run_process(python: str, plan: Plan, backend: str, process: int, inp: dict, env: dict, excluded: list[dict],
                 on_progress, zygote=None) -> ChildResult:
    """One process of one backend; a case that hangs or kills the process is left out and the rest run again.

    `excluded` (shared by the processes of this plan and backend) collects those cases' rows.
    """
    t0 = time.monotonic()
    while True:
        left = [s for s in inp["items"] if not any(_same(s, x) for x in excluded)]
        steps = (len(left) + 2) * (plan.rounds + 1)  # + the two calibration kernels
        if on_progress:
            on_progress(Progress(backend, process, "start", total=steps))
        r, lines = _child(python, dict(inp, items=left), env, _timeout(plan, len(left)), backend, process, steps,
                          on_progress, zygote)
        if r.status == "crashed" and lines and lines[-1].startswith("probe") and inp.get("peak_probe"):
            inp = dict(inp, peak_probe=False)  # the backend's own peak probe killed it: run without
            continue
        bad = _culprit(r, lines, plan.item_timeout)
        if bad is None or len(excluded) >= MAX_EXCLUDED:
            break
        excluded.append(bad)
    if r.ok and isinstance(r.data, dict) and excluded:
        r = replace(r, data=dict(r.data, items=list(r.data.get("items") or []) + [dict(x) for x in excluded]))
    if on_progress:
        on_progress(Progress(backend, process, "done", seconds=time.monotonic() - t0, processes=plan.processes,
                             items=len(inp["items"]), label=plan.label))
    return r


def _same(spec: dict, row: dict) -> bool:
    return (spec["case"], spec["size"], spec["dtype"]) == (row["case"], row["size"], row["dtype"])


def run(python: str, plan: Plan, *, on_progress: Callable[[Progress], None] | None = None,
        environ: dict[str, str] | None = None, machine: Machine | None = None) -> BenchReport:
    """Run the plan in `python`; never raises for what a child does (it becomes a status).

    With `machine` (a cached peak) no peak is measured and the report uses it.
    """
    return run_interleaved(python, [plan], on_progress=on_progress, environ=environ, machine=machine)[0]


def load_average() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return -1.0


#: how long the importing processes of a --quick run may take together before timing starts anyway.
IMPORT_WAIT_S = 300.0


def _start_zygotes(zygotes: dict, plans: Sequence[Plan], pythons: Sequence[str], threads: int,
                   base_env: dict) -> None:
    """Start the importing process of every forking plan's backends at once, keyed (plan index, backend),
    and wait for all of them (bench/zygote.py); plans of fresh processes get none."""
    if not _zygote.available():
        return
    for n, plan in enumerate(plans):
        if plan.fork:
            for b in plan.backends:
                zygotes[(n, b)] = _zygote.Zygote(pythons[n], WORKER, {"threads": threads},
                                                 dict(base_env, KERAS_BACKEND=b))
    deadline = time.monotonic() + IMPORT_WAIT_S
    for z in zygotes.values():
        z.wait_ready(max(0.0, deadline - time.monotonic()))


def run_interleaved(python: str | Sequence[str], plans: Sequence[Plan], *,
                    on_progress: Callable[[Progress], None] | None = None,
                    environ: dict[str, str] | None = None, measure_peak: bool = True,
                    machine: Machine | None = None) -> list[BenchReport]:
    """Run several plans (same thread count) process by process, interleaved, with one peak measurement.

    Process p of every plan and backend runs before process p + 1 of any, so a
    change of the machine's load during the run hits every plan and backend alike
    (A/B comparisons, the measurement-quality checks). `python` is one
    interpreter, or one per plan (A/B of two environments).
    """
    if len({p.threads for p in plans}) != 1:
        raise ValueError("interleaved plans must use the same thread count")
    pythons = [python] * len(plans) if isinstance(python, str) else list(python)
    python = pythons[0]
    if machine is not None:
        measure_peak = False
    load0 = load_average()
    t0 = time.monotonic()
    threads = plans[0].threads
    keras_home = _procs.mkdtemp("bench-keras-")
    # --quick: each plan's backend imports once and forks its processes (bench/zygote.py)
    zygotes: dict[tuple[int, str], _zygote.Zygote] = {}
    try:
        base_env = thread_env(threads, environ)
        base_env["KERAS_HOME"] = keras_home  # Keras writes keras.json on import: never the user's
        if on_progress and measure_peak:
            on_progress(Progress("numpy", 0, "peak", label="uncached" if plans[0].model else ""))
        peak = run_worker(python, WORKER, {"mode": "peak", "threads": threads, "quick": plans[0].quick},
                          timeout=300, env=base_env) if measure_peak else ChildResult("not_run", error="not measured")
        _start_zygotes(zygotes, plans, pythons, threads, base_env)
        children: list[dict[str, list[ChildResult]]] = [{b: [] for b in plan.backends} for plan in plans]
        excluded: list[dict[str, list[dict]]] = [{b: [] for b in plan.backends} for plan in plans]
        failed: list[set[str]] = [set() for _ in plans]
        for p in range(max(plan.processes for plan in plans)):
            for n, plan in enumerate(plans):
                if p >= plan.processes:
                    continue
                inp = {
                    "mode": "run", "cases_path": plan.cases_path, "threads": threads, "jit": plan.jit,
                    "items": [i.spec() for i in plan.items], "rounds": plan.rounds, "min_time": plan.min_time,
                    "warmup_time": plan.warmup_time, "slowdown": plan.slowdown,
                    "peak_probe": p == 0 and plan.peak_probe and machine is None,
                    "item_timeout": plan.item_timeout,
                    "model": plan.model or None,
                }
                for b in plan.backends:
                    if b in failed[n]:
                        continue
                    cb = None
                    if on_progress is not None:
                        def cb(ev, _t0=t0):
                            on_progress(replace(ev, elapsed=time.monotonic() - _t0))
                    r = _run_process(pythons[n], plan, b, p, inp, dict(base_env, KERAS_BACKEND=b), excluded[n][b],
                                     cb, zygotes.get((n, b)))
                    children[n][b].append(r)
                    if not r.ok:
                        failed[n].add(b)
        elapsed = time.monotonic() - t0
        load = (load0, load_average())
        reports = []
        for plan, per_backend, py in zip(plans, children, pythons):
            rep = merge(plan, peak, per_backend, elapsed=elapsed, machine=machine)
            runs = tuple(b.model_copy(update={"python": py}) for b in rep.backends)
            reports.append(rep.model_copy(update={"load": load, "backends": runs}))
        return reports
    finally:
        for z in zygotes.values():
            z.close()
        shutil.rmtree(keras_home, ignore_errors=True)


# --------------------------------------------------------------------------- merging


def _backend_run(name: str, plan: Plan, results: list[ChildResult]) -> BackendRun:
    ok = [r for r in results if r.ok and isinstance(r.data, dict)]
    bad = [r for r in results if not r.ok]
    d = ok[0].data if ok else {}
    threads = d.get("threads") or {}
    log = None
    if bad:
        log = ((bad[0].log or "") + ("\n" + bad[0].traceback if bad[0].traceback else ""))[-LOG_KEEP:]
    calibration = tuple(min(r.data["calibration"]) for r in ok if r.data.get("calibration"))
    calibration_blas = tuple(min(r.data["calibration_blas"]) for r in ok if r.data.get("calibration_blas"))
    return BackendRun(
        calibration=calibration, calibration_blas=calibration_blas,
        backend=name, status=bad[0].status if bad else "ok", error=bad[0].error if bad else None,
        keras=d.get("keras"), version=d.get("version"), device=d.get("device"),
        mode=next((it.get("mode") for it in d.get("items", ()) if it.get("mode")), "jit" if plan.jit else "eager"),
        sync=d.get("sync"), thread_env=threads.get("env") or {}, affinity=threads.get("affinity"),
        backend_threads=d.get("backend_threads") or {}, processes=len(ok),
        import_s=stats.median([r.data["import_s"] for r in ok]) if ok else None, log=log,
    )


def _result(backend: str, item: Item, rows: list[dict], plan: Plan) -> Result:
    """One item's rows (one per process) merged."""
    base = dict(backend=backend, case=item.case, category=item.category, size=item.size, dtype=item.dtype,
                mode="jit" if plan.jit else "eager")
    if not rows:
        return Result(**base, status="not_run", error="no process of this backend ran")
    timed = [r for r in rows if r.get("status") == "ok" and r.get("samples")]
    first = rows[0]
    base.update(mode=first.get("mode") or base["mode"], flops=first.get("flops"), bytes=first.get("bytes"))
    if not timed:
        bad = next((r for r in rows if r.get("status") != "ok"), first)
        status = bad.get("status") if bad.get("status") in ("error", "skipped", "timeout", "crashed") else "error"
        return Result(**base, status=status, error=bad.get("error") or "no samples")
    samples = [s for r in timed for s in r["samples"]]
    per_process = [min(r["samples"]) for r in timed]
    return Result(
        **base, status="ok", compute_dtype=timed[0].get("out_dtype"), **estimate(per_process),
        min_s=min(samples),
        first_call_s=stats.median([r["first_call_s"] for r in timed]),
        loops=int(stats.median([r["loops"] for r in timed])),
        samples=tuple(samples), process_medians=tuple(stats.median(r["samples"]) for r in timed),
        process_mins=tuple(per_process),
    )


def estimate(per_process: Sequence[float]) -> dict:
    """The one estimator shown, compared and gated: the median over the processes of each process's
    best sample, with the quartiles of those per-process values as its spread (None with a single
    process: one value has no spread).

    Each process's best sample, because noise only ever adds time: on this shared 2-core machine, at
    load averages of 13-20, a 2x slowdown compared 5 processes against 5 was not significant with
    per-process medians (most 1 ms samples were preempted) and was with per-process minimums; an
    earlier measurement gave 3 false alarms in 20 identical-run decisions with medians and none with
    minimums (timeit's advice; Chen and Revels, "Robust benchmarking in noisy environments", 2016).
    The median over processes then passes over a process that never ran undisturbed.

    >>> e = estimate([1.0, 2.0, 3.0, 4.0, 100.0])
    >>> e["median_s"], e["iqr_s"]
    (3.0, 2.0)
    """
    many = len(per_process) >= 2
    q1, q3 = stats.quantile(per_process, 0.25), stats.quantile(per_process, 0.75)
    return {"median_s": stats.median(per_process), "iqr_s": q3 - q1 if many else None,
            "q1_s": q1 if many else None, "q3_s": q3 if many else None}


def merge(plan: Plan, peak: ChildResult, per_backend: dict[str, list[ChildResult]], *, elapsed: float = 0.0,
          machine: Machine | None = None) -> BenchReport:
    """The report from the children's outputs (pure: testable with canned outputs)."""
    runs = [_backend_run(b, plan, rs) for b, rs in per_backend.items()]
    probes = []
    for b, rs in per_backend.items():
        for r in rs:
            if r.ok and isinstance(r.data, dict):
                dev = r.data.get("device") or "cpu"
                for pr in r.data.get("peak_probe") or ():
                    probes.append(PeakSource(source=b, device=str(dev), dtype=pr["dtype"], gflops=pr.get("gflops"),
                                             note=pr.get("note")))
    peak_data = peak.data if peak.ok and isinstance(peak.data, dict) else {"cpu": None, "cores": cores()}
    if machine is None:
        machine = roofline.machine_from(peak_data, plan.threads, probes)
    if not peak.ok and machine.peak_origin == "measured":
        machine = machine.model_copy(update={"peak_sources": machine.peak_sources + (
            PeakSource(source="numpy", dtype="float32", note=f"peak child {peak.status}: {peak.error}"),)})
    results = []
    for run_ in runs:
        rows_by_item: dict[tuple, list[dict]] = {}
        for r in per_backend[run_.backend]:
            if r.ok and isinstance(r.data, dict):
                for row in r.data.get("items") or ():
                    rows_by_item.setdefault((row["case"], row["size"], row["dtype"]), []).append(row)
        for item in plan.items:
            res = _result(run_.backend, item, rows_by_item.get((item.case, item.size, item.dtype), []), plan)
            results.append(roofline.place(res, machine, run_.device))
    raised = raise_peak(machine, results, {r.backend: r.device for r in runs})
    if raised is not machine:
        machine = raised
        device = {r.backend: r.device for r in runs}
        results = [roofline.place(r, machine, device.get(r.backend)) for r in results]
    return BenchReport(machine=machine, options=plan.options(), backends=tuple(runs), results=tuple(results),
                       elapsed_s=elapsed)


def raise_peak(machine: Machine, results: Sequence[Result], devices: dict) -> Machine:
    """The machine with its CPU compute peak raised to what a timed case reached, when one beat it.

    A peak is the best this machine was seen to do: a probe measured while another process held a
    core (or a cached one) can be lower than a case's own rate, and a fraction of peak above 1 would
    only say that the reference was weak. The case is recorded as a source of the peak.
    """
    best: dict[str, tuple[float, Result]] = {}
    for r in results:
        if r.status == "ok" and r.gflops and r.bound == "compute" and roofline.is_cpu(devices.get(r.backend)):
            key = roofline.FLOAT64 if (r.compute_dtype or r.dtype) == roofline.FLOAT64 else "float32"
            if r.gflops > best.get(key, (0.0, r))[0]:
                best[key] = (r.gflops, r)
    higher = {k: v for k, v in best.items() if v[0] > (machine.peak_gflops.get(k) or 0.0) and machine.peak_gflops}
    if not higher:
        return machine
    peaks = dict(machine.peak_gflops, **{k: v[0] for k, v in higher.items()})
    sources = machine.peak_sources + tuple(
        PeakSource(source=f"{r.backend} {r.case} {r.size}", dtype=k, gflops=g, note="a timed case beat the probes")
        for k, (g, r) in higher.items())
    return machine.model_copy(update={"peak_gflops": peaks, "peak_sources": sources})


#: a run saved as a baseline, of forked processes (--quick), takes this many times the processes.
BASELINE_FACTOR = 3

#: `bench --model` items: predict at each batch size, then one train step at the last (largest) batch.
MODEL_PREDICT, MODEL_TRAIN = "model.predict", "model.train_step"


def model_items(batches: Sequence[int], dtype: str, train: bool = True) -> tuple[Item, ...]:
    """The items of a saved model: its predict at each batch size and a train step at the last.

    >>> [(i.case, i.size) for i in model_items([1, 32], "float32")]
    [('model.predict', 'batch=1'), ('model.predict', 'batch=32'), ('model.train_step', 'batch=32')]
    """
    sizes = list(dict.fromkeys(int(b) for b in batches))
    out = [Item(MODEL_PREDICT, "model", f"batch={b}", dtype) for b in sizes]
    if train:
        out.append(Item(MODEL_TRAIN, "model", f"batch={sizes[-1]}", dtype))
    return tuple(out)


def make_plan(backends: Sequence[str], items: Sequence[Item], *, threads: int | None = None,
              processes: int | None = None, rounds: int | None = None, quick: bool = False, jit: bool = False,
              min_time: float | None = None, slowdown: dict | None = None,
              item_timeout: float | None = None, cases_path: str = CASES_PATH, model: dict | None = None,
              saving: bool = False) -> Plan:
    """Defaults: all cores, 5 processes, 11 rounds of 2 ms samples; --quick: 10 processes forked after one import, 5 rounds of 1 ms.

    --quick's processes are cheap (no import each) and memory-bound cases vary about ±20 % from one
    process to the next (where its pages land: add medium's per-process bests spanned 71-113 us on a
    2-core machine while the calibration kernel spanned 6.6-7.8 us), so it takes more of them: with 4,
    one baseline's median was off by enough that a 30 % slowdown was caught in 7 of 20 compares.

    A saved model (`model`): 3 processes (each loads and compiles the model: the gate's fewest for its
    rank test across processes), set-up and first call allowed 300 s (a large model's compilation),
    no backend peak probe (a model has no roofline); --quick: 5 rounds.

    A run `saving` a baseline, of forked processes (--quick), takes 3x the processes (30) unless
    `processes` is given. Every later run is compared with that one baseline, so its own error is in
    every decision: on a 2-core machine the numpy backend's relu and add vary ±20-25 % from one process
    to the next (a fresh process's add: 54-96 us in 200 s of back-to-back runs, while the calibration
    kernel stayed within 6.1-7.3 us), and a 10-process baseline that came out fast made 8 of 20
    unchanged compares fail. Forked processes cost about 0.5 s each, so the baseline costs seconds
    more; fresh processes (the default run) cost an import each, and keep their count.

    >>> item = (Item("add", "elementwise", "medium", "float32"),)
    >>> [make_plan(["numpy"], item, quick=True, saving=True, processes=n).processes for n in (None, 10)]
    [30, 10]
    >>> make_plan(["numpy"], item, saving=True).processes  # fresh processes
    5
    """
    p = Plan(backends=tuple(backends), items=tuple(items), threads=threads or cores(), quick=quick, jit=jit,
             slowdown=dict(slowdown or {}), item_timeout=item_timeout or (300.0 if jit or model else 60.0),
             cases_path=cases_path, model=dict(model or {}))
    if quick:
        p = replace(p, processes=10, rounds=5, min_time=0.001, warmup_time=0.01, fork=True)
    if model:
        p = replace(p, processes=3, peak_probe=False)
    if saving and p.fork:
        p = replace(p, processes=p.processes * BASELINE_FACTOR)
    if processes is not None:
        p = replace(p, processes=processes)
    if rounds is not None:
        p = replace(p, rounds=rounds)
    if min_time is not None:
        p = replace(p, min_time=min_time)
    return p
