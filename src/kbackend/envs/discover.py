"""Find Python environments and read their layout from files, without running them.

Where environments come from, in this order: the active one (`VIRTUAL_ENV`,
`CONDA_PREFIX`), `.venv`/`venv` in the current directory and its parents, conda
(`conda env list --json` when conda is on PATH, else `~/.conda/environments.txt`
and the usual `envs` folders), pyenv's `versions/`, virtualenvwrapper's
`WORKON_HOME` (default `~/.virtualenvs`), and paths given with `--path`.

`read_layout` computes an environment's interpreter, Python version and the
site directories Python's `site` module would put on `sys.path` (PYTHONPATH,
user site, site-packages and the path lines of their `.pth` files) from
`pyvenv.cfg`, `conda-meta/` and the `lib/pythonX.Y` tree. When a layout is not
one it knows (a system Python with `dist-packages`, an unreadable `pyvenv.cfg`),
it returns None and the caller asks the interpreter itself (`target.query`).

>>> parse_version("3.11.7.final.0")
'3.11.7'
>>> parse_version("Python 3.6")
'3.6'
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from typing import Mapping

from kbackend._record import record

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
_LIBDIR = re.compile(r"^(?:python|pypy)(\d+)\.(\d+)t?$")

#: base installs of conda flavours, relative to the home directory or absolute.
CONDA_BASES = ("anaconda3", "miniconda3", "miniforge3", "mambaforge", "micromamba", ".local/share/mamba",
               "/opt/conda", "/opt/anaconda3", "/opt/miniconda3", "/opt/miniforge3")


def parse_version(text: str | None) -> str | None:
    m = _VERSION.search(text or "")
    if not m:
        return None
    return ".".join(g for g in m.groups() if g is not None)


@record
class Candidate:
    """A place that may hold a Python environment: a directory or an interpreter."""

    path: str
    #: active, .venv, conda, pyenv, virtualenvwrapper, path, target.
    kind: str
    #: where it was found, for people: "env:VIRTUAL_ENV", "conda env list", a file...
    source: str


@record
class Layout:
    """An environment read from its files."""

    prefix: str
    #: the interpreter, or None when the environment has none.
    python: str | None
    version: str | None
    #: venv, conda or prefix (an installation such as a pyenv version).
    flavour: str
    sys_path: tuple[str, ...] = ()
    #: why the environment cannot run (missing or dangling interpreter, removed base).
    problem: str | None = None


# ---------------------------------------------------------------------- discovery


def _home(environ: Mapping[str, str]) -> str:
    return environ.get("HOME") or os.path.expanduser("~")


def _is_env_dir(d: str) -> bool:
    return os.path.isdir(d) and (
        os.path.exists(os.path.join(d, "pyvenv.cfg")) or os.path.isdir(os.path.join(d, "conda-meta"))
        or any(os.path.lexists(os.path.join(d, rel)) for rel in _PYTHONS)
    )


def _subdirs(d: str) -> list[str]:
    try:
        return sorted(os.path.join(d, e) for e in os.listdir(d) if not e.startswith("."))
    except OSError:
        return []


def active(environ: Mapping[str, str]) -> list[Candidate]:
    return [Candidate(environ[v], "active", f"env:{v}") for v in ("VIRTUAL_ENV", "CONDA_PREFIX") if environ.get(v)]


def dot_venvs(cwd: str) -> list[Candidate]:
    """`.venv` and `venv` in `cwd` and each of its parents."""
    out = []
    d = os.path.abspath(cwd)
    while True:
        for name in (".venv", "venv"):
            p = os.path.join(d, name)
            if _is_env_dir(p):
                out.append(Candidate(p, ".venv", f"{name} in {d}"))
        parent = os.path.dirname(d)
        if parent == d:
            return out
        d = parent


def conda_from_files(environ: Mapping[str, str]) -> list[Candidate]:
    """conda environments from environments.txt and the envs folders (no conda needed)."""
    home = _home(environ)
    out = []
    txt = os.path.join(home, ".conda", "environments.txt")
    try:
        with open(txt, encoding="utf-8", errors="replace") as f:
            out += [Candidate(line.strip(), "conda", txt) for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        pass
    dirs = []
    for var in ("CONDA_ENVS_PATH", "CONDA_ENVS_DIRS"):
        dirs += [d for d in environ.get(var, "").split(os.pathsep) if d]
    dirs.append(os.path.join(home, ".conda", "envs"))
    if environ.get("MAMBA_ROOT_PREFIX"):
        dirs.append(os.path.join(environ["MAMBA_ROOT_PREFIX"], "envs"))
    for base in CONDA_BASES:
        b = base if os.path.isabs(base) else os.path.join(home, base)
        if os.path.isdir(os.path.join(b, "conda-meta")):
            out.append(Candidate(b, "conda", f"conda base {b}"))
        dirs.append(os.path.join(b, "envs"))
    for d in dirs:
        out += [Candidate(p, "conda", f"envs folder {d}") for p in _subdirs(d)
                if os.path.isdir(os.path.join(p, "conda-meta"))]
    return out


def conda_exe(environ: Mapping[str, str]) -> str | None:
    exe = environ.get("CONDA_EXE")
    if exe and os.path.exists(exe):
        return exe
    return shutil.which("conda", path=environ.get("PATH", os.defpath))


def conda_from_exe(exe: str, environ: Mapping[str, str], *, timeout: float = 30) -> list[Candidate]:
    """`conda env list --json`; raises OSError/ValueError/TimeoutExpired when conda fails."""
    from kbackend import _procs

    proc = _procs.run([exe, "env", "list", "--json"], capture_output=True, text=True, timeout=timeout,
                      env=dict(environ), stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise ValueError(f"exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}")
    envs = json.loads(proc.stdout).get("envs")
    if not isinstance(envs, list):
        raise ValueError("no `envs` list in its output")
    return [Candidate(str(p), "conda", "conda env list") for p in envs]


def version_key(name: str) -> tuple:
    """Sort key for a folder named by a version: 3.9 before 3.10, a release before its variants (3.13t),
    numbered names before the others (pypy3.10-7.3.12, miniconda3-latest), which sort by their numbers too.

    >>> sorted(["3.10.13", "3.6.15", "3.13t", "3.13.0", "3.9.18", "pypy3.10-7.3.12", "2.7.18"], key=version_key)
    ['2.7.18', '3.6.15', '3.9.18', '3.10.13', '3.13.0', '3.13t', 'pypy3.10-7.3.12']
    """
    m = re.match(r"(\d+(?:\.\d+)*)(.*)$", name)
    natural = tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.findall(r"\d+|\D+", name))
    if m:
        nums = tuple(int(x) for x in m.group(1).split("."))
        return (0, nums + (0,) * (4 - len(nums)), m.group(2), natural)
    return (1, (), "", natural)


def pyenv_versions(environ: Mapping[str, str]) -> list[Candidate]:
    root = environ.get("PYENV_ROOT") or os.path.join(_home(environ), ".pyenv")
    vdir = os.path.join(root, "versions")
    out = []
    for p in sorted(_subdirs(vdir), key=lambda p: version_key(os.path.basename(p))):
        out.append(Candidate(p, "pyenv", vdir))
        # pyenv-virtualenv keeps its environments under versions/X/envs/NAME.
        out += [Candidate(e, "pyenv", vdir) for e in _subdirs(os.path.join(p, "envs"))]
    return out


def workon_home(environ: Mapping[str, str]) -> list[Candidate]:
    d = environ.get("WORKON_HOME") or os.path.join(_home(environ), ".virtualenvs")
    return [Candidate(p, "virtualenvwrapper", d) for p in _subdirs(d) if _is_env_dir(p)]


def explicit(paths: list[str] | tuple[str, ...]) -> list[Candidate]:
    return [Candidate(os.path.abspath(os.path.expanduser(p)), "path", "--path") for p in paths]


def discover(environ: Mapping[str, str], cwd: str, paths: tuple[str, ...] = (), *,
             conda_timeout: float = 30) -> tuple[list[Candidate], list[str]]:
    """Every candidate, in discovery order, and notes about sources that failed."""
    notes: list[str] = []
    found = active(environ) + dot_venvs(cwd)
    exe = conda_exe(environ)
    conda: list[Candidate] | None = None
    if exe:
        try:
            conda = conda_from_exe(exe, environ, timeout=conda_timeout)
        except (OSError, ValueError, subprocess.TimeoutExpired) as e:
            notes.append(f"`{exe} env list --json` failed ({type(e).__name__}: {e}); read conda's files instead")
    found += conda if conda is not None else conda_from_files(environ)
    found += pyenv_versions(environ) + workon_home(environ) + explicit(paths)
    return found, notes


# ---------------------------------------------------------------------- layout

_PYTHONS = ("bin/python", "bin/python3", "python.exe", "Scripts/python.exe")


def interpreter_of(prefix: str) -> tuple[str | None, str | None]:
    """(interpreter, problem): the first interpreter in the environment that exists."""
    dangling = None
    for rel in _PYTHONS:
        p = os.path.join(prefix, rel)
        if os.path.exists(p):
            if not os.path.isfile(p) or not os.access(p, os.X_OK):
                return None, f"{p} is not an executable file"
            return p, None
        if os.path.lexists(p) and dangling is None:
            dangling = p
    if dangling:
        return None, (f"{dangling} is a link to {os.path.realpath(dangling)}, which does not exist "
                      "(was the base interpreter removed?)")
    if os.path.isdir(os.path.join(prefix, "conda-meta")):
        return None, "conda environment without Python (conda install -p " + prefix + " python)"
    return None, "no Python interpreter (bin/python) in this environment"


def read_pyvenv_cfg(prefix: str) -> dict[str, str] | None:
    """pyvenv.cfg as `site` reads it; None when absent; raises ValueError when unreadable."""
    path = os.path.join(prefix, "pyvenv.cfg")
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} cannot be read: {e}")
    cfg = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            cfg[key.strip().lower()] = value.strip()
    return cfg


def lib_versions(prefix: str) -> list[str]:
    """X.Y of each lib/pythonX.Y that holds a site-packages directory."""
    out = []
    for d in _subdirs(os.path.join(prefix, "lib")):
        m = _LIBDIR.match(os.path.basename(d))
        if m and os.path.isdir(os.path.join(d, "site-packages")):
            out.append(f"{m.group(1)}.{m.group(2)}")
    return out


def _conda_python(prefix: str) -> str | None:
    for p in sorted(glob.glob(os.path.join(glob.escape(prefix), "conda-meta", "python-[0-9]*.json"))):
        return parse_version(os.path.basename(p).split("-")[1])
    return None


def _patchlevel(prefix: str, xy: str) -> str | None:
    """PY_VERSION from include/pythonX.Y[m]/patchlevel.h (CPython installs it)."""
    for h in glob.glob(os.path.join(glob.escape(prefix), "include", f"python{xy}*", "patchlevel.h")):
        try:
            with open(h, encoding="latin-1") as f:
                m = re.search(r'#define\s+PY_VERSION\s+"([^"]+)"', f.read())
        except OSError:
            continue
        if m:
            return parse_version(m.group(1))
    return None


def site_dirs(prefix: str, xy: str) -> list[str]:
    """The site-packages of an installation prefix, as `site.getsitepackages` lists them."""
    cands = [os.path.join(prefix, "lib", f"python{xy}", "site-packages"),
             os.path.join(prefix, "lib64", f"python{xy}", "site-packages"),
             os.path.join(prefix, "Lib", "site-packages")]
    out: list[str] = []
    for c in cands:
        if os.path.isdir(c) and not any(os.path.samefile(c, o) for o in out):
            out.append(c)
    return out


def user_site(environ: Mapping[str, str], xy: str) -> str | None:
    if environ.get("PYTHONNOUSERSITE"):
        return None
    base = environ.get("PYTHONUSERBASE") or os.path.join(_home(environ), ".local")
    d = os.path.join(base, "lib", f"python{xy}", "site-packages")
    return d if os.path.isdir(d) else None


def _pth_dirs(sitedir: str) -> list[str]:
    """The directories that the path lines of `sitedir`'s .pth files add (site.addpackage)."""
    out = []
    try:
        names = sorted(n for n in os.listdir(sitedir) if n.endswith(".pth") and not n.startswith("."))
    except OSError:
        return out
    for n in names:
        try:
            with open(os.path.join(sitedir, n), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("#") or not line.strip() or line.startswith(("import ", "import\t")):
                continue
            d = os.path.abspath(os.path.join(sitedir, line.rstrip()))
            if os.path.exists(d):
                out.append(d)
    return out


def _expand(sitedirs: list[str], environ: Mapping[str, str]) -> tuple[str, ...]:
    """PYTHONPATH, then each site dir followed by its .pth additions, without duplicates."""
    path: list[str] = []
    seen: set[str] = set()

    def add(d: str) -> None:
        key = os.path.normcase(os.path.abspath(d))
        if key not in seen:
            seen.add(key)
            path.append(os.path.abspath(d))

    for d in environ.get("PYTHONPATH", "").split(os.pathsep):
        if d:
            add(d)
    for s in sitedirs:
        add(s)
        for d in _pth_dirs(s):
            add(d)
    return tuple(path)


def read_layout(prefix: str, environ: Mapping[str, str]) -> Layout | None:
    """The environment at `prefix` read from its files, or None for a layout it does not know."""
    prefix = os.path.abspath(prefix)
    try:
        cfg = read_pyvenv_cfg(prefix)
    except ValueError:
        return None
    python, problem = interpreter_of(prefix)
    conda = os.path.isdir(os.path.join(prefix, "conda-meta"))
    flavour = "venv" if cfg is not None else "conda" if conda else "prefix"
    libs = lib_versions(prefix)
    version = None
    if cfg is not None:
        version = parse_version(cfg.get("version") or cfg.get("version_info"))
        home = cfg.get("home")
        if home and not os.path.isdir(home) and problem is None:
            problem = f"its base interpreter is gone: pyvenv.cfg says home = {home}, which does not exist"
    if version is None and conda:
        version = _conda_python(prefix)
    if version is None and len(libs) == 1:
        version = _patchlevel(prefix, libs[0]) or libs[0]
    if problem:
        return Layout(prefix, python, version, flavour, problem=problem)
    xy = ".".join(version.split(".")[:2]) if version else None
    if xy is None or (xy not in libs and not os.path.isdir(os.path.join(prefix, "Lib", "site-packages"))):
        return None
    # Order, as site.py builds it: a venv's own site-packages, then the user site, then the base's.
    own = site_dirs(prefix, xy)
    system = cfg is None or cfg.get("include-system-site-packages", "false").lower() == "true"
    base_dirs: list[str] = []
    if cfg is not None and system:
        base = os.path.dirname(cfg.get("home", "").rstrip("/\\")) if cfg.get("home") else ""
        base_dirs = site_dirs(base, xy) if base else []
        if not base_dirs:
            return None
    us = [u for u in [user_site(environ, xy)] if u] if system else []
    dirs = own + us + base_dirs if cfg is not None else us + own
    return Layout(prefix, python, version, flavour, _expand(dirs, environ))
