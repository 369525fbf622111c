"""Worker: run the op suite on one backend, in the target interpreter.

Run by `_boot.py` with KERAS_BACKEND set by the parent. Imports only the
standard library, numpy and the target's Keras and backend; never kbackend.
The case module (kbackend/child/cases.py) and the comparison module
(kbackend/child/compare.py) are loaded by the paths given in the input.

Input:
    {"cases_path": ..., "compare_path": ..., "mode": "run" | "list",
     "names": [case names] | null, "dtypes": ["float32"], "data_formats": [...],
     "size": "small", "grads": true, "model": true,
     "journal_path": file | null, "skip_units": ["dtype/case", ...], "batch": true (backends with a one-program step)}

Output (mode "run"): {"backend", "keras_version", "backend_version", "floatx",
"import_s", "run_s", "batched" (outputs computed by one-program steps),
"warnings" (about jax's compilation cache: see below), "results": [row, ...]} where a row is {case, category,
check (value | grad | forward | sgd_step | fit), dtype, data_format, status
(pass | fail | error | skip | xfail), max_abs_err, max_rel_err, worst, atol, rtol,
expected_dtype, got_dtype, message, ms}.
Output (mode "list"): {"cases": [{name, category, tol, dtypes, ...}]}.

The journal: one JSON line per event, flushed as it happens, so that the
parent can keep the rows of a child that crashes (a segfault in one op) and
start another child after the unit that crashed: {"units": n, "order": [unit,
...]} first (the progress bar's total, and the suite's order of the units),
{"start": unit, "category": ..., "known_crash": reason or null} before a unit
(a dtype and a case, all its data formats and its gradient), {"unit": unit,
"rows": [...]} after it. Units run in the suite's order, but a unit known to
crash this backend (`Case.crashes`) runs last, so its crash ends the child
with nothing left to run. The first line also holds the backend's and Keras's
versions, floatx and import_s, as the result does. {"warning": text} is a
warning about jax's persistent compilation cache (a Python warning or a jax log
record: a cache that cannot be read or written is a feature turned off, and
the parent shows it); where `filelock` is missing, the child drops the cache's
size limit before importing jax (jax cannot enforce it without filelock and
would not use the cache at all) and says so the same way.

What differs between backends comes from the backend's adapter
(adapters/<backend>.py, loaded through _adapter.py): gradients, whether Keras
can train with it, known float64 behaviours, and the one-program step: where
the adapter has one (`one_program`), the cases' values (and gradients) are
computed together in one compiled program before the cases run, as Keras runs a
model does (each adapter's `one_program` says how). A case that cannot join the
program runs alone, so its error stays its own.

Test hook (documented, for kbackend's own tests only): if the environment
variable KBACKEND_TEST_PATCH names a Python file, it is executed after Keras is
imported with `keras`, `ops` (keras.ops) and `backend` (the backend's name) in
its namespace, so a test can make one op of one backend wrong and see verify
catch it.
"""

import importlib.util
import json
import os
import sys
import time

GRAD_DTYPES = ("float32", "float64")
#: the journal's name for the one-program step of a backend whose adapter has one (not a case).
BATCH_UNIT = "__batch__"
#: the tiny model's unit name (a check of its own, not a case).
MODEL_UNIT = "tiny_mlp"
#: why a float64 result can have float32 precision where the adapter says nothing else (xfail reason).
F64_AS_F32 = ("Keras computes this op in keras.backend.result_type(x, 'float32'), which is float32 for float64 "
              "inputs off tensorflow: the float64 result has float32 precision")
MODEL_LR = 0.1
MODEL_EPOCHS = 5


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _adapters():
    """child/_adapter.py, loaded by path (a worker cannot import kbackend)."""
    mod = sys.modules.get("kbackend_child_adapter")
    if mod is None:
        mod = _load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_adapter.py"), "kbackend_child_adapter")
    return mod


