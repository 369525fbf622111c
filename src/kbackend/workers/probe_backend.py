"""Backend probe worker: import a backend and Keras in this interpreter, report what they see.

Run by `_boot.py` in the target interpreter with KERAS_BACKEND set by the parent.
Standard library only at module level, Python 2.7/3.5-compatible syntax (the
target may be a legacy environment); the backend and Keras are the target's own.

Input:  {"backend": "jax", "module": "jax", "import_keras": true}
Output: {"module_version", "backend_import_s", "keras_import_s", "import_s",
         "keras_version", "keras_backend", "devices", "gpu_devices",
         "built_cuda", "built_cudnn", "cuda_archs", "extra"}

A failing import is not caught: `_boot.py` reports it as `import_error` or
`error` with its traceback, and the parent keeps the child's output as a log.
"""

import atexit
import importlib
import os
import sys
import time


def _str(v):
    return None if v is None else str(v)


def _version_from_int(v, cudnn=False):
    """CUDA ints are 1000*major + 10*minor; cuDNN 9 is M*10000 + m*100 + p (8: M*1000 + m*100 + p)."""
    try:
        v = int(v)
    except (TypeError, ValueError):
        return _str(v)
    if v <= 0:
        return None
    if cudnn:
        if v >= 90000:
            return "%d.%d.%d" % (v // 10000, (v % 10000) // 100, v % 100)
        return "%d.%d.%d" % (v // 1000, (v % 1000) // 100, v % 100)
    return "%d.%d" % (v // 1000, (v % 1000) // 10)


def _tensorflow(mod, out):
    tf = mod
    out["devices"] = [d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices()]
    out["gpu_devices"] = [d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices("GPU")]
    try:
        info = dict(tf.sysconfig.get_build_info())
    except Exception as e:  # noqa: BLE001 - old TF without get_build_info
        info = {"error": "%s: %s" % (type(e).__name__, e)}
    out["extra"]["build_info"] = dict((k, _jsonable(v)) for k, v in info.items())
    out["built_cuda"] = _str(info.get("cuda_version"))
    out["built_cudnn"] = _str(info.get("cudnn_version"))
    caps = info.get("cuda_compute_capabilities") or []
    out["cuda_archs"] = [str(c) for c in caps]
    # Does a channels_first (NCHW) convolution run on the CPU? Stock TensorFlow kernels
    # support NHWC only; oneDNN builds (the default on x86 Linux) also run NCHW.
    try:
        with tf.device("/CPU:0"):
            tf.nn.conv2d(tf.zeros((1, 1, 3, 3)), tf.zeros((1, 1, 1, 1)), 1, "VALID", data_format="NCHW")
        out["extra"]["cpu_nchw_conv"] = True
    except Exception as e:  # noqa: BLE001 - UnimplementedError on stock CPU kernels
        out["extra"]["cpu_nchw_conv"] = False
        out["extra"]["cpu_nchw_conv_error"] = ("%s: %s" % (type(e).__name__, e)).splitlines()[0][:300]


def _jax(mod, out):
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
                    out[key] = _version_from_int(f(), cudnn=cudnn)
                except Exception as e:  # noqa: BLE001
                    out["extra"][fn] = "%s: %s" % (type(e).__name__, e)
    out["extra"]["plugins"] = _dist_versions(("jax-cuda12-plugin", "jax-cuda12-pjrt", "jax-cuda13-plugin",
                                              "jax-cuda13-pjrt", "jaxlib", "jax-rocm60-plugin"))


def _torch(mod, out):
    torch = mod
    out["built_cuda"] = _str(getattr(torch.version, "cuda", None))
    out["extra"]["built_hip"] = _str(getattr(torch.version, "hip", None))
    try:
        out["built_cudnn"] = _version_from_int(torch.backends.cudnn.version(), cudnn=True)
    except Exception as e:  # noqa: BLE001
        out["extra"]["cudnn_error"] = "%s: %s" % (type(e).__name__, e)
    try:
        out["cuda_archs"] = list(torch.cuda.get_arch_list())
    except Exception:  # noqa: BLE001
        out["cuda_archs"] = []
    devices = ["cpu"]
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            gpus.append("cuda:%d %s" % (i, torch.cuda.get_device_name(i)))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    out["devices"] = devices + [g.split(" ")[0] for g in gpus]
    out["gpu_devices"] = gpus


def _openvino(mod, out):
    core_cls = getattr(mod, "Core", None)
    if core_cls is None:
        from openvino.runtime import Core as core_cls  # older OpenVINO
    out["devices"] = list(core_cls().available_devices)
    out["gpu_devices"] = [d for d in out["devices"] if d.startswith("GPU")]


def _numpy(mod, out):
    out["devices"] = ["cpu"]


PROBES = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch, "openvino": _openvino, "numpy": _numpy}


def _jsonable(v):
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return str(v)


def _dist_versions(names):
    out = {}
    try:
        from importlib import metadata
    except ImportError:  # Python < 3.8
        return out
    for n in names:
        try:
            out[n] = metadata.version(n)
        except Exception:  # noqa: BLE001 - PackageNotFoundError
            pass
    return out


def main(inp):
    name = inp["backend"]
    module = inp.get("module") or name
    out = {
        "backend": name, "module_version": None, "keras_version": None, "keras_backend": None,
        "devices": [], "gpu_devices": [], "built_cuda": None, "built_cudnn": None, "cuda_archs": [],
        "extra": {}, "python": "%d.%d.%d" % tuple(sys.version_info[:3]),
    }
    t0 = time.time()
    mod = importlib.import_module(module)
    t1 = time.time()
    out["backend_import_s"] = t1 - t0
    out["module_version"] = _str(getattr(mod, "__version__", None))
    if inp.get("import_keras", True):
        import keras

        out["keras_version"] = _str(getattr(keras, "__version__", None))
        be = getattr(keras, "backend", None)
        try:
            out["keras_backend"] = keras.config.backend()
        except AttributeError:  # Keras 2
            out["keras_backend"] = be.backend() if be is not None else None
    t2 = time.time()
    out["keras_import_s"] = t2 - t1
    out["import_s"] = t2 - t0
    probe = PROBES.get(name)
    if probe is not None:
        try:
            probe(mod, out)
        except Exception as e:  # noqa: BLE001 - the import worked; the device query did not
            out["extra"]["device_error"] = "%s: %s" % (type(e).__name__, e)
    out["devices_s"] = time.time() - t2
    # Runs first at exit (handlers run last-registered first), after _boot.py has written
    # the result: skips the seconds TensorFlow and PyTorch spend tearing themselves down.
    atexit.register(_fast_exit)
    return out


def _fast_exit():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream
            pass
    os._exit(0)
