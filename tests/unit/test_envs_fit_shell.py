"""services.acceptance (can a backend run in an environment) and shellenv (lines to eval)."""

from __future__ import annotations

import pytest

from kbackend.services import acceptance as F
from kbackend.envs import shellenv as S


@pytest.mark.parametrize("name,py,refused", [
    ("cntk", "3.6.15", False), ("cntk", "3.7.0", True), ("cntk", "3.11.7", True),
    ("theano", "3.10.13", False), ("theano", "3.11.7", True), ("mxnet", "3.11.0", True),
    ("jax", "3.11.7", False), ("tensorflow", "2.7.18", False), ("my.module", "3.11.7", False),
])
def test_python_refusal(name, py, refused):
    why = F.python_refusal(name, py)
    assert (why is not None) == refused
    if refused:
        assert f"Python {py}" in why and f"switch {name}" in why


def test_too_old_uses_the_installed_tensorflow_flavour():
    assert F.too_old("tensorflow", "3.15.1", {"tensorflow-cpu": "2.15.0"}).startswith("tensorflow-cpu 2.15.0 is older than 2.16.1")
    assert F.too_old("tensorflow", "3.15.1", {"tensorflow-cpu": "2.21.0"}) is None
    assert F.too_old("openvino", "3.15.1", {"openvino": "2025.4.0"}) is not None
    assert F.too_old("openvino", "3.9.0", {"openvino": "2025.4.0"}) is None
    assert F.too_old("jax", None, {"jax": "0.1"}) is None


def _ctx(installed, keras="3.15.1", python="3.11.7"):
    from kbackend.config.location import Location
    from kbackend.config.rules import rules_for
    from kbackend.envs.target import Target
    from kbackend.services.config import ConfigContext

    t = Target("/e/bin/python", python, (), "/e", "option", False)
    inst = dict(installed, **({"keras": keras} if keras else {}))
    return ConfigContext(t, inst, keras, rules_for(keras), Location("/h", "/h/keras.json", "default"), {})


def test_not_installed_names_what_is_missing_and_how_to_install():
    v = F.resolve(_ctx({"numpy": "2.4.6"}), "numpy")
    assert v.status == F.REFUSAL and v.reason == F.NOT_INSTALLED and v.entry.name == "numpy"
    assert "missing: jax, jaxlib" in v.message and "/e/bin/python -m pip install 'jax>=0.4.20'" in v.message
    assert v.fix("kbackend switch {}") == v.install and v.install in v.message
    assert F.resolve(_ctx({"torch": "2.13.0"}), "torch").ok


def test_one_verdict_per_situation():
    """ok, problem, refusal: Keras refusing the name, another Python needed, Keras missing, too old."""
    v = F.resolve(_ctx({"jax": "0.7", "jaxlib": "0.7"}), "jaxx")
    assert v.status == F.REFUSAL and v.keras_refuses and "Did you mean" in v.message
    assert v.fix("kbackend switch {}") == "kbackend switch jax" and v.data["accepted"][0]
    v = F.resolve(_ctx({}), "cntk")
    assert v.status == F.REFUSAL and v.keras_refuses and "separate legacy environment" in v.message
    v = F.resolve(_ctx({"cntk": "2.7"}, keras="2.2.4", python="3.11.7"), "cntk")
    assert v.status == F.REFUSAL and v.reason == F.PYTHON and not v.keras_refuses
    assert v.message.startswith("The `cntk` backend cannot be installed on Python 3.11.7")
    v = F.resolve(_ctx({"jax": "0.4.1", "jaxlib": "0.4.1"}), "jax")
    assert v.status == F.PROBLEM and v.reason == F.TOO_OLD and "older than 0.4.20" in v.message
    v = F.resolve(_ctx({"torch": "2.13.0"}, keras=None), "torch")
    assert v.status == F.PROBLEM and v.reason == F.KERAS_MISSING and v.message.startswith("Keras is not installed")
    v = F.resolve(_ctx({}, keras=None), "torch")
    assert v.status == F.REFUSAL and v.reason == F.KERAS_MISSING and "neither is the `torch` backend" in v.message
    assert v.data == {"backend": "torch", "keras_installed": False}


def test_an_external_module_is_checked_only_when_asked():
    ctx = _ctx({"tensorflow": "1.15.0"}, keras="2.3.1", python="3.7.9")
    assert F.resolve(ctx, "my_pkg.backend").reason == F.EXTERNAL_UNCHECKED
    seen = []
    v = F.resolve(ctx, "my_pkg.backend", external=True, external_check=lambda c, m: seen.append(m) or ["it lacks `x`"])
    assert seen == ["my_pkg.backend"] and v.status == F.REFUSAL and v.reason == F.EXTERNAL
    assert v.message == "External backend `my_pkg.backend` cannot be used: it lacks `x`"


def test_the_name_is_looked_up_in_the_registry_once(monkeypatch):
    from kbackend import backends as B

    calls = []
    real = B.get
    monkeypatch.setattr(B, "get", lambda n: calls.append(n) or real(n))
    v = F.resolve(_ctx({"jax": "0.7.0", "jaxlib": "0.7.0"}), "jax")
    assert v.ok and v.entry is real("jax") and calls == ["jax"]


@pytest.mark.parametrize("shell,backend,expected", [
    ("bash", "jax", "export KERAS_BACKEND=jax"),
    ("zsh", "my.pkg", "export KERAS_BACKEND=my.pkg"),
    ("bash", "a b'c", "export KERAS_BACKEND='a b'\"'\"'c'"),
    ("fish", "torch", "set -gx KERAS_BACKEND torch"),
    ("fish", "a b'c", "set -gx KERAS_BACKEND 'a b\\'c'"),
    ("powershell", "jax", "$Env:KERAS_BACKEND = 'jax'"),
    ("powershell", "it's", "$Env:KERAS_BACKEND = 'it''s'"),
    ("bash", None, "unset KERAS_BACKEND"),
    ("fish", None, "set -e KERAS_BACKEND"),
])
def test_shell_lines(shell, backend, expected):
    assert S.lines(shell, backend) == [expected]


def test_detect_shell():
    assert S.detect_shell({"SHELL": "/usr/bin/zsh"}) == "zsh"
    assert S.detect_shell({"SHELL": "/usr/local/bin/fish"}) == "fish"
    assert S.detect_shell({"SHELL": "/opt/microsoft/powershell/7/pwsh"}) == "powershell"
    assert S.detect_shell({}) == "bash"
    with pytest.raises(ValueError):
        S.lines("tcsh", "jax")
