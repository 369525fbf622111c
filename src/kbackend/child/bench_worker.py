"""Bench worker: times op cases on one Keras backend, in the target interpreter.

Standalone: standard library at import time; numpy, keras and the backend are
imported inside `main`, after the thread settings are fixed. Never imports
kbackend. Loaded by path by `_boot.py`; the cases come from `child/cases.py`,
also loaded by path.

Modes (`inp["mode"]`):

- ``list``: the cases, their categories and dtypes (imports numpy only).
- ``peak``: the machine's peak from NumPy in this interpreter: float32 and
  float64 matmul GFLOP/s and a STREAM-like bandwidth (copy, add, and a
  read-only dot) at working sets from L1-sized to DRAM-sized; plus CPU facts.
- ``run``: for each item (case, size, dtype): inputs converted to tensors
  outside the timing, a first call timed apart (it includes compilation),
  warm-up, a blocked auto-range so that one sample lasts at least
  ``min_time``, then ``rounds`` interleaved rounds (one sample of every item
  per round). Every call is synchronised the way its backend needs it, as
  its adapter (adapters/<backend>.py) says: jax ``block_until_ready``, torch
  ``cuda.synchronize`` on a GPU, TensorFlow ``sync_devices``/``.numpy()``
  off the CPU (eager CPU execution is synchronous), or a backend's own
  callable (Keras's graph built on parameters and compiled once, the
  compilation counted in the first call, then inference).
  With ``item_timeout`` a watchdog ends the process when one step hangs, and
  the progress file says which (see `Watchdog`). ``peak_probe``: the
  backend's own 1024x1024 matmul, float32 and float64, after the items.
  With ``model`` the items are a saved model's predict and train step
  (`ModelSource`), timed the same way.
- ``serve``: import once, then fork a ``run`` process per request read on
  stdin (``--quick``; see `serve`).

Measurement rules (FACTS.md section 4): thread counts are fixed before any
numerical library is imported (the parent passes the variables in the
environment) and recorded; gc is off inside a timed block, as in `timeit`.
"""

from __future__ import print_function

import gc
import math
import os
import platform
import sys
import time

#: Variables that size the thread pools of BLAS, OpenMP and the frameworks.
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "XLA_FLAGS",
    "KERAS_BACKEND",
    "JAX_ENABLE_X64",
    "JAX_PLATFORMS",
    "CUDA_VISIBLE_DEVICES",
)

MAX_LOOPS = 1000000
#: the calibration kernel's name: a fixed NumPy matmul timed in every process beside the cases,
#: so that the parent can tell a slower machine from slower code (its samples leave as "calibration").
CALIBRATION = "__calibration__"
#: the second calibration kernel, of the multi-threaded kind: a matmul large enough for BLAS to use
#: every thread (thread contention hits it, and the matmul/conv cases, far more than elementwise ones).
CALIBRATION_BLAS = "__calibration_blas__"
CALIBRATION_N = 384
CALIBRATION_ELEMENTS = 1 << 16
#: test hook: "case=factor,case=factor" slows those cases in this process (a real environment with a
#: slower op, for the A/B tests: a .pth file of a second venv sets it at interpreter start-up).
SLOWDOWN_VAR = "KBACKEND_TEST_BENCH_SLOWDOWN"


# --------------------------------------------------------------------------- timing primitives


