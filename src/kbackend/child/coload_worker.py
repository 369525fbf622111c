"""Co-loading worker: import the GPU frameworks together, in order, and see which CUDA libraries
the process actually maps (/proc/self/maps), and who mapped each first.

Input:  {"steps": [{"name": "jax", "code": "import keras\\nimport jax\\njax.devices()"}, ...],
         "libs": ["libcudart", "libcudnn", "libcublas", "libnccl"]}
Output: {"steps": [{"name", "error"}], "mapped": [{"path", "lib", "by", "version"}]}

Each step's code runs with exec; a step that fails is noted and the next one runs (what
the process had mapped until then still counts). The version of each mapped libcudart and
libcudnn is asked from the library itself (ctypes on the file already loaded: no new load).
Standard library only, Python 3.5-compatible syntax.
"""

import ctypes
import os


def _maps():
    out = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    out.append(parts[5].strip())
    except (IOError, OSError):
        pass
    return out


def _which(path, libs):
    base = os.path.basename(path)
    for lib in libs:
        if base.startswith(lib + ".so") or base.startswith(lib + "-") or base == lib:
            return lib
    return None


def _version(path, lib):
    try:
        handle = ctypes.CDLL(path)
        if lib == "libcudnn":
            handle.cudnnGetVersion.restype = ctypes.c_size_t
            v = int(handle.cudnnGetVersion())
            if v >= 90000:
                return "%d.%d.%d" % (v // 10000, (v % 10000) // 100, v % 100)
            return "%d.%d.%d" % (v // 1000, (v % 1000) // 100, v % 100)
        if lib == "libcudart":
            v = ctypes.c_int(0)
            if handle.cudaRuntimeGetVersion(ctypes.byref(v)) == 0 and v.value > 0:
                return "%d.%d" % (v.value // 1000, (v.value % 1000) // 10)
    except Exception:  # noqa: BLE001 - a version we cannot read stays unknown
        return None
    return None


def main(inp):
    libs = list(inp.get("libs") or [])
    seen = {}
    steps = []
    for p in _maps():
        lib = _which(p, libs)
        if lib and p not in seen:
            seen[p] = {"path": p, "lib": lib, "by": "(before the first import)"}
    for step in inp.get("steps") or []:
        err = None
        try:
            exec(compile(step["code"], "<%s>" % step["name"], "exec"), {"__name__": "__coload__"})
        except BaseException as e:  # noqa: BLE001 - SystemExit too: the next framework still runs
            err = ("%s: %s" % (type(e).__name__, e)).splitlines()[0][:300]
        steps.append({"name": step["name"], "error": err})
        for p in _maps():
            lib = _which(p, libs)
            if lib and p not in seen:
                seen[p] = {"path": p, "lib": lib, "by": step["name"]}
    mapped = []
    for p, d in seen.items():
        d["realpath"] = os.path.realpath(p)
        d["version"] = _version(p, d["lib"])
        mapped.append(d)
    return {"steps": steps, "mapped": mapped}
