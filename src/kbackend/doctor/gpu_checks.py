"""Doctor's GPU checks: driver, CUDA runtime, cuDNN, compute capability, loader path, env vars.

Each check is a pure function of `Facts` (facts.gpu from kbackend.gpu.probe, facts.backends
from the backend probes, facts.environ) returning one `Finding`; the version logic lives in
kbackend.gpu.compat. A check that does not apply says `skip` and why.

>>> [c.id for c in CHECKS][:3]
['gpu-driver', 'gpu-driver-cuda', 'gpu-compute-capability']
"""

from __future__ import annotations

from kbackend.doctor.check import Check
from kbackend.doctor.facts import Facts
from kbackend.doctor.model import Finding, Status
from kbackend.gpu import compat as C
from kbackend.gpu.model import LibraryFile

__all__ = ["CHECKS"]

DRIVER_DOWNLOAD = "https://www.nvidia.com/Download/index.aspx"
CUDA_COMPAT_DOC = "https://docs.nvidia.com/deploy/cuda-compatibility/"
TORCH_INSTALL = "https://pytorch.org/get-started/locally/"
TF_GPU_DOC = "https://www.tensorflow.org/install/pip#linux"
JAX_INSTALL = "https://docs.jax.dev/en/latest/installation.html#nvidia-gpu"
INSTALL_DOC = {"torch": TORCH_INSTALL, "tensorflow": TF_GPU_DOC, "jax": JAX_INSTALL}
JAX_MEMORY_DOC = "https://docs.jax.dev/en/latest/gpu_memory_allocation.html"
CUDA_ENV_DOC = "https://docs.nvidia.com/cuda/cuda-c-programming-guide/index.html#cuda-environment-variables"
#: the CUDA builds torch publishes on download.pytorch.org/whl/<tag>.
TORCH_INDEXES = ("11.8", "12.1", "12.4", "12.6", "12.8", "12.9", "13.0")
#: where a framework finds its libraries: the loader path first, except jax, which preloads its pip wheels.
LOADER_SOURCES = ("ld_library_path", "pip", "conda", "ldconfig")
_RANK = {"ld_library_path": 0, "pip": 1, "conda": 2, "ldconfig": 3}
_RANK_PIP_FIRST = {"pip": 0, "ld_library_path": 1, "conda": 2, "ldconfig": 3}
STATUS_ORDER = ("ok", "skip", "warn", "error")
#: cuInit's CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: the kernel module and libcuda differ.
CU_SYSTEM_DRIVER_MISMATCH = 803


#: one title per check, shown by `doctor` and by `doctor --list-checks` alike.
TITLES = {
    "gpu-driver": "NVIDIA driver for the installed CUDA builds",
    "gpu-driver-cuda": "Driver's CUDA version vs each build's CUDA runtime",
    "gpu-compute-capability": "GPU compute capability vs the builds' architectures",
    "gpu-cudnn": "cuDNN each build needs vs the one that resolves",
    "gpu-libraries": "CUDA runtime and cuDNN libraries present",
    "gpu-ld-library-path": "LD_LIBRARY_PATH shadowing the pip CUDA wheels",
    "gpu-visible-devices": "CUDA_VISIBLE_DEVICES hiding GPUs",
    "gpu-jax-preallocate": "JAX preallocation with other GPU frameworks",
    "gpu-version-mismatch": "Driver/library version mismatch",
    "gpu-stub-libcuda": "libcuda.so.1 is the real driver, not the toolkit's stub",
}


def _f(id: str, status: Status, verdict: str | None = None, evidence: list[str] | None = None, fix: str | None = None,
       link: str | None = None) -> Finding:
    """A finding titled with the check's one title; an outcome's own verdict leads its evidence."""
    ev = list(evidence or [])
    if verdict and verdict != TITLES[id]:
        ev.insert(0, verdict)
    return Finding(id=id, status=status, title=TITLES[id], evidence=ev, fix=fix, link=link)


def _worst(statuses: list[str]) -> Status:
    return max(statuses, key=STATUS_ORDER.index) if statuses else "ok"  # type: ignore[return-value]


def _env(facts: Facts) -> dict[str, str]:
    return {**facts.gpu.environ, **facts.environ}


def _builds(facts: Facts) -> list[C.Build]:
    return C.builds(facts.gpu.wheels, facts.backends)


def _no_builds(id: str, title: str) -> Finding:
    return _f(id, "skip", title, ["no CUDA build of torch, tensorflow or jax is installed"])


def _needs_builds_and_driver(id: str, title: str, builds: list[C.Build], facts: Facts) -> Finding | None:
    """The skip of a check that is about CUDA builds running on a working driver, or None."""
    if not builds:
        return _no_builds(id, title)
    if not facts.gpu.has_driver:
        return _f(id, "skip", title, ["no working NVIDIA driver: the frameworks run on the CPU and load no CUDA "
                                      "library"])
    return None


def _driver_line(facts: Facts) -> str:
    g = facts.gpu
    bits = [f"driver {g.driver_version or '?'}"]
    if g.driver_cuda_version:
        bits.append(f"supports CUDA {g.driver_cuda_version}")
    src = "nvidia-smi" if g.nvidia_smi.status == "ok" else "NVML" if g.nvml.status == "ok" else "libcuda"
    return " ".join(bits) + f" ({src})"


def _pip(facts: Facts, args: str) -> str:
    import shlex

    from kbackend.install import pip_command

    return pip_command(facts.interpreter.python, *shlex.split(args))


