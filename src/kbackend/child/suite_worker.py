"""Worker: run the op suite on one backend, in the target interpreter.

Run by `_boot.py` with KERAS_BACKEND set by the parent. Imports only the
standard library, numpy and the target's Keras and backend; never kbackend.
The case module (kbackend/child/cases.py) and the comparison module
(kbackend/child/compare.py) are loaded by the paths given in the input.

Input:
    {"cases_path": ..., "compare_path": ..., "mode": "run" | "list",
     "names": [case names] | null, "dtypes": ["float32"], "data_formats": [...],
     "size": "small", "grads": true, "model": true,
     "journal_path": file | null, "skip_units": ["dtype/case", ...], "batch": true (backends with a one-program step),
     "seed": 0 (the first draw of the random inputs), "rounds": 1 (draws per case: the worst row of each is kept)}
    Mode "repro" (numpy only, no Keras): {"case", "dtype", "seed", "data_format", "backend", "out_dir"}: writes
    the case's inputs and float64 reference (.npz) and a plain keras.ops script; returns their paths and the call.

Output (mode "run"): {"backend", "keras_version", "backend_version", "floatx",
"import_s", "run_s", "batched" (outputs computed by one-program steps),
"warnings" (about jax's compilation cache: see below), "results": [row, ...]} where a row is {case, category,
check (value | grad | forward | sgd_step | fit), dtype, data_format, status
(pass | fail | error | skip | xfail | known), max_abs_err, max_rel_err, worst, atol, rtol,
expected_dtype, got_dtype, message, ms, seed, conditions (when the case has any), known (a known upstream
defect in its version range: its entry, the installed version), kink (a gradient at kinks: the points
and the gradients, judged by the parent's consensus of the backends)}.
Output (mode "list"): {"cases": [{name, category, tol, dtypes, ...}]}.

The journal: one JSON line per event, flushed as it happens, so that the
parent can keep the rows of a child that crashes (a segfault in one op) and
start another child after the unit that crashed: {"units": n, "order": [unit,
...]} first (the progress bar's total, and the suite's order of the units),
{"start": unit, "category": ..., "known_crash": reason or null, "known": the defect's row document when
that crash is a known upstream defect in its version range, else null} before a unit
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
         "crashes": [list(x) for x in c.crashes], "defects": [list(x) for x in getattr(c, "defects", ())],
         "conditions": list(getattr(c, "conditions", ())), "kink_grad": bool(getattr(c, "kink_grad", False))}
        for c in cases.CASES
    ]}


# --------------------------------------------------------------------------- --repro: a script for a bug report


class _Sym(object):
    """A stand-in that writes down the expression a case's `call` builds (the call written out as source)."""

    def __init__(self, text, value=None):
        self._text, self._value = text, value

    def __repr__(self):
        return self._text

    def __getattr__(self, k):
        if k.startswith("__"):
            raise AttributeError(k)
        if self._value is not None and k in ("shape", "ndim", "size", "dtype"):
            v = getattr(self._value, k)
            return tuple(int(d) for d in v) if k == "shape" else (int(v) if k in ("ndim", "size") else str(v))
        return _Sym(self._text + "." + k)

    def __getitem__(self, i):
        return _Sym("%s[%s]" % (self._text, _src(i)))

    def __call__(self, *a, **kw):
        parts = [_src(x) for x in a] + ["%s=%s" % (k, _src(v)) for k, v in kw.items()]
        return _Sym("%s(%s)" % (self._text, ", ".join(parts)))

    def _bin(op, rev=False):
        def f(self, other):
            a, b = (_src(other), self._text) if rev else (self._text, _src(other))
            return _Sym("(%s %s %s)" % (a, op, b))
        return f

    __add__, __radd__ = _bin("+"), _bin("+", True)
    __sub__, __rsub__ = _bin("-"), _bin("-", True)
    __mul__, __rmul__ = _bin("*"), _bin("*", True)
    __truediv__, __rtruediv__ = _bin("/"), _bin("/", True)
    __pow__, __rpow__ = _bin("**"), _bin("**", True)
    __matmul__ = _bin("@")

    def __neg__(self):
        return _Sym("(-%s)" % self._text)

    # A call that iterates over, or branches on, a value computes on values: it cannot be written out
    # (and iterating through __getitem__ would never end).
    def __iter__(self):
        raise TypeError("a recorded call cannot be iterated")

    def __bool__(self):
        raise TypeError("a recorded call has no truth value")

    def __len__(self):
        raise TypeError("a recorded call has no length")


