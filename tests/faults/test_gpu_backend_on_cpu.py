"""`gpu-backend-on-cpu` on the fake GPU host: the fake nvidia-smi (driver, CUDA, compute capability per
test), a target whose metadata holds CPU builds of jax, torch and TensorFlow, through the real CLI,
GPU probe and install advice. The command is install.py's, for this driver and this GPU."""

from __future__ import annotations

import json
import shlex

import pytest
from gpu_fakes import fake_libs, fake_python, fake_smi, hermetic, make_facts, site  # noqa: F401

from kbackend import install as I
from kbackend.doctor import gpu_checks as G
from kbackend.doctor.facts import BackendFacts
from kbackend.doctor.system import SystemFacts
from kbackend.gpu.model import GpuDevice, GpuFacts, NvidiaSmi

CPU_BUILDS = {"keras": "3.15.1", "numpy": "2.1.0", "packaging": "25.0", "torch": "2.6.0+cpu",
              "tensorflow-cpu": "2.21.0", "jax": "0.6.0", "jaxlib": "0.6.0"}


@pytest.fixture
def host(tmp_path, monkeypatch, fake_smi):  # noqa: F811
    def make(driver, cuda, cc):
        nothing = tmp_path / "no-such-system"
        monkeypatch.setattr(I, "PROC_GPUS", str(nothing / "proc-gpus"))
        monkeypatch.setattr(I, "PROC_VERSION", str(nothing / "proc-version"))
        monkeypatch.setattr(I, "WSL_SMI", str(nothing / "wsl-nvidia-smi"))
        from kbackend.gpu import probe

        monkeypatch.setattr(probe, "SystemPaths", lambda: hermetic(tmp_path))
        monkeypatch.setenv("PATH", str(fake_smi))
        monkeypatch.setenv("FAKE_SMI_DRIVER", driver)
        monkeypatch.setenv("FAKE_SMI_CUDA", cuda)
        monkeypatch.setenv("FAKE_SMI_CC", cc)
        I.clear_cache()

    yield make
    I.clear_cache()


def _run(run_cli, keras_home, tmp_path, backend="torch", dists=CPU_BUILDS):
    sp = site(tmp_path / "site", dists)
    py = str(fake_python(tmp_path / "env", [str(sp)]))
    keras_home.mkdir(parents=True, exist_ok=True)
    (keras_home / "keras.json").write_text(json.dumps({"backend": backend}))
    code, out, err = run_cli("--python", py, "--json", "doctor", "--check", "gpu-backend-on-cpu")
    return code, json.loads(out)["checks"][0], py


#: (driver, CUDA, compute capability) -> what follows `pip install` per framework (None: no GPU build).
CASES = {
    ("535.104.05", "12.2", "8.0"): ("--index-url https://download.pytorch.org/whl/cu126", "'jax[cuda12]>=0.4.20'",
                                    "'tensorflow[and-cuda]>=2.16.1'"),
    ("580.65.06", "13.0", "9.0"): ("--index-url https://download.pytorch.org/whl/cu130", "'jax[cuda13]>=0.4.20'",
                                   "'tensorflow[and-cuda]>=2.16.1'"),
    # a V100 (7.0) on a CUDA 13 driver: CUDA 13 and torch's cu128 have no kernels below 7.5
    ("580.65.06", "13.0", "7.0"): ("--index-url https://download.pytorch.org/whl/cu126", "'jax[cuda12]>=0.4.20'",
                                   "'tensorflow[and-cuda]>=2.16.1'"),
    ("570.86.10", "12.8", "12.0"): ("--index-url https://download.pytorch.org/whl/cu128", "'jax[cuda12]>=0.4.20'",
                                    "'tensorflow[and-cuda]>=2.16.1'"),
    # a Kepler K80 (3.7) on an 11.4 driver: torch's cu118 still runs it; jax and TensorFlow have nothing
    ("470.82.01", "11.4", "3.7"): ("--index-url https://download.pytorch.org/whl/cu118", None, None),
}


