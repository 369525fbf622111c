"""Run the op suite: one child per backend in the target interpreter, in parallel.

The cases live in `cases.py` and the comparison in `compare.py`, both loaded
by path in the child (`child/suite_worker.py`), so the target's numpy and
Keras do the work and kbackend's interpreter never imports them.

A backend that cannot be imported, or whose child dies, is a finding and not a
crash of verify: its column is marked and the other backends still run. A
child that dies inside one case (a segfault in an op) leaves its journal: the
rows done so far are kept, the case it died in is an `error`, and a new child
goes on after it (at most `max_restarts` times).
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Callable, Iterable

from kbackend import _procs
from kbackend import backends as B
from kbackend._record import field, record
from kbackend.envs import installed as inst
from kbackend.errors import KbackendError
from kbackend.suite.model import BackendRun, CaseInfo, CaseResult, VerifyReport
from kbackend.workers.runner import CASES_PATH, COMPARE_PATH, ChildResult, run_parallel, run_worker

WORKER = "suite_worker.py"
#: Keras 3 backends in the order the matrix shows them.
SUITE_BACKENDS = B.suite_order()
#: the order children start in: the longest first, so that two cores stay busy to the end.
START_ORDER = B.verify_start_order()
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
DATA_FORMATS = ("channels_last", "channels_first")
#: added to the XLA_FLAGS of a child that compiles through jax (unless the user set the flag): see _child_env.
XLA_FAST_COMPILE = "--xla_cpu_use_fusion_emitters=false"
#: jax's persistent compilation cache for verify's children: kbackend's cache folder, this sub-folder.
COMPILE_CACHE_SUBDIR = "jax-compilation"
#: the backends whose children compile through jax (Keras's numpy backend runs convolutions with jax).
COMPILE_CACHE_BACKENDS = tuple(n for n in B.keras3_names() if B.REGISTRY[n].compiles_through_jax)
#: its size limit (jax evicts the least recently used entries beyond it); one run's programs take ~0.6 MB.
COMPILE_CACHE_MAX_BYTES = 128 * 1024 * 1024
#: the tiny-model check's category (not a case of cases.py: the worker builds the model itself).
MODEL_CATEGORY = "model"
#: the worker's journal name for a backend adapter's one-program step (suite_worker.BATCH_UNIT).
BATCH_UNIT = "__batch__"

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- what to run


def list_cases(python: str, *, timeout: float = 120) -> list[CaseInfo]:
    """The suite's cases as the target interpreter loads them (numpy only, no Keras)."""
    r = run_worker(python, WORKER, {"mode": "list", "cases_path": CASES_PATH, "compare_path": COMPARE_PATH},
                   timeout=timeout)
    if not r.ok or not isinstance(r.data, dict):
        raise KbackendError(
            f"Cannot load the op suite in {python}: {r.error or r.status}.",
            fix="the suite needs numpy in the target environment: pip install numpy",
        )
    return [CaseInfo(**c) for c in r.data["cases"]]


def select(cases: list[CaseInfo], ops: Iterable[str] = (), categories: Iterable[str] = ()) -> list[CaseInfo]:
    """Cases named by `--op` or in a `--category` (all when neither is given).

    `--op OP` selects the case OP and its variants (the cases "OP.CONDITION"); `--op OP.CONDITION`
    that variant alone.

    >>> def c(name):
    ...     return CaseInfo(name=name, category="reduction", tol="exact", dtypes=["float32"],
    ...                     layout_dependent=False, differentiable=False)
    >>> suite = [c("argmax"), c("argmax.ties"), c("argmax_signed_zero"), c("argmin")]
    >>> [x.name for x in select(suite, ops=["argmax"])]
    ['argmax', 'argmax.ties']
    >>> [x.name for x in select(suite, ops=["argmax.ties"])]
    ['argmax.ties']
    """
    ops, categories = list(ops), list(categories)
    cats = list(dict.fromkeys(c.category for c in cases)) + [MODEL_CATEGORY]
    from kbackend import names as N

    known = list(dict.fromkeys([c.name for c in cases] + [c.op for c in cases]))
    N.check("--op", ops, known, expected="case names of the suite (see `kbackend verify --list`)",
            fix="kbackend verify --op {}", fallback_fix="kbackend verify --list")
    N.check("--category", categories, cats, fix="kbackend verify --category {}", fallback_fix="kbackend verify --list")
    if not ops and not categories:
        return list(cases)
    return [c for c in cases if c.name in ops or c.op in ops or c.category in categories]


