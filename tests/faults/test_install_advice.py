"""Install advice: one command, for the target's pip, pinned, for the machine's GPU (or none).

The hosts are hermetic: no /proc/driver/nvidia, no WSL nvidia-smi, and PATH holds
either nothing or the fake nvidia-smi of gpu_fakes (driver and CUDA chosen per test);
doctor's own GPU probe sees the same host. Every command that gives install advice
(switch, check, doctor, verify, run, shell-env) is run through the real CLI in the
same situation and must print the very same command.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import sys
from pathlib import Path

import pytest
from gpu_fakes import fake_python, fake_smi, hermetic, site  # noqa: F401

from kbackend import install as I

PY = sys.executable
CPU_TORCH = "'torch>=2.1.0' --index-url https://download.pytorch.org/whl/cpu"
#: (FAKE_SMI_DRIVER, FAKE_SMI_CUDA) or None (no GPU) -> backend -> what follows `pip install`.
EXPECTED = {
    None: {"torch": CPU_TORCH, "jax": "'jax>=0.4.20'", "tensorflow": "'tensorflow-cpu>=2.16.1'",
           "numpy": "'jax>=0.4.20'", "openvino": "'openvino>=2026.2.0'"},
    ("535.104.05", "12.2"): {"torch": "'torch>=2.1.0' --index-url https://download.pytorch.org/whl/cu126",
                             "jax": "'jax[cuda12]>=0.4.20'", "tensorflow": "'tensorflow[and-cuda]>=2.16.1'",
                             "numpy": "'jax>=0.4.20'", "openvino": "'openvino>=2026.2.0'"},
    ("570.86.10", "12.8"): {"torch": "'torch>=2.1.0' --index-url https://download.pytorch.org/whl/cu128",
                            "jax": "'jax[cuda12]>=0.4.20'", "tensorflow": "'tensorflow[and-cuda]>=2.16.1'"},
    ("580.65.06", "13.0"): {"torch": "'torch>=2.1.0' --index-url https://download.pytorch.org/whl/cu130",
                            "jax": "'jax[cuda13]>=0.4.20'", "tensorflow": "'tensorflow[and-cuda]>=2.16.1'"},
}
HOSTS = list(EXPECTED)


@pytest.fixture
def host(tmp_path, monkeypatch, fake_smi):  # noqa: F811
    """`host(None)`: a machine without NVIDIA GPU; `host((driver, cuda))`: the fake nvidia-smi's GPUs."""

    def make(gpu):
        nothing = tmp_path / "no-such-system"
        monkeypatch.setattr(I, "PROC_GPUS", str(nothing / "proc-gpus"))
        monkeypatch.setattr(I, "PROC_VERSION", str(nothing / "proc-version"))
        monkeypatch.setattr(I, "WSL_SMI", str(nothing / "wsl-nvidia-smi"))
        from kbackend.gpu import probe

        monkeypatch.setattr(probe, "SystemPaths", lambda: hermetic(tmp_path))
        empty = tmp_path / "empty-bin"
        empty.mkdir(exist_ok=True)
        monkeypatch.setenv("PATH", str(fake_smi if gpu else empty))
        if gpu:
            monkeypatch.setenv("FAKE_SMI_DRIVER", gpu[0])
            monkeypatch.setenv("FAKE_SMI_CUDA", gpu[1])
        I.clear_cache()

    yield make
    I.clear_cache()


@pytest.fixture
def without(monkeypatch):
    """Make the target's metadata lack some distributions (the real venv otherwise)."""

    def drop(*names):
        from kbackend.envs import installed

        real = installed.scan
        monkeypatch.setattr(installed, "scan", lambda p: {k: v for k, v in real(p).items() if k not in names})

    return drop


def _want(gpu, backend, python=PY):
    return f"{shlex.quote(python)} -m pip install {EXPECTED[gpu][backend]}"


def _switch_fix(run_cli, backend):
    code, out, _ = run_cli("--json", "switch", backend)
    assert code == 1
    return json.loads(out)["error"]["fix"]


def _check_fix(run_cli, keras_home, backend, problem="backend_not_installed"):
    keras_home.mkdir(parents=True, exist_ok=True)
    (keras_home / "keras.json").write_text(json.dumps({"backend": backend}))
    code, out, _ = run_cli("--json", "check")
    assert code == 1
    return next(p["fix"] for p in json.loads(out)["problems"] if p["id"] == problem)


def _doctor_fix(run_cli, check="backend-importable"):
    code, out, _ = run_cli("--json", "doctor", "--check", check)
    assert code == 1
    return next(c["fix"] for c in json.loads(out)["checks"] if c["id"] == check)