def _torch_index_for(cuda: str | None) -> str | None:
    """The newest torch wheel index a driver supporting `cuda` can run."""
    have = C.major_minor(cuda)
    ok = [t for t in TORCH_INDEXES if have is not None and C.major_minor(t) <= have]
    return "cu" + ok[-1].replace(".", "") if ok else None


def _reinstall(facts: Facts, b: C.Build, cuda: str | None = None) -> str:
    """A command that installs a build of `b.framework` for CUDA `cuda` (or its own)."""
    mm = C.major_minor(cuda or b.cuda)
    if b.framework == "torch":
        tag = _torch_index_for(cuda or b.cuda)
        if tag is None:
            return _pip(facts, "torch --index-url https://download.pytorch.org/whl/cpu")
        return _pip(facts, f"--force-reinstall torch --index-url https://download.pytorch.org/whl/{tag}")
    if b.framework == "tensorflow":
        ver = b.label.split(" ")[-1] if " " in b.label else ""
        return _pip(facts, f'"tensorflow[and-cuda]=={ver}"' if ver else '"tensorflow[and-cuda]"')
    major = 13 if mm and mm[0] >= 13 else 12
    return _pip(facts, f'-U "jax[cuda{major}]"')


def _cpu_build(facts: Facts, framework: str) -> str:
    import shlex

    from kbackend.install import NO_GPU, install_command

    if framework in ("torch", "tensorflow"):
        return install_command(framework, facts.interpreter.python, keras_version=facts.keras.version, gpu=NO_GPU)
    plugins = "jax-cuda12-plugin jax-cuda12-pjrt jax-cuda13-plugin jax-cuda13-pjrt"
    return f"{shlex.quote(facts.interpreter.python)} -m pip uninstall {plugins}"


def _describe(b: C.Build) -> str:
    src = {"probe": "its import reports", "local_version": "its version tag", "requires": "its nvidia-* requirements",
           "nvidia_wheel": "the installed nvidia-cuda-runtime wheel", "table": "the release table"}.get(
        b.cuda_from or "", "unknown")
    return f"{b.label}: CUDA {b.cuda or '?'} ({src})"


# -- checks ------------------------------------------------------------------------------------


def check_driver(facts: Facts) -> Finding:
    id = "gpu-driver"
    title = TITLES[id]
    builds = _builds(facts)
    if not builds:
        return _no_builds(id, title)
    g = facts.gpu
    ev = [_describe(b) for b in builds]
    if g.has_driver:
        n = len(g.gpus)
        return _f(id, "ok", f"NVIDIA {_driver_line(facts)}; {n} GPU{'s' if n != 1 else ''}",
                  ev + [f"GPU {d.index}: {d.name} (compute capability {d.compute_capability or '?'})" for d in g.gpus])
    if g.nvidia_smi.status == "version_mismatch":
        return _f(id, "skip", title, ev + ["the driver is installed but its library and kernel module differ: "
                                            "see gpu-version-mismatch"])
    if g.driver_seen and not g.libcuda.is_stub:
        ev += [f"nvidia-smi ({g.nvidia_smi.path}): {g.nvidia_smi.status}: {g.nvidia_smi.error}"
               if g.nvidia_smi.path else "nvidia-smi: not on PATH"]
        if g.libcuda.path:
            ev.append(f"libcuda ({g.libcuda.path}): {g.libcuda.status}: {g.libcuda.error or ''}".rstrip(": "))
        return _f(id, "error", "An NVIDIA driver is installed but does not work", ev,
                  fix="run `nvidia-smi`; load the kernel module (sudo modprobe nvidia) or reinstall the driver, "
                      "then reboot", link=DRIVER_DOWNLOAD)
    ev.append("no NVIDIA driver: nvidia-smi " + ("not on PATH" if not g.nvidia_smi.path else g.nvidia_smi.status)
              + ", libcuda.so.1 " + ("not found" if not g.libcuda.path else f"at {g.libcuda.path} is a stub"))
    names = ", ".join(b.label for b in builds)
    return _f(id, "warn", f"CUDA build{'s' if len(builds) > 1 else ''} installed ({names}) but no NVIDIA driver: "
                          "they run on the CPU", ev,
              fix=f"install the NVIDIA driver ({DRIVER_DOWNLOAD}), or install CPU builds: "
                  + "; ".join(_cpu_build(facts, b.framework) for b in builds),
              link=DRIVER_DOWNLOAD)


def check_driver_cuda(facts: Facts) -> Finding:
    id = "gpu-driver-cuda"
    title = TITLES[id]
    builds = [b for b in _builds(facts) if b.cuda]
    if not builds:
        return _no_builds(id, title)
    g = facts.gpu
    if not (g.driver_version or g.driver_cuda_version):
        return _f(id, "skip", title, ["no NVIDIA driver version known (see gpu-driver)"])
    statuses, ev, fixes = [], [_driver_line(facts)], []
    for b in builds:
        v = C.driver_verdict(b.cuda, g.driver_version, g.driver_cuda_version)
        statuses.append({"unknown": "skip"}.get(v.status, v.status))
        ev.append(f"{_describe(b)}: {v.status}: {v.reason}")
        if v.status == "error":
            have = g.driver_cuda_version or C.cuda_for_driver(g.driver_version)
            fixes.append(f"upgrade the NVIDIA driver to >= {v.needed_driver} ({DRIVER_DOWNLOAD}), or install a "
                         f"build for CUDA <= {have}: {_reinstall(facts, b, have)}")
        elif v.status == "warn":
            fixes.append(f"upgrade the NVIDIA driver to >= {v.needed_driver} for full CUDA {b.cuda} support")
    st = _worst(statuses)
    titles = {"ok": "The driver supports every installed build's CUDA runtime",
              "warn": "A build's CUDA runtime is newer than the driver (minor-version compatibility only)",
              "error": "The NVIDIA driver is too old for an installed build's CUDA runtime",
              "skip": title}
    if st == "error":
        ev.append('frameworks then fail with "The NVIDIA driver on your system is too old" / '
                  '"CUDA driver version is insufficient for CUDA runtime version"')
    return _f(id, st, titles[st], ev, fix="; ".join(fixes) or None, link=CUDA_COMPAT_DOC if st != "ok" else None)


