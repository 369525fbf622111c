"""Discovery and layouts of environments, on fake layouts built from files (no interpreter runs)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_envs_support import VERSION, XY, clean_discovery, fake_dist, fake_env  # noqa: E402

from kbackend.envs import discover as D  # noqa: E402
from kbackend.services import survey  # noqa: E402


def _by_prefix(res):
    return {os.path.basename(e.prefix): e for e in res.environments}


def test_parse_version():
    assert D.parse_version("3.11.7.final.0") == "3.11.7"
    assert D.parse_version("3.6") == "3.6"
    assert D.parse_version("nonsense") is None
    assert D.parse_version(None) is None


def test_dot_venvs_in_cwd_and_parents(tmp_path):
    fake_env(tmp_path / ".venv")
    fake_env(tmp_path / "a" / "venv")
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "a" / "b" / "venv").mkdir()  # not an environment: ignored
    found = [c.path for c in D.dot_venvs(str(tmp_path / "a" / "b"))]
    assert found[:2] == [str(tmp_path / "a" / "venv"), str(tmp_path / ".venv")]


def test_conda_files_environments_txt_envs_folders_and_base(tmp_path, isolated_home):
    home = isolated_home
    base = fake_env(home / "miniconda3", flavour="conda")
    e1 = fake_env(home / "miniconda3" / "envs" / "tf", flavour="conda", version="3.10.4")
    e2 = fake_env(tmp_path / "elsewhere" / "torchenv", flavour="conda")
    (home / ".conda").mkdir()
    (home / ".conda" / "environments.txt").write_text(f"{e2}\n# comment\n\n")
    found = {c.path: c for c in D.conda_from_files({"HOME": str(home)})}
    assert str(base) in found and str(e1) in found and str(e2) in found
    assert found[str(e2)].source.endswith("environments.txt")


def test_conda_exe_is_used_when_present_and_its_failure_noted(tmp_path, monkeypatch):
    cwd = clean_discovery(monkeypatch, tmp_path)
    env = fake_env(tmp_path / "c" / "envs" / "x", flavour="conda")
    bindir = tmp_path / "condabin"
    bindir.mkdir()
    conda = bindir / "conda"
    conda.write_text(f"#!/bin/sh\necho '{json.dumps({'envs': [str(env)]})}'\n")
    conda.chmod(conda.stat().st_mode | stat.S_IEXEC)
    environ = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    cands, notes = D.discover(environ, str(cwd))
    assert [c for c in cands if c.kind == "conda"] == [D.Candidate(str(env), "conda", "conda env list")]
    assert notes == []
    conda.write_text("#!/bin/sh\necho 'CondaError: broken' >&2\nexit 1\n")
    cands, notes = D.discover(environ, str(cwd))
    assert "CondaError: broken" in notes[0]


def test_pyenv_versions_and_virtualenv_plugin_envs(tmp_path):
    root = tmp_path / "pyenv"
    fake_env(root / "versions" / "3.9.1", flavour="prefix", version="3.9.1")
    fake_env(root / "versions" / "3.9.1" / "envs" / "proj", version="3.9.1")
    found = [c.path for c in D.pyenv_versions({"PYENV_ROOT": str(root)})]
    assert found == [str(root / "versions" / "3.9.1"), str(root / "versions" / "3.9.1" / "envs" / "proj")]


def test_layout_of_venv_reads_pyvenv_cfg_and_pth_path_lines(tmp_path):
    env = fake_env(tmp_path / "v", dists={"keras": "3.15.1"})
    extra = tmp_path / "extra"
    extra.mkdir()
    site = env / "lib" / f"python{XY}" / "site-packages"
    (site / "a.pth").write_text(f"# comment\n{extra}\nimport os\n{tmp_path / 'missing'}\nrelative\n")
    (site / "relative").mkdir()
    lay = D.read_layout(str(env), {"HOME": str(tmp_path)})
    assert lay.flavour == "venv" and lay.version == VERSION and lay.problem is None
    assert lay.sys_path == (str(site), str(extra), str(site / "relative"))


def test_layout_versions_from_conda_meta_and_patchlevel(tmp_path):
    assert D.read_layout(str(fake_env(tmp_path / "c", flavour="conda", version="3.10.4")), {}).version == "3.10.4"
    assert D.read_layout(str(fake_env(tmp_path / "p", flavour="prefix", version="3.9.18")), {}).version == "3.9.18"


def test_prefix_layout_includes_user_site_unless_disabled(tmp_path):
    env = fake_env(tmp_path / "p", flavour="prefix")
    user = tmp_path / "home" / ".local" / "lib" / f"python{XY}" / "site-packages"
    user.mkdir(parents=True)
    site = str(env / "lib" / f"python{XY}" / "site-packages")
    assert D.read_layout(str(env), {"HOME": str(tmp_path / "home")}).sys_path == (str(user), site)
    assert D.read_layout(str(env), {"HOME": str(tmp_path / "home"), "PYTHONNOUSERSITE": "1"}).sys_path == (site,)


def test_broken_venv_base_removed_and_dangling_interpreter(tmp_path):
    env = fake_env(tmp_path / "v", python=False)
    (env / "bin").mkdir()
    os.symlink(tmp_path / "gone" / "python3", env / "bin" / "python")
    (env / "pyvenv.cfg").write_text(f"home = {tmp_path / 'gone'}\nversion = {VERSION}\n")
    lay = D.read_layout(str(env), {})
    assert "does not exist" in lay.problem and "base interpreter" in lay.problem


def test_conda_env_without_python_is_broken(tmp_path):
    env = fake_env(tmp_path / "c", flavour="conda", python=False)
    assert "conda environment without Python" in D.read_layout(str(env), {}).problem


def test_unknown_or_unreadable_layouts_are_left_to_the_interpreter(tmp_path):
    env = fake_env(tmp_path / "v")
    (env / "pyvenv.cfg").write_bytes(b"home = \xff\xfe\n")
    assert D.read_layout(str(env), {}) is None
    (tmp_path / "bare" / "bin").mkdir(parents=True)
    os.symlink(sys.executable, tmp_path / "bare" / "bin" / "python")  # no lib/pythonX.Y: a layout it does not know
    assert D.read_layout(str(tmp_path / "bare"), {}) is None
    os.unlink(tmp_path / "bare" / "bin" / "python")
    assert "no Python interpreter" in D.read_layout(str(tmp_path / "bare"), {}).problem


def test_survey_merges_sources_judges_backends_and_reports_broken(tmp_path, monkeypatch):
    cwd = clean_discovery(monkeypatch, tmp_path)
    venv = fake_env(cwd / ".venv", dists={"keras": "3.15.1", "jax": "0.10.2", "jaxlib": "0.10.2", "numpy": "2.4.6"})
    monkeypatch.setenv("VIRTUAL_ENV", str(venv))
    fake_env(tmp_path / "workon" / "old", dists={"keras": "3.15.1", "jax": "0.4.1", "jaxlib": "0.4.1"})
    monkeypatch.setenv("WORKON_HOME", str(tmp_path / "workon"))
    fake_env(tmp_path / "workon" / "noconda", flavour="conda", python=False)
    keras_home = Path(os.environ["KERAS_HOME"])
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    res = survey.survey(None, paths=(str(tmp_path / "nowhere"),))
    envs = _by_prefix(res)
    assert envs[".venv"].kinds == ["active", ".venv"]
    assert envs[".venv"].backend.value == "jax" and envs[".venv"].backend.usable is True
    assert [b.name for b in envs[".venv"].backends] == ["jax", "numpy"]
    assert envs["old"].backend.usable is False and "0.4.20" in envs["old"].backend.reason
    assert envs["noconda"].status == "broken"
    assert envs["nowhere"].status == "broken" and res.explicit_broken == [envs["nowhere"]]
    assert res.notes == []


def test_survey_effective_backend_follows_pin_then_keras_backend(tmp_path, monkeypatch):
    clean_discovery(monkeypatch, tmp_path)
    env = fake_env(tmp_path / "v", dists={"keras": "3.15.1", "torch": "2.13.0"})
    site = env / "lib" / f"python{XY}" / "site-packages"
    from kbackend.envs.pin import PIN_FILE, pin_line

    (site / PIN_FILE).write_text(pin_line("torch"))
    info = _by_prefix(survey.survey(None, paths=(str(env),)))["v"]
    assert (info.backend.value, info.backend.origin, info.backend.usable) == ("torch", f"env-pin:{site / PIN_FILE}", True)
    assert info.pin.value == "torch"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    info = _by_prefix(survey.survey(None, paths=(str(env),)))["v"]
    assert (info.backend.value, info.backend.origin, info.backend.usable) == ("jax", "env:KERAS_BACKEND", False)
    assert "not installed" in info.backend.reason


def test_legacy_env_judged_by_its_keras_and_python(tmp_path, monkeypatch):
    clean_discovery(monkeypatch, tmp_path)
    env = fake_env(tmp_path / "legacy", version="3.6.15", dists={"Keras": "2.3.1", "cntk": "2.7"})
    monkeypatch.setenv("KERAS_BACKEND", "cntk")
    info = _by_prefix(survey.survey(None, paths=(str(env),)))["legacy"]
    assert info.keras_rules == "2.2-2.3" and info.python_version == "3.6.15"
    assert info.backend.usable is True
    assert [b.name for b in info.backends] == ["cntk"]
    fake_dist(env / "lib" / "python3.6" / "site-packages", "tensorflow", "2.21.0")
    info = _by_prefix(survey.survey(None, paths=(str(env),)))["legacy"]
    assert {b.name: b.accepted for b in info.backends} == {"tensorflow": True, "cntk": True}
