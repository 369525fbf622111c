"""The registry is the one list of backends: every other list derives from it (issue 16, item 1)."""

from __future__ import annotations

import pytest

from kbackend import backends as B
from kbackend import names
from kbackend.config.rules import rules_for
from kbackend.doctor import environ as E
from kbackend.doctor import probe as P
from kbackend.install import requirements
from kbackend.render import bench_view as V
from kbackend.suite import run as R
from kbackend.workers import runner


def test_keras3_lists_come_from_the_registry():
    k3 = B.keras3_names()
    assert B.KERAS3_ORDER == k3 == ("tensorflow", "jax", "torch", "numpy", "openvino")
    assert R.SUITE_BACKENDS == ("numpy", "jax", "torch", "tensorflow", "openvino")
    assert R.START_ORDER == ("jax", "openvino", "tensorflow", "torch", "numpy")
    assert R.COMPILE_CACHE_BACKENDS == ("jax", "numpy")
    assert set(P.COST) == set(k3) and set(V.COLOURS) == set(k3)
    assert {names.ALIASES[a] for a in ("pytorch", "tf", "np", "ov", "jaxlib")} <= set(k3)


@pytest.mark.parametrize("kv, expected", [
    ("3.0.0", ("tensorflow", "jax", "torch", "numpy")),
    ("3.7.0", ("tensorflow", "jax", "torch", "numpy")),
    ("3.8.0", ("tensorflow", "jax", "torch", "numpy", "openvino")),
    ("3.15.1", ("tensorflow", "jax", "torch", "numpy", "openvino")),
])
def test_version_rules_take_the_backends_from_the_registry(kv, expected):
    assert rules_for(kv).backends == expected
    assert all(B.get(n).accepted_by(kv) for n in expected)  # the cheap bound agrees with the specifier


def test_every_keras3_backend_has_an_adapter_and_no_legacy_one_has():
    import os

    for b in B.REGISTRY.values():
        path = os.path.join(runner.CHILD_DIR, "adapters", b.name + ".py")
        assert os.path.exists(path) == b.keras3, b.name


def test_numpy_backend_is_installed_with_jax_from_also_needs():
    assert B.get("numpy").installed_with == "jax" and B.get("numpy").install_name == "jax"
    assert B.get("jax").installed_with is None
    assert requirements("numpy", keras_version="3.15.1") == (["jax>=0.4.20"], [])


def test_a_backend_without_cuda_builds_installs_as_its_registry_entry_says():
    assert requirements("openvino", keras_version="3.9.0") == (["openvino>=2025.0.0"], [])


def test_doctor_env_groups_come_from_the_registry():
    for b in B.REGISTRY.values():
        if b.env_vars:
            assert E.KNOWN[b.name] == b.env_vars
    assert "OPENVINO_LOG_LEVEL" in E.NAMES and "TF_CPP_MIN_LOG_LEVEL" in E.NAMES


def test_register_adds_a_backend_everywhere_it_is_looked_up(monkeypatch):
    monkeypatch.setattr(B, "REGISTRY", dict(B.REGISTRY))
    monkeypatch.setattr(B, "KERAS3_ORDER", B.KERAS3_ORDER)
    B.register(B.Backend("fakebk", ">=3.2", ("fakebk",), keras3=True, aliases=("fk",), verify_column=0))
    assert B.KERAS3_ORDER[-1] == "fakebk" and B.suite_order()[0] == "fakebk"
    assert "fakebk" not in B.accepted_keras3("3.1") and "fakebk" in B.accepted_keras3("3.2.0")
    assert B.aliases()["fk"] == "fakebk"


def test_doctor_probe_cache_follows_the_adapters(tmp_path, monkeypatch):
    """A probe's result comes from its adapter too: a new or changed adapter must not hit the old cache."""
    from kbackend.doctor import cache

    monkeypatch.delenv("KBACKEND_ADAPTERS_PATH", raising=False)
    base = cache._worker_digest()
    monkeypatch.setenv("KBACKEND_ADAPTERS_PATH", str(tmp_path))
    assert cache._worker_digest() == base  # an empty folder: the same adapters
    (tmp_path / "fakebk.py").write_text("def probe(mod, out, h):\n    out['devices'] = ['cpu']\n")
    with_fake = cache._worker_digest()
    assert with_fake != base
    (tmp_path / "fakebk.py").write_text("def probe(mod, out, h):\n    out['devices'] = ['gpu']\n")
    assert cache._worker_digest() != with_fake


def test_the_fast_version_check_agrees_with_packaging_on_every_registry_specifier():
    """`backends.contains` answers plain comparisons itself (no packaging.specifiers import on the
    envs path); it must give packaging's answer for every specifier the registry holds."""
    from packaging.specifiers import SpecifierSet

    from kbackend import backends as B

    specs = {b.keras for b in B.REGISTRY.values()} | {k for b in B.REGISTRY.values() for k, _, _ in b.minimums}
    specs |= {"~=2.2", ">=3.0,!=3.4.0", "==3.*"}
    versions = ["1.2.2", "2.0.4", "2.0.5", "2.2.4", "2.3.1", "2.4.3", "2.15.0", "3.0.0", "3.1.5", "3.2.0", "3.4.0",
                "3.8.0", "3.14.2", "3.15.1", "3.16.0", "3.16.0rc1", "3.0.0.dev1", "3.15.1+local"]
    for s in specs:
        for v in versions:
            assert B.contains(s, v) == (v in SpecifierSet(s)), (s, v)