def check_compute_capability(facts: Facts) -> Finding:
    id = "gpu-compute-capability"
    title = TITLES[id]
    builds = _builds(facts)
    gpus = [d for d in facts.gpu.gpus if d.compute_capability]
    if not builds:
        return _no_builds(id, title)
    if not gpus:
        return _f(id, "skip", title, ["no GPU with a known compute capability"])
    statuses, ev, fixes, bad = [], [], [], []
    for b in builds:
        for d in gpus:
            cc = d.compute_capability
            runs = C.runs_on(b.archs, cc)
            floor = C.cc_floor(b.cuda)
            who = f"GPU {d.index} {d.name} (compute capability {cc}) with {b.label}"
            if runs is False:
                statuses.append("error")
                ev.append(f"{who}: no kernels for it in {' '.join(b.archs)} "
                          '("no kernel image is available for execution on the device")')
                fixes.append(f"install a {b.framework} build whose architectures include sm_{C.cc_int(cc)}")
                bad.append(b.framework)
            elif runs is None and floor and C.version(cc) < C.version(floor):
                statuses.append("error")
                ev.append(f"{who}: CUDA {b.cuda} supports compute capability >= {floor} only")
                fixes.append(f"install a {b.framework} build for an older CUDA: {_reinstall(facts, b, '12.6')}")
                bad.append(b.framework)
            elif (b.framework == "torch" and b.cudnn and b.cudnn.major == 9 and b.cudnn.minimum
                  and C.version(b.cudnn.minimum) >= C.version("9.11") and C.version(cc) < C.version("7.5")):
                statuses.append("error")
                ev.append(f"{who}: torch with cuDNN {b.cudnn.minimum} refuses GPUs below 7.5 "
                          '("cuDNN version ... is not compatible with devices with SM < 7.5")')
                fixes.append(f"install a torch build with an older cuDNN: {_reinstall(facts, b, '12.6')}")
                bad.append(b.framework)
            else:
                statuses.append("ok")
                ev.append(f"{who}: " + (f"runs ({' '.join(b.archs)})" if runs else
                                         f"architectures unknown; CUDA {b.cuda or '?'} supports >= {floor or '?'}"))
    st = _worst(statuses)
    return _f(id, st, "Every GPU is supported by the installed builds" if st == "ok"
              else "A GPU is not supported by an installed build", ev, fix="; ".join(dict.fromkeys(fixes)) or None,
              link=INSTALL_DOC[bad[0]] if bad else None)


def _loadable(files: list[LibraryFile], pip_first: bool) -> list[LibraryFile]:
    """The files a framework can load, in the order it would find them."""
    rank = _RANK_PIP_FIRST if pip_first else _RANK
    ok = [f for f in files if f.source in LOADER_SOURCES or f.loader_pick]
    return sorted(ok, key=lambda f: (rank.get(f.source, 3), not f.loader_pick))


def _off_path(files: list[LibraryFile]) -> list[str]:
    return [f"{f.path} ({f.source}, {f.version or '?'}) is not on the loader path" for f in files
            if f.source not in LOADER_SOURCES and not f.loader_pick]


def _lib(f: LibraryFile) -> str:
    state = "" if f.status in ("ok", "not_probed") else f", {f.status}: {f.error}"
    return f"{f.soname} {f.version or '?'} at {f.path} ({f.source}{state})"


def check_cudnn(facts: Facts) -> Finding:
    id = "gpu-cudnn"
    title = TITLES[id]
    builds = [b for b in _builds(facts) if b.cudnn]
    skip = _needs_builds_and_driver(id, title, builds, facts)
    if skip:
        return skip
    if not _loadable(facts.gpu.cudnns, False):
        return _f(id, "skip", title,
                  ["no libcudnn on the loader path (see gpu-libraries)"] + _off_path(facts.gpu.cudnns))
    statuses, ev, fixes = [], [], []
    for b in builds:
        need = b.cudnn
        cands = [f for f in _loadable(facts.gpu.cudnns, b.pip_first) if f.major == need.major]
        if not cands:
            others = ", ".join(_lib(f) for f in _loadable(facts.gpu.cudnns, b.pip_first))
            statuses.append("error")
            ev.append(f"{b.label} needs {need.describe()}: libcudnn.so.{need.major} not found; found {others}")
            fixes.append(_reinstall(facts, b))
            continue
        pick = cands[0]
        if pick.status not in ("ok", "not_probed"):
            statuses.append("error")
            ev.append(f"{b.label} loads {_lib(pick)}: it fails (a cuDNN 9 missing libcudnn_graph or another "
                      "sub-library aborts in cudnnGetVersion)")
            fixes.append(_reinstall(facts, b))
            continue
        good = need.accepts(pick.version)
        if good is False:
            statuses.append("error")
            ev.append(f"{b.label} needs {need.describe()}; it loads {_lib(pick)} "
                      '("Loaded runtime CuDNN library ... but source was compiled with ...")')
            fixes.append(_reinstall(facts, b))
        else:
            statuses.append("ok" if good else "warn")
            ev.append(f"{b.label} needs {need.describe()}; it loads {_lib(pick)}"
                      + ("" if good else ": version unknown"))
    st = _worst(statuses)
    titles = {"ok": "Each build finds the cuDNN it needs", "warn": "A cuDNN version could not be read",
              "error": "A build will not find the cuDNN it needs"}
    return _f(id, st, titles[st], ev, fix="; ".join(dict.fromkeys(fixes)) or None,
              link="https://docs.nvidia.com/deeplearning/cudnn/backend/latest/reference/support-matrix.html"
              if st == "error" else None)


