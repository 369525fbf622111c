"""Version rules for what `import keras` needs beyond the backend, and keys a Keras does not read yet.

The facts (checked against the real wheels in tests/integration/test_keras_wheel_needs.py):
every Keras 3 imports `packaging` at `import keras`, 3.0 to 3.3 without declaring it; 3.0.5's
numpy backend imports torch; `nnx_enabled` is read from Keras 3.11 on.
"""

from __future__ import annotations

import pytest

from kbackend.config.judge import judge
from kbackend.config.records import FileState
from kbackend.config.rules import rules_for

BASE = {"keras": "x", "jax": "0.4.30", "jaxlib": "0.4.30", "numpy": "1.26.4", "packaging": "24.0", "torch": "2.3.0"}


def _judge(version, data=None, drop=(), environ=None):
    installed = {k: v for k, v in BASE.items() if k not in drop} | {"keras": version}
    fs = FileState(path="/k/keras.json", status="ok", data=data or {}) if data is not None else FileState(
        path="/k/keras.json", status="missing")
    return judge(fs, rules_for(version), environ or {}, installed, advise=ADVISE)


def ADVISE(what):  # noqa: N802 - stands in for kbackend.install's wording: the numpy backend is installed with jax
    return "pip install " + ("jax" if what == "numpy" else what)


@pytest.mark.parametrize("version", ["3.0.0", "3.0.5", "3.3.3", "3.4.0", "3.10.0", "3.15.1"])
def test_every_keras3_needs_packaging(version):
    j = _judge(version, {"backend": "jax"}, drop=("packaging",))
    assert j.imports is False and j.keras_error == "ModuleNotFoundError: No module named 'packaging'"
    p = next(p for p in j.problems if p.id == "keras_dependency_missing")
    undeclared = version in ("3.0.0", "3.0.5", "3.3.3")
    assert ("does not declare it" in p.message) is undeclared
    assert p.fix == "pip install packaging"
    assert _judge(version, {"backend": "jax"}).imports is True


@pytest.mark.parametrize("version", ["2.15.0", "2.3.1"])
def test_keras2_does_not_need_packaging(version):
    j = _judge(version, {}, drop=("packaging",))
    assert "keras_dependency_missing" not in [p.id for p in j.problems]


def test_backend_error_comes_before_packaging_as_in_keras():
    j = _judge("3.3.3", {"backend": "jax"}, drop=("packaging", "jax", "jaxlib"))
    assert j.keras_error == "ModuleNotFoundError: No module named 'jax'"


@pytest.mark.parametrize("version,needs_torch", [("3.0.5", True), ("3.0.4", False), ("3.1.0", False),
                                                 ("3.3.3", False)])
def test_numpy_backend_of_keras_305_needs_torch(version, needs_torch):
    j = _judge(version, {"backend": "numpy"}, drop=("torch",))
    assert j.imports is (not needs_torch)
    if needs_torch:
        assert j.keras_error == "ModuleNotFoundError: No module named 'torch'"
        p = next(p for p in j.problems if p.id == "backend_not_installed")
        assert "torch" in p.message and "pip install torch" == p.fix


def test_keras_305_numpy_without_jax_names_jax_first():
    j = _judge("3.0.5", {"backend": "numpy"}, drop=("torch", "jax", "jaxlib"))
    assert j.keras_error == "ModuleNotFoundError: No module named 'jax'"
    assert next(p for p in j.problems if p.id == "backend_not_installed").fix == "pip install jax && pip install torch"


def test_switch_refuses_numpy_on_305_without_torch(tmp_path):
    from kbackend.config.location import Location
    from kbackend.services.config import ConfigContext, switch
    from kbackend.envs.target import Target
    from kbackend.errors import KbackendError

    t = Target("/venv/bin/python", "3.11.7", (), "/venv", "option", False)
    installed = {k: v for k, v in BASE.items() if k != "torch"} | {"keras": "3.0.5"}
    path = str(tmp_path / "keras.json")
    ctx = ConfigContext(t, installed, "3.0.5", rules_for("3.0.5"), Location(str(tmp_path), path, "default"), {})
    with pytest.raises(KbackendError) as e:
        switch(ctx, "numpy")
    assert "torch" in str(e.value)
    assert not (tmp_path / "keras.json").exists()


@pytest.mark.parametrize("version", ["3.0.5", "3.8.0", "3.10.0", "2.15.0"])
def test_nnx_enabled_before_311_is_a_key_not_read_yet(version):
    j = _judge(version, {"nnx_enabled": True})
    p = next(p for p in j.problems if p.key == "nnx_enabled")
    assert p.id == "key_too_new" and p.severity == "too_new"
    assert "not read yet" in p.message and "3.11" in p.message
    assert "no longer" not in p.message and "no effect" not in p.message


def test_nnx_enabled_from_311_is_read():
    assert not [p for p in _judge("3.11.0", {"nnx_enabled": False}).problems if p.key == "nnx_enabled"]


def test_legacy_keys_still_legacy():
    j = _judge("3.15.1", {"image_dim_ordering": "tf"})
    assert [p.severity for p in j.problems if p.key == "image_dim_ordering"] == ["legacy"]


def test_a_missing_dependency_does_not_block_writing_a_valid_document(tmp_path):
    """`import keras` failing for want of packaging is not the file's fault: set still writes."""
    from kbackend.config.location import Location
    from kbackend.services.config import ConfigContext, set_value
    from kbackend.envs.target import Target

    t = Target("/venv/bin/python", "3.11.7", (), "/venv", "option", False)
    installed = {k: v for k, v in BASE.items() if k != "packaging"} | {"keras": "3.3.3"}
    path = str(tmp_path / "keras.json")
    ctx = ConfigContext(t, installed, "3.3.3", rules_for("3.3.3"), Location(str(tmp_path), path, "default"), {})
    res = set_value(ctx, "floatx", "float64")
    assert res.changed and (tmp_path / "keras.json").exists()
