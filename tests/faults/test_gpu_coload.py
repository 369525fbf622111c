"""Two frameworks in one process: two fake "frameworks" (Python packages that load their own compiled
fake libcudnn, one by path as jax preloads its wheels, one by soname as a RUNPATH does) imported by the
real co-loading child, whose /proc/self/maps shows which cuDNN the process got and who loaded it first;
and conflicting nvidia-* pins in fake dist-info metadata, through the real CLI."""

from __future__ import annotations

import json
import sys

import pytest

from gpu_fakes import fake_libs, fake_python, fake_smi, hermetic, make_facts, site  # noqa: F401

from kbackend.doctor import gpu_checks as G
from kbackend.gpu.coload import pin_conflicts, run_coload, verdict
from kbackend.gpu.model import GpuFacts


def _frameworks(tmp_path, fake_libs):  # noqa: F811
    """fwa bundles cuDNN 9.1.0 and loads it by path; fwb bundles 9.8.0 and asks the loader for libcudnn.so.9."""
    pkgs = tmp_path / "pkgs"
    a_lib = fake_libs.install("cudnn", tmp_path / "fwa-libs", "libcudnn.so.9", version=90100, dt_soname="libcudnn.so.9")
    fake_libs.install("cudnn", tmp_path / "fwb-libs", "libcudnn.so.9", version=90800, dt_soname="libcudnn.so.9")
    (pkgs / "fwa").mkdir(parents=True)
    (pkgs / "fwa" / "__init__.py").write_text(f"import ctypes\nctypes.CDLL({str(a_lib)!r})\n")
    (pkgs / "fwb").mkdir()
    (pkgs / "fwb" / "__init__.py").write_text("import ctypes\nctypes.CDLL('libcudnn.so.9')\n")
    env = {"PYTHONPATH": str(pkgs), "LD_LIBRARY_PATH": str(tmp_path / "fwb-libs")}
    needs = {"fwa": {"cudnn": ">=9.1,<10", "label": "fwa 1.0"}, "fwb": {"cudnn": ">=9.8,<10", "label": "fwb 2.0"}}
    return env, needs


def _steps(*names):
    return [{"name": n, "code": f"import {n}\n"} for n in names]


def test_the_first_framework_to_load_cudnn_wins(tmp_path, fake_libs):  # noqa: F811
    env, needs = _frameworks(tmp_path, fake_libs)
    c = run_coload(sys.executable, _steps("fwa", "fwb"), needs, env=env, timeout=60)
    assert c.status == "ok", c.error
    assert [(m.lib, m.version, m.by) for m in c.mapped] == [("libcudnn", "9.1.0", "fwa")]
    st, ev = verdict(c)
    assert st == "error"
    assert "fwb 2.0 needs cuDNN >=9.8,<10, but the process has cuDNN 9.1.0" in "\n".join(ev)
    assert any("loaded first by fwa" in e for e in ev)
    # the other order: fwb gets its 9.8 by soname, then fwa maps its own copy by path: two cuDNNs in one process
    c = run_coload(sys.executable, _steps("fwb", "fwa"), needs, env=env, timeout=60)
    assert sorted((m.version, m.by) for m in c.mapped) == [("9.1.0", "fwa"), ("9.8.0", "fwb")]
    st, ev = verdict(c)
    assert st == "warn" and any("2 copies of libcudnn" in e for e in ev)
    # the check words it from the facts
    f = G.check_coload(make_facts(GpuFacts()).model_copy(update={"coload": c}))
    assert f.status == "warn" and "fwb then fwa" in f.evidence[0]


def test_a_failing_step_is_reported_and_the_next_still_runs(tmp_path, fake_libs):  # noqa: F811
    env, needs = _frameworks(tmp_path, fake_libs)
    c = run_coload(sys.executable, _steps("nosuchframework", "fwa"), {}, env=env, timeout=60)
    assert [s["error"] is not None for s in c.steps] == [True, False]
    assert [m.by for m in c.mapped] == ["fwa"]
    assert verdict(c)[0] == "error"