def _cudart_soname(cuda: str | None) -> str | None:
    mm = C.major_minor(cuda)
    if mm is None:
        return None
    if mm[0] == 11:
        return "libcudart.so.11.0"
    return f"libcudart.so.{mm[0]}" if mm[0] >= 12 else f"libcudart.so.{mm[0]}.{mm[1]}"


def check_libraries(facts: Facts) -> Finding:
    id = "gpu-libraries"
    title = TITLES[id]
    builds, g = _builds(facts), facts.gpu
    skip = _needs_builds_and_driver(id, title, builds, facts)
    if skip:
        return skip
    statuses, ev, fixes, bad = [], [], [], []
    for b in builds:
        missing = []
        want = _cudart_soname(b.cuda)
        rt = [f for f in _loadable(g.cuda_runtimes, b.pip_first) if f.soname == want]
        if b.framework == "torch" and b.imported:
            pass  # libtorch_cuda links the runtime: the import that worked has loaded it
        elif want and not rt:
            missing.append(want)
        elif rt:
            ev.append(f"{b.label}: {_lib(rt[0])}")
        if b.cudnn is not None:
            dnn = _loadable(g.cudnns, b.pip_first)
            if not dnn:
                missing.append(f"libcudnn.so.{b.cudnn.major}")
        if missing:
            statuses.append("error")
            bad.append(b.framework)
            ev.append(f"{b.label}: {', '.join(missing)} not found on the loader path "
                      + ('(TensorFlow: "Cannot dlopen some GPU libraries. Skipping registering GPU devices")'
                         if b.framework == "tensorflow" else "(cannot open shared object file)"))
            fixes.append(_reinstall(facts, b))
        else:
            statuses.append("ok")
    ev += _off_path(list(g.cuda_runtimes) + list(g.cudnns))
    st = _worst(statuses)
    return _f(id, st, "The CUDA libraries the builds load are present" if st == "ok"
              else "CUDA libraries are missing: the GPU will not be used", ev,
              fix="; ".join(dict.fromkeys(fixes)) or None, link=INSTALL_DOC[bad[0]] if bad else None)


def check_ld_library_path(facts: Facts) -> Finding:
    id = "gpu-ld-library-path"
    title = TITLES[id]
    env = _env(facts)
    llp = env.get("LD_LIBRARY_PATH")
    if not llp:
        return _f(id, "skip", title, ["LD_LIBRARY_PATH is not set"])
    g = facts.gpu
    statuses, ev, bad_dirs = [], [f"LD_LIBRARY_PATH={llp}"], []
    for files in (g.cuda_runtimes, g.cudnns):
        pip = {f.soname: f for f in files if f.source == "pip"}
        for f in files:
            p = pip.get(f.soname)
            if f.source != "ld_library_path" or p is None or p.realpath == f.realpath:
                continue
            older = (C.version(f.version) or C.version("0")) < (C.version(p.version) or C.version("0"))
            same = f.version is not None and f.version == p.version
            statuses.append("ok" if same else "error" if older else "warn")
            ev.append(f"{f.soname}: {f.path} ({f.version or '?'}) is loaded before the pip wheel's {p.path} "
                      f"({p.version or '?'})")
            if not same:
                bad_dirs.append(f.path.rsplit("/", 1)[0])
    if not statuses:
        return _f(id, "ok", "LD_LIBRARY_PATH shadows no pip CUDA wheel", ev)
    st = _worst(statuses)
    keep = [d for d in llp.split(":") if d and d not in bad_dirs]
    fix = ("unset LD_LIBRARY_PATH" if not keep else f"export LD_LIBRARY_PATH={':'.join(keep)}") if bad_dirs else None
    return _f(id, st, "LD_LIBRARY_PATH puts a system CUDA library before the pip wheels" if st != "ok"
              else "LD_LIBRARY_PATH repeats the pip wheels' versions", ev, fix=fix,
              link="https://github.com/tensorflow/tensorflow/issues/60750" if st != "ok" else None)


