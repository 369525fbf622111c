"""The CUDA builds of frameworks installed in a target, read from their metadata (no import).

A framework's `METADATA` names the nvidia-* wheels its build needs
(`nvidia-cuda-runtime-cu12==12.4.127`, TensorFlow's `[and-cuda]` extra, the jax
plugin's `[with-cuda]`); `kbackend.gpu.compat.wheel_cuda` turns that, the local
version (`+cu124`, `+cpu`) and the release tables into a `WheelCuda`.
"""

from __future__ import annotations

import os

from kbackend.envs.installed import Dist
from kbackend.gpu.compat import JAX_PLUGINS, TF_CPU_DISTS, TF_CUDA_DISTS, wheel_cuda
from kbackend.gpu.model import WheelCuda

FRAMEWORK_DISTS: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "tensorflow": TF_CUDA_DISTS + TF_CPU_DISTS,
    "jax": JAX_PLUGINS + ("jaxlib",),
}


def requires_dist(meta: str) -> list[str]:
    """The Requires-Dist headers of a dist-info's METADATA (or an egg-info's PKG-INFO)."""
    for name in ("METADATA", "PKG-INFO"):
        path = os.path.join(meta, name)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                out = []
                for line in f:
                    if not line.strip():
                        break  # the headers end at the first blank line; the long description follows
                    if line.lower().startswith("requires-dist:"):
                        out.append(line.split(":", 1)[1].strip())
                return out
        except OSError:
            continue
    return []


def cuda_wheels(dists: dict[str, Dist]) -> list[WheelCuda]:
    """One entry per installed framework distribution that could be a CUDA build."""
    installed = {k: d.version for k, d in dists.items()}
    out: list[WheelCuda] = []
    for framework, names in FRAMEWORK_DISTS.items():
        for name in names:
            d = dists.get(name)
            if d is None:
                continue
            out.append(wheel_cuda(framework, name, d.version, requires_dist(d.meta), installed))
            if framework == "jax" and out[-1].cuda_build:
                break  # a jax plugin makes jaxlib's own (CPU) build irrelevant
    return out
