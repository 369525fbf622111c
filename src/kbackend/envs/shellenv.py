"""`kbackend shell-env BACKEND`: the lines to `eval` to use a backend in this shell only.

Like `pyenv shell`: nothing is written; the variable lives as long as the shell.

>>> lines("bash", "jax")
['export KERAS_BACKEND=jax']
>>> lines("fish", "torch")
['set -gx KERAS_BACKEND torch']
>>> lines("powershell", None)
['Remove-Item Env:KERAS_BACKEND -ErrorAction SilentlyContinue']
"""

from __future__ import annotations

import os
import shlex
from typing import Mapping

SHELLS = ("bash", "zsh", "fish", "powershell")
VAR = "KERAS_BACKEND"


def _fish_quote(s: str) -> str:
    if s and all(c.isalnum() or c in "._-/" for c in s):
        return s
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ps_quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def lines(shell: str, backend: str | None) -> list[str]:
    """The lines that set (or, with backend None, unset) KERAS_BACKEND in `shell`."""
    if shell in ("bash", "zsh"):
        return [f"export {VAR}={shlex.quote(backend)}"] if backend is not None else [f"unset {VAR}"]
    if shell == "fish":
        return [f"set -gx {VAR} {_fish_quote(backend)}"] if backend is not None else [f"set -e {VAR}"]
    if shell == "powershell":
        return ([f"$Env:{VAR} = {_ps_quote(backend)}"] if backend is not None
                else [f"Remove-Item Env:{VAR} -ErrorAction SilentlyContinue"])
    raise ValueError(f"unknown shell {shell!r}; expected one of {', '.join(SHELLS)}")


def detect_shell(environ: Mapping[str, str]) -> str:
    """The user's shell from $SHELL (PowerShell on Windows); bash when unknown."""
    if os.name == "nt" or environ.get("PSModulePath") and not environ.get("SHELL"):
        return "powershell"
    name = os.path.basename(environ.get("SHELL", "")).lower()
    for s in SHELLS:
        if name.startswith(s) or (s == "powershell" and name.startswith("pwsh")):
            return s
    return "bash"


def usage_hint(shell: str, backend: str | None) -> str:
    arg = backend if backend is not None else "--unset"
    if shell == "fish":
        return f"kbackend shell-env {arg} --shell fish | source"
    if shell == "powershell":
        return f"kbackend shell-env {arg} --shell powershell | Invoke-Expression"
    return f'eval "$(kbackend shell-env {arg} --shell {shell})"'