# ------------------------------------------------------------------- the same command everywhere


@pytest.mark.parametrize("gpu", HOSTS, ids=lambda g: "no-gpu" if g is None else "cuda" + g[1])
@pytest.mark.parametrize("backend", ["torch", "jax", "tensorflow"])
def test_switch_check_and_doctor_print_the_same_command(run_cli, keras_home, host, without, gpu, backend):
    host(gpu)
    drop = {"torch": ("torch",), "jax": ("jax", "jaxlib"),
            "tensorflow": tuple(d for d in I.B.TF_DISTS)}[backend]
    without(*drop)
    want = _want(gpu, backend)
    assert _switch_fix(run_cli, backend) == want
    assert _check_fix(run_cli, keras_home, backend) == want
    assert _doctor_fix(run_cli) == want


@pytest.mark.parametrize("gpu", [None, ("535.104.05", "12.2")], ids=["no-gpu", "cuda12.2"])
def test_numpy_and_openvino_need_no_gpu_build(run_cli, keras_home, host, without, gpu):
    host(gpu)
    without("jax", "jaxlib", "openvino")
    for backend in ("numpy", "openvino"):
        want = _want(gpu, backend)
        assert _switch_fix(run_cli, backend) == want
        assert _check_fix(run_cli, keras_home, backend) == want
        assert _doctor_fix(run_cli) == want


@pytest.mark.parametrize("gpu", [None, ("535.104.05", "12.2")], ids=["no-gpu", "cuda12.2"])
def test_verify_run_and_shell_env_give_the_same_command(run_cli, host, without, gpu):
    host(gpu)
    without("torch")
    want = _want(gpu, "torch")
    code, out, _ = run_cli("--json", "verify", "--backend", "torch")
    torch = next(b for b in json.loads(out)["backends"] if b["name"] == "torch")
    assert torch["status"] == "not_installed" and torch["fix"] == want
    code, _, err = run_cli("run", "--backend", "torch", "--", "true")
    assert code != 0 and want in " ".join(err.split())
    code, _, err = run_cli("shell-env", "torch")  # prints the lines, and warns
    assert want in " ".join(err.split())


def test_doctor_all_says_how_to_install_each_missing_backend(run_cli, keras_home, host, tmp_path):
    host(("535.104.05", "12.2"))
    sp = site(tmp_path / "site", {"keras": "3.15.1", "numpy": "2.1.0", "jax": "0.10.2", "jaxlib": "0.10.2"})
    py = str(fake_python(tmp_path / "env", [str(sp)]))  # its probes fail fast: only the metadata counts here
    keras_home.mkdir(parents=True, exist_ok=True)
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    code, out, _ = run_cli("--python", py, "--json", "doctor", "--all", "--check", "other-backends")
    ev = next(c for c in json.loads(out)["checks"] if c["id"] == "other-backends")["evidence"]
    gpu = ("535.104.05", "12.2")
    for b in ("tensorflow", "torch", "openvino"):
        assert f"{b} is not installed: {_want(gpu, b, py)}" in ev
    # installed ones, and the legacy backends this Keras does not accept, get no install advice
    advised = [e.split()[0] for e in ev if " is not installed: " in e]
    assert advised == ["tensorflow", "torch", "openvino"]


def test_keras_missing_check_and_doctor_agree(run_cli, keras_home, host, tmp_path):
    host(None)
    sp = site(tmp_path / "site", {"numpy": "2.1.0"})
    py = fake_python(tmp_path / "env with space", [str(sp)])
    want = f"{shlex.quote(str(py))} -m pip install 'keras>=3'"
    keras_home.mkdir(parents=True, exist_ok=True)
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    code, out, _ = run_cli("--python", str(py), "--json", "check")
    assert next(p["fix"] for p in json.loads(out)["problems"] if p["id"] == "keras_missing") == want
    code, out, _ = run_cli("--python", str(py), "--json", "doctor", "--check", "keras")
    assert next(c["fix"] for c in json.loads(out)["checks"] if c["id"] == "keras") == want
    # quoted for the shell: the path with a space stays one word
    assert shlex.split(want)[:4] == [str(py), "-m", "pip", "install"]


