"""The examples in the docstrings of the pure layers run."""

import doctest
import importlib

import pytest

MODULES = [
    "kbackend.backends",
    "kbackend._record",
    "kbackend._fs",
    "kbackend.result",
    "kbackend.render.progress",
    "kbackend.errors",
    "kbackend.install",
    "kbackend.config.rules",
    "kbackend.config.location",
    "kbackend.config.judge",
    "kbackend.config.model",
    "kbackend.config.records",
    "kbackend.services.config",
    "kbackend.envs.installed",
    "kbackend.services.acceptance",
    "kbackend.suite.run",
    "kbackend.names",
    "kbackend.envs.target",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0