def _list(cases):
    return {"cases": [
        {"name": c.name, "category": c.category, "tol": c.tol, "dtypes": list(c.dtypes),
         "layout_dependent": c.layout_dependent, "differentiable": c.differentiable, "doc": c.doc,
         "xfail": [list(x) for x in c.xfail], "skip": [list(x) for x in c.skip],
         "crashes": [list(x) for x in c.crashes]}
        for c in cases.CASES
    ]}


class _Journal(object):
    def __init__(self, path):
        self.f = open(path, "a", buffering=1) if path else None

    def write(self, doc):
        if self.f:
            self.f.write(json.dumps(doc, default=repr) + "\n")
            self.f.flush()


def unit_key(dtype, name):
    return dtype + "/" + name


def main(inp):
    global KNOWN_ERROR
    cases = _load(inp["cases_path"], "kbackend_suite_cases")
    cmp = _load(inp["compare_path"], "kbackend_suite_compare")
    KNOWN_ERROR = getattr(cases, "known_error", None)
    if inp.get("mode") == "list":
        return _list(cases)

    journal = _Journal(inp.get("journal_path"))
    notices = _Notices(journal)
    notices.extend(_compile_cache_without_filelock())
    notices.watch()
    t_import = time.time()
    import keras  # noqa: E402 - the backend comes from KERAS_BACKEND
    import numpy as np

    ops = keras.ops
    backend = keras.backend.backend()
    import_s = time.time() - t_import
    patch = os.environ.get("KBACKEND_TEST_PATCH")
    if patch:
        with open(patch) as f:
            code = compile(f.read(), patch, "exec")
        exec(code, {"keras": keras, "ops": ops, "backend": backend, "__name__": "kbackend_test_patch"})

    t0 = time.time()
    names = inp.get("names")
    selected = [c for c in cases.CASES if names is None or c.name in names]
    dtypes = inp.get("dtypes") or [keras.config.floatx()]
    skip_units = set(inp.get("skip_units") or ())
    A = _adapters()
    adapter = A.load(backend)
    runner = _Runner(keras, ops, np, cases, cmp, backend, inp, adapter)
    # (key, dtype, case), the tiny model's case None, in the suite's order.
    units = [(unit_key(d, c.name), d, c) for d in dtypes for c in selected]
    if inp.get("model", True):
        units.append((unit_key("float32", MODEL_UNIT), "float32", None))
    about = {"backend": backend, "keras_version": keras.__version__, "backend_version": _backend_version(backend, adapter),
             "floatx": keras.config.floatx(), "import_s": import_s}
    # What the parent reports even if this child dies, and the suite's order, for the parent to sort the rows by.
    journal.write(dict(about, units=len(units), order=[k for k, _, _ in units]))
    known_crash = {k: c.crash_reason(backend, d) for k, d, c in units if c is not None}
    # A unit known to crash this backend's process runs last: its crash then costs no second process.
    units = sorted((u for u in units if u[0] not in skip_units), key=lambda u: bool(known_crash.get(u[0])))
    results = []
    if A.get(adapter, "one_program") is not None and inp.get("batch", True):
        for dtype in dtypes:
            # A case may ask to run alone (Case.extra["eager"]: random draws, whose compiled sampler costs
            # more than the whole program's other cases on jax).
            todo = [c for k, d, c in units if d == dtype and c is not None and not known_crash[k]
                    and not c.extra.get("eager")]
            if todo:
                # A crash inside the batched program names this pseudo-unit: the next child runs eagerly.
                journal.write({"start": unit_key(dtype, BATCH_UNIT)})
                runner.prepare_batch(todo, dtype)
                journal.write({"unit": unit_key(dtype, BATCH_UNIT), "rows": []})
    for key, dtype, c in units:
        if c is None:
            journal.write({"start": key, "category": "model"})
            rows = _model_check(keras, ops, np, cmp, backend, A.get(adapter, "TRAINS", False))
        else:
            journal.write({"start": key, "category": c.category, "known_crash": known_crash[key]})
            rows = runner.run_case(c, dtype)
        journal.write({"unit": key, "rows": rows})
        results.extend(rows)
    return dict(about, run_s=time.time() - t0, batched=runner.batched_count, results=results,
                warnings=list(notices.seen))


