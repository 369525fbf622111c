"""The layout kbackend reads from files agrees with what each real interpreter puts on sys.path.

`kbackend envs` never starts an interpreter whose layout it knows; these tests
start real ones (venvs, a venv with system site-packages, the base installation,
every pyenv version on this machine) and compare.
"""

from __future__ import annotations

import glob
import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_envs_support import XY, clean_discovery, fake_dist, make_venv, py  # noqa: E402

from kbackend.envs import discover as D  # noqa: E402
from kbackend.envs import installed  # noqa: E402
from kbackend.services import survey  # noqa: E402
from kbackend.envs.target import query  # noqa: E402

_STDLIB = re.compile(r"[/\\]lib(64)?[/\\](python|pypy)\d+\.\d+[a-z]*([/\\]|$)")


def _site_part(sys_path) -> list[str]:
    """sys.path without the standard library entries."""
    return [os.path.realpath(p) for p in sys_path
            if not p.endswith(".zip") and not (_STDLIB.search(p) and "site-packages" not in p)]


def _agree(prefix: str, python: str) -> None:
    lay = D.read_layout(prefix, os.environ)
    assert lay is not None and lay.problem is None, lay
    real = query(python, "test")
    assert lay.version == real.version
    assert _site_part(lay.sys_path) == _site_part(real.sys_path)
    assert installed.versions(installed.scan(lay.sys_path)) == installed.versions(installed.scan(_site_part(real.sys_path)))


def test_plain_venv_and_one_that_sees_the_shared_packages(tmp_path):
    plain = make_venv(tmp_path / "plain")
    _agree(str(plain), py(plain))
    shared = make_venv(tmp_path / "shared", see_shared=True)
    _agree(str(shared), py(shared))
    assert "keras" in installed.scan(D.read_layout(str(shared), os.environ).sys_path)


def test_system_site_packages_venv_with_a_user_site_and_pythonpath(tmp_path, monkeypatch, isolated_home):
    user = isolated_home / ".local" / "lib" / f"python{XY}" / "site-packages"
    fake_dist(user, "userthing", "1.0")
    extra = tmp_path / "pp"
    extra.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(extra))
    env = make_venv(tmp_path / "sys", system_site=True)
    _agree(str(env), py(env))
    lay = D.read_layout(str(env), os.environ)
    assert lay.sys_path[0] == str(extra) and str(user) in lay.sys_path


def test_base_installation(isolated_home):
    user = isolated_home / ".local" / "lib" / f"python{XY}" / "site-packages"
    fake_dist(user, "userthing", "1.0")
    base = sys.base_prefix
    exe = os.path.join(base, "bin", f"python{XY}")
    if not os.path.exists(exe) or D.read_layout(base, os.environ) is None:
        pytest.skip(f"{base} is not a prefix layout kbackend reads (a system Python is asked instead)")
    _agree(base, exe)


def test_every_pyenv_version_on_this_machine():
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    versions = sorted(glob.glob(os.path.join(root, "versions", "*")))
    if not versions:
        pytest.skip("no pyenv versions on this machine")
    for v in versions:
        python, _ = D.interpreter_of(v)
        if python:
            _agree(v, python)


def test_broken_real_venv_whose_base_interpreter_was_removed(tmp_path, monkeypatch):
    """A venv made from a base installation that is then deleted, as after `pyenv uninstall`."""
    clean_discovery(monkeypatch, tmp_path)
    base = make_venv(tmp_path / "base")  # stands in for an installation: its python is a link too
    env = make_venv(tmp_path / "env", python=py(base))
    for p in (env / "bin").iterdir():
        if p.is_symlink():
            p.unlink()
            os.symlink(tmp_path / "removed" / "python3", p)
    cfg = (env / "pyvenv.cfg").read_text()
    (env / "pyvenv.cfg").write_text(re.sub(r"(?m)^home = .*$", f"home = {tmp_path / 'removed'}", cfg))
    info = {e.prefix: e for e in survey.survey(None, paths=(str(env),)).environments}[str(env)]
    assert info.status == "broken" and "does not exist" in info.problem


def test_undecodable_pyvenv_cfg_is_left_to_the_interpreter(tmp_path, monkeypatch):
    """kbackend does not guess: it asks the interpreter, which (3.11) cannot start with such a file."""
    clean_discovery(monkeypatch, tmp_path)
    env = make_venv(tmp_path / "env", see_shared=True)
    with open(env / "pyvenv.cfg", "ab") as f:
        f.write(b"prompt = \xff\xfe\n")
    assert D.read_layout(str(env), os.environ) is None
    info = {e.prefix: e for e in survey.survey(None, paths=(str(env),)).environments}[str(env)]
    assert info.facts_from == "interpreter"
    assert info.status == "broken" and "not a working Python interpreter" in info.problem
    assert "UnicodeDecodeError" in info.problem
