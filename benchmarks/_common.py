"""Shared set-up of the benchmark scripts."""

from __future__ import annotations

import compileall
import os

import kbackend


def precompile() -> None:
    """Byte-compile kbackend as an installed wheel would be.

    pip compiles a wheel's modules at install time; an editable checkout under
    PYTHONDONTWRITEBYTECODE=1 would instead recompile every module on each run
    and measure the compiler, not kbackend.
    """
    compileall.compile_dir(os.path.dirname(kbackend.__file__), quiet=2)


def isolated_env(home: str) -> dict:
    """This environment with HOME, KERAS_HOME and the cache folder under `home` and no KERAS_BACKEND."""
    env = {**os.environ, "HOME": home, "KERAS_HOME": os.path.join(home, ".keras"),
           "XDG_CACHE_HOME": os.path.join(home, ".cache")}
    env.pop("KERAS_BACKEND", None)
    return env


def kbackend_exe() -> str:
    """The `kbackend` console script of the interpreter running the benchmark."""
    import shutil
    import sys

    return shutil.which("kbackend") or os.path.join(os.path.dirname(sys.executable), "kbackend")