def installed_backends(sys_path: Iterable[str]) -> tuple[list[str], dict[str, str], str | None]:
    """(the Keras 3 backends installed in a target, its distributions' versions, its Keras version)."""
    from kbackend.config.judge import installed_backend

    dists = inst.scan(tuple(sys_path))
    versions = inst.versions(dists)
    kd = inst.keras_dist(dists)
    kv = kd.version if kd else None
    found = []
    for name in SUITE_BACKENDS:
        b = B.get(name)
        ok, _missing = installed_backend(name, versions)
        if ok and (kv is None or b is None or b.accepted_by(kv)):
            found.append(name)
    return found, versions, kv


# --------------------------------------------------------------------------- the journal


@record(frozen=False)
class Journal:
    """What a backend's children wrote as they went (see child/suite_worker.py)."""

    rows: list[dict] = field(default_factory=list)
    #: units finished ("dtype/case"), the one-program step included.
    done: list[str] = field(default_factory=list)
    #: the unit started and not finished (where a child died), with its category.
    started: str | None = None
    category: str | None = None
    #: how many units the backend has (announced by its first child).
    units: int | None = None
    #: the units in the suite's order (announced by its first child): the rows are sorted by it.
    order: list[str] = field(default_factory=list)
    #: what the first child said of itself (backend_version, keras_version, floatx, import_s).
    about: dict = field(default_factory=dict)
    #: why the unit started and not finished is known to crash the backend (Case.crashes), if it is.
    known_crash: str | None = None
    #: the known upstream defect (in its version range) that crash is, if it is one: the row's `known`.
    known: dict | None = None
    #: the children's warnings about jax's compilation cache, each once.
    warnings: list[str] = field(default_factory=list)

    @property
    def finished_cases(self) -> int:
        return sum(1 for u in self.done if not u.endswith("/" + BATCH_UNIT))


def read_journal(path: str) -> Journal:
    j = Journal()
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return j
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue  # a line cut short by the crash
        if "units" in ev and j.units is None:
            j.units = ev["units"]
            j.order = list(ev.get("order") or ())
            j.about = {k: v for k, v in ev.items() if k not in ("units", "order")}
        elif "start" in ev:
            j.started, j.category, j.known_crash = ev["start"], ev.get("category"), ev.get("known_crash")
            j.known = ev.get("known")
        elif "warning" in ev:
            if ev["warning"] not in j.warnings:
                j.warnings.append(ev["warning"])
        elif "unit" in ev:
            j.rows.extend(ev.get("rows") or [])
            j.done.append(ev["unit"])
            if j.started == ev["unit"]:
                j.started = j.category = j.known_crash = j.known = None
    return j


def suite_order(rows: list[dict], order: list[str]) -> list[dict]:
    """The rows sorted by their unit ("dtype/case") in the suite's order; rows of unknown units last, as they were.

    >>> rows = [{"dtype": "float32", "case": "eigh"}, {"dtype": "float32", "case": "add"}]
    >>> [r["case"] for r in suite_order(rows, ["float32/add", "float32/eigh"])]
    ['add', 'eigh']
    """
    rank = {u: i for i, u in enumerate(order)}
    return sorted(rows, key=lambda r: rank.get(f"{r.get('dtype')}/{r.get('case')}", len(rank)))


def _crash_rows(backend: str, j: Journal, child: ChildResult, restarted: bool = True) -> list[dict]:
    dtype, _, name = (j.started or "").partition("/")
    how = {"timeout": "hung (killed after the timeout)", "crashed": f"crashed ({child.error})"}.get(
        child.status, f"ended with {child.status} ({child.error})")
    model = j.category == MODEL_CATEGORY
    where = f"the {backend} process {how} while running this case" + (
        "; the other cases ran in a new process" if restarted else " (the last case it had to run)")
    row = {"case": name, "category": j.category or "unknown", "check": "forward" if model else "value",
           "dtype": dtype, "status": "error", "message": where + (f"; a known crash: {j.known_crash}" if j.known_crash
                                                                  else "")}
    if j.known and child.status == "crashed":  # a known upstream defect in its version range: `known`
        row.update(status="known", known=j.known, message=f"{j.known['reason']} [{where}]")
    return [row]


# --------------------------------------------------------------------------- running


def default_compile_cache() -> str:
    from kbackend import cache_dir

    return cache_dir(COMPILE_CACHE_SUBDIR)


