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

#: the query's answer travels between these markers: whatever else the interpreter prints
#: (a sitecustomize writing without a newline, an atexit handler) is not the answer.
_BEGIN = "<<kbackend-query:"
_END = ":kbackend-query>>"
# Python 2.7 and 3 alike; json.dumps escapes everything outside ASCII, so the answer survives any encoding.
_QUERY = (
    "import sys, json; sys.stdout.write('" + _BEGIN + "' + json.dumps({'version': "
    "'.'.join(map(str, sys.version_info[:3])), 'path': [p for p in sys.path if p], 'prefix': sys.prefix, "
    "'executable': sys.executable}) + '" + _END + "\\n'); sys.stdout.flush()"
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
            [path, "-c", _QUERY], capture_output=True, text=True, errors="replace", timeout=timeout, env=env,
            cwd=os.path.dirname(os.path.abspath(path)) or "/", stdin=subprocess.DEVNULL,
        )
    except PermissionError:
        raise TargetError(f"{path} is not executable.", fix="pass --python with a Python interpreter")
    except OSError as e:
        raise TargetError(f"{path} cannot be run: {e.strerror or e}.", fix="pass --python with a Python interpreter")
    except subprocess.TimeoutExpired:
        raise TargetError(f"{path} did not answer within {timeout:.0f} s.")
    return _answer(path, origin, proc.stdout, proc.stderr, proc.returncode)


def answer_text(info: dict) -> str:
    """What an interpreter prints to answer the query (for stand-in interpreters in tests).

    >>> answer_text({"version": "3.6.15"})
    '<<kbackend-query:{"version": "3.6.15"}:kbackend-query>>'
    """
    return _BEGIN + json.dumps(info) + _END


def _excerpt(text: str, limit: int = 60) -> str:
    """The first non-blank line of some output, printable and short, for an error message.

    >>> _excerpt("\\n\\x00\\x7fELF\\x01 garbage\\nmore")
    "'??ELF? garbage'"
    """
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = "".join(c if c.isprintable() and c != "\ufffd" else "?" for c in line)
    return repr(line[:limit] + ("..." if len(line) > limit else ""))


def _shape_problem(info) -> str | None:
    """What is wrong with a decoded answer, or None when it has the shape the query prints."""
    import re

    if not isinstance(info, dict):
        return f"a JSON {type(info).__name__}, not an object"
    if not isinstance(info.get("version"), str) or not re.fullmatch(r"\d+\.\d+\.\d+", info["version"]):
        return f"version={info.get('version')!r}"
    if not isinstance(info.get("path"), list) or not all(isinstance(p, str) for p in info["path"]):
        return "path is not a list of strings"
    for key in ("prefix", "executable"):
        if not isinstance(info.get(key), str):
            return f"{key}={info.get(key)!r}"
    return None


def _answer(path: str, origin: str, stdout: str | bytes, stderr: str | bytes, returncode: int | None) -> Target:
    """The Target an interpreter's answer describes, or a TargetError (exit 2) that says what came back.

    Only the text between the markers is the answer: output the interpreter
    printed on its own (before it, without a newline, or after it, at exit) is
    ignored, as the workers ignore a backend's chatter.
    """
    if isinstance(stdout, bytes):
        stdout = stdout.decode("utf-8", "replace")
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    stdout, stderr = stdout or "", stderr or ""
    fix = "pass --python with a Python interpreter (python3, or an environment's bin/python)"
    start = stdout.find(_BEGIN)
    end = stdout.find(_END, start + len(_BEGIN)) if start >= 0 else -1
    if start < 0 or end < 0:
        if returncode and stderr.strip():
            why = f"it failed with: {_excerpt(stderr.strip().splitlines()[-1])}"
        elif stdout.strip():
            why = f"it printed {_excerpt(stdout)} instead of answering kbackend's query"
        elif stderr.strip():
            why = f"it wrote {_excerpt(stderr.strip().splitlines()[-1])} on stderr and did not answer"
        else:
            why = "it printed nothing"
        why += f" (exit {returncode})" if returncode else ""
        raise TargetError(f"{path} is not a working Python interpreter: {why}.", fix=fix)
    try:
        info = json.loads(stdout[start + len(_BEGIN):end])
    except ValueError:
        info = None
        problem = "not JSON"
    else:
        problem = _shape_problem(info)
    if problem:
        raise TargetError(
            f"{path} is not a working Python interpreter: its answer to kbackend's query is malformed "
            f"({problem}).", fix=fix)
    return Target(os.path.abspath(path), info["version"], tuple(info["path"]), info["prefix"], origin, False)
