"""Where else KERAS_BACKEND is set for a target interpreter: conda activation and Jupyter kernels.

Settings that apply only in some launches and that users forget (keras#6925,
anaconda-issues#1735): a script in the environment's `etc/conda/activate.d` (sh, csh,
fish, bat, ps1), `conda env config vars` (kept in `conda-meta/state`), and the `env` block
of a Jupyter kernelspec whose argv runs this interpreter. Files are read, nothing is run.

>>> activation_value("export KERAS_BACKEND='jax'  # for the lab", "KERAS_BACKEND")
'jax'
>>> activation_value('set "KERAS_BACKEND=torch"', "KERAS_BACKEND"), activation_value("setenv KERAS_BACKEND tensorflow", "KERAS_BACKEND")
('torch', 'tensorflow')
>>> activation_value("unset KERAS_BACKEND", "KERAS_BACKEND") is None
True
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence

from kbackend._record import record

#: the variables looked for.
NAMES = ("KERAS_BACKEND",)
ACTIVATE_EXT = (".sh", ".bash", ".zsh", ".csh", ".fish", ".bat", ".ps1", ".xsh")
#: at most this many kernelspecs and activation scripts are read.
MAX_FILES = 200


@record
class Setting:
    """One place that sets a variable for the target: when it applies, and the file that says so."""

    name: str
    value: str
    #: conda_activate, conda_env_vars, kernel.
    kind: str
    path: str
    #: the kernel's folder name (for `kind` kernel).
    kernel: str | None = None

    @property
    def where(self) -> str:
        if self.kind == "kernel":
            return f"in kernel {self.kernel}: {self.path}"
        if self.kind == "conda_env_vars":
            return f"when activated: conda env config vars ({self.path})"
        return f"when activated: {self.path}"

    def as_json(self) -> dict:
        return {"name": self.name, "value": self.value, "kind": self.kind, "path": self.path, "kernel": self.kernel,
                "where": self.where}


def activation_value(line: str, name: str) -> str | None:
    """The value one line of an activation script gives `name` (sh, csh, fish, bat, ps1), or None."""
    n = re.escape(name)
    pats = (
        rf"^\s*(?:export\s+)?{n}=(?P<v>\S*)",                       # sh: export NAME=v / NAME=v
        rf"^\s*setenv\s+{n}\s+(?P<v>\S+)",                            # csh
        rf"^\s*set\s+(?:-[a-zA-Z]+\s+)*{n}\s+(?P<v>\S+)",             # fish: set -gx NAME v
        rf'^\s*@?set\s+"?{n}=(?P<v>[^"\r\n]*)"?',                     # bat: set NAME=v / set "NAME=v"
        rf"^\s*\$env:{n}\s*=\s*(?P<v>\S+)",                          # ps1 (case-insensitive)
    )
    text = line.split(" #", 1)[0].rstrip()
    for p in pats:
        m = re.match(p, text, re.IGNORECASE if "env:" in p else 0)
        if m:
            v = m.group("v").strip().strip("'\"")
            return v
    return None


def conda_settings(prefix: str, names: Sequence[str] = NAMES) -> list[Setting]:
    """The environment's activate.d scripts and `conda env config vars` that set one of `names`."""
    out: list[Setting] = []
    folder = os.path.join(prefix, "etc", "conda", "activate.d")
    try:
        scripts = sorted(os.listdir(folder))[:MAX_FILES]
    except OSError:
        scripts = []
    for fname in scripts:
        path = os.path.join(folder, fname)
        if not fname.lower().endswith(ACTIVATE_EXT) or not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read(1 << 20).splitlines()
        except OSError:
            continue
        for name in names:
            vals = [v for v in (activation_value(ln, name) for ln in lines) if v is not None]
            if vals:
                out.append(Setting(name, vals[-1], "conda_activate", path))  # the last assignment wins
    state = os.path.join(prefix, "conda-meta", "state")
    try:
        with open(state, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        doc = None
    env_vars = doc.get("env_vars") if isinstance(doc, dict) else None
    if isinstance(env_vars, dict):
        for name in names:
            if isinstance(env_vars.get(name), str):
                out.append(Setting(name, env_vars[name], "conda_env_vars", state))
    return out


def jupyter_dirs(environ: Mapping[str, str], prefixes: Sequence[str]) -> list[str]:
    """Jupyter's data folders in its search order: JUPYTER_PATH, the user's, the environments', the system's."""
    dirs = [d for d in environ.get("JUPYTER_PATH", "").split(os.pathsep) if d]
    home = environ.get("HOME") or os.path.expanduser("~")
    if environ.get("JUPYTER_DATA_DIR"):
        dirs.append(environ["JUPYTER_DATA_DIR"])
    elif sys.platform == "darwin":
        dirs.append(os.path.join(home, "Library", "Jupyter"))
    elif sys.platform == "win32":
        dirs.append(os.path.join(environ.get("APPDATA", home), "jupyter"))
    else:
        dirs.append(os.path.join(environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share"), "jupyter"))
    dirs += [os.path.join(p, "share", "jupyter") for p in prefixes if p]
    if sys.platform != "win32":
        dirs += ["/usr/local/share/jupyter", "/usr/share/jupyter"]
    return list(dict.fromkeys(os.path.abspath(d) for d in dirs))


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def kernel_settings(python: str, environ: Mapping[str, str], prefixes: Sequence[str],
                    names: Sequence[str] = NAMES) -> list[Setting]:
    """The kernelspecs whose argv runs `python` and whose `env` sets one of `names` (first folder wins a name)."""
    out: list[Setting] = []
    seen: set[str] = set()
    for d in jupyter_dirs(environ, prefixes):
        kdir = os.path.join(d, "kernels")
        try:
            kernels = sorted(os.listdir(kdir))[:MAX_FILES]
        except OSError:
            continue
        for k in kernels:
            if k.lower() in seen:
                continue  # Jupyter uses the first folder holding a kernel of this name
            path = os.path.join(kdir, k, "kernel.json")
            try:
                with open(path, encoding="utf-8") as f:
                    spec = json.load(f)
            except (OSError, ValueError):
                continue
            seen.add(k.lower())
            argv = spec.get("argv") if isinstance(spec, dict) else None
            env = spec.get("env") if isinstance(spec, dict) else None
            if not (isinstance(argv, list) and argv and isinstance(argv[0], str) and isinstance(env, dict)):
                continue
            if not os.path.isabs(argv[0]) or not _same_file(argv[0], python):
                continue
            for name in names:
                if isinstance(env.get(name), str):
                    out.append(Setting(name, env[name], "kernel", path, kernel=k))
    return out


def find(python: str, prefix: str, environ: Mapping[str, str], names: Sequence[str] = NAMES) -> list[Setting]:
    """Every conda activation and kernelspec setting of `names` for the interpreter `python` in `prefix`."""
    return conda_settings(prefix, names) + kernel_settings(python, environ, [prefix, sys.prefix], names)