# The compilation cache's notices: a warning that turns a feature off is reported, never swallowed.

#: what makes a warning (or a jax log record) one about the persistent compilation cache.
CACHE_WORDS = ("compilation cache", "compilation_cache", "persistent cache", "filelock")


def _compile_cache_without_filelock():
    """Keep jax's compilation cache working where `filelock` is missing: drop the size limit, and say so.

    jax needs filelock to enforce JAX_COMPILATION_CACHE_MAX_SIZE; without it, every
    read and write of the cache fails (RuntimeError: Please install the `filelock`
    package), so the cache would stay empty. Without a limit it needs no lock.
    Must run before jax is imported (jax reads the variable at import).
    """
    size = os.environ.get("JAX_COMPILATION_CACHE_MAX_SIZE")
    if not os.environ.get("JAX_COMPILATION_CACHE_DIR") or size in (None, "", "-1"):
        return []
    try:
        import filelock  # noqa: F401
    except ImportError:
        del os.environ["JAX_COMPILATION_CACHE_MAX_SIZE"]
        return ["filelock is not installed: jax cannot limit its compilation cache to %s bytes, so the cache "
                "in %s is kept without a size limit (install filelock to cap it)"
                % (size, os.environ["JAX_COMPILATION_CACHE_DIR"])]
    return []


class _Notices(object):
    """Warnings about the compilation cache (Python warnings and jax's log records), each once, journaled."""

    def __init__(self, journal):
        self.journal = journal
        self.seen = []

    def add(self, text):
        text = " ".join(str(text).split())[:500]
        if text and text not in self.seen:
            self.seen.append(text)
            self.journal.write({"warning": text})

    def extend(self, texts):
        for t in texts:
            self.add(t)

    def watch(self):
        import logging
        import warnings

        notices = self
        shown = warnings.showwarning

        def showwarning(message, category, filename, lineno, file=None, line=None):
            if _about_cache(str(message)):
                notices.add("%s: %s" % (category.__name__, message))
            return shown(message, category, filename, lineno, file, line)

        warnings.showwarning = showwarning
        # shown even where the user's warning filters would hide them (the first matching filter wins)
        warnings.filterwarnings("default", message=r".*(compilation cache|filelock)")

        class Handler(logging.Handler):
            def emit(self, record):
                try:
                    msg = record.getMessage()
                except Exception:  # noqa: BLE001 - a broken log record is not the suite's business
                    return
                if _about_cache(msg):
                    notices.add("%s: %s" % (record.levelname.lower(), msg))

        logging.getLogger("jax").addHandler(Handler(level=logging.WARNING))


def _about_cache(text):
    low = text.lower()
    return any(w in low for w in CACHE_WORDS)


def _backend_version(backend, adapter):
    try:
        version = getattr(adapter, "version", None)
        if version is not None:
            return version(backend, _adapters())
        mod = __import__(backend)
        return str(getattr(mod, "__version__", "")) or None
    except Exception:  # noqa: BLE001 - a version is a nicety
        return None


def _row(c, check, dtype, fmt, **kw):
    row = {"case": c.name, "category": c.category, "check": check, "dtype": dtype, "data_format": fmt,
           "status": "pass", "max_abs_err": None, "max_rel_err": None, "worst": None, "atol": None,
           "rtol": None, "expected_dtype": None, "got_dtype": None, "message": None, "ms": None}
    row.update(kw)
    return row


def _err(e):
    msg = ("%s: %s" % (type(e).__name__, e)).strip()
    return msg.splitlines()[0][:300] if msg else type(e).__name__


#: the cases module's `known_error` (set when it is loaded): errors a backend raises on this machine only.
KNOWN_ERROR = None


