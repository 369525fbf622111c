"""`gpu-ptxas` on the fake GPU host: a fake ptxas (a script answering `--version`) in a fake
nvidia-cuda-nvcc wheel of the target, libdevice files, XLA_FLAGS' data folder, the fake nvidia-smi's
driver and compute capability; through the real CLI, GPU probe and toolchain search."""

from __future__ import annotations

import json

import pytest
from gpu_fakes import fake_python, fake_smi, hermetic, site  # noqa: F401

from kbackend import install as I

JAX = {"keras": "3.15.1", "jax": "0.6.0", "jaxlib": "0.6.0", "jax-cuda12-plugin": "0.6.0",
       "nvidia-cuda-runtime-cu12": "12.9.79", "packaging": "25.0"}


def _ptxas(folder, version):
    exe = folder / "bin" / "ptxas"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text(f"#!/bin/sh\necho 'ptxas: NVIDIA (R) Ptx optimizing assembler'\n"
                   f"echo 'Cuda compilation tools, release {version.rsplit('.', 1)[0]}, V{version}'\n")
    exe.chmod(0o755)
    return exe


def _libdevice(folder):
    f = folder / "nvvm" / "libdevice" / "libdevice.10.bc"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(b"BC\xc0\xde")


@pytest.fixture
def host(tmp_path, monkeypatch, fake_smi, run_cli, keras_home):  # noqa: F811
    def make(driver, cuda, cc, ptxas="12.4.131", libdevice=True, xla_flags=None):
        monkeypatch.setattr(I, "PROC_GPUS", str(tmp_path / "none"))
        from kbackend.gpu import probe

        monkeypatch.setattr(probe, "SystemPaths", lambda: hermetic(tmp_path))
        monkeypatch.setenv("PATH", str(fake_smi))
        for k, v in (("FAKE_SMI_DRIVER", driver), ("FAKE_SMI_CUDA", cuda), ("FAKE_SMI_CC", cc)):
            monkeypatch.setenv(k, v)
        if xla_flags:
            monkeypatch.setenv("XLA_FLAGS", xla_flags)
        sp = site(tmp_path / "site", JAX)
        nvcc = sp / "nvidia" / "cuda_nvcc"
        if ptxas:
            _ptxas(nvcc, ptxas)
        if libdevice:
            _libdevice(nvcc)
        py = fake_python(tmp_path, [str(sp)])
        I.clear_cache()
        code, out, err = run_cli("--python", str(py), "--json", "doctor", "--check", "gpu-ptxas")
        return code, json.loads(out)["checks"][0], json.loads(out)["facts"]["gpu"]["toolchain"]

    yield make
    I.clear_cache()


def test_ptxas_that_suits_the_driver(host):
    code, f, tools = host("550.54.14", "12.4", "8.0", ptxas="12.4.131")
    assert f["status"] == "ok", f
    assert [(t["source"], t["version"]) for t in tools["ptxas"]] == [("pip", "12.4.131")]


def test_ptxas_newer_than_the_driver_warns(host):
    code, f, _ = host("535.104.05", "12.2", "8.0", ptxas="12.6.85")
    assert f["status"] == "warn" and code == 0
    assert any("newer than the driver's CUDA 12.2" in e for e in f["evidence"])
    assert "'nvidia-cuda-nvcc-cu12~=12.2.0'" in f["fix"]


def test_ptxas_of_another_major_fails(host):
    code, f, _ = host("535.104.05", "12.2", "8.0", ptxas="13.0.48")
    assert f["status"] == "error" and code == 1 and "upgrade the NVIDIA driver" in f["fix"]


def test_old_ptxas_on_hopper(host):
    code, f, _ = host("550.54.14", "12.4", "9.0", ptxas="12.4.131")
    assert f["status"] == "warn" and any("openxla/xla#19927" in e for e in f["evidence"])


def test_xla_data_dir_without_libdevice(host, tmp_path):
    empty = tmp_path / "cuda-empty"
    empty.mkdir()
    code, f, tools = host("550.54.14", "12.4", "8.0", xla_flags=f"--xla_gpu_cuda_data_dir={empty}")
    assert f["status"] == "error" and tools["xla_data_dir"] == str(empty)
    assert any("libdevice not found" in e for e in f["evidence"])
    assert f["fix"] == f"export XLA_FLAGS=--xla_gpu_cuda_data_dir={tmp_path / 'site' / 'nvidia' / 'cuda_nvcc'}"


def test_skips_without_an_xla_cuda_build(run_cli):
    code, out, err = run_cli("--json", "doctor", "--check", "gpu-ptxas")
    assert json.loads(out)["checks"][0]["status"] == "skip"