def test_a_target_in_another_environment_gets_its_own_pip(run_cli, keras_home, host, tmp_path):
    """A conda or venv target: pip of that interpreter, never of the one running kbackend."""
    host(None)
    sp = site(tmp_path / "site", {"keras": "3.9.0", "numpy": "2.1.0"})
    py = fake_python(tmp_path / "conda" / "envs" / "k", [str(sp)])
    code, out, _ = run_cli("--python", str(py), "--json", "switch", "openvino")
    # Keras 3.9 needs openvino 2025.0.0 or later (3.15: 2026.2.0): the pin follows the installed Keras
    assert json.loads(out)["error"]["fix"] == f"{py} -m pip install 'openvino>=2025.0.0'"


def test_a_keras_too_old_for_the_backend_says_which_keras(run_cli, host, tmp_path):
    host(None)
    sp = site(tmp_path / "site", {"keras": "3.5.0", "numpy": "2.1.0", "openvino": "2025.1.0"})
    py = fake_python(tmp_path / "k35", [str(sp)])
    code, _, err = run_cli("--python", str(py), "switch", "openvino")
    assert code == 1 and f"{py} -m pip install -U 'keras>=3.8'" in err


# ------------------------------------------------------------------- detecting the GPU cheaply


def _counting_smi(tmp_path, fake_smi):  # noqa: F811
    """A bin folder whose nvidia-smi logs each start, then runs the fake."""
    log = tmp_path / "smi-starts.log"
    bin_dir = tmp_path / "counting-bin"
    bin_dir.mkdir()
    exe = bin_dir / "nvidia-smi"
    exe.write_text(f'#!/bin/sh\necho start >> "{log}"\nexec "{fake_smi / "nvidia-smi"}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return bin_dir, log


def test_config_commands_do_not_look_for_a_gpu_unless_they_advise(run_cli, keras_home, host, without, tmp_path,
                                                                  fake_smi, monkeypatch):  # noqa: F811
    host(None)
    bin_dir, log = _counting_smi(tmp_path, fake_smi)
    monkeypatch.setenv("PATH", str(bin_dir))
    without("torch")
    keras_home.mkdir(parents=True, exist_ok=True)
    (keras_home / "keras.json").write_text(json.dumps({"backend": "torch"}))
    for args in (("get", "backend"), ("set", "floatx", "float64"), ("path",)):
        I.clear_cache()
        run_cli(*args)
        assert not log.exists(), f"`kbackend {' '.join(args)}` ran nvidia-smi: it prints no install advice"
    I.clear_cache()
    code, out, _ = run_cli("--json", "check")
    assert code == 1 and "whl/cu126" in out
    assert log.read_text().count("start") == 1  # once, for the advice


def test_proc_driver_is_read_without_running_nvidia_smi(tmp_path, monkeypatch, fake_smi):  # noqa: F811
    gpus = tmp_path / "proc" / "gpus"
    (gpus / "0000:00:1e.0").mkdir(parents=True)
    version = tmp_path / "proc" / "version"
    version.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 07:09:29 UTC 2025\n"
                       "GCC version:  gcc version 12.2.0\n")
    bin_dir, log = _counting_smi(tmp_path, fake_smi)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(I, "PROC_GPUS", str(gpus))
    monkeypatch.setattr(I, "PROC_VERSION", str(version))
    I.clear_cache()
    try:
        hint = I.detect_gpu()
    finally:
        I.clear_cache()
    assert (hint.present, hint.cuda) == (True, "13.0") and not log.exists()


@pytest.mark.parametrize("mode", ["mismatch", "nodriver", "nodevices", "hang"])
def test_a_failing_nvidia_smi_means_cpu_wheels(host, monkeypatch, mode):
    host(("535.104.05", "12.2"))
    monkeypatch.setenv("FAKE_SMI_MODE", mode)
    monkeypatch.setattr(I, "SMI_TIMEOUT", 1.0)
    assert I.detect_gpu() == I.NO_GPU
    assert I.install_command("jax", "/e/bin/python", keras_version="3.15.1") == "/e/bin/python -m pip install 'jax>=0.4.20'"


def test_a_driver_with_no_gpu_in_proc_falls_back_to_nvidia_smi(host, tmp_path, monkeypatch):
    host(("535.104.05", "12.2"))
    empty = tmp_path / "proc-gpus-empty"
    empty.mkdir()
    monkeypatch.setattr(I, "PROC_GPUS", str(empty))
    assert I.detect_gpu() == I.GpuHint(True, "12.2", "nvidia-smi")


# ------------------------------------------------------------------- the words of the command


@pytest.mark.parametrize("cuda, tag", [("13.1", "cu130"), ("13.0", "cu130"), ("12.9", "cu128"), ("12.8", "cu128"),
                                       ("12.7", "cu126"), ("12.0", "cu126"), ("11.8", "cu118"), ("11.4", "cu118"),
                                       ("10.2", "cpu"), (None, "cu126")])
