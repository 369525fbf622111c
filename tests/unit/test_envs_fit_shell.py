"""backend_fit (can a backend run in an environment) and shellenv (lines to eval)."""

from __future__ import annotations

import pytest

from kbackend.envs import backend_fit as F
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


def test_not_installed_names_what_is_missing_and_how_to_install():
    msg = F.not_installed("numpy", {"numpy": "2.4.6"}, "/e/bin/python")
    assert "missing: jax, jaxlib" in msg and "/e/bin/python -m pip install 'jax>=0.4.20'" in msg
    assert F.not_installed("torch", {"torch": "2.13.0"}, "/e/bin/python") is None


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