def time_block(fn, loops, clock):
    """Seconds taken by `loops` calls of `fn` (gc off, as in timeit)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = clock()
        for _ in range(loops):
            fn()
        return clock() - t0
    finally:
        if enabled:
            gc.enable()


def autorange(fn, clock, min_time, max_loops=MAX_LOOPS):
    """The number of calls per sample so that one sample lasts at least `min_time`.

    Blocked auto-ranging (timeit.Timer.autorange, Google Benchmark): grow the
    block until it is long enough for the timer, at most 10x per step.
    Returns (loops, seconds of the last block).
    """
    loops = 1
    while True:
        t = time_block(fn, loops, clock)
        if t >= min_time or loops >= max_loops:
            return loops, t
        if t <= 0:
            grow = 10
        else:
            grow = min(10.0, max(2.0, 1.2 * min_time / t))
        loops = min(max_loops, int(math.ceil(loops * grow)))


def warm_up(fn, clock, min_time, min_calls=2, max_calls=1000):
    """Call `fn` at least `min_calls` times and until `min_time` has passed."""
    t0 = clock()
    n = 0
    while n < min_calls or (clock() - t0 < min_time and n < max_calls):
        fn()
        n += 1
    return n


def slowed(fn, factor, clock):
    """`fn` made `factor` times slower by spinning after each call (quality checks only)."""
    extra = max(0.0, float(factor) - 1.0)

    def slow():
        t0 = clock()
        out = fn()
        end = clock() + (clock() - t0) * extra
        while clock() < end:
            pass
        return out

    return slow


def measure_items(items, rounds, clock, min_time, warmup_time, progress=None, watchdog=None):
    """Prepare then time interleaved rounds over `items`.

    An item is a dict; its zero-argument "make" returns (fn, mode, set-up
    seconds: a compilation done while making fn), where fn calls the op and
    synchronises. Preparing an item is making it, a first call timed apart
    (compilation included, set-up added),
    warm-up and auto-ranging. Then `rounds` rounds take one sample (seconds
    per call) of every item in turn. Fills "first_call_s", "loops" and
    "samples" in place; an item that raises gets "status": "error".
    `watchdog.arm(stage, item)` is told before every step.
    """
    live = []
    for it in items:
        if it.get("status") != "ok":
            continue
        if progress:
            progress("prepare", it)
        if watchdog:
            watchdog.arm("prepare", it)
        try:
            fn, it["mode"], setup_s = it.pop("make")()
            t0 = clock()
            it["first_out"] = fn()
            it["first_call_s"] = clock() - t0 + setup_s  # OpenVINO compiles at set-up
            warm_up(fn, clock, warmup_time)
            it["loops"], _ = autorange(fn, clock, min_time)
            it["fn"] = fn
            it["samples"] = []
            live.append(it)
        except Exception as e:  # noqa: BLE001 - a case that fails is a result, not a crash
            it["status"] = "error"
            it["error"] = "%s: %s" % (type(e).__name__, str(e)[:500])
    for r in range(rounds):
        stage = "round %d/%d" % (r + 1, rounds)
        for it in live:
            if progress:
                progress(stage, it)
            if watchdog:
                watchdog.arm(stage, it)
            it["samples"].append(time_block(it["fn"], it["loops"], clock) / it["loops"])
    if watchdog:
        watchdog.arm(None, None)
    return items


class Watchdog(object):
    """Ends the process when one step (set-up and first call, or one sample) outlasts `limit` seconds.

    A compilation or an op can take minutes (OpenVINO compiling an unrolled
    logdet took 638 s) and cannot be interrupted from Python: the watchdog
    writes "timeout <case> <size> <dtype>" to the progress file and exits
    with status 124, and the parent runs the process again without that item.
    """

    def __init__(self, limit, progress_path, clock=time.monotonic):
        import threading

        self.limit = float(limit)
        self.path = progress_path
        self.clock = clock
        self.step = None
        self.since = clock()
        self.lock = threading.Lock()
        t = threading.Thread(target=self._watch, name="bench-watchdog")
        t.daemon = True
        t.start()

    def arm(self, stage, item):
        with self.lock:
            self.step = (stage, item) if stage else None
            self.since = self.clock()

    def _watch(self):
        while True:
            time.sleep(min(1.0, self.limit / 10.0))
            with self.lock:
                step, since = self.step, self.since
            if step and self.clock() - since > self.limit:
                it = step[1]
                if self.path:
                    with open(self.path, "a") as f:
                        f.write("timeout\t%s\t%s\t%s\n" % (it["case"], it["size"], it["dtype"]))
                sys.stdout.flush()
                os._exit(124)


# --------------------------------------------------------------------------- environment


def apply_threads(threads):
    """Record the thread settings this process runs with.

    The parent fixes the counts in the environment before the interpreter
    starts (BLAS, OpenMP, TensorFlow, XLA); torch and OpenVINO get theirs
    after import. The CPU affinity is left alone: pinning to the first N CPUs
    of a shared machine ties the child to whatever else runs there.
    """
    info = {"requested": threads, "affinity": None}
    if hasattr(os, "sched_getaffinity"):
        info["affinity"] = len(os.sched_getaffinity(0))
    info["env"] = dict((k, os.environ[k]) for k in THREAD_VARS if k in os.environ)
    return info


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_module(path, name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses need the module registered
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------- list mode


def list_cases(inp):
    cases = load_module(inp["cases_path"], "kbackend_bench_cases")
    return {
        "cases": [
            {"name": c.name, "category": c.category, "dtypes": list(getattr(c, "dtypes", ()))}
            for c in cases.CASES
        ],
        "sizes": list(getattr(cases, "SIZES", ("small", "medium", "large"))),
    }


# --------------------------------------------------------------------------- peak mode


def peak(inp):
    import numpy as np

    clock = time.perf_counter
    quick = bool(inp.get("quick"))
    out = {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
           "python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine()}
    gflops = {}
    trials = {}
    for dt in ("float32", "float64"):
        best = 0.0
        trials[dt] = []
        for n in ((1024,) if quick else (1024, 2048)):
            rng = np.random.default_rng(0)
            a = rng.standard_normal((n, n)).astype(dt)
            b = rng.standard_normal((n, n)).astype(dt)
            c = np.empty((n, n), dtype=dt)
            fn = lambda: np.matmul(a, b, out=c)  # noqa: E731
            warm_up(fn, clock, 0.02)
            for _ in range(3 if quick else 5):
                t = time_block(fn, 1, clock)
                trials[dt].append(2.0 * n ** 3 / t / 1e9)
                best = max(best, trials[dt][-1])
        gflops[dt] = best
    out["gflops"] = gflops
    out["gflops_trials"] = trials
    curve = []
    # per-array sizes, 8 KiB to 64 MiB: from L1-sized working sets to DRAM-sized ones
    for nbytes in inp.get("bandwidth_sizes") or [8192 << (2 * k) for k in range(7)] + [64 << 20]:
        n = max(1, nbytes // 8)
        a = np.ones(n)
        b = np.ones(n)
        c = np.empty(n)
        kernels = (
            ("copy", lambda: np.copyto(c, a), 2 * a.nbytes),  # STREAM copy: read a, write c
            ("add", lambda: np.add(a, b, out=c), 3 * a.nbytes),  # STREAM add
            ("read", lambda: np.dot(a, b), 2 * a.nbytes),  # read only (reductions)
        )
        rates = {}
        for name, fn, moved in kernels:
            warm_up(fn, clock, 0.005)
            loops, _ = autorange(fn, clock, 0.005 if quick else 0.02)
            best = min(time_block(fn, loops, clock) / loops for _ in range(3 if quick else 5))
            rates[name] = moved / best / 1e9
        # working set: the two arrays every kernel touches
        curve.append({"footprint_bytes": 2 * a.nbytes, "copy_gbs": rates["copy"], "add_gbs": rates["add"],
                      "read_gbs": rates["read"], "gbs": max(rates.values())})
    out["bandwidth"] = curve
    return out


# --------------------------------------------------------------------------- backends


def _adapters():
    """child/_adapter.py, loaded by path (a worker cannot import kbackend)."""
    mod = sys.modules.get("kbackend_child_adapter")
    if mod is None:
        mod = load_module(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_adapter.py"),
                          "kbackend_child_adapter")
    return mod


class Kit(object):
    """What differs per backend: tensors in, synchronisation, compilation, versions.

    Each of these is the backend's adapter's (adapters/<backend>.py); a backend
    without an adapter, or an adapter without a part, gets the default: eager,
    synchronous, on the CPU, no compiler.
    """

    def __init__(self, backend, keras, ops, np, threads, adapter=None):
        self.name = backend
        self.keras = keras
        self.ops = ops
        self.np = np
        self.threads = threads
        self.sync_name = "none (synchronous)"
        self.device = "cpu"
        self.backend_threads = {}
        self.version = None
        self.h = _adapters()
        self.flatten = self.h.flatten
        self.adapter = adapter
        setup = getattr(adapter, "bench_setup", None)
        if setup is not None:
            setup(self)

    def _part(self, name):
        return getattr(self.adapter, name, None)

    # synchronisation ----------------------------------------------------
    def sync(self, out):
        sync = self._part("sync")
        if sync is not None:
            sync(self, out)
        return out

    def needs_sync(self):
        needs = self._part("needs_sync")
        return bool(needs(self)) if needs is not None else False

    # callables -----------------------------------------------------------
    def callable(self, call, args, dtype, cases, jit):
        """(zero-argument fn that calls and synchronises, mode, set-up seconds to add to the first call)."""
        ops = self.ops
        own = self._part("bench_callable")
        if own is not None:
            return own(self, call, args, dtype, cases)
        targs = cases.to_tensors(ops, args, dtype)
        names = [k for k, v in args.items() if isinstance(v, self.np.ndarray)]
        static = dict((k, v) for k, v in targs.items() if k not in names)
        arrays = [targs[k] for k in names]

        def f(*xs):
            a = dict(static)
            a.update(zip(names, xs))
            return call(ops, a)

        compiled = None
        compile_ = self._part("jit")
        if jit and compile_ is not None:
            compiled = compile_(self, f)
        sync = self.sync
        if compiled is not None:
            return (lambda: sync(compiled(*arrays))), "jit", 0.0
        # eager: the arguments built once, and no synchronisation layer where none is needed,
        # so that the harness adds as little as possible to the call (timeit's `ops.add(x, y)`)
        a = dict(static)
        a.update(zip(names, arrays))
        if self.needs_sync():
            return (lambda: sync(call(ops, a))), "eager", 0.0
        return (lambda: call(ops, a)), "eager", 0.0

    def compute_dtype(self, spec_dtype, out):
        """The dtype the backend really computed in (Keras computes float64 in float32 on most backends)."""
        own = self._part("compute_dtype")
        if own is not None:
            return own(self, spec_dtype, out)
        try:
            return str(self.keras.backend.standardize_dtype(self.flatten(out)[0].dtype))
        except Exception:  # noqa: BLE001
            return None


def _peak_probe(kit, cases, jit, clock):
    """The backend's own large matmul, float32 and float64: its share of the machine's peak."""
    np = kit.np
    n = 1024 if kit.device.lower() in ("cpu",) else 4096
    out = []
    for dt in ("float32", "float64"):
        rng = np.random.default_rng(1)
        args = {"x": rng.standard_normal((n, n)).astype(dt), "y": rng.standard_normal((n, n)).astype(dt)}
        try:
            fn, _, _ = kit.callable(lambda ops, a: ops.matmul(a["x"], a["y"]), args, dt, cases, jit)
            got = kit.compute_dtype(dt, fn())
            if got is not None and got != dt:
                out.append({"dtype": dt, "gflops": None, "note": "computed in %s" % got})
                continue
            warm_up(fn, clock, 0.01)
            best = min(time_block(fn, 1, clock) for _ in range(3))
            out.append({"dtype": dt, "gflops": 2.0 * n ** 3 / best / 1e9})
        except Exception as e:  # noqa: BLE001
            out.append({"dtype": dt, "gflops": None, "note": "%s: %s" % (type(e).__name__, str(e)[:200])})
    return out


# --------------------------------------------------------------------------- run mode


def _maker(kit, cases, c, it, jit, slowdown, clock, np):
    """The item's set-up, run inside the watched prepare step: inputs, tensors, the callable."""

    def make():
        rng = np.random.default_rng(cases.seed_for(c.name) if hasattr(cases, "seed_for") else 0)
        args = cases.make_args(c, rng, it["dtype"], it["size"]) if hasattr(cases, "make_args") \
            else c.inputs(rng, it["dtype"], it["size"])
        it["flops"] = float(c.flops(args))
        it["bytes"] = float(c.bytes(args))
        fn, mode, setup_s = kit.callable(c.call, args, it["dtype"], cases, jit)
        if slowdown:
            fn = slowed(fn, slowdown, clock)
            it["slowdown"] = slowdown
        return fn, mode, setup_s

    return make


