"""GPU probe worker: load ONE native library with ctypes and ask it for its version.

Run by `_boot.py` in a child process, one library per child: a cuDNN whose
sub-libraries are missing aborts the whole process (SIGABRT) inside
cudnnGetVersion, and the parent turns that into a status. Standard library only
(plus the target's own pynvml for the "nvml" probe), Python 3.5-compatible syntax.

Input:  {"probe": "cuda" | "cudart" | "cudnn" | "nvml", "path": "/.../libcudnn.so.9"}
Output: cuda:   {"version", "init", "error_code", "error_name", "device_count", "devices": [...]}
        cudart: {"version"}
        cudnn:  {"version", "raw", "cudart"}
        nvml:   {"driver_version", "cuda_driver_version", "devices": [...], "error"}
A device is {"index", "name", "compute_capability", "memory_mib", "uuid"}.
"""

import ctypes

CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


def _cuda_version(v):
    return "%d.%d" % (v // 1000, (v % 1000) // 10) if v > 0 else None


def _cudnn_version(v):
    if v <= 0:
        return None
    if v >= 90000:
        return "%d.%d.%d" % (v // 10000, (v % 10000) // 100, v % 100)
    return "%d.%d.%d" % (v // 1000, (v % 1000) // 100, v % 100)


def _uuid(raw):
    h = "".join("%02x" % b for b in bytearray(raw))
    return "GPU-%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def _fn(lib, *names):
    for n in names:
        f = getattr(lib, n, None)
        if f is not None:
            return f
    return None


def _cu_error_name(lib, rc):
    f = _fn(lib, "cuGetErrorName")
    if f is None:
        return None
    s = ctypes.c_char_p()
    try:
        if f(rc, ctypes.byref(s)) == 0 and s.value:
            return s.value.decode("ascii", "replace")
    except Exception:  # noqa: BLE001 - the name is a nicety
        pass
    return None


def probe_cuda(path):
    """The driver API: cuDriverGetVersion answers before cuInit; then the devices."""
    lib = ctypes.CDLL(path)
    out = {"version": None, "init": None, "error_code": None, "error_name": None, "device_count": None,
           "devices": []}
    v = ctypes.c_int(0)
    rc = lib.cuDriverGetVersion(ctypes.byref(v))
    if rc == 0:
        out["version"] = _cuda_version(v.value)
    else:
        out["error_code"], out["error_name"] = rc, _cu_error_name(lib, rc)
    rc = lib.cuInit(0)
    out["init"] = rc
    if rc != 0:
        out["error_code"], out["error_name"] = rc, _cu_error_name(lib, rc)
        return out
    n = ctypes.c_int(0)
    rc = lib.cuDeviceGetCount(ctypes.byref(n))
    if rc != 0:
        out["error_code"], out["error_name"] = rc, _cu_error_name(lib, rc)
        return out
    out["device_count"] = n.value
    total_mem = _fn(lib, "cuDeviceTotalMem_v2", "cuDeviceTotalMem")
    get_uuid = _fn(lib, "cuDeviceGetUuid_v2", "cuDeviceGetUuid")
    for i in range(n.value):
        dev = ctypes.c_int(0)
        if lib.cuDeviceGet(ctypes.byref(dev), i) != 0:
            continue
        d = {"index": i, "name": None, "compute_capability": None, "memory_mib": None, "uuid": None}
        buf = ctypes.create_string_buffer(256)
        if lib.cuDeviceGetName(buf, 256, dev) == 0:
            d["name"] = buf.value.decode("utf-8", "replace")
        major, minor = ctypes.c_int(0), ctypes.c_int(0)
        if (lib.cuDeviceGetAttribute(ctypes.byref(major), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev) == 0
                and lib.cuDeviceGetAttribute(ctypes.byref(minor), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                             dev) == 0):
            d["compute_capability"] = "%d.%d" % (major.value, minor.value)
        if total_mem is not None:
            size = ctypes.c_size_t(0)
            if total_mem(ctypes.byref(size), dev) == 0:
                d["memory_mib"] = size.value // (1024 * 1024)
        if get_uuid is not None:
            raw = (ctypes.c_ubyte * 16)()
            if get_uuid(raw, dev) == 0:
                d["uuid"] = _uuid(raw)
        out["devices"].append(d)
    return out


def probe_cudart(path):
    lib = ctypes.CDLL(path)
    v = ctypes.c_int(0)
    rc = lib.cudaRuntimeGetVersion(ctypes.byref(v))
    if rc != 0:
        raise RuntimeError("cudaRuntimeGetVersion returned %d" % rc)
    return {"version": _cuda_version(v.value), "raw": v.value}


def probe_cudnn(path):
    lib = ctypes.CDLL(path)
    lib.cudnnGetVersion.restype = ctypes.c_size_t
    raw = int(lib.cudnnGetVersion())
    out = {"version": _cudnn_version(raw), "raw": raw, "cudart": None}
    f = _fn(lib, "cudnnGetCudartVersion")
    if f is not None:
        f.restype = ctypes.c_size_t
        out["cudart"] = _cuda_version(int(f()))
    return out


def _s(v):
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else (None if v is None else str(v))


def probe_nvml(_path):
    """NVML through the target's nvidia-ml-py (the `pynvml` module)."""
    import pynvml

    out = {"driver_version": None, "cuda_driver_version": None, "devices": [], "error": None}
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as e:
        out["error"] = _s(str(e))
        return out
    try:
        out["driver_version"] = _s(pynvml.nvmlSystemGetDriverVersion())
        try:
            out["cuda_driver_version"] = _cuda_version(int(pynvml.nvmlSystemGetCudaDriverVersion()))
        except (pynvml.NVMLError, AttributeError):
            pass
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            d = {"index": i, "name": _s(pynvml.nvmlDeviceGetName(h)), "compute_capability": None,
                 "memory_mib": None, "uuid": None}
            try:
                d["compute_capability"] = "%d.%d" % tuple(pynvml.nvmlDeviceGetCudaComputeCapability(h))
            except (pynvml.NVMLError, AttributeError):
                pass
            try:
                d["memory_mib"] = int(pynvml.nvmlDeviceGetMemoryInfo(h).total) // (1024 * 1024)
            except (pynvml.NVMLError, AttributeError):
                pass
            try:
                d["uuid"] = _s(pynvml.nvmlDeviceGetUUID(h))
            except (pynvml.NVMLError, AttributeError):
                pass
            out["devices"].append(d)
    except pynvml.NVMLError as e:
        out["error"] = _s(str(e))
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass
    return out


PROBES = {"cuda": probe_cuda, "cudart": probe_cudart, "cudnn": probe_cudnn, "nvml": probe_nvml}


def main(inp):
    return PROBES[inp["probe"]](inp.get("path"))