def test_torch_index_follows_the_driver(cuda, tag):
    assert I.torch_index(I.GpuHint(True, cuda)) == tag


@pytest.mark.parametrize("cuda, jax", [("13.0", "jax[cuda13]"), ("12.1", "jax[cuda12]"), ("11.4", "jax")])
def test_jax_build_follows_the_driver(cuda, jax):
    reqs, opts = I.requirements("jax", keras_version="3.15.1", gpu=I.GpuHint(True, cuda), platform="linux")
    assert reqs == [jax + ">=0.4.20"] and opts == []


def test_old_driver_gets_tensorflow_cpu():
    assert I.requirements("tensorflow", keras_version="3.15.1", gpu=I.GpuHint(True, "11.4"), platform="linux",
                          machine="x86_64")[0] == ["tensorflow-cpu>=2.16.1"]


@pytest.mark.parametrize("platform, machine, want", [
    ("darwin", "arm64", (["torch>=2.1.0"], [], ["tensorflow>=2.16.1"], ["jax>=0.4.20"])),
    ("win32", "AMD64", (["torch>=2.1.0"], [], ["tensorflow-cpu>=2.16.1"], ["jax>=0.4.20"])),
    ("linux", "aarch64", (["torch>=2.1.0"], ["--index-url", "https://download.pytorch.org/whl/cpu"],
                          ["tensorflow>=2.16.1"], ["jax>=0.4.20"])),
])
def test_cpu_builds_per_platform(platform, machine, want):
    t, topts = I.requirements("torch", keras_version="3.15.1", gpu=I.NO_GPU, platform=platform, machine=machine)
    tf, _ = I.requirements("tensorflow", keras_version="3.15.1", gpu=I.NO_GPU, platform=platform, machine=machine)
    jx, _ = I.requirements("jax", keras_version="3.15.1", gpu=I.NO_GPU, platform=platform, machine=machine)
    assert (t, topts, tf, jx) == want


def test_gpu_builds_only_where_they_exist():
    """jax[cuda] and tensorflow[and-cuda] are Linux wheels: a Windows GPU gets torch's CUDA index only."""
    g = I.GpuHint(True, "12.8")
    assert I.requirements("jax", gpu=g, platform="win32", machine="AMD64")[0] == ["jax>=0.4.20"]
    assert I.requirements("tensorflow", gpu=g, platform="win32", machine="AMD64")[0] == ["tensorflow-cpu>=2.16.1"]
    assert I.requirements("torch", gpu=g, platform="win32")[1] == ["--index-url", "https://download.pytorch.org/whl/cu128"]


@pytest.mark.parametrize("keras, want", [("3.0.5", "tensorflow-cpu>=2.15"), ("3.1.0", "tensorflow-cpu>=2.15"),
                                         ("3.2.0", "tensorflow-cpu>=2.16.1"), (None, "tensorflow-cpu>=2.16.1"),
                                         ("not-a-version", "tensorflow-cpu>=2.16.1")])
def test_the_pin_follows_the_keras_line(keras, want):
    assert I.requirements("tensorflow", keras_version=keras, gpu=I.NO_GPU, platform="linux",
                          machine="x86_64")[0] == [want]


def test_legacy_backends_keep_their_exact_versions():
    assert I.install_command("mxnet", "/l/bin/python", gpu=I.NO_GPU) == "/l/bin/python -m pip install keras-mxnet mxnet==1.9.1"
    assert I.install_command("theano", "/l/bin/python") == "/l/bin/python -m pip install Theano==1.0.5"


def test_every_word_is_quoted_for_the_shell(tmp_path):
    py = str(tmp_path / "it's a $HOME" / "bin" / "python")
    cmd = I.install_command("jax", py, keras_version="3.15.1", gpu=I.GpuHint(True, "12.4"), upgrade=True,
                            platform="linux")
    assert shlex.split(cmd) == [py, "-m", "pip", "install", "-U", "jax[cuda12]>=0.4.20"]


def test_detect_gpu_is_not_imported_by_config_commands():
    """`kbackend show` must not pay for the advice module's imports (subprocess, the GPU tables)."""
    import subprocess

    code = ("import sys, kbackend.cli.main as m\n"
            "sys.argv=['kbackend','path']\n"
            "try:\n    m.main()\nexcept SystemExit:\n    pass\n"
            "print('kbackend.gpu.compat' in sys.modules, 'kbackend.install' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "KERAS_HOME": str(Path(os.environ["KERAS_HOME"]))}, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "False False"
