"""`kbackend doctor` end to end with the GPU fakes: a fake nvidia-smi first on PATH and fake
libraries on LD_LIBRARY_PATH, through the real CLI, GPU probe and checks. Only checks that
need no backend probe are selected, so no backend is imported."""

from __future__ import annotations

import json
import os

from gpu_fakes import fake_libs, fake_smi  # noqa: F401


def _doctor(run_cli, *args):
    code, out, err = run_cli("doctor", "--json", *args)
    doc = json.loads(out)
    return code, {c["id"]: c for c in doc["checks"]}, doc


def _path(bin_dir) -> str:
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def test_doctor_reports_the_fake_driver_and_gpus(run_cli, fake_smi, monkeypatch):
    monkeypatch.setenv("PATH", _path(fake_smi))
    monkeypatch.setenv("FAKE_SMI_DRIVER", "550.54.14")
    monkeypatch.setenv("FAKE_SMI_CUDA", "12.4")
    code, checks, doc = _doctor(run_cli, "--check", "gpu-visible-devices", "--check", "gpu-version-mismatch")
    gpu = doc["facts"]["gpu"]
    assert (gpu["driver_version"], gpu["driver_cuda_version"]) == ("550.54.14", "12.4")
    assert [(g["name"], g["compute_capability"]) for g in gpu["gpus"]] == [("NVIDIA A100-SXM4-40GB", "8.0")] * 2
    assert checks["gpu-visible-devices"]["status"] == "ok"
    assert code == 0


def test_doctor_fails_on_a_version_mismatch(run_cli, fake_smi, monkeypatch):
    monkeypatch.setenv("PATH", _path(fake_smi))
    monkeypatch.setenv("FAKE_SMI_MODE", "mismatch")
    code, checks, doc = _doctor(run_cli, "--check", "gpu-version-mismatch")
    assert code == 1
    f = checks["gpu-version-mismatch"]
    assert f["status"] == "error" and "reboot" in f["fix"]
    assert doc["facts"]["gpu"]["nvidia_smi"]["status"] == "version_mismatch"


def test_doctor_fails_when_cuda_visible_devices_hides_every_gpu(run_cli, fake_smi, monkeypatch):
    monkeypatch.setenv("PATH", _path(fake_smi))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    code, checks, _ = _doctor(run_cli, "--check", "gpu-visible-devices")
    assert code == 1 and checks["gpu-visible-devices"]["status"] == "error"
    assert "hides all 2 GPU(s)" in checks["gpu-visible-devices"]["evidence"][0]


def test_doctor_on_a_stub_libcuda(run_cli, fake_libs, tmp_path, monkeypatch):
    stubs = tmp_path / "cuda" / "lib64" / "stubs"
    fake_libs.install("cuda", stubs, "libcuda.so.1", stub=True)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(stubs))
    code, checks, doc = _doctor(run_cli, "--check", "gpu-stub-libcuda")
    assert code == 1
    assert checks["gpu-stub-libcuda"]["status"] == "error"
    assert checks["gpu-stub-libcuda"]["fix"] == "unset LD_LIBRARY_PATH"
    assert doc["facts"]["gpu"]["libcuda"]["error_code"] == 34


def test_doctor_human_output_names_the_fix(run_cli, fake_smi, monkeypatch):
    monkeypatch.setenv("PATH", _path(fake_smi))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,0")
    code, out, err = run_cli("doctor", "--check", "gpu-visible-devices")
    assert code == 1
    assert "unset CUDA_VISIBLE_DEVICES" in out + err


def test_doctor_report_hides_the_gpu_uuids(run_cli, fake_smi, monkeypatch):
    monkeypatch.setenv("PATH", _path(fake_smi))
    code, out, err = run_cli("doctor", "--report", "--check", "gpu-visible-devices")
    assert code == 0
    assert "NVIDIA A100-SXM4-40GB" in out
    assert "GPU-00010203" not in out and "0a0b0c0d0e0f" not in out
