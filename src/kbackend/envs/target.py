"""The target interpreter: the Python whose Keras and backends kbackend describes.

Order: `--python PATH`, then `KBACKEND_PYTHON`, then the active virtualenv
(`VIRTUAL_ENV`) or conda environment (`CONDA_PREFIX`), then the interpreter
running kbackend. Another interpreter is asked for its version and `sys.path`
in one short child (no imports beyond `sys` and `json`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Mapping

from kbackend._record import record
from kbackend.errors import KbackendError

_QUERY = (
    "import sys, json; print(json.dumps({'version': '.'.join(map(str, sys.version_info[:3])), "
    "'path': [p for p in sys.path if p], 'prefix': sys.prefix, 'executable': sys.executable}))"
)


@record
class Target:
    python: str
    version: str
    sys_path: tuple[str, ...]
    prefix: str
    origin: str
    is_current: bool

    def describe(self) -> str:
        return f"{self.python} (Python {self.version})"


class TargetError(KbackendError):
    """The target interpreter cannot be resolved: bad input, exit 2."""

    exit_code = 2


def current(origin: str = "current") -> Target:
    v = ".".join(map(str, sys.version_info[:3]))
    path = tuple(p for p in sys.path if p)
    return Target(sys.executable, v, path, sys.prefix, origin, True)


def _candidate(environ: Mapping[str, str], python: str | None) -> tuple[list[tuple[str, str]], str | None]:
    tried: list[tuple[str, str]] = []
    if python:
        return [(python, "option:--python")], None
    if environ.get("KBACKEND_PYTHON"):
        return [(environ["KBACKEND_PYTHON"], "env:KBACKEND_PYTHON")], None
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        if environ.get(var):
            root = environ[var]
            for rel in ("bin/python", "bin/python3", "Scripts/python.exe", "python.exe"):
                tried.append((os.path.join(root, rel), f"env:{var}"))
            return tried, var
    return [], None


def resolve(python: str | None = None, environ: Mapping[str, str] | None = None, *, timeout: float = 20) -> Target:
    """Resolve the target interpreter, with a clear error listing what was tried."""
    env = os.environ if environ is None else environ
    cands, _ = _candidate(env, python)
    if not cands:
        return current()
    errors = []
    for exe, origin in cands:
        path = exe
        if os.sep not in exe and not os.path.exists(exe):
            path = shutil.which(exe) or exe
        if not os.path.exists(path):
            errors.append(f"{exe}: does not exist")
            continue
        if os.path.isdir(path):
            for rel in ("bin/python", "bin/python3", "python.exe"):
                if os.path.exists(os.path.join(path, rel)):
                    path = os.path.join(path, rel)
                    break
            else:
                errors.append(f"{exe}: is a directory with no bin/python")
                continue
        if _same_interpreter(path):
            return current(origin)
        return query(path, origin, timeout=timeout)
    raise TargetError(
        "No Python interpreter found. Tried:\n  " + "\n  ".join(errors),
        fix="pass --python /path/to/python (or set KBACKEND_PYTHON)",
    )


def _same_interpreter(path: str) -> bool:
    try:
        if os.path.samefile(path, sys.executable):
            # A venv's python is often a symlink to the base interpreter: compare prefixes too.
            venv = os.path.dirname(os.path.dirname(os.path.abspath(path)))
            return os.path.realpath(venv) == os.path.realpath(sys.prefix) or (
                not os.path.exists(os.path.join(venv, "pyvenv.cfg")) and sys.prefix == sys.base_prefix
            )
    except OSError:
        return False
    return False


def query(path: str, origin: str, *, timeout: float = 20) -> Target:
    """Ask another interpreter for its version and sys.path."""
    env = dict(os.environ)
    env["PYTHONSAFEPATH"] = "1"
    env.pop("PYTHONHOME", None)
    try:
        from kbackend import _procs  # its own process group, killed with all it started

        proc = _procs.run(
            [path, "-c", _QUERY], capture_output=True, text=True, timeout=timeout, env=env,
            cwd=os.path.dirname(os.path.abspath(path)) or "/", stdin=subprocess.DEVNULL,
        )
    except PermissionError:
        raise TargetError(f"{path} is not executable.", fix="pass --python with a Python interpreter")
    except OSError as e:
        raise TargetError(f"{path} cannot be run: {e.strerror or e}.", fix="pass --python with a Python interpreter")
    except subprocess.TimeoutExpired:
        raise TargetError(f"{path} did not answer within {timeout:.0f} s.")
    try:
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        return Target(os.path.abspath(path), info["version"], tuple(info["path"]), info["prefix"], origin, False)
    except (ValueError, IndexError, KeyError, TypeError):
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise TargetError(
            f"{path} is not a working Python interpreter"
            + (f": {err[-1]}" if err else f" (exit {proc.returncode})") + ".",
            fix="pass --python with a Python interpreter",
        )
