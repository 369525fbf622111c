"""One module per backend: what differs between backends in the target interpreter.

A backend is one registry entry on the parent side (kbackend/backends.py:
names, distributions, Keras versions, install commands, cost, colour) and one
module here, `<backend>.py`, on the child side, as a pre-commit language is one
module in `languages/` plus one line in `all_languages.py`. The workers
(probe_backend.py, suite_worker.py, bench_worker.py) find the module by the
backend's name through `_adapter.load(name)` (the folders in
KBACKEND_ADAPTERS_PATH first, then this one) and never branch on a name.

Adapters run in the target interpreter: standard library at import time, the
backend's own packages imported inside the functions, never kbackend; Python 3.4
syntax (the probe may run them in an old interpreter). Every part below but
`probe` is optional; the default is said with each.

The protocol (module-level names):

Version and devices (probe_backend.py)
    probe(mod, out, h)      fill `out` from the imported backend module `mod`:
                            "devices", "gpu_devices" (lists of str) and, for
                            builds with CUDA, "built_cuda", "built_cudnn",
                            "cuda_archs"; anything else under out["extra"].
                            `h` is _adapter.py (str_or_none, version_from_int,
                            jsonable, dist_versions ...).
    version(mod_name, h)    the backend's version for reports
                            (default: the module's __version__).

Bench (bench_worker.py's Kit; `kit` has name, keras, ops, np, threads)
    bench_setup(kit)        set kit.version, kit.device, kit.sync_name,
                            kit.backend_threads (default: the module's version,
                            "cpu", synchronous).
    needs_sync(kit)         must results be synchronised (default False).
    sync(kit, out)          block until `out` is computed (default: nothing).
    jit(kit, f)             f compiled (jax.jit, tf.function, torch.compile),
                            or None: no compiler (default None).
    bench_callable(kit, call, args, dtype, cases)
                            override the whole callable: (fn, mode, set-up s),
                            e.g. a graph compiled once; default: none.
    compute_dtype(kit, spec_dtype, out)
                            the dtype really computed in (default: the output's).

Suite (suite_worker.py)
    TRAINS                  Keras can fit with it: gradients are checked and
                            the tiny model trained (default False).
    grads(f, xs)            the gradients of f(*xs)[0] with respect to xs, as
                            backend tensors (needed when TRAINS).
    one_program(w, todo, dtype)
                            the one-program step: compute `todo`'s values (and
                            gradients) in one compiled program and store them in
                            w.batched (one jitted XLA program, one compiled
                            model); absent: every case runs alone.
    fetched(t)              a stored one-program output as NumPy, or None when
                            `t` is a backend tensor (default None).

Known defects (suite_worker.py's verdicts)
    F64_AS_F32              why a float64 result may have float32 precision on
                            this backend (default: Keras's result_type rule).
    RESULT_TYPE_F64         keras.backend.result_type keeps float64 for float64
                            inputs here (tensorflow), so a float64 output where
                            float32 was expected is not a known behaviour.

A backend with CUDA builds also needs its rows in kbackend/gpu/ (the tables of
which CUDA and cuDNN each release was built with). Per-op defects stay with the
op cases (cases.py), keyed by backend name.
"""
