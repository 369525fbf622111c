"""The envs, shell-env and switch --scope env commands: exit codes, JSON envelope, text."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_envs_support import XY, clean_discovery, fake_env  # noqa: E402

from kbackend.envs.pin import PIN_FILE  # noqa: E402

ENVELOPE = {"schema_version", "kbackend_version", "command", "exit_code"}


def test_envs_json_envelope_and_fields(tmp_path, monkeypatch, run_cli):
    cwd = clean_discovery(monkeypatch, tmp_path)
    fake_env(cwd / ".venv", dists={"keras": "3.15.1", "jax": "0.10.2", "jaxlib": "0.10.2"})
    code, out, err = run_cli("envs", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert ENVELOPE <= set(doc) and doc["command"] == "envs" and doc["exit_code"] == 0 and doc["probe"] == "off"
    envs = {e["prefix"]: e for e in doc["environments"]}
    e = envs[str(cwd / ".venv")]
    assert e["kinds"] == [".venv"] and e["status"] == "ok" and e["facts_from"] == "layout"
    assert e["keras_version"] == "3.15.1" and e["keras_rules"] == "3.14+"
    assert e["backends"] == [{"name": "jax", "dist": "jax", "version": "0.10.2", "accepted": True}]
    assert e["backend"] == {"value": "tensorflow", "origin": "default", "usable": False,
                            "reason": e["backend"]["reason"]}
    assert "tensorflow" in e["backend"]["reason"] and "not installed" in e["backend"]["reason"]
    assert sum("target" in x["kinds"] for x in doc["environments"]) == 1


def test_envs_text_table(tmp_path, monkeypatch, run_cli):
    cwd = clean_discovery(monkeypatch, tmp_path)
    fake_env(cwd / ".venv", dists={"keras": "3.15.1", "jax": "0.10.2", "jaxlib": "0.10.2"})
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("COLUMNS", "200")  # a row on one line (at 80 columns it wraps: tests/faults/test_width.py)
    code, out, _ = run_cli("envs")
    assert code == 0
    row = next(line for line in out.splitlines() if ".venv" in line)
    assert "3.15.1" in row and "jax 0.10.2" in row and "jax (KERAS_BACKEND) ok" in row
    assert "backends installed" in out.splitlines()[0]


def test_envs_broken_explicit_path_exits_1(tmp_path, monkeypatch, run_cli):
    clean_discovery(monkeypatch, tmp_path)
    fake_env(tmp_path / "noconda", flavour="conda", python=False)
    code, out, _ = run_cli("envs", "--path", str(tmp_path / "noconda"), "--json")
    doc = json.loads(out)
    assert code == 1 and doc["exit_code"] == 1
    e = [x for x in doc["environments"] if x["prefix"] == str(tmp_path / "noconda")][0]
    assert e["status"] == "broken" and "conda environment without Python" in e["problem"]
    code, out, _ = run_cli("envs", "--path", str(tmp_path / "noconda"))
    assert code == 1 and "conda environment without Python" in out


def test_a_broken_active_environment_is_listed_not_fatal(tmp_path, monkeypatch, run_cli):
    clean_discovery(monkeypatch, tmp_path)
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "deleted-venv"))
    code, out, _ = run_cli("envs", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["exit_code"] == 1
    e = [x for x in doc["environments"] if x["prefix"] == str(tmp_path / "deleted-venv")][0]
    assert e["kinds"] == ["active"] and e["status"] == "broken" and "does not exist" in e["problem"]
    assert run_cli("show")[0] == 2  # commands about the target still refuse it


def test_python_pointing_at_a_non_python_file_is_a_usage_error(tmp_path, run_cli):
    f = tmp_path / "notpython"
    f.write_text("#!/bin/sh\necho hello\n")
    f.chmod(0o755)
    code, out, err = run_cli("--python", str(f), "envs", "--json")
    assert code == 2
    assert "not a working Python interpreter" in json.loads(out)["error"]["message"]


def test_switch_scope_env_json_and_text(tmp_path, run_cli):
    env = fake_env(tmp_path / "v", dists={"keras": "3.15.1", "jax": "0.10.2", "jaxlib": "0.10.2"})
    python = str(env / "bin" / "python")  # a link to this interpreter in a venv layout: a real venv
    code, out, err = run_cli("--python", python, "switch", "jax", "--scope", "env", "--json")
    assert code == 0, err
    doc = json.loads(out)
    pin = env / "lib" / f"python{XY}" / "site-packages" / PIN_FILE
    assert ENVELOPE <= set(doc) and doc["command"] == "switch"
    assert (doc["python"], doc["backend"], doc["pin_path"], doc["removed"]) == (python, "jax", str(pin), False)
    assert "KERAS_BACKEND" in pin.read_text()
    code, out, _ = run_cli("--python", python, "switch", "jax", "--scope", "env")
    assert code == 0 and "pinned backend jax" in out
    code, out, _ = run_cli("--python", python, "envs", "--json")
    target = [e for e in json.loads(out)["environments"] if "target" in e["kinds"]][0]
    assert target["pin"] == {"value": "jax", "origin": f"env-pin:{pin}"}
    assert target["backend"]["origin"] == f"env-pin:{pin}" and target["backend"]["usable"] is True


def test_shell_env_json_usage_and_refusal(run_cli):
    code, out, _ = run_cli("shell-env", "jax", "--shell", "fish", "--json")
    doc = json.loads(out)
    assert code == 0 and ENVELOPE <= set(doc)
    assert doc["lines"] == ["set -gx KERAS_BACKEND jax"] and doc["usage"] == "kbackend shell-env jax --shell fish | source"
    code, out, _ = run_cli("shell-env", "jax", "--shell", "bash")
    assert code == 0 and out == "export KERAS_BACKEND=jax\n"
    assert run_cli("shell-env")[0] == 2
    assert run_cli("shell-env", "jax", "--unset")[0] == 2
    assert run_cli("shell-env", "jax", "--shell", "tcsh")[0] == 2
    code, out, err = run_cli("shell-env", "cntk")
    assert code == 1 and out == "" and "cntk" in err


def test_help_shows_examples(run_cli):
    for cmd in ("envs", "run", "shell-env"):
        code, out, _ = run_cli(cmd, "--help")
        assert code == 0 and "Example" in out and "kbackend " + cmd in out
