"""The environment variables Keras reads besides KERAS_HOME/KERAS_BACKEND, per Keras line (read from
keras/src/backend/config.py and backend/torch/core.py at v3.9.2, v3.10.0, v3.11.0, v3.13.0, v3.14.0,
v3.15.1), and the one Keras sets itself: shown with origin by `show`, judged by `check` and doctor."""

from __future__ import annotations

import json

import pytest

from kbackend.config.judge import judge
from kbackend.config.records import FileState
from kbackend.config.rules import rules_for

INSTALLED = {"keras": "3.15.1", "jax": "0.10.2", "jaxlib": "0.10.2", "packaging": "25.0", "torch": "2.13.0",
             "tensorflow": "2.21.0"}


def _judge(version, env, backend="jax"):
    fs = FileState(path="/h/.keras/keras.json", status="ok", data={"backend": backend})
    return judge(fs, rules_for(version), env, {**INSTALLED, "keras": version})


@pytest.mark.parametrize("version,var,read", [
    ("3.9.2", "KERAS_MAX_EPOCHS", False), ("3.10.0", "KERAS_MAX_EPOCHS", True),
    ("3.10.0", "KERAS_NNX_ENABLED", False), ("3.11.0", "KERAS_NNX_ENABLED", True),
    ("3.13.2", "KERAS_TORCH_DEVICE", False), ("3.14.0", "KERAS_TORCH_DEVICE", True),
])
def test_each_variable_is_read_from_its_first_release(version, var, read):
    value = {"KERAS_MAX_EPOCHS": "4", "KERAS_NNX_ENABLED": "false", "KERAS_TORCH_DEVICE": "cpu"}[var]
    j = _judge(version, {var: value})
    v = j.variables[var]
    ignored = [p for p in j.problems if p.id == "env_var_not_read"]
    if read:
        assert v.origin == f"env:{var}" and not ignored
    else:
        assert "not read by Keras" in v.origin and ignored and ignored[0].severity == "warning"


def test_max_epochs_values_as_int_reads_them():
    j = _judge("3.15.1", {"KERAS_MAX_EPOCHS": " 7 ", "KERAS_MAX_STEPS_PER_EPOCH": "1.5"})
    assert j.variables["KERAS_MAX_EPOCHS"].value == 7
    assert j.imports is False and "invalid literal for int()" in j.keras_error
    assert [p.id for p in j.problems if p.severity == "error"] == ["bad_keras_max_steps_per_epoch"]
    # an empty value is not skipped: int('') fails too
    assert _judge("3.10.0", {"KERAS_MAX_EPOCHS": ""}).imports is False
    # before 3.10 Keras does not read it: the import works
    assert _judge("3.9.2", {"KERAS_MAX_EPOCHS": "x"}).imports is True


def test_nnx_variable_true_only_for_true_or_1():
    j = _judge("3.15.1", {"KERAS_NNX_ENABLED": "yes"})
    assert j.variables["KERAS_NNX_ENABLED"].value is False
    assert "nnx_env_unrecognised" in [p.id for p in j.problems]
    assert _judge("3.15.1", {"KERAS_NNX_ENABLED": "FALSE"}).problems == _judge("3.15.1", {}).problems


def test_torch_device():
    bad = _judge("3.15.1", {"KERAS_TORCH_DEVICE": "gpu"}, backend="torch")
    assert [p.id for p in bad.problems if p.key == "KERAS_TORCH_DEVICE"] == ["torch_device_invalid"]
    other = _judge("3.15.1", {"KERAS_TORCH_DEVICE": "cuda:1"}, backend="jax")
    assert [p.id for p in other.problems if p.key == "KERAS_TORCH_DEVICE"] == ["torch_device_other_backend"]
    assert not [p for p in _judge("3.15.1", {"KERAS_TORCH_DEVICE": "cuda:1"}, backend="torch").problems
                if p.key == "KERAS_TORCH_DEVICE"]