def _error_row(c, check, dtype, fmt, e, backend):
    if isinstance(e, NotImplementedError):
        return _row(c, check, dtype, fmt, status="skip",
                    message="not implemented by the %s backend (%s)" % (backend, _err(e)))
    row = _row(c, check, dtype, fmt, status="error", message=_err(e))
    known = KNOWN_ERROR(backend, fmt, row["message"]) if KNOWN_ERROR else None
    if known:
        row["status"], row["message"] = "xfail", known + " [" + row["message"] + "]"
    return row


def _apply_xfail(row, reason):
    if not reason or row["status"] == "skip":
        return
    if row["status"] in ("fail", "error"):
        detail = row["message"]
        row["status"] = "xfail"
        row["message"] = reason + (" [" + detail + "]" if detail else "")
    elif row["status"] == "pass":
        # A known difference that did not show here: say so rather than pass silently.
        row["message"] = "known to differ (" + reason + ") but matched here"


def _worst(verdicts, prefix=""):
    """One verdict for several arrays: the first failure (named), else the first xfail, else the closest."""
    for bad in (("fail", "error"), ("xfail",)):
        for name, v in verdicts:
            if v["status"] in bad:
                return dict(v, message=prefix + name + ": " + (v["message"] or ""))
    return max((v for _, v in verdicts), key=lambda v: v["worst"] or 0.0)


