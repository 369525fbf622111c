"""After `kbackend switch X`, real Keras (a full `import keras` in a child) uses X."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from kbackend.config.judge import installed_backend
from kbackend.envs import installed as inst

pytestmark = pytest.mark.integration

PROBE = "import json, keras; print(json.dumps([keras.backend.backend(), keras.config.floatx(), keras.config.epsilon(), keras.config.image_data_format()]))"


def _installed_backends():
    v = inst.versions(inst.scan(tuple(p for p in sys.path if p)))
    return [b for b in ("numpy", "jax", "torch", "tensorflow", "openvino") if installed_backend(b, v)[0]]


def _keras(home: str, extra_env: dict | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_")}
    env.update(KERAS_HOME=home, PYTHONSAFEPATH="1", TF_CPP_MIN_LOG_LEVEL="3", **(extra_env or {}))
    p = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300, cwd=home)
    return p


def test_ci_has_the_backends_installed():
    # CI installs every Keras 3 backend; this guards the loop below from passing on nothing.
    assert set(_installed_backends()) >= {"numpy", "jax", "torch", "tensorflow", "openvino"}


def test_switch_then_real_keras_agrees(run_cli, tmp_path):
    homes = {}
    for b in _installed_backends():
        home = tmp_path / b
        code, _, err = run_cli("--keras-home", str(home), "switch", b)
        assert code == 0, err
        code, _, err = run_cli("--keras-home", str(home), "set", "floatx", "float64")
        assert code == 0, err
        homes[b] = str(home)
    with ThreadPoolExecutor(max_workers=2) as ex:
        results = dict(zip(homes, ex.map(_keras, homes.values())))
    for b, p in results.items():
        assert p.returncode == 0, (b, p.stderr[-2000:])
        got = json.loads(p.stdout.strip().splitlines()[-1])
        assert got[0] == b
        assert got[1] == "float64"
        # And kbackend's own view of the same file agrees with Keras.
        code, out, _ = run_cli("--keras-home", homes[b], "show", "--json")
        eff = json.loads(out)["effective"]
        assert [eff[k]["value"] for k in ("backend", "floatx", "epsilon", "image_data_format")] == got


def test_full_import_failure_message_is_what_kbackend_predicts(run_cli, tmp_path):
    home = tmp_path / "k"
    home.mkdir()
    (home / "keras.json").write_text('{"floatx": "bfloat16", "backend": "jax"}')
    p = _keras(str(home))
    assert p.returncode != 0
    code, out, _ = run_cli("--keras-home", str(home), "check", "--json")
    doc = json.loads(out)
    assert code == 1 and not doc["imports"]
    assert doc["keras_error"] in p.stderr


def test_malformed_file_keras_runs_on_defaults_and_check_says_so(run_cli, tmp_path):
    home = tmp_path / "k"
    home.mkdir()
    (home / "keras.json").write_text('{"backend": "jax", "floatx": "float64",')
    p = _keras(str(home), {"KERAS_BACKEND": "numpy"})
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout.strip().splitlines()[-1])[:2] == ["numpy", "float32"]
    code, out, _ = run_cli("--keras-home", str(home), "check", "--json", env={"KERAS_BACKEND": "numpy"})
    doc = json.loads(out)
    assert code == 1 and "file_malformed" in doc["failures"]
    assert doc["effective"]["floatx"] == {"value": "float32", "origin": "default"}
