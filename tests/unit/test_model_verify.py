"""`verify --model` without a backend: the file checks before any child, the options, and the view.

The real runs (real models on real backends) are in tests/integration/test_verify_model.py; here a
recorded report goes through the real CLI and renderer (80 columns, the JSON envelope, exit codes).
"""

from __future__ import annotations

import json
import zipfile

import click
import pytest
from rich.cells import cell_len

from kbackend.errors import KbackendError
from kbackend.suite import model_verify as M


def test_a_keras_archive_and_an_hdf5_file_are_recognised(tmp_path):
    k = tmp_path / "m.keras"
    with zipfile.ZipFile(k, "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"x")
    h = tmp_path / "m.h5"
    h.write_bytes(M.HDF5_SIGNATURE + b"\0" * 100)
    assert M.sniff(str(k)) == "keras" and M.sniff(str(h)) == "h5"


def test_a_truncated_archive_is_named_damaged(tmp_path):
    k = tmp_path / "m.keras"
    with zipfile.ZipFile(k, "w") as z:
        z.writestr("config.json", "{}" * 1000)
        z.writestr("model.weights.h5", b"x" * 5000)
    data = k.read_bytes()
    k.write_bytes(data[: len(data) // 2])
    with pytest.raises(KbackendError, match="damaged or truncated") as e:
        M.sniff(str(k))
    assert e.value.exit_code == 1 and "model.save" in e.value.fix


def test_a_zip_without_a_config_and_a_text_file_are_not_models(tmp_path):
    z = tmp_path / "photos.keras"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("a.jpg", b"x")
    with pytest.raises(KbackendError, match="not a Keras model"):
        M.sniff(str(z))
    t = tmp_path / "notes.keras"
    t.write_text("my notes")
    with pytest.raises(KbackendError, match="not a Keras model file") as e:
        M.sniff(str(t))
    assert "b'my notes'" in e.value.message


def _report() -> M.ModelReport:
    rows = [
        M.ModelRow("numpy", version="2.4.6", loads=True, max_abs_err=1.5e-7, max_rel_err=1e-6, worst=4.6e-4,
                   outputs=[{"status": "pass", "worst": 4.6e-4}], trains="inference-only", predict_s=6e-4),
        M.ModelRow("torch", status="diverges", version="2.13.0+cpu", loads=True, max_abs_err=0.011, worst=9.3,
                   outputs=[{"status": "fail", "worst": 9.3}], trains="yes", train_ok=False, train_worst=5.9,
                   train_error="its update (the gradient) differs from the float64 central differences: " + "x " * 80,
                   first_diverging_layer={"name": "a_rather_long_layer_name_for_width", "class": "Dense",
                                          "config": {"units": 8, "activation": "tanh"}, "max_abs_err": 0.0099,
                                          "max_rel_err": 0.01, "worst": 9.1},
                   predict_s=0.116, train_step_s=12.5),
        M.ModelRow("openvino", status="load_error", load_error="NotImplementedError: " + "o" * 200,
                   reason="a layer or op of this model is not implemented by Keras's OpenVINO backend",
                   fix="run this model on another backend"),
        M.ModelRow("tensorflow", status="not_installed", fix="pip install tensorflow"),
    ]
    return M.ModelReport("/usr/bin/python3", "/a/rather/long/path/to/the/saved/model/file/model.keras", "numpy",
                         kind="sequential", model_class="Sequential", params=835,
                         inputs=[{"name": "input_layer", "shape": [2, 16], "dtype": "float32",
                                  "values": "standard normal"}],
                         rows=rows, tolerance={"class": "linalg", "atol": 1e-4, "rtol": 1e-3}, elapsed_s=12.0)


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    model = tmp_path / "m.keras"
    with zipfile.ZipFile(model, "w") as z:
        z.writestr("config.json", "{}")
    plan = M.ModelPlan("python", str(model), ["numpy", "torch", "openvino"], {"tensorflow": "pip install tensorflow"},
                       "numpy")
    monkeypatch.setattr(M, "plan", lambda *a, **kw: plan)
    monkeypatch.setattr(M, "run", lambda *a, **kw: _report())
    return model


def test_the_view_fits_80_columns_and_says_what_diverges(run_cli, recorded):
    code, out, _ = run_cli("verify", "--model", str(recorded), env={"COLUMNS": "80"})
    assert code == 1
    wide = [ln for ln in out.splitlines() if cell_len(click.unstyle(ln)) > 80]
    assert not wide, wide
    assert "first diverging layer a_rather_long_layer_name_for_width (Dense; units=8" in " ".join(out.split())
    assert "inference-only backend" in out and "Fix: run this model on another backend" in " ".join(out.split())


def test_the_json_document_has_a_row_per_backend(run_cli, recorded):
    code, out, _ = run_cli("--json", "verify", "--model", str(recorded))
    doc = json.loads(out)
    assert code == 1 and doc["exit_code"] == 1 and doc["command"] == "verify" and doc["ok"] is False
    by = {r["backend"]: r for r in doc["backends"]}
    assert set(by) == {"numpy", "torch", "openvino", "tensorflow"}
    for key in ("loads", "max_abs_err", "first_diverging_layer", "trains", "predict_s", "train_step_s"):
        assert key in by["torch"]
    assert by["torch"]["first_diverging_layer"]["class"] == "Dense"


@pytest.mark.parametrize("args", [["--unsafe"], ["--reference", "jax"], ["--no-train"]])
def test_model_options_without_model_are_usage_errors(run_cli, args):
    code, _, err = run_cli("verify", *args)
    assert code == 2 and "--model" in err


def test_op_filters_do_not_go_with_model(run_cli, recorded):
    code, _, err = run_cli("verify", "--model", str(recorded), "--op", "add")
    assert code == 2 and "--op" in err


def test_the_cases_named_for_a_diverging_layer_exist():
    from kbackend.cli import catalog

    named = {c for cases in M.LAYER_CASES.values() for c in cases} | set(M.ACTIVATION_CASES.values())
    assert named <= set(catalog.OPS), sorted(named - set(catalog.OPS))
