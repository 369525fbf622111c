"""Builders of real and fake Python environments for the envs tests (no tests here).

Other test files put this folder on sys.path and import it, which works whatever
pytest's import mode is.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

#: the test interpreter's site-packages: keras and every backend live there.
PURELIB = sysconfig.get_paths()["purelib"]
XY = f"{sys.version_info[0]}.{sys.version_info[1]}"
VERSION = ".".join(map(str, sys.version_info[:3]))
KB = [sys.executable, "-m", "kbackend"]


def site_of(env: Path) -> Path:
    found = glob.glob(str(env / "lib" / "python*" / "site-packages"))
    assert found, f"no site-packages in {env}"
    return Path(found[0])


def make_venv(path: Path, *, python: str = sys.executable, see_shared: bool = False,
              system_site: bool = False) -> Path:
    """A real venv (no pip). `see_shared`: a .pth line makes the test venv's keras and backends visible."""
    args = [python, "-m", "venv", "--without-pip"] + (["--system-site-packages"] if system_site else []) + [str(path)]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    if see_shared:
        # Every directory the test interpreter has on sys.path at start-up beyond its standard library:
        # its site-packages and whatever that folder's own .pth files add (an editable kbackend, a
        # layered environment), as plain lines that a layout reader follows as Python does.
        (site_of(path) / "zz-shared.pth").write_text("".join(p + "\n" for p in shared_dirs()))
    return path


@functools.lru_cache(maxsize=None)
def shared_dirs() -> tuple[str, ...]:
    """The test interpreter's start-up sys.path, less the entries any venv of its Python has anyway."""
    probe = "import sys, json; print(json.dumps(sys.path))"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    full = json.loads(subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, check=True,
                                     env=env, timeout=60).stdout)
    with_site = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                                          env=env, timeout=60).stdout)
    base = set(full)  # without site: the standard library only
    dirs = [p for p in with_site if p and p not in base and os.path.isdir(p)]
    return tuple(dict.fromkeys([PURELIB] + dirs))


def py(env: Path) -> str:
    return str(env / "bin" / "python")


def fake_dist(site: Path, name: str, version: str) -> Path:
    d = site / f"{name}-{version}.dist-info"
    d.mkdir(parents=True, exist_ok=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return d


def fake_env(root: Path, *, flavour: str = "venv", version: str = VERSION, dists: dict | None = None,
             python: bool = True) -> Path:
    """An environment made of files only: enough for kbackend's layout reader, never run.

    flavour: venv (pyvenv.cfg), conda (conda-meta), prefix (an installation, as pyenv's).
    """
    xy = ".".join(version.split(".")[:2])
    site = root / "lib" / f"python{xy}" / "site-packages"
    site.mkdir(parents=True)
    if python:
        (root / "bin").mkdir()
        os.symlink(sys.executable, root / "bin" / "python")
    if flavour == "venv":
        home = os.path.dirname(os.path.realpath(sys.executable))
        (root / "pyvenv.cfg").write_text(f"home = {home}\ninclude-system-site-packages = false\nversion = {version}\n")
    elif flavour == "conda":
        (root / "conda-meta").mkdir()
        (root / "conda-meta" / "history").write_text("")
        if python:
            (root / "conda-meta" / f"python-{version}-h1234_0_cpython.json").write_text(json.dumps({"name": "python"}))
    else:
        inc = root / "include" / f"python{xy}"
        inc.mkdir(parents=True)
        (inc / "patchlevel.h").write_text(f'#define PY_VERSION "{version}"\n')
    for name, v in (dists or {}).items():
        fake_dist(site, name, v)
    return root


def clean_discovery(monkeypatch, tmp_path: Path) -> Path:
    """Make discovery see only what a test builds: no real pyenv, conda, WORKON_HOME or active env."""
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("WORKON_HOME", str(tmp_path / "no-workon"))
    for var in ("CONDA_EXE", "CONDA_ENVS_PATH", "CONDA_ENVS_DIRS", "MAMBA_ROOT_PREFIX", "PYTHONPATH",
                "PYTHONUSERBASE", "PYTHONNOUSERSITE"):
        monkeypatch.delenv(var, raising=False)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not os.path.exists(os.path.join(p, "conda"))]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    return cwd


def kb(*args, env=None, timeout=300, **kw) -> subprocess.CompletedProcess:
    """Run the kbackend CLI in a child process (for what needs real file descriptors)."""
    return subprocess.run(KB + list(args), capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})), **kw)


def require_pyenv_python(minor: str) -> str:
    """A pyenv-installed interpreter of version `minor` (e.g. "3.6"), or skip."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(glob.glob(os.path.join(root, "versions", f"{minor}.*", "bin", f"python{minor}")))
    if not found:
        pytest.skip(f"no Python {minor} under {root}/versions")
    return found[-1]


def pip_install_target(site: Path, requirement: str) -> None:
    """pip install --no-deps --target SITE REQUIREMENT with the test interpreter's pip, or skip."""
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--no-cache-dir",
                        "--disable-pip-version-check", "-q", "--target", str(site), requirement],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.skip(f"cannot install {requirement} (is the package registry reachable?): {r.stderr.strip()[-300:]}")