def check_visible_devices(facts: Facts) -> Finding:
    id = "gpu-visible-devices"
    title = TITLES[id]
    env = _env(facts)
    value = env.get("CUDA_VISIBLE_DEVICES")
    gpus = facts.gpu.gpus
    if value is None:
        if not gpus:
            return _f(id, "skip", title, ["CUDA_VISIBLE_DEVICES is not set and no GPU was found"])
        return _f(id, "ok", f"CUDA_VISIBLE_DEVICES is not set: all {len(gpus)} GPU(s) visible")
    ev = [f"CUDA_VISIBLE_DEVICES={value!r}"]
    parsed = C.parse_visible_devices(value)
    entries = value.split(",")
    why = None
    if value.strip() == "":
        why = "it is the empty string"
    elif not parsed and len(set(e.strip() for e in entries)) < len(entries):
        why = "an entry is repeated, which makes CUDA see no GPU at all"
    elif not parsed:
        why = (f"its first entry {entries[0]!r} is not a GPU ordinal or UUID "
               "(a negative or unreadable entry ends the list)")
    count = len(gpus) if gpus else None
    seen = C.visible_ordinals(value, count=count, uuids=[d.uuid or "" for d in gpus])
    every = ",".join(str(d.index) for d in gpus)
    all_fix = "unset CUDA_VISIBLE_DEVICES" + (f"  # or: export CUDA_VISIBLE_DEVICES={every}" if gpus else "")
    if why:
        ev.append(why)
        if not gpus:
            return _f(id, "warn", "CUDA_VISIBLE_DEVICES hides every GPU", ev + ["no GPU found on this machine"],
                      fix=all_fix, link=CUDA_ENV_DOC)
        return _f(id, "error", f"CUDA_VISIBLE_DEVICES hides all {len(gpus)} GPU(s): the frameworks run on the CPU",
                  ev, fix=all_fix, link=CUDA_ENV_DOC)
    if not gpus:
        return _f(id, "skip", title, ev + ["no GPU found to compare with"])
    if seen is None:
        return _f(id, "ok", "CUDA_VISIBLE_DEVICES lists MIG instances or UUIDs kbackend cannot match", ev)
    if not seen:
        ev.append(f"none of its entries names one of the {len(gpus)} GPU(s) (ordinals 0-{len(gpus) - 1})")
        return _f(id, "error", "CUDA_VISIBLE_DEVICES hides every GPU", ev, fix=all_fix, link=CUDA_ENV_DOC)
    if len(seen) < len([e for e in entries if e.strip()]):
        ev.append(f"only GPU(s) {', '.join(map(str, seen))} are visible: the list ends at the first entry that "
                  "is not a present GPU")
        return _f(id, "warn", "CUDA_VISIBLE_DEVICES names GPUs that are ignored", ev,
                  fix=f"export CUDA_VISIBLE_DEVICES={','.join(map(str, seen))}", link=CUDA_ENV_DOC)
    return _f(id, "ok", f"CUDA_VISIBLE_DEVICES shows GPU(s) {', '.join(map(str, seen))}", ev)


def _gpu_frameworks(facts: Facts) -> list[str]:
    return [b.framework for b in _builds(facts)]


def check_jax_preallocate(facts: Facts) -> Finding:
    id = "gpu-jax-preallocate"
    title = TITLES[id]
    fws = _gpu_frameworks(facts)
    if "jax" not in fws:
        return _f(id, "skip", title, ["no CUDA build of jax is installed"])
    others = [f for f in fws if f != "jax"]
    if not others:
        return _f(id, "skip", title, ["jax is the only GPU framework installed"])
    if not facts.gpu.has_driver:
        return _f(id, "skip", title, ["no working NVIDIA driver: nothing is preallocated"])
    env = _env(facts)
    pre, fraction = C.jax_preallocates(env)
    ev = [f"CUDA builds installed: jax, {', '.join(others)}"]
    raw = env.get("XLA_PYTHON_CLIENT_PREALLOCATE")
    if raw is not None:
        ev.append(f"XLA_PYTHON_CLIENT_PREALLOCATE={raw!r}" + ("" if not pre else
                  " (read as true: only false, False and 0 turn it off)"))
    if pre:
        return _f(id, "warn", f"JAX takes {float(fraction):.0%} of each GPU's memory at its first use; "
                              f"{' and '.join(others)} in the same process run out of memory", ev,
                  fix="export XLA_PYTHON_CLIENT_PREALLOCATE=false", link=JAX_MEMORY_DOC)
    return _f(id, "ok", "JAX does not preallocate GPU memory", ev)


def check_version_mismatch(facts: Facts) -> Finding:
    id = "gpu-version-mismatch"
    title = TITLES[id]
    g = facts.gpu
    ev = []
    if g.nvidia_smi.status == "version_mismatch":
        ev.append(f"nvidia-smi: {g.nvidia_smi.error}")
        if g.nvidia_smi.nvml_library_version:
            ev.append(f"NVML library version: {g.nvidia_smi.nvml_library_version}")
    if g.nvml.error and "mismatch" in g.nvml.error.lower():
        ev.append(f"NVML: {g.nvml.error}")
    if g.libcuda.error_code == CU_SYSTEM_DRIVER_MISMATCH:
        ev.append(f"libcuda ({g.libcuda.path}): cuInit failed with {g.libcuda.error}")
    lib = g.nvml.library_version or g.nvidia_smi.nvml_library_version
    if g.kernel_module_version and lib and g.kernel_module_version != lib:
        ev.append(f"kernel module {g.kernel_module_version} (/proc/driver/nvidia/version) != "
                  f"libnvidia-ml {lib}")
    if ev:
        if g.kernel_module_version:
            ev.append(f"running kernel module: {g.kernel_module_version}")
        return _f(id, "error", "The NVIDIA kernel module and its user-space libraries differ (a driver update "
                               "without a reboot)", list(dict.fromkeys(ev)),
                  fix="reboot; or without a reboot: sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia "
                      "&& sudo modprobe nvidia")
    if not g.driver_seen:
        return _f(id, "skip", title, ["no NVIDIA driver found"])
    return _f(id, "ok", "The driver's kernel module and libraries match",
              [f"kernel module {g.kernel_module_version or '?'}, libnvidia-ml {lib or '?'}"])


