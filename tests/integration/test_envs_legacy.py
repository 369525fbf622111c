"""Legacy environments: with --python at a Keras 2.3.1 environment, its rules, Python and packages decide.

Keras 2.3.1 is installed for real (pip --no-deps) into real venvs: one on this
Python (3.11, where CNTK and Theano cannot be installed) and, when pyenv has it,
one on Python 3.6 (where CNTK 2.7 can).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_envs_support import make_venv, pip_install_target, py, require_pyenv_python, site_of  # noqa: E402

from kbackend.envs.pin import PIN_FILE  # noqa: E402

GOOD = "def placeholder(*a): pass\ndef variable(*a): pass\ndef function(*a): pass\n"
HALF = "def placeholder(*a): pass\n"


def _legacy(root: Path, python: str = sys.executable) -> Path:
    env = make_venv(root, python=python)
    pip_install_target(site_of(env), "keras==2.3.1")
    (site_of(env) / "goodbk.py").write_text(GOOD)
    (site_of(env) / "halfbk.py").write_text(HALF)
    (site_of(env) / "crashbk.py").write_text("raise RuntimeError('boom at import')\n")
    return env


@pytest.fixture(scope="session")
def legacy311(tmp_path_factory) -> Path:
    return _legacy(tmp_path_factory.mktemp("legacy") / "k231-py311")


@pytest.fixture(scope="session")
def legacy36(tmp_path_factory) -> Path:
    return _legacy(tmp_path_factory.mktemp("legacy") / "k231-py36", require_pyenv_python("3.6"))


def test_show_applies_keras_2_3_rules(legacy311, run_cli):
    code, out, _ = run_cli("--python", py(legacy311), "show", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["keras_version"] == "2.3.1" and doc["keras_rules"] == "2.2-2.3"


@pytest.mark.parametrize("backend", ["cntk", "theano"])
def test_pin_of_a_legacy_backend_is_judged_by_the_environments_python(legacy311, run_cli, backend):
    code, _, err = run_cli("--python", py(legacy311), "switch", backend, "--scope", "env")
    assert code == 1
    assert "cannot be installed on Python 3.11" in err and f"switch {backend}" in err
    assert not (site_of(legacy311) / PIN_FILE).exists()


def test_cntk_on_python_36_is_judged_by_what_is_installed(legacy36, run_cli):
    code, _, err = run_cli("--python", py(legacy36), "switch", "cntk", "--scope", "env")
    assert code == 1 and "cannot be installed on Python" not in err
    assert "not installed" in err and "pip install cntk==2.7" in err


def test_keras_3_backends_are_refused_by_keras_2_3(legacy311, run_cli):
    code, _, err = run_cli("--python", py(legacy311), "switch", "jax", "--scope", "env")
    assert code == 1 and "Keras 2.3.1 does not accept the `jax` backend" in err


def test_external_backend_module_checked_in_a_child_of_that_interpreter(legacy311, run_cli):
    py_ = py(legacy311)
    code, _, err = run_cli("--python", py_, "switch", "halfbk", "--scope", "env")
    assert code == 1 and "lacks `variable`" in err and "lacks `function`" in err and "placeholder" not in err
    code, _, err = run_cli("--python", py_, "switch", "nosuchbk", "--scope", "env")
    assert code == 1 and "does not import" in err and "No module named 'nosuchbk'" in err
    code, _, err = run_cli("--python", py_, "switch", "crashbk", "--scope", "env")
    assert code == 1 and "boom at import" in err
    code, out, err = run_cli("--python", py_, "switch", "goodbk", "--scope", "env", "--json")
    assert code == 0, err
    assert json.loads(out)["pin_path"] == str(site_of(legacy311) / PIN_FILE)
    r = subprocess.run([py_, "-c", "import os; print(os.environ['KERAS_BACKEND'])"], capture_output=True, text=True,
                       check=True, env={"PATH": "/usr/bin:/bin"})
    assert r.stdout.strip() == "goodbk"
    code, out, _ = run_cli("--python", py_, "envs", "--json")
    target = [e for e in json.loads(out)["environments"] if "target" in e["kinds"]][0]
    assert target["keras_version"] == "2.3.1" and target["backend"]["value"] == "goodbk"
    assert target["backend"]["usable"] is None  # an external module: only a child can tell
    assert run_cli("--python", py_, "switch", "--scope", "env", "--unset")[0] == 0


def test_user_scope_switch_checks_external_modules_in_that_interpreter(legacy311, run_cli, keras_home):
    code, _, err = run_cli("--python", py(legacy311), "switch", "halfbk")
    assert code == 1 and "Missing required entry : variable" in err
    assert not (keras_home / "keras.json").exists()


def test_user_scope_switch_of_cntk_is_judged_by_the_environments_python(legacy311, run_cli):
    code, _, err = run_cli("--python", py(legacy311), "switch", "cntk")
    assert code == 1 and "cannot be installed on Python 3.11" in err


def test_user_scope_switch_refuses_keras_3_names_under_keras_2_3(legacy311, run_cli):
    code, _, err = run_cli("--python", py(legacy311), "switch", "jax")
    assert code == 1 and "does not accept the `jax` backend" in err


def test_required_entries_match_the_real_keras_2_3_1_loader(legacy311):
    """The worker's list of required entries is the one in Keras 2.3.1's own source."""
    src = (site_of(legacy311) / "keras" / "backend" / "load_backend.py").read_text()
    real = re.search(r"required_entries = (\[[^\]]*\])", src).group(1)
    from kbackend.child import external_backend

    assert eval(real) == external_backend.REQUIRED  # noqa: S307 - a list literal read from Keras's file
    assert "if 'KERAS_BACKEND' in os.environ:" in src and "if _backend:" in src  # the pin's variable, empty ignored
    assert "if 'KERAS_HOME' in os.environ:" in src  # `kbackend run` can override its file keys


def test_run_follows_the_legacy_rules(legacy311, run_cli):
    code, _, err = run_cli("--python", py(legacy311), "run", "--backend", "jax", "--", "true")
    assert code == 1 and "Keras 2.3.1 does not accept the `jax` backend" in err
    code, _, err = run_cli("--python", py(legacy311), "run", "--floatx", "bfloat16", "--", "true")
    assert code == 1 and "Invalid `floatx`" in err
