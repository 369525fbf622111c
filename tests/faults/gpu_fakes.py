"""Shared GPU fakes: C libraries built with `cc`, a fake nvidia-smi, fake wheels and targets.

Test modules in tests/faults import it by name (pytest puts their folder on sys.path):
`from gpu_fakes import fake_libs, fake_smi  # noqa: F401` makes the fixtures visible to them.

- `fake_libs` (session): compiles tests/faults/fakes/*.c into shared libraries on demand
  (`fake_libs.install("cudnn", dir, "libcudnn.so.9", version=90100)`), so the probe's ctypes
  calls run for real against them.
- `fake_smi`: a folder holding the fake `nvidia-smi` script, to put first on PATH; its
  behaviour follows FAKE_SMI_MODE (see fakes/nvidia-smi).
- `hermetic(tmp_path)`: SystemPaths that see nothing of this machine (no ldconfig cache,
  no /usr/local/cuda, no /proc driver file), so a test sees its fakes only.
- `site(...)`: a site-packages folder with dist-info folders standing for installed wheels.
- `make_facts(...)`: doctor Facts around a GpuFacts, for the checks.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kbackend.gpu.locate import SystemPaths

FAKES = Path(__file__).resolve().parent / "fakes"
SOURCES = {"cuda": "fake_libcuda.c", "cudart": "fake_libcudart.c", "cudnn": "fake_libcudnn.c"}


class FakeLibs:
    """Compiles the fake libraries once per variant and installs copies where a test wants them."""

    def __init__(self, root: Path):
        self.root = root
        self._built: dict[tuple, Path] = {}

    def build(self, kind: str, *, version: int | None = None, abort: bool = False, stub: bool = False,
              dt_soname: str | None = None) -> Path:
        """`dt_soname`: the DT_SONAME it carries (the loader then reuses it for a dlopen by that name)."""
        key = (kind, version, abort, stub, dt_soname)
        if key not in self._built:
            defines = []
            if version is not None:
                defines.append(f"-DFAKE_VERSION={version}")
            if abort:
                defines.append("-DFAKE_ABORT")
            if stub:
                defines.append("-DFAKE_STUB")
            if dt_soname:
                defines.append(f"-Wl,-soname,{dt_soname}")
            out = self.root / f"{kind}-{version}-{int(abort)}-{int(stub)}-{dt_soname or ''}.so"
            subprocess.run(["cc", "-shared", "-fPIC", "-O0", "-o", str(out), str(FAKES / SOURCES[kind]), *defines],
                           check=True, capture_output=True)
            self._built[key] = out
        return self._built[key]

    def install(self, kind: str, folder: Path, soname: str, *, realname: str | None = None, **variant) -> Path:
        """Copy a built library into `folder` as `realname` (default: the soname), linked from the soname."""
        folder.mkdir(parents=True, exist_ok=True)
        real = folder / (realname or soname)
        shutil.copyfile(self.build(kind, **variant), real)
        if realname and realname != soname:
            (folder / soname).symlink_to(realname)
        return folder / soname


@pytest.fixture(scope="session")
def fake_libs(tmp_path_factory) -> FakeLibs:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) to build the fake CUDA libraries")
    return FakeLibs(tmp_path_factory.mktemp("fake-cuda-libs"))


@pytest.fixture
def fake_smi(tmp_path) -> Path:
    """A bin folder with the fake nvidia-smi; put it first on PATH."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    dst = bin_dir / "nvidia-smi"
    shutil.copyfile(FAKES / "nvidia-smi", dst)
    dst.chmod(dst.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir


def hermetic(tmp_path: Path, **over) -> SystemPaths:
    """System paths that show nothing of the real machine (override any of them)."""
    nothing = tmp_path / "no-such-system"
    base = dict(proc_driver_version=str(nothing / "proc-driver-version"), proc_maps=str(nothing / "maps"),
                proc_version=str(nothing / "proc-version"), usr_local=str(nothing / "usr-local"),
                wsl_lib=str(nothing / "wsl-lib"), dxg=str(nothing / "dxg"), ldconfig="", default_dirs=())
    base.update(over)
    return SystemPaths(**base)


def base_env(**extra: str) -> dict[str, str]:
    """A minimal environment for probe_gpu: PATH without any real nvidia-smi, plus `extra`."""
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    env.update(extra)
    return env


def site(root: Path, dists: dict[str, str], requires: dict[str, list[str]] | None = None) -> Path:
    """A site-packages folder with a dist-info folder per distribution (name -> version)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, version in dists.items():
        meta = root / f"{name.replace('-', '_')}-{version}.dist-info"
        meta.mkdir(exist_ok=True)
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        lines += [f"Requires-Dist: {r}" for r in (requires or {}).get(name, [])]
        (meta / "METADATA").write_text("\n".join(lines) + "\n\nA long description.\nRequires-Dist: not-a-header\n")
    return root


def fake_python(tmp_path: Path, sys_path: list[str]) -> Path:
    """An executable that answers kbackend's interpreter query with `sys_path` (a stand-in target)."""
    exe = tmp_path / "fake-python" / "bin" / "python"
    exe.parent.mkdir(parents=True)
    from kbackend.envs.target import answer_text

    doc = answer_text({"version": "3.11.7", "path": sys_path, "prefix": str(exe.parent.parent),
                       "executable": str(exe)})
    exe.write_text(f"#!/bin/sh\necho '{doc}'\n")
    exe.chmod(0o755)
    return exe


def make_facts(gpu, *, backends=(), installed=None, environ=None):
    """Doctor Facts holding `gpu`, with the Keras and config parts filled with neutral values."""
    from kbackend.services.config import CheckResult
    from kbackend.doctor.facts import Facts, InterpreterFacts, KerasFacts

    config = CheckResult(ok=True, config_path="/nonexistent/keras.json", file_status="missing", keras_version=None,
                         imports=True, keras_error=None, file_used=False, effective={}, problems=[], failures=[])
    return Facts(
        interpreter=InterpreterFacts(python=sys.executable, version="3.11.7", origin="current"),
        keras=KerasFacts(rules_line="3.14+"),
        config=config,
        backends=list(backends),
        gpu=gpu,
        installed=dict(installed or {}),
        environ=dict(environ or {}),
    )