def check_stub_libcuda(facts: Facts) -> Finding:
    id = "gpu-stub-libcuda"
    title = TITLES[id]
    lc = facts.gpu.libcuda
    if not lc.path:
        stubs = [f.path for f in lc.candidates]
        return _f(id, "skip", title, ["libcuda.so.1 is not on the loader path"]
                  + [f"{p} is not on the loader path" for p in stubs])
    if lc.is_stub:
        ev = [f"libcuda.so.1 resolves to {lc.path}" + (f": {lc.error}" if lc.error else "")]
        env = _env(facts)
        llp = env.get("LD_LIBRARY_PATH", "")
        stub_dir = lc.path.rsplit("/", 1)[0]
        keep = [d for d in llp.split(":") if d and d.rstrip("/") != stub_dir]
        fix = (f"export LD_LIBRARY_PATH={':'.join(keep)}" if keep else "unset LD_LIBRARY_PATH") \
            if stub_dir in [d.rstrip("/") for d in llp.split(":")] else \
            f"remove {stub_dir} from the loader path (LD_LIBRARY_PATH, /etc/ld.so.conf.d) and run sudo ldconfig"
        return _f(id, "error", "libcuda.so.1 is the CUDA toolkit's stub: every CUDA call fails with "
                               "CUDA_ERROR_STUB_LIBRARY", ev, fix=fix)
    return _f(id, "ok", f"libcuda.so.1 is the driver's ({lc.path})",
              [f"{lc.path}: {lc.status}" + (f", CUDA {lc.version}" if lc.version else "")])


CHECKS: list[Check] = [
    Check("gpu-driver", TITLES["gpu-driver"], check_driver, ("gpu", "backends")),
    Check("gpu-driver-cuda", TITLES["gpu-driver-cuda"], check_driver_cuda, ("gpu", "backends")),
    Check("gpu-compute-capability", TITLES["gpu-compute-capability"], check_compute_capability, ("gpu", "backends")),
    Check("gpu-cudnn", TITLES["gpu-cudnn"], check_cudnn, ("gpu", "backends")),
    Check("gpu-libraries", TITLES["gpu-libraries"], check_libraries, ("gpu", "backends")),
    Check("gpu-ld-library-path", TITLES["gpu-ld-library-path"], check_ld_library_path, ("gpu",)),
    Check("gpu-visible-devices", TITLES["gpu-visible-devices"], check_visible_devices, ("gpu",)),
    Check("gpu-jax-preallocate", TITLES["gpu-jax-preallocate"], check_jax_preallocate, ("gpu", "backends")),
    Check("gpu-version-mismatch", TITLES["gpu-version-mismatch"], check_version_mismatch, ("gpu",)),
    Check("gpu-stub-libcuda", TITLES["gpu-stub-libcuda"], check_stub_libcuda, ("gpu",)),
]


# -- a GPU present, a backend on the CPU ------------------------------------------------------------

#: the Keras backends with CUDA builds, as frameworks.
GPU_BACKENDS = ("jax", "torch", "tensorflow")
WSL2_DOC = "https://www.tensorflow.org/install/pip#windows-wsl2"
TITLES["gpu-backend-on-cpu"] = "Backends on the CPU although an NVIDIA GPU is present"


def _installed_dist(facts: Facts, framework: str) -> tuple[str | None, str | None]:
    from kbackend import backends as B

    for d in B.REGISTRY[framework].dists:
        if d in facts.installed:
            return d, facts.installed[d]
    return None, None


def _cpu_reason(facts: Facts, framework: str, builds: dict[str, C.Build]) -> str | None:
    """Why `framework` runs on the CPU here (a CPU build, or a CUDA build whose probe saw no GPU), or None."""
    dist, ver = _installed_dist(facts, framework)
    bf = facts.backend(framework)
    if framework not in builds:
        w = next((w for w in facts.gpu.wheels if w.framework == framework), None)
        if w is not None and w.dist != dist:  # jax: the plugin decides, jaxlib is always a CPU build
            dist, ver = w.dist, w.version
        if framework == "jax":
            return f"{dist} {ver} is a CPU build: no jax-cuda12/13 plugin is installed"
        if bf is not None and bf.status == "ok" and not bf.built_cuda:
            return f"{dist} {ver} is a CPU build: its import reports no CUDA"
        return f"{dist} {ver} is a CPU build" + (" (its version tag)" if "+cpu" in (ver or "") else "")
    if bf is not None and bf.status == "ok" and not bf.gpu_devices:
        return (f"{builds[framework].label} is a CUDA build, but its probe lists no GPU (devices: "
                f"{', '.join(bf.devices) or 'none'}): see the other GPU checks")
    return None


def _gpu_install(facts: Facts, framework: str, dist: str | None) -> tuple[str | None, str | None]:
    """(command that installs the GPU build of `framework` for this driver and GPU, why there is none)."""
    from kbackend.install import NO_GPU, gpu_from_facts, install_command, pip_command

    py, kv = facts.interpreter.python, facts.keras.version
    plat = facts.system.platform
    if not plat.startswith("linux"):
        if framework in ("tensorflow", "jax"):
            what = "TensorFlow 2.11 and later have" if framework == "tensorflow" else "jax has"
            return None, (f"{what} no CUDA build for native {plat}: run it in WSL2, where the Linux "
                          "command applies")
    hint = gpu_from_facts(facts.gpu)
    cmd = install_command(framework, py, keras_version=kv, gpu=hint, platform=plat,
                          force=framework == "torch", upgrade=framework == "jax")
    cpu = install_command(framework, py, keras_version=kv, gpu=NO_GPU, platform=plat,
                          force=framework == "torch", upgrade=framework == "jax")
    if cmd == cpu:
        cc = f" and compute capability {hint.cc}" if hint.cc else ""
        return None, (f"no {framework} CUDA build runs with this driver (CUDA {hint.cuda or '?'}){cc}: "
                      f"upgrade the NVIDIA driver ({DRIVER_DOWNLOAD})")
    if framework == "tensorflow" and dist and dist != "tensorflow":
        # tensorflow-cpu and tensorflow[and-cuda] both install the `tensorflow` package: remove the CPU one first
        cmd = pip_command(py).replace(" install", " uninstall -y") + f" {dist} && {cmd}"
    return cmd, None


