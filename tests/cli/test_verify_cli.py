"""`kbackend verify`: options, usage errors and the JSON contract (no backend imported here)."""

from __future__ import annotations

import json
import shlex

import pytest

from kbackend.suite import run as R


def test_help_shows_examples(run_cli):
    code, out, _ = run_cli("verify", "--help")
    assert code == 0
    assert "kbackend verify --backend torch" in out and "--data-format" in out


def test_list_reads_the_suite_in_the_target(run_cli):
    code, out, _ = run_cli("verify", "--list", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["command"] == "verify" and doc["exit_code"] == 0
    cases = doc["cases"]
    assert len(cases) >= 60
    cats = {c["category"] for c in cases}
    assert {"elementwise", "activation", "reduction", "shape", "indexing", "matmul", "linalg", "conv", "pooling",
            "norm", "softmax", "loss", "sort"} <= cats
    conv = next(c for c in cases if c["name"] == "conv2d")
    assert conv["layout_dependent"] and conv["differentiable"] and conv["tol"] == "matmul"
    # Known upstream defects are listed with their backend and entry (a crash among them runs last there).
    defects = {c["name"]: c["defects"] for c in cases if c["defects"]}
    assert defects["eigh_values"] == [["openvino", "*", "openvino_eigh_crash"], ["openvino", "*", "openvino_eigh_gathernd"]]
    assert defects["sign_edges"] == [["torch", "*", "torch_sign_nan"]]
    assert conv["crashes"] == [] and conv["defects"] == []


def test_list_filters_and_prints_a_table(run_cli):
    code, out, _ = run_cli("verify", "--list", "--category", "pooling")
    assert code == 0
    assert "max_pool2d" in out and "conv2d " not in out
    assert out.rstrip().endswith("cases in 1 categories")


@pytest.mark.parametrize("args,needle", [
    (("--op", "nope"), "Invalid `--op`"),
    (("--category", "convolution"), "Invalid `--category`"),
    (("--backend", "theano"), "Invalid `--backend`. Expected one of ['tensorflow', 'jax', 'torch', 'numpy', "
                              "'openvino'] (the Keras 3 backends)"),
])
def test_bad_names_are_usage_errors(run_cli, args, needle):
    code, out, err = run_cli("verify", *args, "--json")
    assert code == 2
    doc = json.loads(out)
    assert needle in doc["error"]["message"]
    assert doc["exit_code"] == 2


def test_bad_dtype_is_refused_by_click(run_cli):
    code, _, err = run_cli("verify", "--dtype", "float8")
    assert code == 2 and "float8" in err


def test_a_backend_that_is_not_installed_is_a_finding(run_cli, monkeypatch):
    from kbackend import install

    monkeypatch.setattr(R, "installed_backends", lambda sys_path: (["numpy"], {}, "3.15.1"))
    monkeypatch.setattr(install, "detect_gpu", lambda: install.NO_GPU)
    code, out, _ = run_cli("verify", "--backend", "jax", "--json")
    assert code == 1
    doc = json.loads(out)
    fix = f"{shlex.quote(doc['python'])} -m pip install 'jax>=0.4.20'"  # the target's pip, the jax Keras needs
    assert doc["backends"] == [{"name": "jax", "status": "not_installed", "version": None, "keras_version": None,
                                "error": "jax is not installed", "fix": fix, "elapsed_s": None,
                                "import_s": None, "restarts": 0, "log": None, "warnings": [],
                                "known_crashes": []}]
    assert doc["results"] == [] and doc["ok"] is False


def test_without_keras_verify_says_how_to_install_it(run_cli, monkeypatch):
    monkeypatch.setattr(R, "installed_backends", lambda sys_path: ([], {}, None))
    code, _, err = run_cli("verify")
    assert code == 1
    assert "Keras is not installed" in err and "pip install 'keras>=3'" in err


def test_default_dtype_is_the_current_floatx(run_cli, keras_home, monkeypatch):
    keras_home.mkdir(parents=True, exist_ok=True)
    (keras_home / "keras.json").write_text(json.dumps({"floatx": "float16", "backend": "jax"}))
    seen = {}

    def fake_run(python, backends, cases, **kw):
        seen.update(kw, backends=backends, cases=[c.name for c in cases])
        from kbackend.suite.model import VerifyReport

        return VerifyReport(python=python, dtypes=kw["dtypes"], data_formats=kw["data_formats"], backends=[],
                            results=[])

    monkeypatch.setattr(R, "installed_backends", lambda sys_path: (["numpy", "jax"], {}, "3.15.1"))
    monkeypatch.setattr(R, "run_verify", fake_run)
    code, out, _ = run_cli("verify", "--op", "add", "--json")
    assert code == 0, out
    assert seen["dtypes"] == ["float16"] and seen["backends"] == ["numpy", "jax"]
    assert seen["cases"][0] == "add" and all(c.startswith("add.") for c in seen["cases"][1:])  # add, its variants
    assert seen["data_formats"] == ["channels_last", "channels_first"]
    assert seen["model"] is False  # a filter runs only what it names
    code, _, _ = run_cli("verify", "--category", "model", "--dtype", "float64", "--data-format", "channels_first",
                         "--json")
    assert seen["model"] is True and seen["cases"] == [] and seen["dtypes"] == ["float64"]
    assert seen["data_formats"] == ["channels_first"]