class _Runner(object):
    """Runs one case on one backend: value, dtype, and gradient checks."""

    def __init__(self, keras, ops, np, cases, cmp, backend, inp, adapter=None):
        self.keras, self.ops, self.np, self.cases, self.cmp, self.backend = keras, ops, np, cases, cmp, backend
        self.adapter = adapter
        self.formats = inp.get("data_formats") or list(cases.DATA_FORMATS)
        self.size = inp.get("size", "small")
        self.grads = bool(inp.get("grads", True) and getattr(adapter, "TRAINS", False)
                          and getattr(adapter, "grads", None) is not None)
        self.batched = {}  # (dtype, case, fmt) -> (output, [grads] or None) from one compiled program
        self.batched_count = 0  # outputs computed by one-program steps (the result's `batched`)
        self._held = {}

    # -- arguments ------------------------------------------------------------------------

    def args(self, c, dtype, fmt):
        rng = self.np.random.default_rng(self.cases.seed_for(c.name))
        return self.cases.make_args(c, rng, dtype, self.size, fmt)

    def grad_setup(self, c, dtype, args, ref):
        names = list(c.grad_wrt) if c.grad_wrt is not None else [
            k for k, v in args.items() if isinstance(v, self.np.ndarray) and v.dtype.kind == "f"]
        crng = self.np.random.default_rng(self.cases.seed_for(c.name, 1))
        cot = self.cases.carrier(crng.uniform(0.5, 1.5, ref.shape), dtype)
        return names, cot

    def wants_grad(self, c, dtype):
        return self.grads and c.differentiable and dtype in GRAD_DTYPES

    # -- one case -------------------------------------------------------------------------

    def run_case(self, c, dtype):
        skip = c.skip_reason(self.backend, dtype)
        if skip:
            return [_row(c, "value", dtype, None, status="skip", message=skip)]
        rows = []
        for fmt in (self.formats if c.layout_dependent else [None]):
            rows.extend(self.run_one(c, dtype, fmt))
        return rows

    def run_one(self, c, dtype, fmt):
        ops = self.ops
        xfail = c.xfail_reason(self.backend, dtype)
        t0 = time.time()
        ref_args = ref = None
        pre = self.batched.pop((dtype, c.name, fmt), None)
        held = self.held_dtype(dtype)
        note = None if held == dtype else "%s holds %s inputs as %s" % (self.backend, dtype, held)
        try:
            args = self.args(c, dtype, fmt)
            ref_args = self.hold(args, held)  # the reference sees the inputs the backend really got
            ref = self.cases.expected(c, ref_args)
            targs = self.cases.to_tensors(ops, args, dtype)
            out = pre[0] if pre is not None else c.call(ops, targs)
            got, got_dt = self.to_numpy(out)
            exp_dt = self.expected_dtype(c, held, targs)
            # float64 inputs the backend holds as float64: an op may cast them to its float32 result dtype first.
            ref32 = (lambda: self.cases.expected(c, self.hold(ref_args, "float32"))) if held == "float64" else None
            row = _row(c, "value", dtype, fmt, expected_dtype=exp_dt, got_dtype=got_dt,
                       **self.compare(c, got, got_dt, ref, exp_dt, ref32=ref32))
        except Exception as e:  # noqa: BLE001 - an op that raises is a finding
            row = _error_row(c, "value", dtype, fmt, e, self.backend)
            ref = None
        row["ms"] = round((time.time() - t0) * 1000, 3)
        if note and row["status"] == "pass" and not row["message"]:
            row["message"] = note
        _apply_xfail(row, xfail)
        rows = [row]
        if self.wants_grad(c, dtype) and ref is not None and row["status"] != "skip":
            rows.append(self.grad_check(c, dtype, fmt, ref_args, ref, xfail, pre[1] if pre is not None else None))
        return rows

    def held_dtype(self, dtype):
        """The dtype the backend holds `dtype` tensors in (jax without JAX_ENABLE_X64: float64 → float32)."""
        if dtype not in self._held:
            t = self.ops.convert_to_tensor(self.np.ones((1,), dtype="float32"), dtype=dtype)
            self._held[dtype] = self.keras.backend.standardize_dtype(t.dtype)
        return self._held[dtype]

    def hold(self, args, held):
        np = self.np
        return {k: (self.cases.carrier(v, held) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
                for k, v in args.items()}

    def compare(self, c, got, got_dt, ref, exp_dt, grad=False, ref32=None):
        """The verdict on a value: tolerance by the output dtype, the reference rounded to it.

        Two documented float64 behaviours are xfail, never pass: an op that returns float64 where
        keras.backend.result_type says float32, and a float64 result that has only float32 precision.
        Either is a fail when the values are wrong even at float32 precision (`ref32`: the reference
        of the inputs rounded to float32, given for float64 inputs, else `ref` rounded to float32).
        A float32 result of float64 inputs may also match `ref32`: the op cast its inputs to the
        result dtype first, as keras.backend.result_type says.
        """
        np, floats = self.np, self.cases.FLOAT_DTYPES
        known = None
        if exp_dt == "float32" and got_dt == "float64" and not getattr(self.adapter, "RESULT_TYPE_F64", False):
            known = ("keras.backend.result_type says float32 for float64 inputs on %s (to match JAX without x64), "
                     "and this op returns float64" % self.backend)
            exp_dt = got_dt
        is_float = exp_dt in floats
        ref_cmp = self.cases.carrier(ref, exp_dt).astype(np.float64) if is_float else ref
        v = self.cmp.compare(got, ref_cmp, tol=c.tol, dtype=exp_dt if is_float else got_dt,
                             expected_dtype=exp_dt, got_dtype=got_dt, grad=grad)
        if v["status"] == "fail" and exp_dt == got_dt == "float32" and ref32 is not None:
            # float64 inputs, float32 result (keras.backend.result_type): the op casts its inputs first.
            v2 = self.cmp.compare(got, self.cases.carrier(ref32(), "float32").astype(np.float64), tol=c.tol,
                                  dtype="float32", expected_dtype=exp_dt, got_dtype=got_dt, grad=grad)
            if v2["status"] == "pass":
                v = dict(v2, message="float64 inputs computed as float32, as keras.backend.result_type says")
        if v["status"] == "fail" and exp_dt == "float64" and got_dt == "float64":
            r32 = ref32() if ref32 is not None else ref
            v32 = self.cmp.compare(got, self.cases.carrier(r32, "float32").astype(np.float64), tol=c.tol,
                                   dtype="float32", grad=grad)
            if v32["status"] == "pass":
                known = getattr(self.adapter, "F64_AS_F32", None) or F64_AS_F32
                v = dict(v32, message=None)
        if known and v["status"] == "pass":
            v["status"], v["message"] = "xfail", known
        return v

    def to_numpy(self, t):
        """A backend output as a NumPy array (bfloat16 read as float32) and its Keras dtype name."""
        np, ops = self.np, self.ops
        dt = self.keras.backend.standardize_dtype(t.dtype)
        fetched = getattr(self.adapter, "fetched", None)
        data = fetched(t) if fetched is not None else None
        if data is not None:
            t = data
        try:
            arr = np.asarray(ops.convert_to_numpy(t))
        except Exception:  # noqa: BLE001 - some backends cannot export bfloat16 directly
            arr = np.asarray(ops.convert_to_numpy(ops.cast(t, "float32")))
        if arr.dtype.kind not in "biuf":
            arr = arr.astype(np.float64)
        return arr, dt

    def expected_dtype(self, c, held, targs):
        if c.out_dtype == "float":
            return held
        if c.out_dtype is not None:
            return c.out_dtype
        kb = self.keras.backend
        return kb.result_type(*[kb.standardize_dtype(v.dtype) for v in targs.values() if self.ops.is_tensor(v)])

    # -- gradients ------------------------------------------------------------------------

    def grad_check(self, c, dtype, fmt, args, ref, xfail, pre_grads):
        np = self.np
        t0 = time.time()
        try:
            names, cot = self.grad_setup(c, dtype, args, ref)
            refs = self.cases.reference_grads(c, args, cot.astype(np.float64), names)
            if pre_grads is not None:
                gs = pre_grads
            else:
                targs = self.cases.to_tensors(self.ops, args, dtype)
                gs = self.backend_grads(c, targs, names, self.ops.convert_to_tensor(cot, dtype=dtype))
            # A gradient has its input's dtype, as the backend holds the input (jax without x64: float32).
            held = self.held_dtype(dtype)
            verdicts = []
            for name, g in zip(names, gs):
                got, got_dt = self.to_numpy(g)
                verdicts.append((name, self.compare(c, got, got_dt, refs[name], held, grad=True)))
            row = _row(c, "grad", dtype, fmt, expected_dtype=held, got_dtype=held, **_worst(verdicts, "d/d"))
        except Exception as e:  # noqa: BLE001
            row = _error_row(c, "grad", dtype, fmt, e, self.backend)
        row["ms"] = round((time.time() - t0) * 1000, 3)
        _apply_xfail(row, xfail)
        return row

    def objective(self, c, targs, names, cot):
        ops = self.ops

        def f(*xs):
            a = dict(targs)
            a.update(zip(names, xs))
            y = c.call(ops, a)
            return ops.sum(ops.multiply(y, cot)), y

        return f

    def backend_grads(self, c, targs, names, cot):
        """d/d(names) of sum(call(args) * cot) on the backend."""
        f = self.objective(c, targs, names, cot)
        xs = [targs[k] for k in names]
        grads = getattr(self.adapter, "grads", None)
        if grads is None:
            raise NotImplementedError("gradients on " + self.backend)
        return grads(f, xs)

    # -- one program for many cases --------------------------------------------------------

    def batch_units(self, todo, dtype):
        """(case, data format) pairs of `todo` that the one-program step computes (skipped cases left out)."""
        for c in todo:
            if not c.skip_reason(self.backend, dtype):
                for fmt in (self.formats if c.layout_dependent else [None]):
                    yield c, fmt

    def prepare_batch(self, todo, dtype):
        """The adapter's one-program step: `todo`'s values (and gradients) into self.batched."""
        step = getattr(self.adapter, "one_program", None)
        if step is not None:
            step(self, todo, dtype)


# --------------------------------------------------------------------------- the tiny model


class _ModelCase(object):
    name = MODEL_UNIT
    category = "model"


def _model_check(keras, ops, np, cmp, backend, trains):
    """Dense(4→3, tanh) → Dense(3→2) with fixed weights: forward, one SGD step, a short fit."""
    c = _ModelCase()
    rows = []
    rng = np.random.default_rng(1234)
    f32 = [a.astype("float32") for a in (
        rng.normal(size=(4, 3)) * 0.5, rng.normal(size=(3,)) * 0.1,
        rng.normal(size=(3, 2)) * 0.5, rng.normal(size=(2,)) * 0.1,
        rng.normal(size=(8, 4)), rng.normal(size=(8, 2)))]
    w1, b1, w2, b2, x, y = [a.astype(np.float64) for a in f32]  # the reference sees the float32 values
    h = np.tanh(x @ w1 + b1)
    pred = h @ w2 + b2
    t0 = time.time()
    try:
        # float32 whatever floatx is: the check is about training, and its tolerances are float32's.
        # Zeros for initial weights: set_weights replaces them, and random initializers cost a compile on jax.
        model = keras.Sequential([keras.Input((4,), dtype="float32"),
                                  keras.layers.Dense(3, activation="tanh", dtype="float32", kernel_initializer="zeros"),
                                  keras.layers.Dense(2, dtype="float32", kernel_initializer="zeros")])
        model.set_weights(f32[:4])
        got = np.asarray(ops.convert_to_numpy(model(f32[4])), dtype=np.float64)
        rows.append(_row(c, "forward", "float32", None, **cmp.compare(got, pred, tol="nn", dtype="float32")))
    except Exception as e:  # noqa: BLE001
        rows.append(_error_row(c, "forward", "float32", None, e, backend))
        return rows
    rows[-1]["ms"] = round((time.time() - t0) * 1000, 3)
    if not trains:
        reason = backend + " is an inference-only backend (fit raises NotImplementedError)"
        rows.append(_row(c, "sgd_step", "float32", None, status="skip", message=reason))
        rows.append(_row(c, "fit", "float32", None, status="skip", message=reason))
        return rows
    t0 = time.time()
    try:
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=MODEL_LR),
                      loss=keras.losses.MeanSquaredError(dtype="float32"))
        model.train_on_batch(f32[4], f32[5])
        # NumPy: loss = mean((pred - y)^2) over the batch and the outputs.
        d_pred = 2.0 * (pred - y) / pred.size
        d_h = (d_pred @ w2.T) * (1 - h**2)
        grads = [x.T @ d_h, d_h.sum(axis=0), h.T @ d_pred, d_pred.sum(axis=0)]
        want = [w - MODEL_LR * g for w, g in zip((w1, b1, w2, b2), grads)]
        got = [np.asarray(w, dtype=np.float64) for w in model.get_weights()]
        names = ("kernel_1", "bias_1", "kernel_2", "bias_2")
        verdicts = [(n, cmp.compare(gw, ww, tol="nn", dtype="float32")) for n, gw, ww in zip(names, got, want)]
        rows.append(_row(c, "sgd_step", "float32", None, **_worst(verdicts)))
    except Exception as e:  # noqa: BLE001
        rows.append(_error_row(c, "sgd_step", "float32", None, e, backend))
    rows[-1]["ms"] = round((time.time() - t0) * 1000, 3)
    t0 = time.time()
    try:
        hist = model.fit(f32[4], f32[5], epochs=MODEL_EPOCHS, batch_size=8, verbose=0).history["loss"]
        ok = bool(hist[-1] < hist[0] and np.all(np.isfinite(hist)))
        msg = "loss %.4g → %.4g over %d epochs" % (hist[0], hist[-1], len(hist))
        rows.append(_row(c, "fit", "float32", None, status="pass" if ok else "fail",
                         message=msg if ok else "loss did not go down: " + msg))
    except Exception as e:  # noqa: BLE001
        rows.append(_error_row(c, "fit", "float32", None, e, backend))
    rows[-1]["ms"] = round((time.time() - t0) * 1000, 3)
    return rows
