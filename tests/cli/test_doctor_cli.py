"""`kbackend doctor` on the command line: options, exit codes, the JSON contract, the report.

These runs select checks that need no backend probe (`--check`), so they start no
Keras; the probes themselves are exercised in tests/integration and tests/faults.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

NO_PROBE = ("--check", "config", "--check", "versions", "--check", "plot-model", "--check", "keras")


@pytest.fixture
def path_without_dot(tmp_path, monkeypatch):
    d = tmp_path / "bin-empty"
    d.mkdir()
    monkeypatch.setenv("PATH", str(d))
    return d


@pytest.fixture
def path_with_dot(tmp_path, monkeypatch):
    d = tmp_path / "bin-dot"
    d.mkdir()
    dot = d / "dot"
    dot.write_text("#!/bin/sh\necho 'dot - graphviz version 2.43.0' >&2\n")
    dot.chmod(dot.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(d))
    return d


def test_list_checks(run_cli):
    code, out, err = run_cli("doctor", "--list-checks")
    assert code == 0
    ids = [line.split()[0] for line in out.splitlines()]
    for i in ("config", "keras-backend-env", "backend-importable", "versions", "numpy-needs-jax", "tf-legacy-keras",
              "tf-import-backend", "channels-first-cpu", "h5py", "plot-model"):
        assert i in ids
    assert any(i.startswith("gpu-") for i in ids)
    code, out, _ = run_cli("doctor", "--list-checks", "--json")
    doc = json.loads(out)
    assert doc["command"] == "doctor" and [c["id"] for c in doc["checks"]] == ids


def test_json_contract(run_cli, keras_home, path_without_dot):
    code, out, err = run_cli("doctor", "--json", *NO_PROBE)
    doc = json.loads(out)  # the whole of stdout is one document
    assert {"schema_version", "kbackend_version", "command", "exit_code", "checks", "facts", "counts"} <= set(doc)
    assert doc["command"] == "doctor" and doc["exit_code"] == code == 0
    assert [c["id"] for c in doc["checks"]] == ["keras", "config", "versions", "plot-model"]
    for c in doc["checks"]:
        assert set(c) == {"id", "status", "title", "evidence", "fix", "link"}
    facts = doc["facts"]
    assert {"interpreter", "keras", "backends", "gpu", "config", "installed", "environ"} <= set(facts)
    assert facts["keras"]["version"] == facts["installed"]["keras"]
    assert {"driver_version", "driver_cuda_version", "gpus", "cuda_runtimes", "cudnns"} <= set(facts["gpu"])
    names = [b["name"] for b in facts["backends"]]
    assert "jax" in names and all(b["status"] == "not_run" for b in facts["backends"])  # no probe was needed
    assert {"name", "installed", "version", "status", "devices", "built_cuda", "built_cudnn"} <= set(facts["backends"][0])
    assert not os.path.exists(keras_home / "keras.json")


def test_plain_output_names_the_interpreter_and_each_check(run_cli, path_without_dot):
    code, out, err = run_cli("doctor", *NO_PROBE)
    assert code == 0, err
    assert out.startswith("python ") and "Python 3." in out.splitlines()[0]
    assert "plot-model" in out and "doctor: " in out.splitlines()[-1]


def test_strict_fails_on_warnings(run_cli, path_without_dot):
    # pydot is installed with the test dependencies, dot is not on this PATH: plot-model warns.
    code, out, _ = run_cli("doctor", "--json", "--check", "plot-model")
    assert json.loads(out)["checks"][0]["status"] == "warn" and code == 0
    code, out, _ = run_cli("doctor", "--json", "--strict", "--check", "plot-model")
    doc = json.loads(out)
    assert code == 1 and doc["exit_code"] == 1 and doc["strict"] is True


def test_plot_model_passes_with_dot_on_path(run_cli, path_with_dot):
    code, out, _ = run_cli("doctor", "--json", "--strict", "--check", "plot-model")
    assert code == 0 and json.loads(out)["checks"][0]["status"] == "ok"


def test_an_error_exits_1_with_the_fix(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text('{"floatx": "bfloat16", "backend": "jax"}')
    code, out, _ = run_cli("doctor", "--check", "config")
    assert code == 1
    assert "error" in out and "floatx" in out and "fix:" in out
    code, out, _ = run_cli("doctor", "--check", "config", "--json")
    assert json.loads(out)["checks"][0]["status"] == "error" and code == 1


def test_unknown_check_is_a_usage_error(run_cli):
    code, out, err = run_cli("doctor", "--check", "nope")
    assert code == 2 and out == ""
    assert "Invalid `--check`. Expected one of the checks: python, keras," in err and "Received: check=nope" in err
    code, out, _ = run_cli("doctor", "--check", "nope", "--json")
    assert code == 2 and "Invalid `--check`" in json.loads(out)["error"]["message"]


def test_report_removes_home_paths(run_cli, keras_home, isolated_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text('{"backend": "jax"}')
    code, out, _ = run_cli("doctor", "--report", *NO_PROBE)
    assert out.startswith("<details>") and "kbackend doctor report" in out
    assert str(isolated_home) not in out and "~/.keras/keras.json" in out
    code, out, _ = run_cli("doctor", "--report", "--json", *NO_PROBE)
    doc = json.loads(out)
    assert doc["report"].startswith("<details>") and str(isolated_home) not in doc["report"]


def test_python_that_does_not_exist(run_cli, tmp_path):
    missing = str(tmp_path / "nope" / "python")
    code, out, err = run_cli("--python", missing, "doctor", "--check", "config")
    assert code == 2 and out == ""
    assert missing in err and "does not exist" in err
    code, out, _ = run_cli("--python", missing, "doctor", "--json", "--check", "config")
    assert code == 2 and "does not exist" in json.loads(out)["error"]["message"]


def test_python_that_is_not_python(run_cli, tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'I am a shell script'\nexit 3\n")
    fake.chmod(0o755)
    code, out, err = run_cli("--python", str(fake), "doctor", "--check", "config")
    assert code == 2 and "not a working Python interpreter" in err


def test_help_shows_an_example(run_cli):
    code, out, _ = run_cli("doctor", "--help")
    assert code == 0 and "Examples:" in out and "kbackend doctor --check" in out