def check_backend_on_cpu(facts: Facts) -> Finding:
    id = "gpu-backend-on-cpu"
    title = TITLES[id]
    g = facts.gpu
    if not (g.has_driver and g.gpus):
        return _f(id, "skip", title, ["no NVIDIA GPU answers (nvidia-smi, NVML, libcuda)"])
    present = [fw for fw in GPU_BACKENDS if _installed_dist(facts, fw)[0]]
    if not present:
        return _f(id, "skip", title, ["none of jax, torch, tensorflow is installed"])
    name, origin = facts.configured_backend()
    present.sort(key=lambda fw: fw != name)  # the configured backend's finding and command first
    builds = {b.framework: b for b in _builds(facts)}
    gpus = ", ".join(f"GPU {d.index} {d.name} (cc {d.compute_capability or '?'})" for d in g.gpus)
    ev = [f"{_driver_line(facts)}; {gpus}"]
    statuses, fixes, links = [], [], []
    for fw in present:
        why = _cpu_reason(facts, fw, builds)
        if why is None:
            statuses.append("ok")
            ev.append(f"{fw}: {builds[fw].label if fw in builds else fw} is a CUDA build")
            continue
        role = f"the configured backend, from {origin}" if fw == name else "installed, not configured"
        cmd, none = _gpu_install(facts, fw, _installed_dist(facts, fw)[0])
        ev.append(f"{fw} ({role}): {why}" + (f"; {none}" if none else ""))
        statuses.append("error" if fw == name and cmd else "warn")
        if cmd:
            fixes.append(cmd)
        links.append(WSL2_DOC if none and "WSL2" in none else INSTALL_DOC[fw])
    st = _worst(statuses)
    verdict = {"ok": "Every installed GPU framework is a CUDA build",
               "warn": "An installed backend would run on the CPU although a GPU is present",
               "error": f"The configured backend {name} would run on the CPU although a GPU is present"}[st]
    return _f(id, st, verdict, ev, fix=" && ".join(dict.fromkeys(fixes)) or None,
              link=links[0] if links and st != "ok" else None)


CHECKS.append(Check("gpu-backend-on-cpu", TITLES["gpu-backend-on-cpu"], check_backend_on_cpu, ("gpu",)))


# -- frameworks sharing a process; their nvidia-* pins ---------------------------------------------

TITLES["gpu-coload"] = "CUDA libraries of GPU frameworks in one process"
TITLES["gpu-wheel-pins"] = "nvidia-* wheels against each framework's pins"


def check_coload(facts: Facts) -> Finding:
    from kbackend.gpu.coload import verdict

    id = "gpu-coload"
    c = facts.coload
    if c.status == "not_run":
        return _f(id, "skip", TITLES[id], [c.why_not or "not run"])
    if c.status != "ok":
        return _f(id, "error", "The child that imports the GPU frameworks together failed",
                  [f"{c.status}: {c.error or 'no detail'}"] + [f"{s['name']}: {s.get('error') or 'ok'}" for s in c.steps],
                  fix="kbackend doctor --refresh")
    st, ev = verdict(c)
    order = " then ".join(s["name"] for s in c.steps)
    first = next((s["name"] for s in c.steps), "")
    words = {"ok": f"Imported in one process ({order}), each framework gets CUDA libraries it was built for",
             "warn": f"Imported in one process ({order}), the frameworks map separate copies of a CUDA library",
             "error": f"Imported in one process ({order}), a framework gets a CUDA library it was not built for"}
    fix = None
    if st != "ok":
        fix = (f"install builds that need the same cuDNN and CUDA (see gpu-wheel-pins), or import {first.split('+')[-1]} "
               "alone: one framework per process")
    return _f(id, st, words[st], ev, fix=fix, link="https://github.com/jax-ml/jax/issues/18032" if st != "ok" else None)


def check_wheel_pins(facts: Facts) -> Finding:
    from kbackend.gpu.coload import pin_conflicts, pinned_names

    id = "gpu-wheel-pins"
    wheels = [w for w in facts.gpu.wheels if w.requires]
    if not wheels:
        return _f(id, "skip", TITLES[id], ["no installed framework requires nvidia-* wheels"])
    names = pinned_names(wheels)
    have = sorted(n for n in names if n in facts.installed)
    if not have:
        return _f(id, "skip", TITLES[id], [f"none of the {len(names)} nvidia-* wheels the frameworks name (some "
                                           "behind extras such as [and-cuda]) is installed"])
    bad = pin_conflicts(wheels, facts.installed)
    if not bad:
        return _f(id, "ok", f"The installed nvidia-* wheels meet every framework's pins ({len(have)} wheels)")
    name, _ = facts.configured_backend()
    ev, status = [], "warn"
    for b in bad:
        pins = "; ".join(f"{who} wants {spec}" for who, spec in b["pins"])
        have = f"{b['installed']} installed" if b["installed"] else "not installed"
        ev.append(f"{b['dist']} ({have}): {pins}")
        for who in b["broken"]:
            ev.append(f"{b['dist']} {b['installed']} breaks the pin of {who}")
            if who.split(" ")[0].startswith(str(name)) or (name == "jax" and who.startswith("jax")):
                status = "error"
        if not b["broken"]:
            ev.append(f"no single version of {b['dist']} meets all of them: pip can satisfy only one framework")
    fix = "use one environment per GPU framework, or versions of them that pin the same nvidia-* wheels"
    return _f(id, status, "The frameworks' pins on nvidia-* wheels conflict", ev, fix=fix,
              link="https://github.com/apple/axlearn/issues/858")