def test_allow_growth_is_set_by_keras_unless_the_backend_is_tensorflow():
    j = _judge("3.15.1", {"TF_FORCE_GPU_ALLOW_GROWTH": "false"}, backend="jax")
    assert j.variables["TF_FORCE_GPU_ALLOW_GROWTH"].value == "true"
    assert j.variables["TF_FORCE_GPU_ALLOW_GROWTH"].origin.startswith("set by Keras at import")
    assert "allow_growth_overridden" in [p.id for p in j.problems]
    t = _judge("3.15.1", {"TF_FORCE_GPU_ALLOW_GROWTH": "false"}, backend="tensorflow")
    assert t.variables["TF_FORCE_GPU_ALLOW_GROWTH"].origin == "env:TF_FORCE_GPU_ALLOW_GROWTH"
    assert "TF_FORCE_GPU_ALLOW_GROWTH" not in _judge("3.15.1", {}, backend="tensorflow").variables
    assert "TF_FORCE_GPU_ALLOW_GROWTH" not in _judge("2.15.0", {}, backend="jax").variables


def test_show_check_and_doctor_through_the_cli(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    env = {"KERAS_MAX_EPOCHS": "2", "KERAS_TORCH_DEVICE": "gpu"}
    code, out, err = run_cli("show", "--json", env=env)
    doc = json.loads(out)
    assert doc["variables"]["KERAS_MAX_EPOCHS"] == {"value": 2, "origin": "env:KERAS_MAX_EPOCHS"}
    assert doc["variables"]["TF_FORCE_GPU_ALLOW_GROWTH"]["value"] == "true"
    code, out, err = run_cli("show", env=env)
    assert "KERAS_MAX_EPOCHS" in out and "set by Keras at import" in out
    code, out, err = run_cli("check", "--json", env={"KERAS_MAX_STEPS_PER_EPOCH": "ten"})
    assert code == 1 and "bad_keras_max_steps_per_epoch" in json.loads(out)["failures"]
    code, out, err = run_cli("doctor", "--json", "--check", "keras-env", "--check", "config",
                             env={"KERAS_MAX_STEPS_PER_EPOCH": "ten"})
    checks = {c["id"]: c for c in json.loads(out)["checks"]}
    assert code == 1 and checks["keras-env"]["status"] == "error" and checks["config"]["status"] == "ok"
    assert checks["keras-env"]["fix"] == "unset KERAS_MAX_STEPS_PER_EPOCH"
    code, out, err = run_cli("doctor", "--json", "--check", "keras-env", env={"KERAS_TORCH_DEVICE": "gpu"})
    assert code == 0 and json.loads(out)["checks"][0]["status"] == "warn"


def test_a_cuda_torch_device_with_a_cpu_torch():
    """Seen with torch 2.13.0+cpu: `keras.ops.ones(2)` raises AssertionError: Torch not compiled with CUDA enabled."""
    from kbackend.doctor.checks import check_keras_env
    from kbackend.doctor.facts import BackendFacts, Facts, InterpreterFacts, KerasFacts
    from kbackend.services.config import CheckResult

    j = _judge("3.15.1", {"KERAS_TORCH_DEVICE": "cuda"}, backend="torch")
    config = CheckResult(ok=True, config_path="/k/keras.json", file_status="ok", keras_version="3.15.1", imports=True,
                         keras_error=None, file_used=True, effective=j.effective, problems=j.problems, failures=[],
                         variables=j.variables)
    torch = BackendFacts(name="torch", installed=True, status="ok", version="2.13.0+cpu", devices=["cpu"])
    facts = Facts(interpreter=InterpreterFacts(python="/p", version="3.11.7", origin="current"),
                  keras=KerasFacts(version="3.15.1", rules_line="3.14+"), config=config, backends=[torch])
    f = check_keras_env(facts)
    assert f.status == "error" and "Torch not compiled with CUDA enabled" in "\n".join(f.evidence)
    assert f.fix.startswith("export KERAS_TORCH_DEVICE=cpu")
