"""`verify --model` against real Keras models on the real backends.

The models are built once per session with Keras in one child (model_fixtures.py: nothing
downloaded), saved to a temporary folder, and each test runs `kbackend verify --model --json`
as a subprocess and reads its one document. Several checks share each run to keep CI short:
every installed backend runs the MLP (with one backend's op patched wrong through the worker's
KBACKEND_TEST_PATCH hook) and the CNN; the text, Transformer and MobileNetV3Small models run on
two backends (jax and torch; MobileNetV3Small at 64x64 pixels: its float64 reference and five
backends cost minutes more on two cores, which benchmarks/model.py measures instead); the loading
tests run on the numpy backend (the quickest children).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kbackend.suite.run import installed_backends

pytestmark = pytest.mark.integration

BACKENDS = installed_backends(sys.path)[0]
FIXTURES = Path(__file__).with_name("model_fixtures.py")
MODELS = ["mlp", "cnn", "rnn", "transformer", "mobilenet", "custom", "subclassed", "lambda", "broken"]
TWO = [b for b in ("jax", "torch") if b in BACKENDS]


def _env(tmp: Path, extra: dict | None = None) -> dict:
    env = {**os.environ, "HOME": str(tmp), "KERAS_HOME": str(tmp / ".keras"), "XDG_CACHE_HOME": str(tmp / ".cache"),
           "XDG_CONFIG_HOME": str(tmp / ".config"), **(extra or {})}
    env.pop("KERAS_BACKEND", None)
    return env


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Path:
    if "numpy" not in BACKENDS or not TWO:
        pytest.skip("needs the numpy backend (the reference) and jax or torch")
    out = tmp_path_factory.mktemp("models")
    env = _env(out, {"KERAS_BACKEND": TWO[0]})
    p = subprocess.run([sys.executable, str(FIXTURES), str(out), *MODELS], env=env, capture_output=True, text=True,
                       timeout=300, cwd=str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    return out


def verify(tmp: Path, *args, extra_env=None):
    p = subprocess.run([sys.executable, "-m", "kbackend", "verify", "--json", "--model", *map(str, args)],
                       env=_env(tmp, extra_env), cwd=str(tmp), capture_output=True, text=True, timeout=540,
                       stdin=subprocess.DEVNULL)
    doc = json.loads(p.stdout)
    assert doc["exit_code"] == p.returncode
    return p.returncode, doc, p.stderr


def rows(doc) -> dict:
    return {r["backend"]: r for r in doc["backends"]}


# --------------------------------------------------------------------------- every backend


PATCH_TANH = '''
if backend == "torch":
    import keras.src.ops as kops

    _tanh = kops.tanh
    kops.tanh = lambda x: _tanh(x) * 1.01
'''


@pytest.fixture(scope="module")
def mlp_patched(models, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlp")
    patch = tmp / "patch.py"
    patch.write_text(PATCH_TANH)
    return verify(tmp, models / "mlp.keras", extra_env={"KBACKEND_TEST_PATCH": str(patch)})


@pytest.mark.skipif("torch" not in BACKENDS, reason="the patch makes torch wrong")
def test_a_wrong_op_on_one_backend_names_its_first_diverging_layer_there_only(mlp_patched):
    code, doc, _ = mlp_patched
    assert code == 1 and doc["ok"] is False
    r = rows(doc)
    torch = r["torch"]
    assert torch["status"] == "diverges"
    layer = torch["first_diverging_layer"]
    # "hidden" (relu) is right; "mid" is the first Dense whose tanh is 1% off
    assert layer["name"] == "mid" and layer["class"] == "Dense" and layer["config"]["activation"] == "tanh"
    assert layer["max_rel_err"] == pytest.approx(0.01, rel=0.2)
    assert layer["cases"] == ["matmul", "add", "tanh"]  # the op cases to run next
    # ... and its train step's gradient differs from the float64 central differences
    assert torch["train_ok"] is False and "central differences" in torch["train_error"]
    for b in BACKENDS:
        if b != "torch":
            assert r[b]["status"] == "ok", r[b]
            assert r[b]["first_diverging_layer"] is None
            assert r[b]["worst"] is not None and r[b]["worst"] <= 1


def test_every_installed_backend_has_a_row_and_inference_only_ones_are_not_failures(mlp_patched):
    _, doc, _ = mlp_patched
    r = rows(doc)
    assert set(r) == set(BACKENDS)
    for b in BACKENDS:
        assert r[b]["loads"] is True and r[b]["predict_s"] is not None
    for b in ("numpy", "openvino"):
        if b in r:
            assert r[b]["trains"] == "inference-only" and r[b]["status"] == "ok"
    for b in ("jax", "tensorflow"):
        if b in r:
            assert r[b]["trains"] == "yes" and r[b]["train_ok"] is True and r[b]["train_step_s"] is not None
    assert "central differences" in doc["train_reference"]
    assert doc["kind"] == "sequential" and doc["reference"] == "numpy" and doc["reference_note"] is None
    # every child fed the same arrays
    assert len({r[b]["inputs_digest"] for b in BACKENDS}) == 1


def test_a_cnn_with_batchnorm_pooling_dropout_and_both_data_formats_matches_everywhere(models, tmp_path):
    code, doc, err = verify(tmp_path, models / "cnn.keras")
    assert code == 0, (doc, err[-2000:])
    assert doc["ok"] is True and doc["kind"] == "functional"
    assert doc["inputs"][0]["shape"] == [2, 16, 16, 3] and "image-like" in doc["inputs"][0]["values"]
    assert any("dropout" in n for n in doc["notes"])  # off for the train step, and said so
    for b, r in rows(doc).items():
        assert r["status"] == "ok" and r["max_abs_err"] is not None, r


# --------------------------------------------------------------------------- two backends


def test_text_model_gets_embedding_indices_with_padding_and_matches(models, tmp_path):
    code, doc, err = verify(tmp_path, models / "rnn.keras", "--backend", ",".join(TWO))
    assert code == 0, (doc, err[-2000:])
    spec = doc["inputs"][0]
    assert spec["dtype"] == "int32" and "indices in [1, 50)" in spec["values"] and "padding" in spec["values"]
    assert all(r["status"] == "ok" and r["trains"] == "yes" and r["train_ok"] for r in doc["backends"])


def test_transformer_encoder_block_matches(models, tmp_path):
    code, doc, err = verify(tmp_path, models / "transformer.keras", "--backend", ",".join(TWO))
    assert code == 0, (doc, err[-2000:])
    assert all(r["status"] == "ok" for r in doc["backends"])


def test_mobilenet_v3_small_matches_on_two_backends(models, tmp_path):
    code, doc, err = verify(tmp_path, models / "mobilenet.keras", "--backend", ",".join(TWO), "--no-train")
    assert code == 0, (doc, err[-2000:])
    assert doc["params"] > 100_000 and "[0, 255]" in doc["inputs"][0]["values"]  # Rescaling reads pixels
    assert all(r["status"] == "ok" and r["trains"] == "not run" for r in doc["backends"])


# --------------------------------------------------------------------------- loading


def test_custom_layer_needs_custom_objects_and_loads_with_them(models, tmp_path):
    b = "numpy"  # the loading tests run on the numpy backend: no compilation, the quickest children
    code, doc, _ = verify(tmp_path, models / "custom.keras", "--backend", b, "--no-train")
    # the reference cannot load it either: one error that says why and how
    assert code == 1 and "error" in doc
    assert "custom" in doc["error"]["message"].lower() and "--custom-objects" in doc["error"]["fix"]
    code, doc, _ = verify(tmp_path, models / "custom.keras", "--backend", b, "--no-train",
                          "--custom-objects", models / "custom_layer.py")
    assert code == 0 and rows(doc)[b]["status"] == "ok"


def test_legacy_h5_loads_and_matches(models, tmp_path):
    code, doc, err = verify(tmp_path, models / "mlp_legacy.h5", "--backend", "numpy", "--no-train")
    assert any("compile" in n for n in doc["notes"])  # its training configuration could not be restored: said
    assert code == 0, (doc, err[-2000:])


def test_safe_mode_refuses_a_lambda_and_says_how_to_allow_it(models, tmp_path):
    code, doc, _ = verify(tmp_path, models / "lambda.keras", "--backend", "numpy", "--no-train")
    assert code == 1 and "safe mode" in doc["error"]["message"].lower() and "--unsafe" in doc["error"]["fix"]
    code, doc, _ = verify(tmp_path, models / "lambda.keras", "--backend", "numpy", "--no-train", "--unsafe")
    assert code == 0, doc


def test_subclassed_model_is_compared_at_its_outputs(models, tmp_path):
    b = TWO[0]
    code, doc, err = verify(tmp_path, models / "subclassed.keras", "--backend", b,
                            "--custom-objects", models / "subclassed_model.py")
    assert code == 0, (doc, err[-2000:])
    assert doc["kind"] == "subclassed" and rows(doc)[b]["status"] == "ok" and rows(doc)[b]["train_ok"] is True


@pytest.mark.parametrize("name,words", [("truncated.keras", "truncated"), ("notes.keras", "not a Keras model")])
def test_a_truncated_or_non_model_file_is_a_clear_error(models, tmp_path, name, words):
    code, doc, _ = verify(tmp_path, models / name)
    assert code == 1 and words in doc["error"]["message"] and doc["error"]["fix"]


# --------------------------------------------------------------------------- export


@pytest.mark.skipif("jax" not in BACKENDS or "tensorflow" not in BACKENDS, reason="needs jax and tensorflow")
def test_export_says_which_formats_work_and_runs_what_it_wrote(models, tmp_path):
    code, doc, err = verify(tmp_path, models / "mlp.keras", "--backend", "jax", "--no-train", "--export")
    assert code == 0, (doc, err[-2000:])
    ex = rows(doc)["jax"]["exports"]
    assert set(ex) == {"tf_saved_model", "onnx", "openvino"}
    saved = ex["tf_saved_model"]
    # exported from jax, run by tensorflow's runtime, compared with the float64 reference
    assert saved["status"] == "ok" and saved["runtime"] is True and saved["outputs"]["status"] == "pass"
    for fmt, x in ex.items():  # a format that fails says why
        assert x["status"] == "ok" or x["error"], (fmt, x)


# --------------------------------------------------------------------------- bench --model


def bench_model(tmp: Path, *args, extra_env=None):
    p = subprocess.run([sys.executable, "-m", "kbackend", "bench", "--json", *map(str, args)],
                       env=_env(tmp, extra_env), cwd=str(tmp), capture_output=True, text=True, timeout=540,
                       stdin=subprocess.DEVNULL)
    doc = json.loads(p.stdout) if p.stdout.strip().startswith("{") else {}
    return p.returncode, doc, p.stderr


def test_bench_model_times_predict_per_batch_and_the_train_step_with_bench_statistics(models, tmp_path):
    b = TWO[0]
    base = tmp_path / "model-base.json"
    code, doc, err = bench_model(tmp_path, "--model", models / "mlp.keras", "--backend", b, "--backend", "numpy",
                                 "--batch", "1", "--batch", "4", "--repeat", "3", "--processes", "2",
                                 "--save", base, "--html", tmp_path / "model.html")
    assert code == 0 and doc["command"] == "bench", (doc, err[-2000:])
    got = {(r["backend"], r["case"], r["size"]): r for r in doc["results"]}
    assert set(got) == {(x, "model.predict", "batch=1") for x in (b, "numpy")} | \
        {(x, "model.predict", "batch=4") for x in (b, "numpy")} | {(x, "model.train_step", "batch=4") for x in (b, "numpy")}
    for (backend, case, size), r in got.items():
        if backend == "numpy" and case == "model.train_step":  # inference-only, said, not a failure
            assert r["status"] == "skipped" and "inference-only" in r["error"]
            continue
        # bench's one estimator over processes, the first call (compilation) apart
        assert r["status"] == "ok" and len(r["process_mins"]) == 2 and len(r["samples"]) == 2 * 3, r
        assert abs(r["median_s"] - sum(r["process_mins"]) / 2) < 1e-12
        assert r["first_call_s"] > 0 and r["category"] == "model"
    assert doc["options"]["model"]["name"] == "mlp.keras" and len(doc["options"]["model"]["sha256"]) == 16
    # the run is a baseline like any bench run, and the HTML report names the model's cases
    saved = json.loads(base.read_text())
    assert saved["format"] == "kbackend-bench" and {r["case"] for r in saved["results"]} == {
        "model.predict", "model.train_step"}
    assert "model.predict" in (tmp_path / "model.html").read_text()


def test_bench_model_gate_catches_a_slower_predict_and_notes_a_changed_model(models, tmp_path):
    base = tmp_path / "base.json"
    common = ("--model", models / "mlp.keras", "--backend", "numpy", "--batch", "2", "--repeat", "3",
              "--threads", "1")
    code, doc, err = bench_model(tmp_path, *common, "--save", base)
    assert code == 0, err[-2000:]
    # a real slowdown in the child (the bench worker spins after each predict call): caught and confirmed
    code, doc, err = bench_model(tmp_path, *common, "--baseline", base,
                                 extra_env={"KBACKEND_TEST_BENCH_SLOWDOWN": "model.predict=3"})
    assert code == 1, (err[-2000:], doc.get("comparisons"))
    assert [(c["case"], c["size"]) for c in doc["regressions"]] == [("model.predict", "batch=2")]
    reg = doc["regressions"][0]
    assert reg["confirmation"] == "confirmed" and reg["ratio"] == reg["median_s"] / reg["baseline_median_s"]
    # another model against this baseline: compared (a changed model can be the slowdown), and said
    code, doc, err = bench_model(tmp_path, "--model", models / "cnn.keras", *common[2:], "--baseline", base,
                                 "--no-confirm")
    assert any(d.startswith("model file: baseline mlp.keras") and "now cnn.keras" in d
               for d in doc["gate"]["differences"]), doc.get("gate")


@pytest.mark.parametrize("args, expected", [
    (("--model", "{mlp}", "--op", "add"), "`--model` times a saved model's predict and train step, not op cases"),
    (("--batch", "4"), "--batch is an option of `--model`"),
    (("--no-train", "--quick"), "--no-train is an option of `--model`"),
])
def test_bench_model_options_that_do_not_go_together_are_usage_errors(models, tmp_path, args, expected):
    args = [a.format(mlp=models / "mlp.keras") for a in args]
    p = subprocess.run([sys.executable, "-m", "kbackend", "bench", *args], env=_env(tmp_path), cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and expected in " ".join(p.stderr.split()), p.stderr


def test_bench_model_of_a_file_that_is_not_a_model_fails_before_any_child(tmp_path):
    f = tmp_path / "notes.keras"
    f.write_text("not a model")
    code, doc, err = bench_model(tmp_path, "--model", f)
    assert code == 1 and "is not a Keras model file" in doc["error"]["message"], (doc, err)
    assert "model.save" in doc["error"]["fix"]


def test_given_inputs_are_fed_to_every_child(models, tmp_path):
    np = pytest.importorskip("numpy")
    f = tmp_path / "x.npz"
    np.savez(f, np.linspace(-1, 1, 3 * 16, dtype="float32").reshape(3, 16))
    code, doc, err = verify(tmp_path, models / "mlp.keras", "--backend", "numpy", "--no-train", "--inputs", f)
    assert code == 0, (doc, err[-2000:])
    assert doc["inputs"] == [{"name": "input_layer", "shape": [3, 16], "dtype": "float32", "values": "given"}] or \
        (doc["inputs"][0]["shape"] == [3, 16] and doc["inputs"][0]["values"] == "given")


# --------------------------------------------------------------------------- the float64 reference's one build


def test_reference_built_from_the_keras_config_equals_the_upcast_copy_of_the_loaded_model(models, tmp_path):
    """A .keras file's reference is built once, straight in float64 from its config.json; any other
    file is loaded in float32 and copied to float64. Both ways give the same model: bit-equal outputs."""
    np = pytest.importorskip("numpy")
    from kbackend.suite import model_verify as M
    from kbackend.workers.runner import run_worker

    h5 = tmp_path / "cnn.h5"  # the same model and weights in the legacy format: the copy path
    p = subprocess.run([sys.executable, "-c", "import sys, keras; keras.saving.load_model(sys.argv[1]).save(sys.argv[2])",
                        str(models / "cnn.keras"), str(h5)], env=_env(tmp_path, {"KERAS_BACKEND": "numpy"}),
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    got = {}
    for f in (models / "cnn.keras", h5):
        plan = M.ModelPlan(sys.executable, str(f), ["numpy"], {}, "numpy", train=False, env={})
        out = tmp_path / (f.name + ".npz")
        job = M._job(plan, "numpy", str(out), reference=True, layers=False, train=False)
        r = run_worker(sys.executable, M.WORKER, job, timeout=300, env=M._env(plan, "numpy", True))
        assert r.ok and not r.data.get("load_error") and not r.data.get("run_error"), (r.error, r.data)
        with np.load(out) as z:
            got[r.data["float64_build"]] = (z["out/0"], r.data["outputs"])
    assert set(got) == {"config", "copy"}
    (a, oa), (b, ob) = got["config"], got["copy"]
    assert oa == ob and oa[0]["dtype"] == "float64" and np.array_equal(a, b)