def compile_cache_env(backend: str, cache_dir: str | None) -> dict[str, str]:
    """Variables that let a child reuse the XLA programs an earlier run compiled (jax, and numpy's convolutions).

    The cache is jax's own: its key holds the program, the compile options and XLA
    flags, and the jax/jaxlib versions, so a reused program is the one this
    installation would compile. A user's own JAX_COMPILATION_CACHE_DIR wins.

    >>> sorted(compile_cache_env("jax", "/c"))
    ['JAX_COMPILATION_CACHE_DIR', 'JAX_COMPILATION_CACHE_MAX_SIZE', 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS']
    >>> compile_cache_env("torch", "/c"), compile_cache_env("jax", None)
    ({}, {})
    """
    if backend not in COMPILE_CACHE_BACKENDS or not cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return {}
    return {
        "JAX_COMPILATION_CACHE_DIR": cache_dir,
        # jax caches only programs that took over 1 s to compile by default; the suite's small ones add up.
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0"),
        "JAX_COMPILATION_CACHE_MAX_SIZE": os.environ.get("JAX_COMPILATION_CACHE_MAX_SIZE",
                                                         str(COMPILE_CACHE_MAX_BYTES)),
    }


def _child_env(backend: str, extra: dict[str, str] | None = None, compile_cache: str | None = None) -> dict[str, str]:
    env = dict(extra or {})
    env["KERAS_BACKEND"] = backend
    env.update(compile_cache_env(backend, compile_cache))
    if backend in COMPILE_CACHE_BACKENDS:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_use_fusion_emitters" not in flags:
            # XLA's legacy CPU emitters compile the suite's program ~4x faster; on the suite they give
            # bit-identical values but for reduction order (1 ulp) on jax, and identical rows on numpy
            # (whose convolutions and pooling jax compiles). A user's own setting wins.
            env["XLA_FLAGS"] = (flags + " " + XLA_FAST_COMPILE).strip()
    return env


class _Watcher:
    """Reports progress (units finished over units announced, all backends) by reading the journals."""

    def __init__(self, paths: list[str], progress: Progress | None):
        self.paths, self.progress = paths, progress
        self.stop = threading.Event()
        self.lost = 0  # units that will never be written (a child that died for good)
        self.thread = threading.Thread(target=self._loop, daemon=True) if progress else None

    def count(self) -> tuple[int, int]:
        done = total = 0
        for p in self.paths:
            j = read_journal(p)
            done += j.finished_cases
            total += j.units or 0
        return min(total, done + self.lost), total

    def _loop(self) -> None:
        while not self.stop.wait(0.25):
            self.progress(*self.count())

    def __enter__(self):
        if self.thread:
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.thread:
            self.thread.join()
            total = self.count()[1]
            self.progress(total, total)