def test_coload_is_skipped_with_fewer_than_two_gpu_builds(run_cli):
    code, out, err = run_cli("--json", "doctor", "--check", "gpu-coload")
    f = json.loads(out)["checks"][0]
    assert f["status"] == "skip" and "nothing shares a process" in f["evidence"][0]


TORCH_REQ = ['nvidia-cudnn-cu12==9.1.0.70; platform_system == "Linux"', "nvidia-cublas-cu12==12.4.5.8"]
JAX_REQ = ['nvidia-cudnn-cu12<10.0,>=9.8; extra == "with-cuda"', 'nvidia-cublas-cu12>=12.1.3.1; extra == "with-cuda"']


def test_pins_that_conflict_in_metadata():
    from kbackend.gpu import compat as C

    torch = C.wheel_cuda("torch", "torch", "2.6.0+cu124", TORCH_REQ, {}, platform="linux")
    jax = C.wheel_cuda("jax", "jax-cuda12-plugin", "0.6.0", JAX_REQ, {}, platform="linux")
    bad = pin_conflicts([torch, jax], {"nvidia-cudnn-cu12": "9.8.0.87", "nvidia-cublas-cu12": "12.4.5.8"})
    assert [(b["dist"], b["broken"]) for b in bad] == [("nvidia-cudnn-cu12", ["torch 2.6.0+cu124"])]
    assert bad[0]["pins"] == [("torch 2.6.0+cu124", "==9.1.0.70"), ("jax-cuda12-plugin 0.6.0", "<10.0,>=9.8")]
    assert pin_conflicts([torch, jax], {"nvidia-cudnn-cu12": "9.1.0.70", "nvidia-cublas-cu12": "12.4.5.8"})[0][
        "broken"] == ["jax-cuda12-plugin 0.6.0"]
    assert pin_conflicts([torch], {"nvidia-cudnn-cu12": "9.1.0.70", "nvidia-cublas-cu12": "12.4.5.8"}) == []


def test_doctor_names_the_conflicting_pins(run_cli, keras_home, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    from kbackend.gpu import probe

    monkeypatch.setattr(probe, "SystemPaths", lambda: hermetic(tmp_path))
    sp = site(tmp_path / "site", {"keras": "3.15.1", "torch": "2.6.0+cu124", "jax": "0.6.0", "jaxlib": "0.6.0",
                                  "jax-cuda12-plugin": "0.6.0", "nvidia-cudnn-cu12": "9.8.0.87",
                                  "nvidia-cublas-cu12": "12.4.5.8", "packaging": "25.0"},
              requires={"torch": TORCH_REQ, "jax-cuda12-plugin": JAX_REQ})
    py = fake_python(tmp_path, [str(sp)])
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "torch"}))
    code, out, err = run_cli("--python", str(py), "--json", "doctor", "--check", "gpu-wheel-pins")
    f = json.loads(out)["checks"][0]
    assert f["status"] == "error" and code == 1  # the configured backend's pin is the broken one
    ev = "\n".join(f["evidence"])
    assert ("nvidia-cudnn-cu12 (9.8.0.87 installed): torch 2.6.0+cu124 wants ==9.1.0.70; "
            "jax-cuda12-plugin 0.6.0 wants <10.0,>=9.8") in ev
    assert "nvidia-cudnn-cu12 9.8.0.87 breaks the pin of torch 2.6.0+cu124" in ev


