"""The jax backend's adapter (child side; protocol: adapters/__init__.py)."""

import threading

TRAINS = True
_LOCK = threading.Lock()


# ------------------------------------------------------------------ version and devices


def probe(mod, out, h):
    jax = mod
    devs = jax.devices()
    out["devices"] = ["%s:%s" % (d.platform, d.id) for d in devs]
    out["gpu_devices"] = [
        "%s:%s %s" % (d.platform, d.id, getattr(d, "device_kind", "")) for d in devs
        if d.platform in ("gpu", "cuda", "rocm")
    ]
    try:
        from jax._src import lib as jlib

        cv = getattr(jlib, "cuda_versions", None)
    except Exception:  # noqa: BLE001 - private API, may move
        cv = None
    out["extra"]["cuda_plugin"] = getattr(cv, "__name__", None)
    if cv is not None:
        # Build versions are compile-time constants; the *_get_version calls load
        # libraries and can abort the process, so they are not called here.
        for fn, key, cudnn in (("cuda_runtime_build_version", "built_cuda", False),
                               ("cudnn_build_version", "built_cudnn", True)):
            f = getattr(cv, fn, None)
            if f is not None:
                try:
                    out[key] = h.version_from_int(f(), cudnn=cudnn)
                except Exception as e:  # noqa: BLE001
                    out["extra"][fn] = "%s: %s" % (type(e).__name__, e)
    out["extra"]["plugins"] = h.dist_versions(("jax-cuda12-plugin", "jax-cuda12-pjrt", "jax-cuda13-plugin",
                                               "jax-cuda13-pjrt", "jaxlib", "jax-rocm60-plugin"))


# ------------------------------------------------------------------ bench


def bench_setup(kit):
    import jax

    kit.jax = jax
    kit.version = jax.__version__
    kit.sync_name = "jax.block_until_ready"
    kit.device = str(jax.devices()[0].platform)
    kit.backend_threads["x64"] = bool(jax.config.jax_enable_x64)


def needs_sync(kit):
    return True


def sync(kit, out):
    kit.jax.block_until_ready(out)


def jit(kit, f):
    return kit.jax.jit(f)


# ------------------------------------------------------------------ gradients


def grads(f, xs):
    import jax

    return list(jax.grad(lambda *x: f(*x)[0], argnums=tuple(range(len(xs))))(*xs))


# ------------------------------------------------------------------ the one-program step


def one_program(w, todo, dtype):
    """Compute the values (and gradients) of `todo` in a few jitted programs (CHUNKS, in THREADS threads).

    Cases that fail to trace are left out (they run eagerly alone, and report their own error);
    when a whole program fails, its cases run eagerly.
    """
    ops = w.ops
    items = []
    for c, fmt in w.batch_units(todo, dtype):
        try:
            args = w.args(c, dtype, fmt)
            targs = w.cases.to_tensors(ops, args, dtype)
            arrays = dict((k, v) for k, v in targs.items() if ops.is_tensor(v))
            static = dict((k, v) for k, v in targs.items() if k not in arrays)
            names = cot = None
            if w.wants_grad(c, dtype):
                ref = w.cases.expected(c, w.hold(args, w.held_dtype(dtype)))
                names, cot = w.grad_setup(c, dtype, args, ref)
                cot = ops.convert_to_tensor(cot, dtype=dtype)
            items.append(((dtype, c.name, fmt), _item(w, c, static, names, cot), arrays))
        except Exception:  # noqa: BLE001 - left to the eager path, which reports the error
            continue

    import os

    n = max(1, int(os.environ.get("KBACKEND_JAX_CHUNKS", CHUNKS)))
    size = -(-len(items) // n) if items else 1
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    threads = max(1, int(os.environ.get("KBACKEND_JAX_THREADS", THREADS)))
    if threads == 1 or len(chunks) == 1:
        for chunk in chunks:
            _program_step(w, chunk, dtype)
    else:
        # XLA compiles without the GIL: one chunk compiles while the next is traced
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda chunk: _program_step(w, chunk, dtype), chunks))


#: how many programs the one-program step is split into, and how many are traced and compiled at once
#: (KBACKEND_JAX_CHUNKS, KBACKEND_JAX_THREADS override them). Measured on the 618 items of the
#: 590-case suite, 2 cores, load ~7: one program 78 s; 6 programs one after the other 70 s; 6 programs
#: in 2 threads 59 s (XLA compiles without the GIL, so one compiles while the next is traced).
CHUNKS = 6
THREADS = 2


def _program_step(w, items, dtype):
    """One jitted program computing `items`; a case that does not trace is left to the eager path."""
    import jax

    def program(arrs):
        return [fn(a) for (_, fn, _), a in zip(items, arrs)]

    # With a compilation cache, the program is traced once through jax.export and kept: a repeat run
    # reads it instead of tracing every case again (compiling it then hits the compilation cache).
    if _exported_step(w, items, program, dtype):
        return
    try:
        lowered = jax.jit(program).lower([a for _, _, a in items])
    except Exception:  # noqa: BLE001 - find the cases that do not trace, run the others together
        good = []
        for it in items:
            try:
                jax.eval_shape(it[1], it[2])
                good.append(it)
            except Exception:  # noqa: BLE001
                pass
        items = good
        try:
            lowered = jax.jit(program).lower([a for _, _, a in items])
        except Exception:  # noqa: BLE001
            return
    try:
        outs = lowered.compile()([a for _, _, a in items])
        jax.block_until_ready(outs)
    except Exception:  # noqa: BLE001 - fall back to running every case eagerly
        return
    _keep(w, items, outs)