def run_verify(
    python: str,
    backends: list[str],
    cases: list[CaseInfo] | None,
    *,
    dtypes: list[str],
    data_formats: list[str] = list(DATA_FORMATS),
    grads: bool = True,
    model: bool = True,
    missing: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    max_restarts: int = 3,
    max_parallel: int | None = None,
    progress: Progress | None = None,
    compile_cache: str | None = None,
    seed: int = 0,
    rounds: int = 1,
    strict: bool = False,
) -> VerifyReport:
    """Run `cases` (None: every case) on every backend (one child each, in parallel) and merge the rows.

    `missing` maps backends that were asked for but are not installed to the fix,
    and they appear as `not_installed` columns. `env` is added to every child's
    environment (KERAS_HOME for --keras-home). `compile_cache`: the folder where jax
    keeps compiled programs between runs (None: compile afresh).
    """
    t0 = time.monotonic()
    names = None if cases is None else [c.name for c in cases]
    missing = missing or {}
    runs: dict[str, dict] = {b: {"status": "ok", "restarts": 0, "done": [], "child": None}
                             for b in backends}
    order = sorted(backends, key=lambda b: START_ORDER.index(b) if b in START_ORDER else len(START_ORDER))
    with _procs.temp_dir("verify-") as tmp:
        journals = {b: os.path.join(tmp, f"{b}.jsonl") for b in order}
        with _Watcher(list(journals.values()), progress) as watch:

            def drive(b: str) -> None:
                """One backend to the end: a child, and a new one after each crash or hang."""
                run = runs[b]
                while True:
                    child = run_worker(python, WORKER, {
                        "mode": "run", "cases_path": CASES_PATH, "compare_path": COMPARE_PATH, "names": names,
                        "dtypes": dtypes, "data_formats": data_formats, "size": "small", "grads": grads,
                        "model": model, "journal_path": journals[b], "skip_units": run["done"],
                        "batch": run.get("batch", True), "seed": seed, "rounds": rounds,
                    }, timeout=timeout, env=_child_env(b, env, compile_cache))
                    run["child"] = child
                    j = read_journal(journals[b])
                    run["done"] = j.done
                    if child.ok and isinstance(child.data, dict):
                        run["data"] = child.data
                        return
                    known_crash = child.status == "crashed" and j.started is not None and j.known is not None
                    if known_crash:  # a known upstream defect crashed it: its row says so, the child is accounted for
                        run.setdefault("known_crashes", []).append(j.started.partition("/")[2])
                    elif run["status"] == "ok":
                        run["status"] = child.status
                        run["error"] = child.error
                        run["log"] = child.log[-4000:] if child.log else None
                    if j.started is not None and child.status in ("crashed", "timeout") \
                            and run["restarts"] < max_restarts:
                        if j.started.endswith("/" + BATCH_UNIT):  # the one-program step died: run case by case
                            run["restarts"] += 1
                            run["batch"] = False
                            continue
                        # Keep what ran, mark the unit it died in, go on after it in a new child
                        # (none when that unit was the last: a new child would only import Keras again).
                        rest = (j.units or 0) - j.finished_cases - 1
                        crashed = [dict(r, seed=seed) for r in _crash_rows(b, j, child, rest > 0)]
                        run["crash_rows"] = run.get("crash_rows", []) + crashed
                        run["done"] = j.done + [j.started]
                        watch.lost += 1
                        if rest <= 0:
                            return
                        run["restarts"] += 1
                        continue
                    watch.lost += (j.units or 0) - j.finished_cases
                    return

            # A restarted backend goes on at once, beside the others, not after all of them.
            run_parallel(drive, order, max_parallel=max_parallel)
            for b in order:  # every child's rows, crashed ones included, in the suite's order
                runs[b]["journal"] = read_journal(journals[b])
    # the folder jax really used: a user's own JAX_COMPILATION_CACHE_DIR wins (compile_cache_env)
    user_cache = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if user_cache and set(COMPILE_CACHE_BACKENDS) & set(backends):
        compile_cache = user_cache
    rep = _report(python, dtypes, data_formats, order, backends, runs, missing, time.monotonic() - t0,
                  compile_cache)
    return rep.model_copy(update={"results": kink_consensus(rep.results), "strict": strict, "seed": seed,
                                  "rounds": rounds})


def _report(python, dtypes, data_formats, order, backends, runs, missing, elapsed, compile_cache=None) -> VerifyReport:
    out_backends: list[BackendRun] = []
    results: list[CaseResult] = []
    shown = [b for b in SUITE_BACKENDS if b in backends or b in missing] + \
        [b for b in backends if b not in SUITE_BACKENDS]
    for b in shown:
        if b in missing:
            out_backends.append(BackendRun(name=b, status="not_installed", error=f"{b} is not installed",
                                           fix=missing[b]))
            continue
        run = runs[b]
        j: Journal | None = run.get("journal")
        # A backend whose children all died still says what it is, from its journal.
        data = run.get("data") or (j.about if j else {})
        child: ChildResult | None = run.get("child")
        rows = suite_order((j.rows if j else []) + run.get("crash_rows", []), j.order if j else [])
        error = run.get("error")
        if run["status"] == "import_error" and child is not None and child.error:
            error = child.error
        out_backends.append(BackendRun(
            name=b, status=run["status"], version=data.get("backend_version"), keras_version=data.get("keras_version"),
            error=error, fix=_fix_for(b, run["status"]), elapsed_s=child.elapsed_s if child else None,
            import_s=data.get("import_s"), restarts=run["restarts"], log=run.get("log"),
            warnings=list(dict.fromkeys((j.warnings if j else []) + list(data.get("warnings") or []))),
            known_crashes=run.get("known_crashes", []),
        ))
        for r in rows:
            results.append(CaseResult(backend=b, **{k: v for k, v in r.items() if k in CaseResult.model_fields}))
    return VerifyReport(python=python, dtypes=dtypes, data_formats=data_formats, backends=out_backends,
                        results=results, elapsed_s=elapsed, compile_cache=compile_cache)