def test_doctor_runs_the_child_only_with_two_gpu_builds_and_a_driver(tmp_path):
    from kbackend.doctor import service
    from kbackend.envs.target import current
    from kbackend.gpu import compat as C
    from kbackend.gpu.model import GpuDevice, NvidiaSmi
    from kbackend.services.config import check as config_check, make_context

    target = current()
    ctx = make_context(target, environ={"HOME": str(tmp_path), "KERAS_HOME": str(tmp_path / ".keras")})
    config = config_check(ctx)
    torch = C.wheel_cuda("torch", "torch", "2.6.0+cu124", TORCH_REQ, {}, platform="linux")
    jax = C.wheel_cuda("jax", "jax-cuda12-plugin", "0.6.0", JAX_REQ, {}, platform="linux")
    one = GpuFacts(wheels=[torch])
    assert "nothing shares a process" in service._coload(target, ctx, config, one, 30).why_not
    no_driver = GpuFacts(wheels=[torch, jax])
    assert "no working NVIDIA driver" in service._coload(target, ctx, config, no_driver, 30).why_not
    smi = NvidiaSmi(path="/x", status="ok", driver_version="550.54.14", cuda_version="12.4",
                    gpus=[GpuDevice(index=0, name="A100", compute_capability="8.0")])
    two = GpuFacts(wheels=[torch, jax], nvidia_smi=smi, gpus=smi.gpus)
    assert service.needs_coload([c for c in service.all_checks() if c.id == "gpu-coload"])
    assert not service.needs_coload([c for c in service.all_checks() if c.id == "keras"])
    # the child's plan: Keras with the configured backend first, then the other framework
    from kbackend.gpu.coload import needs_of, steps

    builds = C.builds(two.wheels)
    plan = steps([b.framework for b in builds], config.effective["backend"].value)
    assert [s["name"] for s in plan] == ["keras+tensorflow", "jax", "torch"]
    assert needs_of(builds, "torch")["keras+torch"]["cudnn"] == ">=9.1,<10"  # same major, minor at least


@pytest.mark.integration
def test_the_real_frameworks_in_one_child_then_from_the_cache(tmp_path):
    """The real steps (Keras with the configured backend, then the others' device listing) on this
    machine's installed torch and jax, through doctor's own wiring; the second time from the cache."""
    from kbackend.doctor import service
    from kbackend.doctor.cache import ProbeCache
    from kbackend.envs.target import current
    from kbackend.gpu import compat as C
    from kbackend.gpu.model import GpuDevice, NvidiaSmi
    from kbackend.services.config import check as config_check, make_context

    from kbackend.envs import installed as inst

    if not {"torch", "jax", "keras"} <= set(inst.versions(inst.scan(sys.path))):
        pytest.skip("needs keras, torch and jax installed")
    target = current()
    env = {"HOME": str(tmp_path), "KERAS_HOME": str(tmp_path / ".keras"), "KERAS_BACKEND": "jax"}
    ctx = make_context(target, environ=env)
    config = config_check(ctx)
    torch = C.wheel_cuda("torch", "torch", "2.6.0+cu124", TORCH_REQ, {}, platform="linux")
    jax = C.wheel_cuda("jax", "jax-cuda12-plugin", "0.6.0", JAX_REQ, {}, platform="linux")
    smi = NvidiaSmi(path="/x", status="ok", driver_version="550.54.14", cuda_version="12.4",
                    gpus=[GpuDevice(index=0, name="A100", compute_capability="8.0")])
    g = GpuFacts(wheels=[torch, jax], nvidia_smi=smi, gpus=smi.gpus)
    cache = ProbeCache(str(tmp_path / "probes.json"))
    c = service._coload(target, ctx, config, g, 300, env=env, cache=cache)
    assert c.status == "ok", (c.error, c.steps)
    assert [(s["name"], s["error"]) for s in c.steps] == [("keras+jax", None), ("torch", None)]
    assert not c.cached and verdict(c)[0] == "ok"  # CPU builds here: no CUDA library is mapped
    key, name = service._coload_key(target, ctx, env, config)
    cache.put(key, {name: c.model_dump(mode="json")})
    again = service._coload(target, ctx, config, g, 300, env=env, cache=cache)
    assert again.cached and again.steps == c.steps


def test_pins_of_wheels_not_installed_are_no_conflict():
    from kbackend.gpu import compat as C

    tf = C.wheel_cuda("tensorflow", "tensorflow-cpu", "2.21.0",
                      ['nvidia-cudnn-cu12<10.0,>=9.3.0.75; extra == "and-cuda"'], {}, platform="linux")
    f = G.check_wheel_pins(make_facts(GpuFacts(wheels=[tf]), installed={"tensorflow-cpu": "2.21.0"}))
    assert f.status == "skip" and "none of the 1 nvidia-* wheels" in f.evidence[0]