class ModelSource(object):
    """A saved model's items (``inp["model"]``): "model.predict" and "model.train_step" at a size "batch=N".

    The model is loaded once per process, in the first item's watched set-up
    (child/model_worker.py's loading: custom objects, safe mode, the reason a
    load fails), and compiled for training there too when a train step is
    asked for, before any item is timed (compiling resets the predict
    function). predict is ``predict_on_batch``, compiled as ``model.predict``
    compiles it (jit on jax, tf.function on TensorFlow: the mode says which);
    a train step is ``train_on_batch`` with SGD at a small learning rate, on the
    seeded inputs and targets of `verify --model`. Dropout stays on: the
    training step is timed as it runs.
    """

    def __init__(self, kit, spec):
        self.kit = kit
        self.spec = spec
        self.model = None
        self.error = None
        self.train_target = None
        self.train_error = None
        self.mw = load_module(os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_worker.py"),
                              "kbackend_model_worker")

    def _load(self):
        kit, spec, mw = self.kit, self.spec, self.mw
        run = mw.Run({"model_path": spec["path"], "custom_objects_path": spec.get("custom_objects_path"),
                      "safe_mode": spec.get("safe_mode", True), "seed": spec.get("seed", 0)})
        run.keras, run.np, run.ops = kit.keras, kit.np, kit.ops
        run.out["floatx"] = kit.keras.config.floatx()
        try:
            objs = mw.custom_objects(spec.get("custom_objects_path"))
        except Exception as e:  # noqa: BLE001
            self.error = "cannot run %s: %s" % (spec.get("custom_objects_path"), mw._err(e))
            return
        built = run.model_at_dtype(spec["path"], objs, kit.name, time.time())
        if built is None:
            out = run.out
            self.error = "the model does not load: %s" % out.get("load_error")
            if out.get("reason"):
                self.error += " (%s)" % out["reason"]
            if out.get("fix"):
                self.error += "; fix: %s" % out["fix"]
            return
        self.model, compiled_loss = built
        if self.spec.get("train_batch"):
            try:
                self.train_target = self._compile_for_training(compiled_loss, int(self.spec["train_batch"]))
            except Exception as e:  # noqa: BLE001 - the train step's error; predict is still timed
                self.train_error = "cannot set up the train step: %s" % mw._err(e)

    def _compile_for_training(self, compiled_loss, batch):
        keras, np, mw, model = self.kit.keras, self.kit.np, self.mw, self.model
        feed = self.feed(batch)
        ys = [mw._as_numpy(self.kit.ops, np, v) for v in mw._flatten_outputs(model(feed, training=False))]
        loss = self.spec.get("loss") or compiled_loss or "mean_squared_error"
        if not isinstance(loss, str):
            loss = getattr(loss, "name", None) or type(loss).__name__
        rng = np.random.default_rng(int(self.spec.get("seed", 0)) + 1)
        targets = [mw._targets(np, rng, str(loss), y) for y in ys]
        targets = [t.astype("float32") if t.dtype.kind == "f" else t for t in targets]
        # a small learning rate: many steps must not drive the weights to infinities (slower to compute)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-4), loss=loss)
        return feed, targets[0] if len(targets) == 1 else targets

    def get(self):
        if self.model is None and self.error is None:
            self._load()
        if self.error is not None:
            raise RuntimeError(self.error)
        return self.model

    def feed(self, batch):
        xs, _ = self.mw.make_inputs(self.kit.keras, self.kit.np, self.model, int(self.spec.get("seed", 0)), batch)
        return xs[0] if len(xs) == 1 else xs

    def mode(self):
        """How Keras ran the model's functions: "jit" (XLA: jax, TensorFlow with jit_compile), "graph"
        (a tf.function without XLA), "compiled" (OpenVINO compiles its own model), else "eager"."""
        jit = bool(getattr(self.model, "jit_compile", False))
        name = self.kit.name
        if name in ("jax", "tensorflow"):
            return "jit" if jit else ("graph" if name == "tensorflow" else "eager")
        return "compiled" if name == "openvino" else "eager"

    def item(self, it, slowdown, clock):
        what, size = it["case"], it["size"]
        it["category"] = "model"
        try:
            batch = int(size.split("=", 1)[1])
        except (IndexError, ValueError):
            it.update(status="error", error="not a model size: %r (expected batch=N)" % size)
            return
        if what == "model.train_step" and not getattr(self.kit.adapter, "TRAINS", False):
            it.update(status="skipped", error="the %s backend is inference-only: Keras cannot train on it"
                      % self.kit.name)
            return
        if what not in ("model.predict", "model.train_step"):
            it.update(status="error", error="no model item named %r" % what)
            return

        def make():
            model = self.get()
            if what == "model.predict":
                feed = self.feed(batch)

                def fn():
                    return model.predict_on_batch(feed)  # NumPy arrays: synchronised
            else:
                if self.train_target is None:
                    raise RuntimeError(self.train_error or "the train step was not set up")
                feed, y = self.train_target

                def fn():
                    return model.train_on_batch(feed, y)  # the loss as numbers: synchronised
            if slowdown:
                fn = slowed(fn, slowdown, clock)
                it["slowdown"] = slowdown
            return fn, None, 0.0

        it["make"] = make


