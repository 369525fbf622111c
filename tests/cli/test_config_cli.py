"""CliRunner tests of the config commands: exact JSON contracts, exit codes, bad input."""

import json
import os
import re

import pytest

ENVELOPE = {"schema_version", "kbackend_version", "command", "exit_code"}


def _json(out):
    doc = json.loads(out)
    assert ENVELOPE <= set(doc)
    assert doc["schema_version"] == 1
    return doc


def test_show_json_contract(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax", "floatx": "float64"}))
    code, out, err = run_cli("show", "--json")
    assert code == 0, err
    doc = _json(out)
    assert doc["command"] == "show" and doc["exit_code"] == 0
    path = str(keras_home / "keras.json")
    assert doc["config_path"] == path
    assert doc["effective"]["backend"] == {"value": "jax", "origin": path}
    assert doc["effective"]["floatx"] == {"value": "float64", "origin": path}
    assert doc["effective"]["epsilon"] == {"value": 1e-07, "origin": "default"}
    assert doc["effective"]["image_data_format"] == {"value": "channels_last", "origin": "default"}
    assert doc["keras_version"]  # read from metadata in this test environment
    assert isinstance(doc["problems"], list)


def test_env_overrides_and_warns(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    code, out, _ = run_cli("show", "--json", env={"KERAS_BACKEND": "torch"})
    doc = _json(out)
    assert doc["effective"]["backend"] == {"value": "torch", "origin": "env:KERAS_BACKEND"}
    assert "env_overrides_backend" in [p["id"] for p in doc["problems"]]
    code, out, _ = run_cli("show", env={"KERAS_BACKEND": "torch"})
    assert "overrides" in out


def test_empty_keras_backend_is_ignored(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    _, out, _ = run_cli("get", "backend", "--json", env={"KERAS_BACKEND": ""})
    assert _json(out)["value"] == "jax"


def test_switch_then_show(run_cli, keras_home):
    code, out, err = run_cli("switch", "jax", "--json")
    assert code == 0, err
    doc = _json(out)
    assert doc["new"] == "jax" and doc["changed"] is True
    assert json.loads((keras_home / "keras.json").read_text())["backend"] == "jax"
    code, out, _ = run_cli("get", "backend")
    assert out.strip() == "jax"


@pytest.mark.parametrize("name", ["cntk", "theano", "mxnet"])
def test_switch_legacy_backend_refused_with_explanation(run_cli, keras_home, name):
    code, out, err = run_cli("switch", name)
    assert code == 1
    assert re.search(r"2\.[0-3]", err) and "Python" in err and "separate legacy environment" in err
    assert "tensorflow, jax, torch, numpy, openvino" in err
    assert not (keras_home / "keras.json").exists()


def test_switch_cntk_json_error(run_cli, keras_home):
    code, out, _ = run_cli("switch", "cntk", "--json")
    doc = _json(out)
    assert code == 1 and doc["exit_code"] == 1
    assert "2.0.5-2.3" in doc["error"]["message"] and "3.6" in doc["error"]["message"]
    assert doc["error"]["accepted"] == ["tensorflow", "jax", "torch", "numpy", "openvino"]


@pytest.mark.parametrize("name", ["JAX", "jax ", " torch", "Tensorflow"])
def test_switch_case_and_space_refused(run_cli, keras_home, name):
    code, _, err = run_cli("switch", name)
    assert code == 1 and "does not strip or lower-case" in err
    assert f"kbackend switch {name.strip().lower()}" in err


def test_switch_force_writes_with_warning(run_cli, keras_home):
    code, out, err = run_cli("switch", "cntk", "--force")
    assert code == 0 and "warning" in err
    assert json.loads((keras_home / "keras.json").read_text())["backend"] == "cntk"
    code, _, _ = run_cli("check")
    assert code == 1


def test_switch_not_installed_backend(run_cli, keras_home, monkeypatch):
    from kbackend.envs import installed

    real = installed.scan
    monkeypatch.setattr(installed, "scan", lambda p: {k: v for k, v in real(p).items() if k != "torch"})
    code, _, err = run_cli("switch", "torch")
    assert code == 1 and "pip install 'torch>=2.1.0'" in err
    assert not (keras_home / "keras.json").exists()


def test_set_get_unset_roundtrip(run_cli, keras_home):
    assert run_cli("set", "floatx", "float64")[0] == 0
    assert run_cli("set", "epsilon", "1e-5")[0] == 0
    assert run_cli("set", "image_data_format", "channels_first")[0] == 0
    doc = json.loads((keras_home / "keras.json").read_text())
    assert doc["floatx"] == "float64" and doc["epsilon"] == 1e-5 and isinstance(doc["epsilon"], float)
    assert run_cli("get", "epsilon")[1].strip() == "1e-05"
    code, out, _ = run_cli("unset", "floatx", "--json")
    assert code == 0 and _json(out)["old"] == "float64"
    assert "floatx" not in json.loads((keras_home / "keras.json").read_text())


def test_set_epsilon_one_is_stored_as_float(run_cli, keras_home):
    assert run_cli("set", "epsilon", "1")[0] == 0
    assert (keras_home / "keras.json").read_text().count('"epsilon": 1.0') == 1


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("floatx", "bfloat16", "mixed precision"),
        ("floatx", "float8", "Received: floatx=float8"),
        ("floatx", "Float32", "did you mean float32"),
        ("epsilon", "abc", "Received: epsilon=abc"),
        ("epsilon", "0", "positive"),
        ("epsilon", "-1e-7", "positive"),
        ("epsilon", "nan", "finite"),
        ("epsilon", "inf", "finite"),
        ("image_data_format", "Channels_Last", "did you mean channels_last"),
        ("nnx_enabled", "maybe", "Expected true or false"),
    ],
)
def test_set_bad_values_refused_file_unchanged(run_cli, keras_home, key, value, needle):
    keras_home.mkdir()
    before = '{"floatx": "float32"}'
    (keras_home / "keras.json").write_text(before)
    code, out, err = run_cli("set", "--", key, value)  # "--": a negative number is not an option
    assert code == 1
    assert needle in err
    assert "Traceback" not in err + out
    assert (keras_home / "keras.json").read_text() == before


def test_set_unknown_key_is_usage_error(run_cli, keras_home):
    code, _, err = run_cli("set", "colour", "blue")
    assert code == 2 and "colour" in err


@pytest.mark.parametrize(
    "raw",
    [b'{"floatx": "float32",', b"", b'\xef\xbb\xbf{"floatx": "float32"}', b"[1, 2]", b'"jax"', b'{"a": "\xff"}'],
)
def test_unparseable_file_refused_unless_forced(run_cli, keras_home, raw):
    keras_home.mkdir()
    p = keras_home / "keras.json"
    p.write_bytes(raw)
    code, _, err = run_cli("switch", "jax")
    assert code == 1 and "--force" in err and "Traceback" not in err
    assert p.read_bytes() == raw
    code, _, err = run_cli("switch", "jax", "--force")
    assert code == 0, err
    assert json.loads(p.read_text())["backend"] == "jax"
    assert (keras_home / "keras.json.bak").read_bytes() == raw


@pytest.mark.parametrize(
    "raw,failure",
    [
        (b'{"floatx": "float32",', "file_malformed"),
        (b"", "file_empty"),
        (b'\xef\xbb\xbf{}', "file_bom"),
        (b"[1, 2]", "file_not_object"),
        (b'{"epsilon": 1}', "invalid_epsilon"),
        (b'{"floatx": "bfloat16"}', "invalid_floatx"),
        (b'{"image_data_format": "Channels_Last"}', "invalid_image_data_format"),
        (b'{"backend": "cntk"}', "invalid_backend"),
        (b'{"image_dim_ordering": "tf"}', "legacy_key"),
    ],
)
def test_check_fails(run_cli, keras_home, raw, failure):
    keras_home.mkdir()
    (keras_home / "keras.json").write_bytes(raw)
    code, out, _ = run_cli("check", "--json")
    doc = _json(out)
    assert code == 1 and doc["exit_code"] == 1 and doc["ok"] is False
    assert failure in doc["failures"]


def test_check_passes_and_warns_for_nan_epsilon(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text('{"epsilon": NaN, "backend": "jax"}')
    code, out, _ = run_cli("check", "--json")
    doc = _json(out)
    assert code == 0 and doc["ok"] is True
    assert "epsilon_nonsense" in [p["id"] for p in doc["problems"]]
    assert run_cli("check", "--strict")[0] == 1


def test_check_directory_and_dangling_symlink(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").mkdir()
    code, out, _ = run_cli("check", "--json")
    assert code == 1 and "file_is_directory" in _json(out)["failures"]
    code, _, err = run_cli("switch", "jax")
    assert code == 1 and "is a directory" in err
    os.rmdir(keras_home / "keras.json")
    (keras_home / "keras.json").symlink_to(keras_home / "missing.json")
    code, out, _ = run_cli("show", "--json")
    assert _json(out)["file_status"] == "dangling_symlink"
    assert run_cli("switch", "jax")[0] == 0
    assert json.loads((keras_home / "missing.json").read_text())["backend"] == "jax"


def test_path_and_keras_home_option(run_cli, tmp_path):
    code, out, _ = run_cli("--keras-home", str(tmp_path / "x"), "path")
    assert out.strip() == str(tmp_path / "x" / "keras.json")
    code, out, _ = run_cli("path", "--json", env={"KERAS_HOME": ""})
    doc = _json(out)
    assert doc["config_path"] == os.path.join(os.getcwd(), "keras.json") and doc["origin"] == "env:KERAS_HOME"


def test_reset_backs_up(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text('{"backend": "jax", "custom": 1}')
    code, out, _ = run_cli("reset", "--json")
    assert code == 0
    assert json.loads((keras_home / "keras.json").read_text()) == {
        "floatx": "float32", "epsilon": 1e-07, "backend": "tensorflow", "image_data_format": "channels_last"}
    assert json.loads((keras_home / "keras.json.bak").read_text()) == {"backend": "jax", "custom": 1}


def test_unknown_keys_kept(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text('{"my_tool": {"a": 1}, "backend": "tensorflow"}')
    assert run_cli("switch", "jax")[0] == 0
    assert json.loads((keras_home / "keras.json").read_text()) == {"my_tool": {"a": 1}, "backend": "jax"}


def test_python_option_bad_interpreter(run_cli, tmp_path):
    code, _, err = run_cli("--python", str(tmp_path / "nope"), "show")
    assert code == 2 and "Tried" in err
    f = tmp_path / "notpython"
    f.write_text("hello")
    f.chmod(0o755)
    code, _, err = run_cli("--python", str(f), "show")
    assert code == 2 and "not" in err


def test_internal_error_exit_3(run_cli, monkeypatch):
    from kbackend.services import config as service

    monkeypatch.setattr(service, "show", lambda ctx: 1 / 0)
    code, _, err = run_cli("show")
    assert code == 3 and "ZeroDivisionError" in err and "Python" in err


def test_usage_error_exit_2(run_cli):
    assert run_cli("nosuchcommand")[0] == 2
    assert run_cli("get")[0] == 2


@pytest.mark.parametrize("home", ["/sys/kernel", "/proc/self", "/proc/no-such-dir"])
def test_unwritable_locations_give_a_clear_error(run_cli, home):
    # /sys and /proc refuse writes even to root, so this runs the real failure path.
    code, out, err = run_cli("--keras-home", home, "switch", "jax")
    assert code == 1 and "error:" in err and "Traceback" not in err and "internal error" not in err


def test_non_utf8_and_huge_files(run_cli, keras_home, monkeypatch):
    keras_home.mkdir()
    p = keras_home / "keras.json"
    p.write_bytes(b'{"backend": "\xe9"}')
    code, out, _ = run_cli("check", "--json")
    assert code == 1 and "file_not_utf8" in json.loads(out)["failures"]
    from kbackend.config import store

    monkeypatch.setattr(store, "MAX_BYTES", 64)
    p.write_text(json.dumps({"backend": "jax", "pad": "x" * 100}))
    before = p.read_bytes()
    code, out, err = run_cli("show", "--json")
    assert code == 0 and json.loads(out)["file_status"] == "too_large"
    code, _, err = run_cli("set", "floatx", "float64")
    assert code == 1 and p.read_bytes() == before


@pytest.mark.parametrize("args", [("show", "--json"), ("check", "--json"), ("doctor", "--json", "--check", "config")])
def test_nan_epsilon_in_every_json_document(run_cli, keras_home, args):
    # JSON has no NaN: a NaN epsilon (which Keras accepts) is printed as "nan", never a crash.
    keras_home.mkdir()
    (keras_home / "keras.json").write_text('{"epsilon": NaN, "backend": "jax"}')
    code, out, err = run_cli(*args)
    assert code in (0, 1), err
    assert '"nan"' in out and "NaN" not in out
    json.loads(out)
