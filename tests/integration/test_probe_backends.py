"""Real Keras and real backends probed in children, and doctor's claims checked against them.

What doctor says TensorFlow will do (fail at `import tensorflow`, reject NCHW on CPU,
break tf.keras) is compared with what a child running the real TensorFlow does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kbackend.envs import installed as inst
from kbackend.doctor.probe import plan

pytestmark = pytest.mark.integration

INSTALLED = inst.versions(inst.scan(sys.path))
KERAS = INSTALLED.get("keras")
HAS_TF = "tensorflow" in INSTALLED or "tensorflow-cpu" in INSTALLED
needs_tf = pytest.mark.skipif(not HAS_TF or not KERAS, reason="needs TensorFlow and Keras 3")


def _child(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=300)


def _doctor(run_cli, *args):
    code, out, err = run_cli("doctor", "--json", *args)
    return code, json.loads(out)


@pytest.mark.skipif(not KERAS, reason="needs Keras")
def test_every_installed_backend_probed_for_real_and_cached(run_cli, tmp_path, monkeypatch, keras_home):
    # Decoys in the working directory: a child that imported one of them would leave a marker.
    cwd = tmp_path / "work"
    cwd.mkdir()
    names = ("keras", "jax", "tensorflow", "torch", "numpy", "openvino")
    for n in names:
        (cwd / f"{n}.py").write_text(f"open({str(cwd / (n + '.imported'))!r}, 'w').close()\nraise SystemExit(99)\n")
    monkeypatch.chdir(cwd)
    code, doc = _doctor(run_cli, "--refresh")
    expected = [p.name for p in plan(INSTALLED, KERAS)]
    backends = {b["name"]: b for b in doc["facts"]["backends"]}
    assert sorted(n for n, b in backends.items() if b["status"] != "not_run") == sorted(expected)
    for name in expected:
        b = backends[name]
        assert b["status"] == "ok", (name, b["error"], b["log"][-2000:])
        assert b["keras_version"] == KERAS and b["extra"]["keras_backend"] == name
        assert b["devices"] and b["import_s"] > 0 and not b["cached"]
        assert b["version"] == b["dists"][next(iter(b["dists"]))]
    if "torch" in backends:
        t = backends["torch"]
        torch_dist = INSTALLED["torch"]
        assert t["version"] == torch_dist and t["extra"]["module_version"] == torch_dist
        assert (t["built_cuda"] is None) == ("+cpu" in torch_dist)
        # the instruction set torch's CPU kernels use, as torch.backends.cpu names it
        assert t["extra"]["cpu_capability"] in ("DEFAULT", "AVX2", "AVX512", "VSX", "ZVECTOR", "SVE256", "NO AVX")
    if "tensorflow" in backends:
        assert "is_cuda_build" in backends["tensorflow"]["extra"]["build_info"]
        assert isinstance(backends["tensorflow"]["extra"]["onednn"], bool)
    system = doc["facts"]["system"]
    assert system["cpus"] >= 1 and system["os"] and isinstance(system["isa"], list)
    assert [n for n in names if (cwd / f"{n}.imported").exists()] == []
    assert not (keras_home / "keras.json").exists()  # probing Keras wrote no keras.json
    imp = {c["id"]: c for c in doc["checks"]}["backend-importable"]
    assert imp["status"] == "ok"
    # Second run: nothing that matters to a probe changed (a switch and KERAS_BACKEND do not: every
    # probe child sets KERAS_BACKEND itself), so every probe comes from the cache.
    keras_home.mkdir()
    (keras_home / "keras.json").write_text('{"backend": "jax"}')
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    code2, doc2 = _doctor(run_cli)
    assert sorted(doc2["probe"]["cache_hits"]) == sorted(expected) and doc2["probe"]["probed"] == []
    assert [b["status"] for b in doc2["facts"]["backends"]] == [b["status"] for b in doc["facts"]["backends"]]
    # A changed environment variable that matters is a new key.
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1" if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "1" else "2")
    _, doc3 = _doctor(run_cli, "--check", "backend-importable")
    assert doc3["probe"]["probed"] == ["torch"]  # only the configured backend (KERAS_BACKEND)


@needs_tf
def test_a_bad_keras_json_backend_breaks_import_tensorflow(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text('{"backend": "jaxx"}')
    code, doc = _doctor(run_cli, "--check", "tf-import-backend")
    f = doc["checks"][0]
    assert code == 1 and f["status"] == "error" and f["fix"] == "kbackend switch tensorflow"
    real = _child("import tensorflow")
    assert real.returncode != 0 and "Unable to import backend : jaxx" in real.stderr
    # TF_USE_LEGACY_KERAS=1: doctor skips, and TensorFlow indeed imports.
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    try:
        code, doc = _doctor(run_cli, "--check", "tf-import-backend")
    finally:
        del os.environ["TF_USE_LEGACY_KERAS"]
    assert doc["checks"][0]["status"] == "skip"
    assert _child("import tensorflow", {"TF_USE_LEGACY_KERAS": "1"}).returncode == 0


@needs_tf
@pytest.mark.skipif("tf-keras" in INSTALLED, reason="tf_keras is installed")
def test_tf_use_legacy_keras_without_tf_keras(run_cli, monkeypatch):
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")
    code, doc = _doctor(run_cli, "--check", "tf-legacy-keras")
    assert code == 1 and doc["checks"][0]["status"] == "error"
    real = _child("import tensorflow as tf\ntf.keras.layers")
    assert real.returncode != 0 and "ImportError" in real.stderr
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "yes")  # not a value TensorFlow counts
    code, doc = _doctor(run_cli, "--check", "tf-legacy-keras")
    assert code == 0 and doc["checks"][0]["status"] == "warn"
    assert _child("import tensorflow as tf\ntf.keras.layers", {"TF_USE_LEGACY_KERAS": "yes"}).returncode == 0


CONV = ("import numpy as np, keras\n"
        "keras.layers.Conv2D(2, 3)(np.zeros((1, 1, 8, 8), 'float32'))\n")


@needs_tf
@pytest.mark.parametrize("onednn,status,conv_runs", [("0", "error", False), (None, None, None)])
def test_channels_first_on_cpu_agrees_with_real_tensorflow(run_cli, keras_home, monkeypatch, onednn, status, conv_runs):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text('{"backend": "tensorflow", "image_data_format": "channels_first"}')
    env = {}
    if onednn is not None:
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", onednn)
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    code, doc = _doctor(run_cli, "--check", "channels-first-cpu")
    f = doc["checks"][0]
    tf = next(b for b in doc["facts"]["backends"] if b["name"] == "tensorflow")
    real = _child(CONV, {"KERAS_HOME": str(keras_home), **env})
    if status is None:  # whatever this TensorFlow build does, doctor must agree with it
        status, conv_runs = ("warn", True) if real.returncode == 0 else ("error", False)
    assert f["status"] == status and tf["extra"]["cpu_nchw_conv"] is conv_runs
    assert tf["extra"]["onednn"] is conv_runs  # oneDNN's kernels are what run NCHW on the CPU
    assert (real.returncode == 0) is conv_runs, real.stderr[-500:]
    if not conv_runs:
        assert "NHWC" in real.stderr


@pytest.mark.skipif(not {"keras", "jax", "jaxlib"} <= set(INSTALLED), reason="needs Keras and jax")
def test_numpy_backend_probe(run_cli, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "numpy")
    code, doc = _doctor(run_cli, "--check", "backend-importable", "--check", "numpy-needs-jax")
    assert [c["status"] for c in doc["checks"]] == ["ok", "ok"]
    np_b = next(b for b in doc["facts"]["backends"] if b["name"] == "numpy")
    assert np_b["extra"]["keras_backend"] == "numpy" and np_b["devices"] == ["cpu"]
