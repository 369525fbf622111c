"""Backend probe orchestration: the plan, the mapping of child outcomes, parallel runs and the cache.

The children here import fake backend packages (a few lines on PYTHONPATH) without
Keras, so they run the real worker and runner in tens of milliseconds.
"""

from __future__ import annotations

import sys
import textwrap

import pytest

from kbackend.doctor import probe as P
from kbackend.doctor.cache import ProbeCache
from kbackend.workers.runner import ChildResult

K3 = {"keras": "3.15.1", "numpy": "2.4.6"}


def test_plan_probes_installed_backends_keras_accepts():
    inst = {**K3, "jax": "0.4.30", "jaxlib": "0.4.30", "tensorflow-cpu": "2.21.0", "theano": "1.0.5"}
    assert [p.name for p in P.plan(inst, "3.15.1")] == ["tensorflow", "jax", "numpy"]
    assert all(p.import_keras for p in P.plan(inst, "3.15.1"))


def test_plan_numpy_backend_needs_jax_and_openvino_needs_keras_38():
    assert [p.name for p in P.plan({**K3, "openvino": "2025.0.0"}, "3.7.0")] == []
    assert [p.name for p in P.plan({**K3, "openvino": "2025.0.0"}, "3.8.0")] == ["openvino"]


def test_plan_all_backends_lists_every_known_name():
    plan = P.plan(K3, "3.15.1", all_backends=True)
    assert [p.name for p in plan] == ["tensorflow", "jax", "torch", "numpy", "openvino", "theano", "cntk", "mxnet"]
    legacy = {p.name: p for p in plan}["theano"]
    assert not legacy.installed and not legacy.import_keras


def test_plan_without_keras_still_probes_the_backends():
    plan = P.plan({"torch": "2.5.0", "numpy": "2.0"}, None)
    assert [(p.name, p.import_keras) for p in plan] == [("torch", False)]


def test_backend_dists_and_version():
    inst = {"jax": "0.4.30", "jaxlib": "0.4.30", "jax-cuda12-plugin": "0.4.30", "tensorflow-cpu": "2.21.0",
            "tf-keras": "2.21.0"}
    assert P.backend_dists("jax", inst) == {"jax": "0.4.30", "jaxlib": "0.4.30", "jax-cuda12-plugin": "0.4.30"}
    assert P.backend_dists("tensorflow", inst) == {"tensorflow-cpu": "2.21.0", "tf-keras": "2.21.0"}
    assert P.backend_version("tensorflow", inst) == "2.21.0"
    assert P.backend_version("torch", inst) is None


def test_from_child_keeps_the_runner_status_and_the_log():
    p = P.Planned("torch", True, True)
    r = ChildResult("crashed", error="killed by SIGSEGV", returncode=-11, elapsed_s=0.5, log="x" * 10000)
    f = P.from_child(p, r, {"torch": "2.5.0"})
    assert (f.status, f.error, f.version, f.import_s) == ("crashed", "killed by SIGSEGV", "2.5.0", None)
    assert len(f.log) == P.LOG_KEEP and f.extra["returncode"] == -11
    ok = P.from_child(p, ChildResult("ok", data={"import_s": 2.5, "devices": ["cpu"], "built_cuda": "12.4",
                                                 "cuda_archs": ["sm_80"], "extra": {"x": 1}}), {"torch": "2.5.0"})
    assert (ok.import_s, ok.devices, ok.built_cuda, ok.cuda_archs, ok.extra["x"]) == (2.5, ["cpu"], "12.4", ["sm_80"], 1)


@pytest.fixture
def fake_backends(tmp_path):
    """Fake `jax` and `torch` packages: importable in tens of ms, no Keras needed."""
    root = tmp_path / "fakes"
    for name, body in {
        "jax": "__version__ = '0.9.9'\nimport os\ndevices = None\n",
        "torch": "raise ImportError('fake torch is broken')\n",
    }.items():
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text(textwrap.dedent(body))
    return {"PYTHONPATH": str(root)}


def test_probe_backends_runs_children_and_caches_only_what_the_child_reported(tmp_path, fake_backends):
    plan = [P.Planned("jax", False, True), P.Planned("torch", False, True)]
    cache = ProbeCache(str(tmp_path / "c.json"))
    started, done = [], []
    res, problem = P.probe_backends(sys.executable, plan, installed={"jax": "0.9.9", "torch": "2.5.0"},
                                    child_env=fake_backends, timeout=30, cache=cache, key="k",
                                    on_start=started.extend, on_done=lambda f: done.append(f.name))
    assert problem is None
    assert [f.name for f in res] == ["jax", "torch"]  # plan order, whatever the finishing order
    jax, torch = res
    assert jax.status == "ok" and jax.extra["module_version"] == "0.9.9" and not jax.cached
    assert jax.extra["devices_s"] >= 0  # the device query ran (and failed softly: fake jax has no devices())
    assert "device_error" in jax.extra
    assert torch.status == "import_error" and "fake torch is broken" in torch.error
    assert sorted(started) == ["jax", "torch"] and sorted(done) == ["jax", "torch"]
    again, _ = P.probe_backends(sys.executable, plan, installed={}, child_env={"PYTHONPATH": "/nonexistent"},
                                cache=ProbeCache(cache.path), key="k")
    assert [f.cached for f in again] == [True, True]
    assert again[1].error == torch.error


def test_probe_backends_refresh_ignores_the_cache(tmp_path, fake_backends, monkeypatch):
    cache = ProbeCache(str(tmp_path / "c.json"))
    cache.put("k", {"jax": {"name": "jax", "installed": True, "status": "import_error", "error": "stale"}})
    plan = [P.Planned("jax", False, True)]
    hit, _ = P.probe_backends(sys.executable, plan, installed={}, child_env=fake_backends, cache=cache, key="k")
    assert hit[0].cached and hit[0].error == "stale"
    fresh, _ = P.probe_backends(sys.executable, plan, installed={}, child_env=fake_backends, cache=cache, key="k",
                                refresh=True)
    assert not fresh[0].cached and fresh[0].status == "ok"
    assert ProbeCache(cache.path).get("k", "jax")["status"] == "ok"  # and the entry was replaced


def test_a_timeout_is_not_cached(tmp_path, monkeypatch):
    cache = ProbeCache(str(tmp_path / "c.json"))
    monkeypatch.setattr(P, "run_many", lambda jobs, **kw: [kw["on_done"](j, ChildResult("timeout", error="no result"))
                                                           for j in jobs])
    res, _ = P.probe_backends(sys.executable, [P.Planned("jax", True, True)], installed={}, cache=cache, key="k")
    assert res[0].status == "timeout"
    assert ProbeCache(cache.path).get("k", "jax") is None


def test_a_cache_entry_of_another_shape_is_probed_again(tmp_path, fake_backends):
    cache = ProbeCache(str(tmp_path / "c.json"))
    cache.put("k", {"jax": {"name": "jax", "status": ["not", "a", "string"]}})
    res, _ = P.probe_backends(sys.executable, [P.Planned("jax", False, True)], installed={},
                              child_env=fake_backends, cache=cache, key="k")
    assert not res[0].cached and res[0].status == "ok"