@pytest.mark.parametrize("host_args", list(CASES), ids=lambda h: f"cuda{h[1]}-cc{h[2]}")
def test_the_command_follows_the_driver_and_the_compute_capability(run_cli, keras_home, host, tmp_path, host_args):
    host(*host_args)
    code, f, py = _run(run_cli, keras_home, tmp_path)
    torch, jax, tf = CASES[host_args]
    assert f["status"] == "error" and code == 1  # torch, the configured backend, is a CPU build
    ev = "\n".join(f["evidence"])
    assert "torch (the configured backend" in ev and "torch 2.6.0+cpu is a CPU build" in ev
    assert "jax (installed, not configured): jax" in ev and "no jax-cuda12/13 plugin" in ev
    pip = f"{shlex.quote(py)} -m pip install"
    cmds = f["fix"].split(" && ")
    assert cmds[0] == f"{pip} --force-reinstall 'torch>=2.1.0' {torch}"
    if jax:
        assert f"{pip} -U {jax}" in cmds
    else:
        assert not any("jax" in c for c in cmds) and "no jax CUDA build runs" in ev
    if tf:
        assert f"{shlex.quote(py)} -m pip uninstall -y tensorflow-cpu" in cmds
        assert f"{pip} {tf}" in cmds
    else:
        assert "no tensorflow CUDA build runs" in ev


def test_other_backends_warn_and_gpu_builds_pass(run_cli, keras_home, host, tmp_path, fake_libs, monkeypatch):  # noqa: F811
    # the driver's libcuda and a CUDA 12.4 runtime and cuDNN 9.1 on the loader path, loaded by the real probe
    libs = tmp_path / "cuda-libs"
    fake_libs.install("cuda", libs, "libcuda.so.1")
    fake_libs.install("cudart", libs, "libcudart.so.12", version=12040)
    fake_libs.install("cudnn", libs, "libcudnn.so.9", version=90100)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(libs))
    host("550.54.14", "12.4", "8.6")  # after the compiler ran: PATH holds only the fake nvidia-smi
    dists = {**CPU_BUILDS, "torch": "2.6.0+cu124", "jax-cuda12-plugin": "0.6.0"}
    code, f, py = _run(run_cli, keras_home, tmp_path, backend="torch", dists=dists)
    assert f["status"] == "warn" and code == 0
    ev = "\n".join(f["evidence"])
    assert "torch: torch 2.6.0+cu124 is a CUDA build" in ev and "jax: jax-cuda12-plugin 0.6.0 is a CUDA build" in ev
    assert "tensorflow (installed, not configured): tensorflow-cpu 2.21.0 is a CPU build" in ev
    assert f["fix"].endswith("-m pip install 'tensorflow[and-cuda]>=2.16.1'")
    code, out, err = run_cli("--python", py, "--json", "doctor", "--check", "gpu-libraries")
    gpu = json.loads(out)["facts"]["gpu"]
    assert gpu["libcuda"]["status"] == "ok" and [r["version"] for r in gpu["cuda_runtimes"]] == ["12.4"]


def test_skips_without_a_gpu(run_cli, keras_home, tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    from kbackend.gpu import probe

    monkeypatch.setattr(probe, "SystemPaths", lambda: hermetic(tmp_path))
    code, f, _ = _run(run_cli, keras_home, tmp_path)
    assert f["status"] == "skip" and code == 0


def _gpu(cc="8.0", cuda="12.4"):
    gpus = [GpuDevice(index=0, name="NVIDIA RTX", compute_capability=cc)]
    smi = NvidiaSmi(path="/x/nvidia-smi", status="ok", driver_version="551.61", cuda_version=cuda, gpus=gpus)
    return GpuFacts(nvidia_smi=smi, driver_version="551.61", driver_cuda_version=cuda, gpus=gpus)


def test_native_windows_says_wsl2_for_tensorflow_and_jax():
    facts = make_facts(_gpu(), installed={"tensorflow": "2.21.0", "torch": "2.6.0+cpu"})
    facts = facts.model_copy(update={"system": SystemFacts(platform="win32", os="Windows")})
    f = G.check_backend_on_cpu(facts)
    ev = "\n".join(f.evidence)
    assert "no CUDA build for native win32: run it in WSL2" in ev
    assert f.link in (G.WSL2_DOC, G.TORCH_INSTALL) and "whl/cu126" in f.fix and "tensorflow" not in f.fix


def test_a_cuda_build_whose_probe_lists_no_gpu():
    probed = BackendFacts(name="torch", installed=True, status="ok", version="2.6.0+cu124", built_cuda="12.4",
                          devices=["cpu"], gpu_devices=[])
    from kbackend.gpu import compat as C

    w = C.wheel_cuda("torch", "torch", "2.6.0+cu124", [], {}, platform="linux")
    facts = make_facts(_gpu().model_copy(update={"wheels": [w]}), backends=[probed], installed={"torch": "2.6.0+cu124"})
    f = G.check_backend_on_cpu(facts)
    assert f.status == "warn" and "its probe lists no GPU (devices: cpu)" in "\n".join(f.evidence)
