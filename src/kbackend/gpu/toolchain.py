"""ptxas and libdevice as XLA finds them: XLA_FLAGS' --xla_gpu_cuda_data_dir, the pip nvidia-cuda-nvcc
wheel, PATH, CUDA_HOME, /usr/local/cuda*. `ptxas --version` is asked only where a driver is (jax#19821:
a ptxas newer than the driver slows XLA's compilation; jax#25718: a system ptxas picked over the wheel's).

>>> parse_ptxas_version("Cuda compilation tools, release 12.4, V12.4.131")
'12.4.131'
>>> xla_data_dir("--xla_gpu_autotune_level=0 --xla_gpu_cuda_data_dir=/opt/cuda-12.4")
'/opt/cuda-12.4'
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence

from kbackend.gpu.model import Toolchain, ToolFile

LIBDEVICE = os.path.join("nvvm", "libdevice", "libdevice.10.bc")


def parse_ptxas_version(text: str) -> str | None:
    m = re.search(r"release\s+\d+\.\d+,\s*V(\d+\.\d+(?:\.\d+)?)", text) or re.search(r"release\s+(\d+\.\d+)", text)
    return m.group(1) if m else None


def xla_data_dir(flags: str | None) -> str | None:
    if not flags:
        return None
    try:
        words = shlex.split(flags)
    except ValueError:
        words = flags.split()
    found = None
    for w in words:
        if w.startswith("--xla_gpu_cuda_data_dir="):
            found = w.split("=", 1)[1]
    return found


def _roots(env: Mapping[str, str], sys_path: Sequence[str], usr_local: str) -> list[tuple[str, str]]:
    """(CUDA folder, source) in XLA's order of search."""
    out: list[tuple[str, str]] = []
    d = xla_data_dir(env.get("XLA_FLAGS"))
    if d:
        out.append((d, "xla_flags"))
    for sp in sys_path:
        for folder in sorted(glob.glob(os.path.join(sp, "nvidia", "cuda_nvcc"))) + sorted(
                glob.glob(os.path.join(sp, "nvidia", "cu1[0-9]"))):
            out.append((folder, "pip"))
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if env.get(var):
            out.append((env[var], "cuda_home"))
    for folder in [os.path.join(usr_local, "cuda")] + sorted(glob.glob(os.path.join(usr_local, "cuda-*")), reverse=True):
        out.append((folder, "usr_local"))
    return out


def _version(path: str, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    try:
        p = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, env=dict(env),
                           stdin=subprocess.DEVNULL, errors="replace")
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"cannot run: {e}"
    v = parse_ptxas_version(p.stdout + p.stderr)
    return v, None if v else f"no version in its output (exit status {p.returncode})"


def toolchain(env: Mapping[str, str], sys_path: Sequence[str], usr_local: str = "/usr/local", *,
              versions: bool = True) -> Toolchain:
    """Every ptxas and libdevice found; `versions`: run `ptxas --version` (where a driver is)."""
    ptxas: list[ToolFile] = []
    libdevice: list[ToolFile] = []
    seen: set[str] = set()

    def add(path: str, source: str, into: list[ToolFile]) -> None:
        real = os.path.realpath(path)
        if real in seen or not os.path.isfile(path):
            return
        seen.add(real)
        into.append(ToolFile(path=path, source=source))

    roots = _roots(env, sys_path, usr_local)
    for folder, source in roots:
        add(os.path.join(folder, "bin", "ptxas"), source, ptxas)
        add(os.path.join(folder, LIBDEVICE), source, libdevice)
    for d in env.get("PATH", "").split(os.pathsep):
        if d:
            add(os.path.join(d, "ptxas"), "path", ptxas)
    order = {"xla_flags": 0, "pip": 1, "path": 2, "cuda_home": 3, "usr_local": 4}
    ptxas.sort(key=lambda t: order[t.source])
    if versions:
        ptxas = [t.model_copy(update=dict(zip(("version", "error"), _version(t.path, env)))) for t in ptxas[:6]] + ptxas[6:]
    return Toolchain(ptxas=ptxas, libdevice=libdevice, xla_data_dir=xla_data_dir(env.get("XLA_FLAGS")))
