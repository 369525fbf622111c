"""Install advice: the one place that words a command installing a backend, Keras or a package.

Every command that tells a user to install something (switch, check, doctor,
verify, bench, run, shell-env, envs, pins) asks `install_command`, so that the
same situation gets the same command everywhere. The command

- runs pip through the target interpreter (`/env/bin/python -m pip install ...`;
  conda environments too: pip of that environment's Python), quoted for a POSIX shell;
- pins the minimum version the installed Keras needs (`backends.REGISTRY`);
- picks the build for the machine: CPU wheels where no NVIDIA GPU is present
  (torch's CPU index, `tensorflow-cpu`, plain `jax`), CUDA builds where one is
  (`jax[cuda12]`/`jax[cuda13]`, torch's cu126/cu128/cu130 index, `tensorflow[and-cuda]`),
  by the newest CUDA the driver supports.

GPU presence is read cheaply and only when a command is worded
(`/proc/driver/nvidia`, else the plain `nvidia-smi` header; no framework import),
once per process; doctor passes what its GPU probe already saw (`gpu_from_facts`).

>>> install_command("torch", "/env/bin/python", keras_version="3.15.1", gpu=NO_GPU, platform="linux")
"/env/bin/python -m pip install 'torch>=2.1.0' --index-url https://download.pytorch.org/whl/cpu"
>>> install_command("jax", "/env/bin/python", keras_version="3.15.1", gpu=GpuHint(True, "12.2"), platform="linux")
"/env/bin/python -m pip install 'jax[cuda12]>=0.4.20'"
>>> install_command("tensorflow", "/my env/bin/python", keras_version="3.15.1", gpu=NO_GPU, platform="linux")
"'/my env/bin/python' -m pip install 'tensorflow-cpu>=2.16.1'"
>>> install_command("keras", "python")
"python -m pip install 'keras>=3'"
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from functools import lru_cache
from typing import Any

from kbackend import backends as B
from kbackend._record import record

__all__ = ["GpuHint", "NO_GPU", "detect_gpu", "gpu_from_facts", "install_command", "pip_command", "requirements",
           "clear_cache"]

TORCH_INDEX = "https://download.pytorch.org/whl/"
#: /proc/driver/nvidia/gpus holds one folder per GPU the loaded driver drives.
PROC_GPUS = "/proc/driver/nvidia/gpus"
#: its first line names the kernel module's version (the driver's).
PROC_VERSION = "/proc/driver/nvidia/version"
#: nvidia-smi on WSL2 is not on PATH by default.
WSL_SMI = "/usr/lib/wsl/lib/nvidia-smi"
SMI_TIMEOUT = 5.0
#: the Keras 3 that the advice installs when Keras is missing.
KERAS3 = ">=3"
#: the backends that have CPU and CUDA builds (the GPU is looked at for these only).
GPU_AWARE = ("tensorflow", "jax", "torch")


@record
class GpuHint:
    """Is an NVIDIA GPU present, and the newest CUDA its driver supports ("12.2", None: unknown)."""

    present: bool
    cuda: str | None = None
    #: where it was seen: /proc/driver/nvidia/gpus, nvidia-smi, doctor's GPU probe, or "" (nowhere).
    source: str = ""
    #: the lowest compute capability among the GPUs ("7.0"), None when unknown (the cheap detection
    #: reads none): builds for a newer CUDA drop old GPUs (CUDA 13 and torch's cu128 need 7.5).
    cc: str | None = None


NO_GPU = GpuHint(False)


# ----------------------------------------------------------------------------- the GPU, cheaply


def detect_gpu() -> GpuHint:
    """The NVIDIA GPU of this machine: /proc/driver/nvidia first, else nvidia-smi on PATH (once per process)."""
    return _detect(os.environ.get("PATH", os.defpath), PROC_GPUS, PROC_VERSION, WSL_SMI)


def clear_cache() -> None:
    _detect.cache_clear()


@lru_cache(maxsize=8)
def _detect(path: str, proc_gpus: str, proc_version: str, wsl_smi: str) -> GpuHint:
    try:
        gpus = os.listdir(proc_gpus)
    except OSError:
        gpus = []
    if gpus:  # the driver's tables are read only where there is a GPU (they cost ~12 ms to import)
        from kbackend.gpu import compat as C

        driver = _proc_driver(proc_version)
        return GpuHint(True, C.cuda_for_driver(driver), proc_gpus)
    smi = shutil.which("nvidia-smi", path=path) or (wsl_smi if os.access(wsl_smi, os.X_OK) else None)
    if smi is None:
        return NO_GPU
    from kbackend.gpu import smi as S

    try:
        p = subprocess.run([smi], capture_output=True, text=True, timeout=SMI_TIMEOUT, stdin=subprocess.DEVNULL,
                           errors="replace")
    except (OSError, subprocess.SubprocessError):
        return NO_GPU
    out = (p.stdout or "") + (p.stderr or "")
    if S.classify(out, p.returncode)[0] != "ok":
        return NO_GPU
    driver, cuda = S.parse_header(out)
    if driver is None and cuda is None:
        return NO_GPU
    from kbackend.gpu import compat as C

    return GpuHint(True, cuda or C.cuda_for_driver(driver), "nvidia-smi")


def _proc_driver(path: str) -> str | None:
    import re

    try:
        with open(path, errors="replace") as f:
            text = f.read(4096)
    except OSError:
        return None
    m = re.search(r"Kernel Module(?:\s+for\s+\S+)?\s+([0-9]+\.[0-9]+(?:\.[0-9]+)?)", text)
    return m.group(1) if m else None


def gpu_from_facts(gpu: Any) -> GpuHint:
    """The hint from what doctor's GPU probe saw (`kbackend.gpu.model.GpuFacts`); `detect_gpu()` if it failed.

    The same machine gives the same hint as `detect_gpu`: a driver that answers with
    at least one GPU, and the newest CUDA it supports."""
    if not gpu.has_driver:
        return detect_gpu() if gpu.errors and not gpu.driver_seen else NO_GPU
    if not gpu.gpus:
        return NO_GPU
    from kbackend.gpu import compat as C

    ccs = [d.compute_capability for d in gpu.gpus if C.major_minor(d.compute_capability)]
    low = min(ccs, key=C.major_minor) if ccs else None
    return GpuHint(True, gpu.driver_cuda_version or C.cuda_for_driver(gpu.driver_version), "doctor's GPU probe", low)


#: torch's CUDA builds and the compute capabilities they hold kernels for (pytorch/pytorch#172352,
#: RELEASE.md's support matrix): cu126 5.0-9.0; cu128 and cu130 7.5 and later (Blackwell included).
TORCH_CC_FLOOR = {"cu118": (3, 7), "cu126": (5, 0), "cu128": (7, 5), "cu130": (7, 5)}
#: the CUDA major a GPU needs at most, by its compute capability (CUDA 13 drops < 7.5, CUDA 12 < 5.0).
CC_FLOOR_13, CC_FLOOR_12 = (7, 5), (5, 0)


def _cc(gpu: GpuHint) -> tuple[int, int] | None:
    from kbackend.gpu import compat as C

    return C.major_minor(gpu.cc) if gpu.cc else None


# ----------------------------------------------------------------------------- what to install


def _mm(cuda: str | None) -> tuple[int, int]:
    """Major and minor of a CUDA version; an unknown one counts as 12.0 (the builds most drivers run)."""
    from kbackend.gpu import compat as C

    return C.major_minor(cuda) or (12, 0)


def torch_index(gpu: GpuHint) -> str:
    """The torch wheel index for this machine: cpu, or the newest CUDA build the driver runs.

    CUDA 12.x builds run on any 12.x driver (minor-version compatibility), 13.x on 13.x.

    >>> [torch_index(GpuHint(True, c)) for c in ("13.1", "12.9", "12.6", "12.2", "11.4", "10.2")]
    ['cu130', 'cu128', 'cu126', 'cu126', 'cu118', 'cpu']
    >>> torch_index(NO_GPU)
    'cpu'

    The GPU's compute capability rules out the builds without kernels for it (a V100 is 7.0):

    >>> [torch_index(GpuHint(True, "13.0", cc=c)) for c in ("9.0", "7.0", "3.7", "3.0")]
    ['cu130', 'cu126', 'cu118', 'cpu']
    """
    if not gpu.present:
        return "cpu"
    mm = _mm(gpu.cuda)
    tags = [t for t, floor in (("cu130", (13, 0)), ("cu128", (12, 8)), ("cu126", (12, 0)), ("cu118", (11, 0)))
            if mm >= floor]
    cc = _cc(gpu)
    if cc is not None:
        tags = [t for t in tags if cc >= TORCH_CC_FLOOR[t]]
    return tags[0] if tags else "cpu"


def _minimum(name: str, dist: str, keras_version: str | None) -> str | None:
    """The minimum version of `dist` backend `name` needs under this Keras (the newest line's when unknown)."""
    from packaging.version import InvalidVersion, Version

    b = B.get(name)
    if b is None:
        return None
    if keras_version is not None:
        try:
            Version(keras_version)
            return b.minimum_for(keras_version).get(dist)
        except InvalidVersion:
            pass
    found = [m for _k, d, m in b.minimums if d == dist]
    return max(found, key=Version) if found else None


def requirements(what: str, *, keras_version: str | None = None, gpu: GpuHint | None = None,
                 at_least: str | None = None, platform: str | None = None,
                 machine: str | None = None) -> tuple[list[str], list[str]]:
    """(requirements, pip options) that install `what`: a backend name, "keras", or a distribution.

    `gpu` None: looked at (`detect_gpu`) for the backends that have CUDA builds only.
    `at_least`: a specifier for "keras" (">=3.8") replacing the Keras 3 default.

    >>> requirements("numpy", keras_version="3.15.1")
    (['jax>=0.4.20'], [])
    >>> requirements("tensorflow", keras_version="3.1.0", gpu=GpuHint(True, "12.4"), platform="linux")
    (['tensorflow[and-cuda]>=2.15'], [])
    >>> requirements("cntk")
    (['cntk==2.7'], [])
    """
    plat = platform or sys.platform
    linux = plat.startswith("linux")
    if what == "keras":
        return ["keras" + (at_least or KERAS3)], []
    b = B.get(what)
    if b is None:
        return [what], []
    if b.legacy_note:  # theano, cntk, mxnet: the exact versions that last worked
        return b.pip.split(), []
    if what in GPU_AWARE and gpu is None:
        gpu = detect_gpu()
    gpu = gpu or NO_GPU
    if b.installed_with:  # Keras's numpy backend imports jax; it computes on the CPU
        carrier = B.get(b.installed_with)
        name, dist, opts = carrier.name, carrier.pip or carrier.dists[0], []
    elif what == "jax":
        mm, cc = _mm(gpu.cuda), _cc(gpu)
        extra = "[cuda13]" if mm >= (13, 0) else "[cuda12]" if mm >= (12, 0) else ""
        if cc is not None and cc < CC_FLOOR_13 and extra == "[cuda13]":
            extra = "[cuda12]"  # CUDA 13 has no kernels below compute capability 7.5
        if cc is not None and cc < CC_FLOOR_12:
            extra = ""  # no jax CUDA build runs on it
        name, dist, opts = "jax", "jax" + (extra if gpu.present and linux else ""), []
    elif what == "torch":
        tag = torch_index(gpu)
        # PyPI's Linux torch is a CUDA build: without a GPU, the CPU index saves gigabytes of CUDA wheels.
        use_index = tag != "cpu" or linux
        name, dist, opts = "torch", "torch", (["--index-url", TORCH_INDEX + tag] if use_index else [])
    elif what == "tensorflow":
        x86 = (machine or _machine()).lower() in ("x86_64", "amd64")
        cc = _cc(gpu)
        if gpu.present and linux and _mm(gpu.cuda) >= (12, 0) and (cc is None or cc >= CC_FLOOR_12):
            dist = "tensorflow[and-cuda]"
        elif x86 and (linux or plat == "win32"):
            dist = "tensorflow-cpu"
        else:
            dist = "tensorflow"
        name, opts = "tensorflow", []
    else:
        name, dist, opts = what, b.pip or b.dists[0], []
    minimum = _minimum(b.install_name, name, keras_version)
    return [dist + (f">={minimum}" if minimum else "")], opts


def _machine() -> str:
    import platform

    return platform.machine()


def lower_bound(spec: str) -> str | None:
    """The lower bound of a specifier (">=3.8" of ">=3.8,<4"), to upgrade to what a backend needs.

    >>> lower_bound(">=3.8"), lower_bound("<2.4,>=0.1"), lower_bound("<3")
    ('>=3.8', '>=0.1', None)
    """
    return next((c.strip() for c in spec.split(",") if c.strip().startswith(">=")), None)


def install_command(what: str, python: str, *, keras_version: str | None = None, gpu: GpuHint | None = None,
                    upgrade: bool = False, force: bool = False, at_least: str | None = None,
                    platform: str | None = None) -> str:
    """The shell command that installs `what` (a backend name, "keras" or a distribution) for `python`."""
    reqs, opts = requirements(what, keras_version=keras_version, gpu=gpu, at_least=at_least, platform=platform)
    flags = (["-U"] if upgrade else []) + (["--force-reinstall"] if force else [])
    return pip_command(python, *flags, *reqs, *opts)


def pip_command(python: str, *args: str) -> str:
    """`python -m pip install ARGS`, each word quoted for a POSIX shell.

    >>> pip_command("/opt/my env/bin/python", "-U", "h5py", "tf_keras~=2.16.0")
    "'/opt/my env/bin/python' -m pip install -U h5py 'tf_keras~=2.16.0'"
    """
    return " ".join(shlex.quote(a) for a in (python or "python", "-m", "pip", "install", *args))