CHECKS.append(Check("gpu-coload", TITLES["gpu-coload"], check_coload, ("gpu", "coload")))
CHECKS.append(Check("gpu-wheel-pins", TITLES["gpu-wheel-pins"], check_wheel_pins, ("gpu",)))


# -- the toolchain XLA compiles with ---------------------------------------------------------------

TITLES["gpu-ptxas"] = "XLA's ptxas and libdevice against the driver"
#: ptxas of CUDA 12.x before 12.6.3 (nvidia-cuda-nvcc 12.6.85) miscompiles on Hopper and later (openxla/xla#19927).
PTXAS_HOPPER_FIX = "12.6.85"


def check_ptxas(facts: Facts) -> Finding:
    id = "gpu-ptxas"
    title = TITLES[id]
    xla = [b for b in _builds(facts) if b.framework in ("jax", "tensorflow")]
    skip = _needs_builds_and_driver(id, title, xla, facts)
    if skip:
        return skip if xla else _f(id, "skip", title, ["no CUDA build of jax or TensorFlow (XLA) is installed"])
    t = facts.gpu.toolchain
    statuses, ev, fixes = [], [], []
    drv = facts.gpu.driver_cuda_version or C.cuda_for_driver(facts.gpu.driver_version)
    if t.xla_data_dir is not None:
        d = t.xla_data_dir
        has = [x.path for x in t.libdevice if x.source == "xla_flags"]
        ev.append(f"XLA_FLAGS --xla_gpu_cuda_data_dir={d}")
        if not has:
            statuses.append("error")
            ev.append(f"{d} holds no nvvm/libdevice/libdevice.10.bc: XLA fails with \"libdevice not found\"")
            good = next((x.path for x in t.libdevice if x.source != "xla_flags"), None)
            fixes.append("export XLA_FLAGS=--xla_gpu_cuda_data_dir=" + good.rsplit("/nvvm/", 1)[0] if good
                         else "remove --xla_gpu_cuda_data_dir from XLA_FLAGS")
    elif not t.libdevice:
        statuses.append("warn")
        ev.append("no libdevice.10.bc found (nvidia-cuda-nvcc wheel, CUDA_HOME, /usr/local/cuda): XLA may fail with "
                  "\"libdevice not found\"")
        fixes.append(_reinstall(facts, xla[0]))
    else:
        ev.append(f"libdevice: {t.libdevice[0].path} ({t.libdevice[0].source})")
    if not t.ptxas:
        statuses.append("warn")
        ev.append("no ptxas found: XLA falls back to the driver's PTX compiler (slower, and older than the builds')")
        fixes.append(_reinstall(facts, xla[0]))
    else:
        first = t.ptxas[0]
        ev += [f"ptxas {p.version or '?'}: {p.path} ({p.source})" + (f" ({p.error})" if p.error else "") for p in t.ptxas]
        pv, dv = C.major_minor(first.version), C.major_minor(drv)
        if pv and dv and pv[0] > dv[0]:
            statuses.append("error")
            ev.append(f"the first ptxas ({first.version}) is for CUDA {pv[0]}, the driver supports CUDA {drv}: its "
                      "code does not load")
            fixes.append(f"upgrade the NVIDIA driver ({DRIVER_DOWNLOAD})")
        elif pv and dv and pv > dv:
            statuses.append("warn")
            ev.append(f"the first ptxas ({first.version}) is newer than the driver's CUDA {drv}: \"XLA is disabling "
                      "parallel compilation, which may slow down compilation\"")
            fixes.append(f"upgrade the NVIDIA driver ({DRIVER_DOWNLOAD}), or: "
                         + _pip(facts, f'"nvidia-cuda-nvcc-cu{dv[0]}~={dv[0]}.{dv[1]}.0"'))
        ccs = [d.compute_capability for d in facts.gpu.gpus if C.major_minor(d.compute_capability)]
        if (pv and pv[0] == 12 and C.version(first.version) < C.version(PTXAS_HOPPER_FIX)
                and any(C.major_minor(c) >= (9, 0) for c in ccs)):
            statuses.append("warn")
            ev.append(f"ptxas {first.version} is older than CUDA 12.6.3 (12.6.85): on compute capability 9.0 and "
                      "later it miscompiles some XLA kernels (openxla/xla#19927)")
            fixes.append(_pip(facts, '-U "nvidia-cuda-nvcc-cu12>=12.6.85"'))
        if len({p.version for p in t.ptxas if p.version}) > 1 and first.source != "pip" and any(
                p.source == "pip" for p in t.ptxas):
            ev.append("a system ptxas comes before the nvidia-cuda-nvcc wheel's (jax#25718)")
        statuses.append("ok")
    st = _worst(statuses)
    verdicts = {"ok": "XLA finds ptxas and libdevice that suit the driver",
                "warn": "XLA's ptxas or libdevice does not suit this driver or GPU",
                "error": "XLA cannot compile for the GPU with the toolchain it finds"}
    return _f(id, st, verdicts[st], ev, fix="; ".join(dict.fromkeys(fixes)) or None,
              link="https://github.com/jax-ml/jax/issues/19821" if st != "ok" else None)


CHECKS.append(Check("gpu-ptxas", TITLES["gpu-ptxas"], check_ptxas, ("gpu",)))