def _src(v):
    import numpy as np

    if isinstance(v, _Sym):
        return v._text
    if isinstance(v, tuple):
        return "(" + ", ".join(_src(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(_src(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%r: %s" % (k, _src(x)) for k, x in v.items()) + "}"
    if isinstance(v, slice):
        return "slice(%s, %s, %s)" % (_src(v.start), _src(v.stop), _src(v.step))
    if isinstance(v, np.ndarray):
        return "np.array(%r, dtype=%r)" % (v.tolist(), str(v.dtype))
    if isinstance(v, np.generic):
        return repr(v.item())
    return repr(v)


def call_source(case, args):
    """The case's keras.ops call as a Python expression over the argument names (`ops.exp(x)`), or None."""
    import numpy as np

    syms = dict((k, _Sym(k, v) if isinstance(v, np.ndarray) else v) for k, v in args.items())
    try:
        out = case.call(_Sym("ops"), syms)
    except Exception:  # noqa: BLE001 - a call that computes on values cannot be written out this way
        return None
    return out._text if isinstance(out, _Sym) else None


REPRO_SCRIPT = """\
# {case} ({conditions}) on {backend}, {dtype}, seed {seed}: `kbackend verify --repro` wrote this with the case's
# call in plain keras.ops; {npz} holds the inputs and the float64 NumPy reference ("expected").
import os
os.environ.setdefault("KERAS_BACKEND", {backend!r})
import numpy as np
from keras import ops
d = np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), {npz!r}))
{tensors}
out = {expr}
got = np.asarray(ops.convert_to_numpy(ops.cast(out, "float32") if "bfloat16" in str(out.dtype) else out), np.float64)
want = d["expected"]
err = np.abs(got - want) if got.shape == want.shape else np.full(1, np.inf)
print("{case}:", os.environ["KERAS_BACKEND"], "shape", got.shape, "expected", want.shape, "max abs error %.3g" % err.max(),
      "max rel error %.3g" % (err / np.maximum(np.abs(want), 1e-30)).max(), "(kbackend allows {atol:g} + {rtol:g}·|expected|)")
"""


def _repro(cases, cmp, inp):
    """Write a case's inputs and reference (.npz) and a plain keras.ops script that shows the error (no Keras here)."""
    import numpy as np

    c = cases.CASES_BY_NAME[inp["case"]]
    dtype, seed, fmt = inp["dtype"], int(inp.get("seed") or 0), inp.get("data_format")
    rng = np.random.default_rng(cases.seed_for(c.name, 2 * seed))
    args = cases.make_args(c, rng, dtype, inp.get("size", "small"), fmt)
    ref = cases.expected(c, args)
    expr = call_source(c, args)
    if expr is None:
        raise ValueError("the call of case %s cannot be written out as plain keras.ops" % c.name)
    arrays = dict((k, v) for k, v in args.items() if isinstance(v, np.ndarray))
    statics = dict((k, v) for k, v in args.items() if k not in arrays)
    lines = []
    for k, v in arrays.items():
        kd = dtype if v.dtype.kind == "f" else None
        lines.append("%s = ops.convert_to_tensor(d[%r]%s)" % (k, k, ", dtype=%r" % kd if kd else ""))
    for k, v in statics.items():  # static arguments are written into the call already; kept for reading
        lines.append("# %s = %s" % (k, _src(v)))
    base = c.name.replace(".", "_")
    npz = base + ".npz"
    out_dir = inp["out_dir"]
    if not os.path.isdir(out_dir):
        os.makedirs(out_dir)
    np.savez(os.path.join(out_dir, npz), expected=ref,
             **dict((k, v) for k, v in arrays.items()))
    out_dt = "float32" if c.out_dtype in (None, "float") else c.out_dtype
    atol, rtol = cmp.tolerance(c.tol, dtype if out_dt == "float32" else out_dt)
    text = REPRO_SCRIPT.format(case=c.name, conditions=", ".join(getattr(c, "conditions", ()) or ()) or "default inputs",
                               backend=inp["backend"], dtype=dtype, seed=seed, npz=npz, tensors="\n".join(lines),
                               expr=expr, atol=atol, rtol=rtol)
    script = os.path.join(out_dir, "repro_" + base + ".py")
    with open(script, "w") as f:
        f.write(text)
    return {"case": c.name, "npz": os.path.join(out_dir, npz), "script": script, "call": expr, "seed": seed,
            "dtype": dtype, "data_format": fmt, "backend": inp["backend"]}


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
    if inp.get("mode") == "repro":
        return _repro(cases, cmp, inp)

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
    global KNOWN_DEFECT
    KNOWN_DEFECT = runner.defect_by_key
    # (key, dtype, case), the tiny model's case None, in the suite's order.
    units = [(unit_key(d, c.name), d, c) for d in dtypes for c in selected]
    if inp.get("model", True):
        units.append((unit_key("float32", MODEL_UNIT), "float32", None))
    about = {"backend": backend, "keras_version": keras.__version__, "backend_version": _backend_version(backend, adapter),
             "floatx": keras.config.floatx(), "import_s": import_s}
    # What the parent reports even if this child dies, and the suite's order, for the parent to sort the rows by.
    journal.write(dict(about, units=len(units), order=[k for k, _, _ in units]))
    # Known upstream defects in their version range (the installed package's): a crash among them runs last too.
    known = {k: runner.defect(c, d) for k, d, c in units if c is not None}
    known_crash = {k: c.crash_reason(backend, d) or (
        known[k]["reason"] if known[k] and cases.KNOWN_DEFECTS[known[k]["key"]].get("crash") else None)
        for k, d, c in units if c is not None}
    # A unit known to crash this backend's process runs last: its crash then costs no second process.
    units = sorted((u for u in units if u[0] not in skip_units), key=lambda u: bool(known_crash.get(u[0])))
    results = []
    if A.get(adapter, "one_program") is not None and inp.get("batch", True):
        for dtype in dtypes:
            # (a case that asks to run alone, Case.extra["eager"], is left out by runner.batch_units)
            todo = [c for k, d, c in units if d == dtype and c is not None and not known_crash[k]]
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
            journal.write({"start": key, "category": c.category, "known_crash": known_crash[key],
                           "known": known[key] if known_crash[key] else None})
            rows = runner.run_case(c, dtype)
        journal.write({"unit": key, "rows": rows})
        results.extend(rows)
    return dict(about, run_s=time.time() - t0, batched=runner.batched_count, results=results,
                warnings=list(notices.seen), seed=runner.base_seed, rounds=runner.rounds)


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
#: KNOWN_DEFECTS key -> the row's `known` document where the installed version is in range, else None (set in main).
KNOWN_DEFECT = None


def _error_row(c, check, dtype, fmt, e, backend):
    if isinstance(e, NotImplementedError):
        return _row(c, check, dtype, fmt, status="skip",
                    message="not implemented by the %s backend (%s)" % (backend, _err(e)))
    row = _row(c, check, dtype, fmt, status="error", message=_err(e))
    key = KNOWN_ERROR(backend, fmt, row["message"]) if KNOWN_ERROR else None
    doc = KNOWN_DEFECT(key) if key and KNOWN_DEFECT else None
    if doc:  # outside the defect's version range the error stays an error
        _apply_known(row, doc)
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


def _apply_known(row, doc):
    """A known upstream defect in its version range: a failure or an error is `known`, with its reference."""
    if not doc or row["status"] not in ("fail", "error", "pass"):
        return
    if row["status"] == "pass":
        row["message"] = ("a known %s defect (%s) in this version, but it matched here" % (doc["backend"], doc["reference"])
                          + ("; " + row["message"] if row["message"] else ""))
        return
    detail = row["message"]
    row["status"], row["known"] = "known", doc
    row["message"] = doc["reason"] + (" [" + detail + "]" if detail else "")


#: how bad a row is, for keeping the worst of several draws (--rounds).
_BADNESS = {"error": 5, "fail": 5, "known": 4, "xfail": 3, "pass": 1, "skip": 0}


def _worst_draw(rows):
    """The worst of the same row over several draws: a failure first, else the largest error over tolerance."""
    return max(rows, key=lambda r: (_BADNESS.get(r["status"], 0), r.get("worst") or 0.0))


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
        #: the draw: seed 0 is the suite's fixed inputs; --seed N draws others, --rounds K the seeds N..N+K-1.
        self.base_seed = int(inp.get("seed") or 0)
        self.rounds = max(1, int(inp.get("rounds") or 1))
        self.seed = self.base_seed
        self._versions = {}

    # -- known upstream defects --------------------------------------------------------------

    def installed(self, package):
        """The installed version of `package` (its module's __version__, else its distribution's)."""
        if package not in self._versions:
            v = None
            mod = sys.modules.get(package)
            try:
                if mod is None:
                    mod = __import__(package)
                v = getattr(mod, "__version__", None)
            except Exception:  # noqa: BLE001 - a package that is not there has no version
                mod = None
            if not v:
                try:
                    from importlib import metadata
                except ImportError:
                    metadata = None
                for dist in (package, package + "-cpu", package + "-gpu"):
                    try:
                        v = metadata.version(dist) if metadata else None
                    except Exception:  # noqa: BLE001
                        v = None
                    if v:
                        break
            self._versions[package] = str(v).split("-")[0] if v else None
        return self._versions[package]

    def defect_by_key(self, key):
        d = getattr(self.cases, "KNOWN_DEFECTS", {}).get(key)
        if d is None or d["backend"] != self.backend:
            return None
        return self.cases.defect_doc(key, self.installed(d["package"]))

    def defect(self, c, dtype):
        """The row's `known` document of a known defect of this case here (the first in its version range), or None."""
        get = getattr(c, "defect_keys", None)
        for key in (get(self.backend, dtype) if get is not None else ()):
            doc = self.defect_by_key(key)
            if doc:
                return doc
        return None

    # -- arguments ------------------------------------------------------------------------

    def args(self, c, dtype, fmt):
        rng = self.np.random.default_rng(self.cases.seed_for(c.name, 2 * self.seed))
        return self.cases.make_args(c, rng, dtype, self.size, fmt)

    def grad_setup(self, c, dtype, args, ref):
        names = list(c.grad_wrt) if c.grad_wrt is not None else [
            k for k, v in args.items() if isinstance(v, self.np.ndarray) and v.dtype.kind == "f"]
        if getattr(c, "kink_grad", False):  # the plain subgradient: d/dx of sum(f(x))
            return names, self.cases.carrier(self.np.ones(ref.shape), dtype)
        crng = self.np.random.default_rng(self.cases.seed_for(c.name, 2 * self.seed + 1))
        cot = self.cases.carrier(crng.uniform(0.5, 1.5, ref.shape), dtype)
        return names, cot

    def wants_grad(self, c, dtype):
        return self.grads and c.differentiable and dtype in GRAD_DTYPES

    # -- one case -------------------------------------------------------------------------

    def run_case(self, c, dtype):
        """The case's rows; over several draws (--rounds), the worst of each row, with the seed that drew it."""
        draws = []
        for r in range(self.rounds):
            self.seed = self.base_seed + r
            draws.append(self._run_draw(c, dtype))
        self.seed = self.base_seed
        rows = draws[0] if len(draws) == 1 else [_worst_draw(list(same)) for same in zip(*draws)]
        doc = self.defect(c, dtype)
        for row in rows:
            if doc:
                _apply_known(row, doc)
            if row["status"] != "skip":
                row["seed"] = row.get("seed", self.base_seed)
            if getattr(c, "conditions", ()):
                row["conditions"] = list(c.conditions)
        return rows

    def _run_draw(self, c, dtype):
        skip = c.skip_reason(self.backend, dtype)
        if skip:
            return [_row(c, "value", dtype, None, status="skip", message=skip)]
        rows = []
        for fmt in (self.formats if c.layout_dependent else [None]):
            for row in self.run_one(c, dtype, fmt):
                row["seed"] = self.seed
                rows.append(row)
        return rows

    def run_one(self, c, dtype, fmt):
        ops = self.ops
        xfail = c.xfail_reason(self.backend, dtype)
        kink = getattr(c, "kink_grad", False)
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
        if not kink:  # a kink case's known difference is its gradient's, judged by consensus in the parent
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
        kink = getattr(c, "kink_grad", False)
        try:
            names, cot = self.grad_setup(c, dtype, args, ref)
            # At kinks central differences mean nothing: the parent compares the backends' gradients instead
            # (a kink case's analytic `grad_reference`, the convention recorded from that consensus, is kept
            # for a run with too few backends to form one).
            refs = (None if kink and c.grad_reference is None
                    else self.cases.reference_grads(c, args, cot.astype(np.float64), names))
            if pre_grads is not None:
                gs = pre_grads
            else:
                targs = self.cases.to_tensors(self.ops, args, dtype)
                gs = self.backend_grads(c, targs, names, self.ops.convert_to_tensor(cot, dtype=dtype))
            # A gradient has its input's dtype, as the backend holds the input (jax without x64: float32).
            held = self.held_dtype(dtype)
            if kink:
                row = self.kink_row(c, dtype, fmt, args, names, gs, held, xfail)
                if refs is not None:
                    row["kink"]["expected"] = {k: [float(v) for v in np.asarray(refs[k]).reshape(-1)] for k in names}
                row["ms"] = round((time.time() - t0) * 1000, 3)
                return row
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

    def kink_row(self, c, dtype, fmt, args, names, gs, held, xfail):
        """The gradient at the kinks, for the parent's consensus (the cotangent is ones: the plain subgradient)."""
        grads, got_dt = {}, held
        for name, g in zip(names, gs):
            got, got_dt = self.to_numpy(g)
            grads[name] = [float(v) for v in self.np.asarray(got, dtype=self.np.float64).reshape(-1)]
        at = {k: [float(v) for v in self.np.asarray(args[k], dtype=self.np.float64).reshape(-1)] for k in names}
        row = _row(c, "grad", dtype, fmt, expected_dtype=held, got_dtype=got_dt,
                   message="compared with the consensus of jax, torch and tensorflow")
        row["kink"] = {"at": at, "grads": grads, "xfail": xfail}
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
            # Case.extra["eager"]: a case whose output shape depends on its values cannot be compiled, and
            # random draws' compiled samplers cost more than the program's other cases on jax: they run alone
            if not c.skip_reason(self.backend, dtype) and not (getattr(c, "extra", None) or {}).get("eager"):
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