def _keep(w, items, outs):
    with _LOCK:  # chunks may finish in threads
        for (key, _, _), out in zip(items, outs):
            w.batched[key] = out
        w.batched_count += len(items)


def _exported_step(w, items, program, dtype):
    """The one-program step through a kept (or newly exported) program; False: trace it the usual way."""
    import jax

    store = _ExportStore(w, [key for key, _, _ in items], dtype)
    if not store.path:
        return False
    arrs = [a for _, _, a in items]
    exported, fresh = store.load(), False
    if exported is None:
        try:
            from jax import export

            exported, fresh = export.export(jax.jit(program))(arrs), True
        except Exception:  # noqa: BLE001 - a program jax cannot export is traced the usual way
            return False
    try:
        outs = jax.jit(exported.call)(arrs)
        jax.block_until_ready(outs)
    except Exception:  # noqa: BLE001 - an entry that does not fit: drop it, trace the usual way
        store.drop()
        return False
    _keep(w, items, outs)
    if fresh:
        store.save(exported)
    return True


def _item(w, c, static, names, cot):
    import jax

    ops = w.ops

    def value(arrays):
        return c.call(ops, dict(static, **arrays)), None

    if names is None:
        return value

    def value_and_grads(arrays):
        f = w.objective(c, dict(static, **arrays), names, cot)
        (_, y), gs = jax.value_and_grad(f, argnums=tuple(range(len(names))), has_aux=True)(
            *[arrays[k] for k in names])
        return y, list(gs)

    return value_and_grads


#: how many traced one-program steps are kept (each a few hundred kB).
KEEP_PROGRAMS = 8 * CHUNKS


class _ExportStore(object):
    """The one-program step's traced program, kept beside jax's compilation cache (jax.export).

    Tracing the suite's program (every case's Keras calls and their gradients) costs more than
    compiling it once the compilation cache is warm, so a repeat run reuses the program it traced:
    serialized with jax.export (StableHLO), named by everything the trace depends on (the text of
    the suite's case, comparison, worker and adapter files; the versions and paths of Keras, jax
    and jaxlib; x64, XLA_FLAGS and Keras's configuration; the dtype, sizes, seed, data formats and
    which cases are in). Nothing is stored or read when KBACKEND_TEST_PATCH changes the ops, or
    without a compilation cache folder; an entry that cannot be read is traced afresh.
    """

    def __init__(self, w, keys, dtype):
        import os

        self.keys = keys
        self.path = None
        folder = os.environ.get("JAX_COMPILATION_CACHE_DIR")
        if not folder or os.environ.get("KBACKEND_TEST_PATCH") or os.environ.get("KBACKEND_NO_EXPORT_CACHE"):
            return
        try:
            self.path = os.path.join(folder, "kbackend-programs", self._digest(w, keys, dtype) + ".stablehlo")
        except Exception:  # noqa: BLE001 - no name, no cache
            self.path = None

    @staticmethod
    def _digest(w, keys, dtype):
        import hashlib
        import json
        import os
        import sys

        import jax
        import jaxlib

        keras = w.keras
        h = hashlib.sha256()
        here = os.path.dirname(os.path.abspath(__file__))
        for path in (getattr(w.cases, "__file__", None), getattr(w.cmp, "__file__", None),
                     os.path.join(os.path.dirname(here), "suite_worker.py"), os.path.abspath(__file__)):
            with open(path, "rb") as f:
                h.update(f.read())
        h.update(json.dumps([
            keras.__version__, os.path.dirname(keras.__file__), jax.__version__, jaxlib.__version__,
            os.path.dirname(jax.__file__), bool(jax.config.jax_enable_x64), os.environ.get("XLA_FLAGS", ""),
            keras.config.floatx(), keras.config.epsilon(), keras.config.image_data_format(), sys.version,
            dtype, w.size, w.seed, w.formats, w.grads, [list(map(str, k)) for k in keys],
        ]).encode())
        return h.hexdigest()[:40]

    def load(self):
        if not self.path:
            return None
        import os

        if not os.path.exists(self.path):
            return None
        try:
            from jax import export

            with open(self.path, "rb") as f:
                return export.deserialize(bytearray(f.read()))
        except Exception:  # noqa: BLE001 - unreadable: traced afresh
            self.drop()
            return None

    def drop(self):
        import os

        try:
            if self.path:
                os.remove(self.path)
        except OSError:
            pass

    def save(self, exported):
        if not self.path:
            return
        import os

        try:
            data = exported.serialize()
            folder = os.path.dirname(self.path)
            # exist_ok: the step's threads save their programs at the same time; a second makedirs
            # raising FileExistsError lost that thread's program (traced again on the next run).
            os.makedirs(folder, exist_ok=True)
            tmp = "%s.%d.tmp" % (self.path, os.getpid())
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, self.path)
            # jax's size limit does not see this folder: keep the newest few (a program per seed, dtype, version)
            kept = sorted((os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".stablehlo")),
                          key=os.path.getmtime, reverse=True)
            for old in kept[KEEP_PROGRAMS:]:
                os.remove(old)
        except Exception:  # noqa: BLE001 - not kept: traced again next time
            return
