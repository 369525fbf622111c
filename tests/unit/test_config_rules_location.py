import os

import pytest

from kbackend import backends as B
from kbackend.config.location import locate
from kbackend.config.rules import rules_for


@pytest.mark.parametrize(
    "version,line,backends,style",
    [
        ("3.15.1", "3.14+", ("tensorflow", "jax", "torch", "numpy", "openvino"), "raise"),
        ("3.14.0", "3.14+", ("tensorflow", "jax", "torch", "numpy", "openvino"), "raise"),
        ("3.13.2", "3.8-3.13", ("tensorflow", "jax", "torch", "numpy", "openvino"), "assert"),
        ("3.8.0", "3.8-3.13", ("tensorflow", "jax", "torch", "numpy", "openvino"), "assert"),
        ("3.7.0", "3.0-3.7", ("tensorflow", "jax", "torch", "numpy"), "assert"),
        ("2.15.0", "2.4-2.15", ("tensorflow",), "assert"),
        ("2.3.1", "2.2-2.3", ("theano", "tensorflow", "cntk"), "assert"),
        ("2.1.6", "2.0.5-2.1", ("theano", "tensorflow", "cntk"), "assert"),
        ("2.0.4", "2.0.0-2.0.4", ("theano", "tensorflow"), "assert"),
        ("1.2.2", "1.x", ("theano", "tensorflow"), "assert"),
    ],
)
def test_rules_per_line(version, line, backends, style):
    r = rules_for(version)
    assert r.line == line
    assert r.backends == backends
    assert r.check_style == style
    assert not r.assumed


def test_no_keras_assumes_newest():
    r = rules_for(None)
    assert r.assumed and r.line == "3.14+"


def test_nnx_and_env_vars_by_version():
    assert "nnx_enabled" in rules_for("3.11.0").keys
    assert "nnx_enabled" not in rules_for("3.10.0").keys
    assert "KERAS_MAX_EPOCHS" in rules_for("3.10.0").env_vars
    assert "KERAS_MAX_EPOCHS" not in rules_for("3.8.0").env_vars


def test_external_module_backends_only_on_2_2_to_2_3():
    assert rules_for("2.3.1").accepts_backend("my_pkg.my_backend")
    assert not rules_for("2.1.6").accepts_backend("my_pkg.my_backend")
    assert not rules_for("3.15.1").accepts_backend("my_pkg.my_backend")


def test_mxnet_only_for_the_keras_mxnet_fork():
    # Plain Keras 2.2.4 would only try `mxnet` as an external module path.
    assert "mxnet" not in rules_for("2.2.4").backends
    assert "mxnet" in rules_for("2.2.4.3", dist_name="keras-mxnet").backends


def test_keras1_uses_image_dim_ordering_and_theano_default_before_1_1():
    assert rules_for("1.0.8").default_backend == "theano"
    assert rules_for("1.2.2").default_backend == "tensorflow"
    assert rules_for("1.2.2").image_key == "image_dim_ordering"


def test_registry_uses_version_ordering_not_strings():
    # "3.10" < "3.8" as strings; as versions it is newer and accepts openvino.
    assert B.get("openvino").accepted_by("3.10.0")
    assert not B.get("openvino").accepted_by("3.7.0")
    assert B.get("cntk").accepted_by("2.3.1") and not B.get("cntk").accepted_by("2.0.4")
    assert B.get("torch").minimum_for("3.15.1") == {"torch": "2.1.0"}
    assert B.get("openvino").minimum_for("3.15.1") == {"openvino": "2026.2.0"}


def test_location_keras_home(tmp_path):
    loc = locate({"KERAS_HOME": str(tmp_path / "k")})
    assert loc.path == str(tmp_path / "k" / "keras.json")
    assert loc.origin == "env:KERAS_HOME"


def test_location_empty_keras_home_is_cwd(tmp_path):
    loc = locate({"KERAS_HOME": ""}, cwd=str(tmp_path))
    assert loc.path == str(tmp_path / "keras.json")
    assert any("empty" in n for n in loc.notes)


def test_location_relative_keras_home(tmp_path):
    loc = locate({"KERAS_HOME": "rel/dir"}, cwd=str(tmp_path))
    assert loc.path == str(tmp_path / "rel" / "dir" / "keras.json")
    assert any("relative" in n for n in loc.notes)


def test_location_tilde_keras_home_expands_for_the_file(tmp_path):
    loc = locate({"KERAS_HOME": "~/kk", "HOME": str(tmp_path)})
    assert loc.path == str(tmp_path / "kk" / "keras.json")
    assert any("'~'" in n for n in loc.notes)


def test_location_default_and_tmp_fallback(tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    loc = locate({"HOME": str(home)})
    assert loc.path == str(home / ".keras" / "keras.json") and loc.origin == "default"


def test_location_tmp_fallback_when_home_not_writable(tmp_path, monkeypatch):
    home = tmp_path / "h"
    home.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if p == str(home) else real_access(p, m))
    loc = locate({"HOME": str(home)})
    assert loc.path == "/tmp/.keras/keras.json" and loc.origin == "fallback:/tmp"


def test_location_option_overrides_env(tmp_path):
    loc = locate({"KERAS_HOME": "/nowhere"}, keras_home=str(tmp_path))
    assert loc.path == str(tmp_path / "keras.json") and loc.origin == "option:--keras-home"


def test_keras_2_0_ignores_keras_home(tmp_path):
    loc = locate({"KERAS_HOME": "/nowhere", "HOME": str(tmp_path)}, rules=rules_for("2.0.4"))
    assert loc.path == str(tmp_path / ".keras" / "keras.json")
    assert any("does not read it" in n for n in loc.notes)
