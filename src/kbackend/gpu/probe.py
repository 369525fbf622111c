"""The GPU probe: driver, GPUs, CUDA runtimes and cuDNN, with no framework needed.

`probe_gpu()` never raises. It finds the libraries by file name (kbackend.gpu.locate),
runs `nvidia-smi` (kbackend.gpu.smi), and loads each native library in a child of its
own (child/gpu_probe.py through kbackend.workers.runner), so a cuDNN that aborts
becomes a status. With no NVIDIA program or library on the machine it starts no child
at all and returns in milliseconds.

Native libraries are loaded by kbackend's own interpreter (ctypes is all they need);
the pip wheels' folders and nvidia-ml-py come from the TARGET interpreter's sys.path.

>>> facts = probe_gpu({"PATH": "/nonexistent"}, sys_path=[], paths=SystemPaths(ldconfig="", usr_local="/nonexistent",
...                    wsl_lib="/nonexistent", dxg="/nonexistent", proc_driver_version="/nonexistent"))
>>> facts.has_driver, facts.gpus, facts.cudnns
(False, [], [])
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence

from kbackend.gpu.locate import Found, SystemPaths, locate
from kbackend.gpu.model import (
    GpuDevice,
    GpuFacts,
    Libcuda,
    LibraryFile,
    NvidiaSmi,
    Nvml,
)
from kbackend.gpu.smi import run_smi

__all__ = ["GpuFacts", "probe_gpu", "SystemPaths"]

#: native probes per library kind (cudart, cudnn): more files than this are listed, not loaded.
MAX_PROBES = 6
#: environment variables that matter to the GPU stack, kept in GpuFacts.environ.
CUDA_ENV = (
    "CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH", "CONDA_PREFIX",
    "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_CLIENT_MEM_FRACTION",
    "XLA_PYTHON_CLIENT_ALLOCATOR", "TF_FORCE_GPU_ALLOW_GROWTH", "TF_CPP_MIN_LOG_LEVEL",
)
#: CUresult codes with a meaning of their own.
CU_STUB, CU_NO_DEVICE = 34, 100


def probe_gpu(
    environ: Mapping[str, str] | None = None,
    *,
    python: str = sys.executable,
    timeout: float = 20.0,
    sys_path: Sequence[str] | None = None,
    paths: SystemPaths | None = None,
    native: bool | None = None,
    libcache=None,
) -> GpuFacts:
    """Everything about the NVIDIA driver and CUDA libraries visible to `python`; never raises.

    `sys_path` (the target's, when the caller already has it) saves asking `python` for it.
    `native`: load libcudart/libcudnn in children to read their versions: always (True),
    never (False), or (None) libcudart always (it answers without a driver) and libcudnn only when
    there is a trace of a driver (nvidia-smi, a libcuda.so.1 on the loader path, /proc/driver/nvidia,
    WSL). Without a driver no framework loads cuDNN, and its version comes from the file and wheel
    names; a machine with no CUDA library at all starts no child."""
    t0 = time.monotonic()
    env = dict(os.environ if environ is None else environ)
    try:
        facts = _probe(env, python, timeout, sys_path, paths or SystemPaths(), native, libcache)
    except Exception as e:  # noqa: BLE001 - a probe reports, it never breaks doctor
        facts = GpuFacts(errors=[f"GPU probe failed: {type(e).__name__}: {e}"])
    return facts.model_copy(update={"elapsed_s": round(time.monotonic() - t0, 4),
                                    "environ": {k: env[k] for k in CUDA_ENV if k in env}})


def _target_path(python: str, sys_path: Sequence[str] | None, errors: list[str]) -> list[str]:
    if sys_path is not None:
        return list(sys_path)
    from kbackend.envs import target

    if os.path.abspath(python) == os.path.abspath(sys.executable) or target._same_interpreter(python):
        return [p for p in sys.path if p]
    try:
        return list(target.query(python, "gpu-probe", timeout=10).sys_path)
    except Exception as e:  # noqa: BLE001 - TargetError and anything else: probe without pip wheels
        errors.append(f"cannot read {python}'s sys.path: {getattr(e, 'message', e)}")
        return []


def _probe(env: dict[str, str], python: str, timeout: float, sys_path: Sequence[str] | None,
           paths: SystemPaths, native: bool | None, libcache=None) -> GpuFacts:
    from kbackend.envs.installed import scan
    from kbackend.gpu.wheels import cuda_wheels

    errors: list[str] = []
    spath = _target_path(python, sys_path, errors)
    dists = scan(spath)
    wheels = cuda_wheels(dists)
    found = locate(env, spath, paths)
    errors += found.errors
    smi_path = shutil.which("nvidia-smi", path=env.get("PATH", os.defpath))
    if smi_path is None and os.path.exists(os.path.join(paths.wsl_lib, "nvidia-smi")):
        smi_path = os.path.join(paths.wsl_lib, "nvidia-smi")
    has_pynvml = "nvidia-ml-py" in dists or "pynvml" in dists
    kinds: tuple[str, ...] = ("cudart", "cudnn") if native else ()
    trace = bool(smi_path or _libcuda_pick(found.files["cuda"]) or os.path.exists(paths.proc_driver_version)
                 or _is_wsl(paths))
    if native is None:
        # libcudart answers its version without a driver (cudaRuntimeGetVersion): every one found is read
        # from the library; cuDNN only where a framework can load it.
        kinds = ("cudart", "cudnn") if trace else ("cudart",)
    known: dict[str, str] = {}
    if "cudart" in kinds and found.files["cudart"] and libcache is not None:
        # libcudart's answer depends on the file only: remembered by its identity, asked once
        known = {f.path: v for f in found.files["cudart"][:MAX_PROBES] if (v := libcache.get(f.path))}
    jobs = _jobs(found, python if has_pynvml else None, env, timeout, kinds, skip=set(known))

    smi = NvidiaSmi()
    results: list = []
    if smi_path or jobs:
        from kbackend.workers.runner import run_many

        with ThreadPoolExecutor(max_workers=1) as ex:
            fut = ex.submit(run_smi, smi_path, env, min(timeout, 15.0)) if smi_path else None
            results = run_many([j for _k, j in jobs]) if jobs else []
            smi = fut.result() if fut else smi
    by_kind: dict[str, list] = {}
    for (kind, job), res in zip(jobs, results):
        by_kind.setdefault(kind, []).append((job, res))
    if smi.status not in ("ok", "not_found"):
        errors.append(f"nvidia-smi: {smi.status}: {smi.error}")

    libcuda = _libcuda(found, by_kind.get("cuda", []))
    nvml = _nvml(found, by_kind.get("nvml", []), has_pynvml)
    cudarts = _libs(found.files["cudart"], by_kind.get("cudart", []))
    if known or by_kind.get("cudart"):
        cudarts = [f.model_copy(update={"status": "ok", "version": known[f.path], "version_from": "library",
                                        "error": None}) if f.path in known else f for f in cudarts]
        fresh = {f.path: f.version for f in cudarts
                 if f.status == "ok" and f.version_from == "library" and f.path not in known}
        if fresh and libcache is not None:
            libcache.put(fresh)
    cudnns = _libs(found.files["cudnn"], by_kind.get("cudnn", []))
    kmod = _kernel_module(paths)
    from kbackend.gpu.toolchain import toolchain

    tools = toolchain(env, spath, paths.usr_local, versions=trace and native is not False)
    gpus = _merge_gpus(smi.gpus, libcuda.gpus, nvml.gpus)
    return GpuFacts(
        driver_version=smi.driver_version or nvml.driver_version or kmod,
        driver_cuda_version=smi.cuda_version or libcuda.version or nvml.cuda_driver_version,
        kernel_module_version=kmod,
        gpus=gpus,
        cuda_runtimes=cudarts,
        cudnns=cudnns,
        libcuda=libcuda,
        nvidia_smi=smi,
        nvml=nvml,
        wsl=_is_wsl(paths),
        wheels=wheels,
        errors=errors,
        toolchain=tools,
    )


def _jobs(found: Found, nvml_python: str | None, env: dict[str, str], timeout: float,
          kinds: tuple[str, ...], skip: set[str] = frozenset()) -> list[tuple[str, object]]:
    from kbackend.workers.runner import Job

    # The child sees exactly `env` (the caller's environment), all GPUs (no CUDA_VISIBLE_DEVICES:
    # the probe reports physical devices; the visible-devices check applies the variable itself).
    child = {k: None for k in os.environ if k not in env}
    child.update(env)
    child["CUDA_VISIBLE_DEVICES"] = None  # type: ignore[assignment]
    jobs: list[tuple[str, object]] = []
    cuda = _libcuda_pick(found.files["cuda"])
    if cuda:
        jobs.append(("cuda", Job(sys.executable, "gpu_probe.py", {"probe": "cuda", "path": cuda.path},
                                 timeout=timeout, env=child, key=cuda.path)))
    for kind in kinds:
        for f in found.files[kind][:MAX_PROBES]:
            if kind == "cudart" and f.path in skip:
                continue
            jobs.append((kind, Job(sys.executable, "gpu_probe.py", {"probe": kind, "path": f.path},
                                   timeout=timeout, env=child, key=f.path)))
    if nvml_python and found.files["nvml"]:
        jobs.append(("nvml", Job(nvml_python, "gpu_probe.py", {"probe": "nvml", "path": None},
                                 timeout=timeout, env=child, key="nvml")))
    return jobs


def _libcuda_pick(files: list[LibraryFile]) -> LibraryFile | None:
    """The libcuda.so.1 a framework loads: the loader's pick (a toolkit's stubs/libcuda.so is not one)."""
    return next((f for f in files if f.loader_pick), None)


def _stub_path(path: str) -> bool:
    return os.path.basename(os.path.dirname(path)) == "stubs"


def _failure(res) -> str:
    return res.error or res.status


def _libcuda(found: Found, runs: list) -> Libcuda:
    files = found.files["cuda"]
    first = _libcuda_pick(files)
    if first is None:
        return Libcuda(candidates=files)
    is_stub = _stub_path(first.path)
    if not runs:
        return Libcuda(path=first.path, status="not_probed", is_stub=is_stub, candidates=files)
    _job, res = runs[0]
    if not res.ok:
        return Libcuda(path=first.path, status=res.status, error=_failure(res), is_stub=is_stub, candidates=files)
    d = res.data or {}
    code, name = d.get("error_code"), d.get("error_name")
    init = d.get("init")
    status = "ok"
    if init not in (0, None) or code:
        status = {CU_STUB: "stub", CU_NO_DEVICE: "no_device"}.get(code, "error")
    is_stub = is_stub or code == CU_STUB
    gpus = _devices(d, "libcuda")
    err = None
    if code:
        err = f"CUresult {code}" + (f" ({name})" if name else "")
    files = [f.model_copy(update={"status": res.status}) if f.path == first.path else f for f in files]
    return Libcuda(path=first.path, status=status, version=d.get("version"), device_count=d.get("device_count"),
                   is_stub=is_stub, error_code=code, error=err, gpus=gpus, candidates=files)


def _devices(data: dict, source: str) -> list[GpuDevice]:
    keys = ("index", "name", "compute_capability", "memory_mib", "uuid")
    return [GpuDevice(source=source, **{k: g.get(k) for k in keys}) for g in data.get("devices") or []]


def _libs(files: list[LibraryFile], runs: list) -> list[LibraryFile]:
    res_by_path = {job.key: res for job, res in runs}
    out = []
    for f in files:
        res = res_by_path.get(f.path)
        if res is None:
            out.append(f)
        elif res.ok and (res.data or {}).get("version"):
            out.append(f.model_copy(update={"status": "ok", "version": res.data["version"], "version_from": "library",
                                            "error": None}))
        else:
            out.append(f.model_copy(update={"status": "error" if res.ok else res.status, "error": _failure(res)
                                            if not res.ok else "the library reported no version"}))
    return out


def _nvml(found: Found, runs: list, has_pynvml: bool) -> Nvml:
    lib_version = next((f.version for f in found.files["nvml"] if f.version), None)
    if not has_pynvml or not runs:
        return Nvml(status="not_installed" if not has_pynvml else "not_probed", library_version=lib_version)
    _job, res = runs[0]
    if not res.ok:
        return Nvml(status=res.status, error=_failure(res), library_version=lib_version)
    d = res.data or {}
    gpus = _devices(d, "nvml")
    return Nvml(status="error" if d.get("error") else "ok", error=d.get("error"),
                driver_version=d.get("driver_version"), cuda_driver_version=d.get("cuda_driver_version"),
                library_version=lib_version, gpus=gpus)


def _merge_gpus(*sources: list[GpuDevice]) -> list[GpuDevice]:
    """The first source that saw GPUs, its gaps (compute capability on R470, UUID) filled by the others."""
    base = next((s for s in sources if s), [])
    out = []
    for g in base:
        upd = {}
        for other in sources:
            for o in other:
                same = (g.uuid and o.uuid == g.uuid) or (not g.uuid or not o.uuid) and o.index == g.index
                if o is g or not same:
                    continue
                for k in ("compute_capability", "memory_mib", "uuid", "name"):
                    if getattr(g, k) is None and k not in upd and getattr(o, k) is not None:
                        upd[k] = getattr(o, k)
        out.append(g.model_copy(update=upd) if upd else g)
    return out


def _kernel_module(paths: SystemPaths) -> str | None:
    """The running kernel module's version, from /proc/driver/nvidia/version."""
    try:
        with open(paths.proc_driver_version) as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r"Kernel Module(?:\s+for\s+\S+)?\s+([0-9]+\.[0-9]+(?:\.[0-9]+)?)", text)
    return m.group(1) if m else None


def _is_wsl(paths: SystemPaths) -> bool:
    if os.path.exists(paths.dxg) or os.path.isdir(paths.wsl_lib):
        return True
    try:
        with open(paths.proc_version) as f:
            return "microsoft" in f.read().lower()
    except OSError:
        return False