def _fix_for(backend: str, status: str) -> str | None:
    if status == "import_error":
        return f"kbackend doctor --backend {backend}"
    if status in ("crashed", "timeout"):
        return f"kbackend verify --backend {backend} --op CASE (to run one case alone)"
    return None


# --------------------------------------------------------------------------- gradients at kinks


def _same(a: dict, b: dict, tol: float = 1e-5) -> bool:
    return a.keys() == b.keys() and all(
        len(a[k]) == len(b[k]) and all(abs(x - y) <= tol * max(1.0, abs(x), abs(y)) for x, y in zip(a[k], b[k]))
        for k in a)


def _first_difference(at: dict, want: dict, got: dict) -> str:
    for k in want:
        for i, (w, g) in enumerate(zip(want[k], got.get(k, []))):
            if abs(w - g) > 1e-5 * max(1.0, abs(w), abs(g)):
                return f"d/d{k} at {k}={at[k][i]:g}: {g:g}, consensus {w:g}"
    return "the gradients' shapes differ"


def _majority(rows: list[CaseResult]) -> list[CaseResult] | None:
    """The rows whose gradients agree, when they are two or more and more than half of `rows`."""
    clusters: list[list[CaseResult]] = []
    for r in rows:
        for cl in clusters:
            if _same(cl[0].kink["grads"], r.kink["grads"]):
                cl.append(r)
                break
        else:
            clusters.append([r])
    best = max(clusters, key=len, default=[])
    return best if len(best) >= 2 and 2 * len(best) > len(rows) else None


def kink_consensus(results: list[CaseResult]) -> list[CaseResult]:
    """Judge the gradients at kinks (rows with `kink`) by the backends that computed them.

    Central differences mean nothing where a function has no derivative; any subgradient is a valid
    answer, and Keras's convention is what its backends agree on. The consensus is the majority of
    jax, torch and tensorflow, the backends whose documented choice differs (the case's xfail) left
    out; where those left do not make a majority, the convention recorded from that consensus (the
    case's analytic reference, `kink["expected"]`) judges, else the majority of all. A backend that
    differs fails, named with the consensus, unless its case documents that backend's own choice
    (xfail). With neither a majority nor a recorded convention, the check is a skip that says why.
    """
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(results):
        if r.check == "grad" and r.kink and r.status == "pass":
            groups.setdefault((r.case, r.dtype, r.data_format), []).append(i)
    out = list(results)
    for idxs in groups.values():
        rows = [results[i] for i in idxs]
        plain = [r for r in rows if not r.kink.get("xfail")]
        consensus, note = _majority(plain), ""
        if consensus is not None and len(plain) < len(rows):
            note = " (the documented outliers left out)"
        recorded = consensus is None and all(r.kink.get("expected") is not None for r in rows)
        if consensus is None and not recorded:
            if plain and len(rows) >= 2 and all(_same(plain[0].kink["grads"], r.kink["grads"]) for r in plain):
                consensus, note = plain, " (the documented outliers left out)"
            else:
                consensus = _majority(rows)
        for i, r in zip(idxs, rows):
            xfail = r.kink.get("xfail")
            if recorded:
                want, who = r.kink["expected"], "the recorded consensus of jax, torch and tensorflow"
                agrees = _same(want, r.kink["grads"])
            elif consensus is None:
                names = ", ".join(x.backend for x in rows)
                why = ("needs two or more of jax, torch and tensorflow" if len(rows) < 2
                       else f"no consensus: {names} differ at the kink")
                out[i] = r.model_copy(update={"status": "skip", "message": f"gradient at the kink not judged: {why}"})
                continue
            else:
                want = consensus[0].kink["grads"]
                who = "the consensus of " + (" and ".join(x.backend for x in consensus if x.backend != r.backend)
                                             or "the others")
                agrees = any(x is r for x in consensus) or _same(want, r.kink["grads"])
            if agrees:
                msg = f"agrees with {who.removeprefix('the consensus of ')} at the kink"
                if xfail:
                    msg = f"known to differ ({xfail}) but matched {who} here"
                out[i] = r.model_copy(update={"message": msg})
                continue
            detail = (f"{r.backend}'s gradient at the kink differs from {who}{note}: "
                      + _first_difference(r.kink["at"], want, r.kink["grads"]))
            if xfail:
                out[i] = r.model_copy(update={"status": "xfail", "message": f"{xfail} [{detail}]"})
            else:
                out[i] = r.model_copy(update={"status": "fail", "message": detail})
    return out