def aligned_arrays(np, n, count, dtype="float32"):
    """`count` arrays of `n` elements in one buffer, each starting on its own page at a different
    quarter of a page (0, 1024, 2048... bytes in).

    Where the allocator puts three arrays decides how fast an add over them runs: measured on a
    2-core Xeon, 6.0 us with page- or cache-line-aligned operands and 11-13 us with operands 16
    bytes past a cache line (split loads), and a process got one or the other by its allocation
    history (the calibration kernel was bimodal across processes, and two identical runs differed
    x0.54 by it). Fixed offsets make the kernel measure the machine, not the allocator.
    """
    item = np.dtype(dtype).itemsize
    page = 4096 // item
    span = -(-n // page) * page + page  # whole pages, plus one for the offset within the page
    buf = np.empty(span * count + page, dtype=dtype)
    base = (-buf.ctypes.data % 4096) // item
    return [buf[base + k * span + (k % 4) * (page // 4):][:n] for k in range(count)]


def calibration_fn(np):
    """The single-threaded calibration kernel: a fixed float32 elementwise add (NumPy's ufuncs use one
    thread), the kind of work of the elementwise, activation, reduction and shape cases; its operands
    at fixed offsets within pages (`aligned_arrays`)."""
    a, b, c = aligned_arrays(np, CALIBRATION_ELEMENTS, 3)
    a[:] = np.linspace(0.0, 1.0, CALIBRATION_ELEMENTS, dtype="float32")
    b[:] = a[::-1]
    return lambda: np.add(a, b, out=c)


def calibration_blas_fn(np):
    """The multi-threaded calibration kernel: a fixed float32 matmul with the process's BLAS threads."""
    rng = np.random.default_rng(12345)
    a = rng.standard_normal((CALIBRATION_N, CALIBRATION_N)).astype("float32")
    b = rng.standard_normal((CALIBRATION_N, CALIBRATION_N)).astype("float32")
    c = np.empty_like(a)
    return lambda: np.matmul(a, b, out=c)


def env_slowdown(value):
    """{case: factor} from the test hook's value.

    >>> env_slowdown("add=2, relu=1.3") == {"add": 2.0, "relu": 1.3}
    True
    """
    out = {}
    for part in (value or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            try:
                out[k.strip()] = float(v)
            except ValueError:
                pass
    return out


def _progress_writer(path):
    if not path:
        return None

    def write(stage, it):
        try:
            with open(path, "a") as f:
                f.write("%s\t%s\t%s\t%s\n" % (stage, it["case"], it["size"], it["dtype"]))
        except OSError:
            pass

    return write


def run(inp, threads_info, import_s=None):
    clock = time.perf_counter
    import numpy as np

    cases = load_module(inp["cases_path"], "kbackend_bench_cases")
    t_import = clock()
    import keras
    from keras import ops

    import_s = clock() - t_import if import_s is None else import_s
    backend = keras.backend.backend()
    kit = Kit(backend, keras, ops, np, inp.get("threads"), _adapters().load(backend))
    jit = bool(inp.get("jit"))
    slow = dict(inp.get("slowdown") or {})
    slow.update(env_slowdown(os.environ.get(SLOWDOWN_VAR)))
    items = []
    source = ModelSource(kit, inp["model"]) if inp.get("model") else None
    for spec in inp["items"]:
        it = {"case": spec["case"], "size": spec["size"], "dtype": spec["dtype"], "status": "ok"}
        items.append(it)
        if source is not None:
            source.item(it, slow.get(spec["case"]), clock)
            continue
        c = cases.CASES_BY_NAME.get(spec["case"])
        if c is None:
            it.update(status="error", error="no case named %r" % spec["case"])
            continue
        it["category"] = c.category
        reason = c.skip_reason(backend, spec["dtype"]) if hasattr(c, "skip_reason") else None
        if reason:
            it.update(status="skipped", error=reason)
            continue
        it["make"] = _maker(kit, cases, c, it, jit, slow.get(c.name), clock, np)
    cals = []
    if inp.get("calibration", True):
        for name, make in ((CALIBRATION, calibration_fn), (CALIBRATION_BLAS, calibration_blas_fn)):
            cal = {"case": name, "size": "-", "dtype": "float32", "status": "ok"}
            cal["make"] = (lambda make=make: (make(np), "eager", 0.0))
            items.append(cal)
            cals.append(cal)
    progress = _progress_writer(inp.get("progress"))
    watchdog = Watchdog(inp["item_timeout"], inp.get("progress")) if inp.get("item_timeout") else None
    measure_items(items, int(inp.get("rounds", 11)), clock, float(inp.get("min_time", 0.002)),
                  float(inp.get("warmup_time", 0.02)), progress, watchdog)
    calibration = {}
    for cal in cals:
        items.remove(cal)
        calibration[cal["case"]] = cal.get("samples")
    for it in items:
        it.pop("fn", None)
        first = it.pop("first_out", None)
        if source is not None and it["status"] == "ok":
            it["mode"] = source.mode()  # known after the first call compiled (or not) the model's function
        if it["status"] == "ok":
            it["out_dtype"] = kit.compute_dtype(spec_dtype=it["dtype"], out=first)
    probe = None
    if inp.get("peak_probe"):
        if progress:
            progress("probe", {"case": "matmul", "size": "peak", "dtype": "float32,float64"})
        probe = _peak_probe(kit, cases, jit, clock)
    return {
        "backend": backend,
        "keras": getattr(keras, "__version__", None),
        "version": kit.version,
        "device": kit.device,
        "sync": kit.sync_name,
        "threads": threads_info,
        "backend_threads": kit.backend_threads,
        "import_s": import_s,
        "items": items,
        "calibration": calibration.get(CALIBRATION),
        "calibration_blas": calibration.get(CALIBRATION_BLAS),
        "peak_probe": probe,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "pid": os.getpid(),
    }


# --------------------------------------------------------------------------- serve mode (--quick)


def _boot():
    """child/_boot.py, loaded by path: the result document's protocol and its atomic write."""
    mod = sys.modules.get("kbackend_child_boot")
    if mod is None:
        mod = load_module(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot.py"), "kbackend_child_boot")
    return mod


def new_layout():
    """A random-sized block on the heap, held for the process's life: what it allocates next moves.

    A forked process would otherwise allocate its arrays at exactly its siblings' addresses, so
    that an effect of the addresses is the same in every process of one importing parent and
    differs between two parents. Measured: the calibration add (three 256 KiB float32 arrays)
    takes 6-7 us or 12-14 us per process by the arrays' offsets within a page; every process
    forked from one parent had the same offsets and the same time, so two identical A/B sides
    differed x0.55-x1.16 and the gate called the machine noisy. With this block the offsets varied
    in a fresh interpreter that had imported numpy (6 forks: 5 different offsets) in most tries, not
    all: an allocation that fits a free hole below the block lands there, and then every fork still
    shares one offset (6 of 9 tries varied; in a long-lived pytest worker, none did).
    """
    import random

    return bytearray(random.SystemRandom().randrange(16, 1 << 17, 16))


def serve(inp, threads_info):
    """Import NumPy, Keras and the backend once, then fork one measurement process per request.

    A request is one line on stdin: {"inp": INPUT.json, "out": RESULT.json}. The forked process
    runs the ``run`` mode on that input, its stdout and stderr in RESULT.json.log, and writes its
    result in `_boot.py`'s format; this process writes the forked pid to RESULT.json.pid first and
    its exit status to RESULT.json.rc once reaped (the parent waits for that file, and kills the
    pid on its timeout). Used by ``--quick``: each process then skips the import (1.5-4.5 s on a
    2-core machine), at the price of sharing this process's address-space layout and hash seed.
    Forking after the import is safe on the five backends: none has started a thread pool yet
    (measured: 2-3 threads after ``import keras``, no hang in forked children doing matmul, conv
    and reductions on numpy, jax, torch, tensorflow and openvino).
    """
    import json

    boot = _boot()

    def import_all(_):
        import numpy  # noqa: F401
        import keras  # noqa: F401
        from keras import ops  # noqa: F401

    imported = boot.call(import_all, None, "bench_worker.py")  # a failed import: every request's result
    import_s = imported["elapsed_s"]
    if inp.get("ready"):  # the parent waits for every importing process before it times anything
        boot._write(inp["ready"], import_s)
    served = 0
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        req = json.loads(line)
        out = req["out"]
        if imported["status"] != "ok":
            boot._write(out, imported)
            boot._write(out + ".rc", 0)
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the measurement process
            try:
                fd = os.open(out + ".log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                with open(req["inp"]) as f:
                    sub = json.load(f)
                layout = new_layout()  # noqa: F841 - kept alive: the rest of the process allocates past it
                boot._write(out, boot.call(lambda i: run(i, threads_info, import_s=import_s), sub, "bench_worker.py"))
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(0)
        boot._write(out + ".pid", pid)
        _, status = os.waitpid(pid, 0)
        boot._write(out + ".rc", os.waitstatus_to_exitcode(status))
        served += 1
    return {"served": served, "import_s": import_s}


def main(inp):
    mode = inp.get("mode", "run")
    if mode == "list":
        return list_cases(inp)
    threads = apply_threads(inp.get("threads"))
    if mode == "peak":
        out = peak(inp)
        out["threads"] = threads
        return out
    if mode == "serve":
        return serve(inp, threads)
    return run(inp, threads)
