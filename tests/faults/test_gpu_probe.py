"""The GPU probe against fakes: a fake nvidia-smi on PATH, fake libcuda/libcudart/libcudnn
built with cc and found through LD_LIBRARY_PATH, pip wheel folders, a stand-in target."""

from __future__ import annotations

import ctypes

import pytest
from gpu_fakes import base_env, fake_libs, fake_python, fake_smi, hermetic, site  # noqa: F401

from kbackend.gpu import probe as probe_mod
from kbackend.gpu.probe import probe_gpu


def _probe(tmp_path, env, sys_path=(), native=True, **paths):
    return probe_gpu(env, sys_path=list(sys_path), paths=hermetic(tmp_path, **paths), timeout=20, native=native)


def _no_children(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a child was started")

    monkeypatch.setattr("kbackend.workers.runner.run_many", boom)


def test_nothing_found_starts_no_child(tmp_path, monkeypatch):
    _no_children(monkeypatch)
    facts = _probe(tmp_path, base_env(), native=None)
    assert not facts.has_driver and not facts.driver_seen
    assert facts.gpus == [] and facts.cuda_runtimes == [] and facts.cudnns == []
    assert facts.nvidia_smi.status == "not_found" and facts.libcuda.status == "not_found"
    assert facts.errors == []


@pytest.mark.parametrize("driver,cuda", [("535.104.05", "12.2"), ("580.65.06", "13.0"), ("525.60.13", "12.0")])
def test_nvidia_smi_ok(tmp_path, fake_smi, driver, cuda):
    env = base_env(PATH=f"{fake_smi}:/usr/bin:/bin", FAKE_SMI_DRIVER=driver, FAKE_SMI_CUDA=cuda)
    facts = _probe(tmp_path, env)
    assert facts.nvidia_smi.status == "ok"
    assert facts.driver_version == driver and facts.driver_cuda_version == cuda
    assert [g.compute_capability for g in facts.gpus] == ["8.0", "8.0"]
    assert facts.gpus[0].name == "NVIDIA A100-SXM4-40GB" and facts.gpus[0].memory_mib == 40960
    assert facts.gpus[1].uuid == "GPU-10111213-1415-1617-1819-1a1b1c1d1e1f"
    assert facts.has_driver and not facts.nvidia_smi.retried_without_compute_cap


def test_r470_retries_without_compute_cap_and_libcuda_fills_it(tmp_path, fake_smi, fake_libs):
    drv = tmp_path / "driver"
    fake_libs.install("cuda", drv, "libcuda.so.1", realname="libcuda.so.470.82.01")
    env = base_env(PATH=f"{fake_smi}:/usr/bin:/bin", FAKE_SMI_MODE="r470", LD_LIBRARY_PATH=str(drv),
                   FAKE_CUDA_VERSION="11040", FAKE_CUDA_CC="3.7,3.7")
    facts = _probe(tmp_path, env)
    smi = facts.nvidia_smi
    assert smi.status == "ok" and smi.retried_without_compute_cap
    assert smi.driver_version == "470.82.01" and smi.cuda_version == "11.4"
    assert [g.compute_capability for g in smi.gpus] == [None, None]
    # nvidia-smi's GPUs, their compute capability filled in from libcuda
    assert [(g.name, g.compute_capability) for g in facts.gpus] == [("Tesla K80", "3.7")] * 2
    assert facts.libcuda.version == "11.4" and facts.libcuda.candidates[0].version == "470.82.01"


@pytest.mark.parametrize("mode,status", [("mismatch", "version_mismatch"), ("nodriver", "no_driver"),
                                         ("nodevices", "no_devices")])
def test_nvidia_smi_failures_become_statuses(tmp_path, fake_smi, mode, status):
    facts = _probe(tmp_path, base_env(PATH=f"{fake_smi}:/usr/bin:/bin", FAKE_SMI_MODE=mode))
    assert facts.nvidia_smi.status == status
    assert facts.gpus == []
    if mode == "mismatch":
        assert facts.nvidia_smi.nvml_library_version == "535.129"
        assert "Driver/library version mismatch" in facts.nvidia_smi.error
        assert not facts.has_driver and facts.driver_seen
        assert any("version_mismatch" in e for e in facts.errors)


def test_hanging_nvidia_smi_times_out(tmp_path, fake_smi):
    facts = probe_gpu(base_env(PATH=f"{fake_smi}:/usr/bin:/bin", FAKE_SMI_MODE="hang"), sys_path=[],
                      paths=hermetic(tmp_path), timeout=1)
    assert facts.nvidia_smi.status == "timeout"
    assert facts.elapsed_s < 30


def test_libcuda_reports_devices(tmp_path, fake_libs):
    drv = tmp_path / "driver"
    fake_libs.install("cuda", drv, "libcuda.so.1")
    env = base_env(LD_LIBRARY_PATH=str(drv), FAKE_CUDA_VERSION="12040", FAKE_CUDA_CC="9.0,7.5",
                   CUDA_VISIBLE_DEVICES="")
    facts = _probe(tmp_path, env)
    lc = facts.libcuda
    assert lc.status == "ok" and lc.version == "12.4" and lc.device_count == 2 and not lc.is_stub
    assert lc.path == str(drv / "libcuda.so.1")
    # CUDA_VISIBLE_DEVICES is dropped in the child: the probe lists physical GPUs
    assert [(g.index, g.compute_capability, g.memory_mib) for g in facts.gpus] == [(0, "9.0", 16384),
                                                                                 (1, "7.5", 17408)]
    assert facts.gpus[1].uuid == "GPU-10111213-1415-1617-1819-1a1b1c1d1e1f"
    assert facts.driver_cuda_version == "12.4" and facts.driver_version is None and facts.has_driver


@pytest.mark.parametrize("code,status", [(100, "no_device"), (999, "error")])
def test_libcuda_init_failures(tmp_path, fake_libs, code, status):
    drv = tmp_path / "driver"
    fake_libs.install("cuda", drv, "libcuda.so.1")
    facts = _probe(tmp_path, base_env(LD_LIBRARY_PATH=str(drv), FAKE_CUDA_INIT=str(code)))
    assert facts.libcuda.status == status and facts.libcuda.error_code == code
    assert facts.libcuda.version == "12.2"  # cuDriverGetVersion answers before cuInit
    assert ("CUDA_ERROR_UNKNOWN" in facts.libcuda.error) == (code == 999)
    assert facts.gpus == []


def test_stub_libcuda_on_the_loader_path(tmp_path, fake_libs):
    stubs = tmp_path / "cuda" / "lib64" / "stubs"
    fake_libs.install("cuda", stubs, "libcuda.so.1", stub=True)
    facts = _probe(tmp_path, base_env(LD_LIBRARY_PATH=str(stubs)))
    assert facts.libcuda.status == "stub" and facts.libcuda.is_stub and facts.libcuda.error_code == 34
    assert "CUDA_ERROR_STUB_LIBRARY" in facts.libcuda.error
    assert not facts.has_driver


def test_toolkit_stub_off_the_loader_path_is_not_probed(tmp_path, fake_libs, monkeypatch):
    root = tmp_path / "usr-local"
    fake_libs.install("cuda", root / "cuda-12.4" / "lib64" / "stubs", "libcuda.so", stub=True)
    facts = _probe(tmp_path, base_env(), usr_local=str(root))
    assert facts.libcuda.path is None and facts.libcuda.status == "not_found"
    assert [f.source for f in facts.libcuda.candidates] == ["usr_local"]


def test_without_a_driver_cudnn_versions_come_from_names(tmp_path, fake_libs, monkeypatch):
    """No driver: no framework loads cuDNN, so it is not loaded; names and wheels give its version."""
    sp = site(tmp_path / "site", {"nvidia-cudnn-cu12": "9.1.0.70"})
    fake_libs.install("cudnn", sp / "nvidia" / "cudnn" / "lib", "libcudnn.so.9", version=90100)
    _no_children(monkeypatch)
    facts = _probe(tmp_path, base_env(), sys_path=[str(sp)], native=None)
    assert [(f.version, f.version_from, f.status) for f in facts.cudnns] == [("9.1.0.70", "wheel", "not_probed")]


def test_without_a_driver_each_cudart_is_read_from_the_library(tmp_path, fake_libs):
    """libcudart answers cudaRuntimeGetVersion without a driver: its version is the library's own, even
    where the file name says another (a /usr/local/cuda-12.4 whose libcudart.so.12 is a 12.2 build)."""
    sysdir = tmp_path / "usr-local" / "cuda-12.4" / "lib64"
    fake_libs.install("cudart", sysdir, "libcudart.so.12", realname="libcudart.so.12.4.127", version=12020)
    facts = _probe(tmp_path, base_env(LD_LIBRARY_PATH=str(sysdir)), native=None)
    assert [(f.version, f.version_from, f.status) for f in facts.cuda_runtimes] == [("12.2", "library", "ok")]
    assert not facts.has_driver


def test_a_driver_trace_turns_native_probes_on(tmp_path, fake_libs, fake_smi):
    d = tmp_path / "cudnn"
    fake_libs.install("cudnn", d, "libcudnn.so.9", version=90300)
    env = base_env(PATH=f"{fake_smi}:/usr/bin:/bin", LD_LIBRARY_PATH=str(d))
    facts = _probe(tmp_path, env, native=None)
    assert [(f.version, f.version_from) for f in facts.cudnns] == [("9.3.0", "library")]


def test_cudart_pip_wheel_and_shadowing_system_copy(tmp_path, fake_libs):
    sp = site(tmp_path / "site", {"nvidia-cuda-runtime-cu12": "12.4.127"})
    fake_libs.install("cudart", sp / "nvidia" / "cuda_runtime" / "lib", "libcudart.so.12", version=12040)
    system = tmp_path / "opt-cuda" / "lib64"
    fake_libs.install("cudart", system, "libcudart.so.12", realname="libcudart.so.12.2.140", version=12020)
    facts = _probe(tmp_path, base_env(LD_LIBRARY_PATH=str(system)), sys_path=[str(sp)])
    by_source = {f.source: f for f in facts.cuda_runtimes}
    assert set(by_source) == {"pip", "ld_library_path"}
    pip, ld = by_source["pip"], by_source["ld_library_path"]
    assert (pip.version, pip.version_from, pip.status) == ("12.4", "library", "ok")
    assert pip.wheel == "nvidia_cuda_runtime_cu12 12.4.127"
    assert (ld.version, ld.soname, ld.path) == ("12.2", "libcudart.so.12", str(system / "libcudart.so.12"))
    assert ld.loader_pick and not pip.loader_pick


def test_old_torch_wheel_bundles_hashed_libraries(tmp_path, fake_libs):
    sp = tmp_path / "site"
    fake_libs.install("cudart", sp / "torch" / "lib", "libcudart-9335f6a2.so.11.0", version=11070)
    facts = _probe(tmp_path, base_env(), sys_path=[str(sp)])
    assert [(f.source, f.soname, f.version) for f in facts.cuda_runtimes] == [("pip", "libcudart.so.11.0", "11.7")]


def test_cuda13_wheel_layout(tmp_path, fake_libs):
    sp = site(tmp_path / "site", {"nvidia-cuda-runtime": "13.0.96", "nvidia-cudnn-cu13": "9.13.0.50"})
    fake_libs.install("cudart", sp / "nvidia" / "cu13" / "lib", "libcudart.so.13", version=13000)
    fake_libs.install("cudnn", sp / "nvidia" / "cudnn" / "lib", "libcudnn.so.9", version=91300)
    facts = _probe(tmp_path, base_env(), sys_path=[str(sp)])
    assert [(f.soname, f.version, f.source) for f in facts.cuda_runtimes] == [("libcudart.so.13", "13.0", "pip")]
    assert [(f.major, f.version, f.wheel) for f in facts.cudnns] == [(9, "9.13.0", "nvidia_cudnn_cu13 9.13.0.50")]


@pytest.mark.parametrize("raw,expected", [(90100, "9.1.0"), (91900, "9.19.0"), (8902, "8.9.2"), (7605, "7.6.5")])
def test_cudnn_version_formulas(tmp_path, fake_libs, raw, expected):
    d = tmp_path / "cudnn"
    major = expected.split(".")[0]
    fake_libs.install("cudnn", d, f"libcudnn.so.{major}", version=raw)
    facts = _probe(tmp_path, base_env(LD_LIBRARY_PATH=str(d)))
    assert [(f.version, f.status, f.major) for f in facts.cudnns] == [(expected, "ok", int(major))]


def test_aborting_cudnn_becomes_a_status(tmp_path, fake_libs):
    sp = site(tmp_path / "site", {"nvidia-cudnn-cu12": "9.1.0.70"})
    fake_libs.install("cudnn", sp / "nvidia" / "cudnn" / "lib", "libcudnn.so.9", abort=True)
    good = tmp_path / "good"
    fake_libs.install("cudnn", good, "libcudnn.so.8", version=8902)
    facts = _probe(tmp_path, base_env(LD_LIBRARY_PATH=str(good)), sys_path=[str(sp)])
    by_major = {f.major: f for f in facts.cudnns}
    bad = by_major[9]
    assert bad.status == "crashed" and "SIGABRT" in bad.error
    assert (bad.version, bad.version_from) == ("9.1.0.70", "wheel")  # what the wheel says, since the library died
    assert by_major[8].status == "ok" and by_major[8].version == "8.9.2"  # its own child, unaffected


def test_usr_local_toolkit_and_cuda_home(tmp_path, fake_libs):
    root = tmp_path / "usr-local"
    fake_libs.install("cudart", root / "cuda-12.4" / "targets" / "x86_64-linux" / "lib", "libcudart.so.12",
                      realname="libcudart.so.12.4.127", version=12040)
    home = tmp_path / "cuda-11"
    fake_libs.install("cudart", home / "lib64", "libcudart.so.11.0", realname="libcudart.so.11.8.89", version=11080)
    facts = _probe(tmp_path, base_env(CUDA_HOME=str(home)), usr_local=str(root))
    got = sorted((f.source, f.soname, f.version) for f in facts.cuda_runtimes)
    assert got == [("cuda_home", "libcudart.so.11.0", "11.8"), ("usr_local", "libcudart.so.12", "12.4")]
    assert not any(f.loader_pick for f in facts.cuda_runtimes)


def test_ldconfig_cache_is_read(tmp_path, fake_libs):
    lib = tmp_path / "sys-lib"
    path = fake_libs.install("cudnn", lib, "libcudnn.so.8", version=8600)
    ldconfig = tmp_path / "ldconfig"
    ldconfig.write_text(f"#!/bin/sh\necho '2 libs found in cache'\n"
                        f"printf '\\tlibcudnn.so.8 (libc6,x86-64) => {path}\\n'\n"
                        f"printf '\\tlibcudnn.so.8 (libc6) => /usr/lib32/libcudnn.so.8\\n'\n")
    ldconfig.chmod(0o755)
    facts = _probe(tmp_path, base_env(), ldconfig=str(ldconfig))
    assert [(f.source, f.version, f.loader_pick) for f in facts.cudnns] == [("ldconfig", "8.6.0", True)]


def test_pip_wheels_come_from_the_target_interpreter(tmp_path, fake_libs):
    sp = site(tmp_path / "target-site", {"nvidia-cudnn-cu12": "9.3.0.75",
                                         "torch": "2.6.0+cu124"})
    fake_libs.install("cudnn", sp / "nvidia" / "cudnn" / "lib", "libcudnn.so.9", version=90300)
    py = fake_python(tmp_path, [str(sp)])
    facts = probe_gpu(base_env(), python=str(py), paths=hermetic(tmp_path), native=True)
    assert [(f.source, f.version) for f in facts.cudnns] == [("pip", "9.3.0")]
    assert [(w.dist, w.cuda) for w in facts.wheels if w.cuda_build] == [("torch", "12.4")]


def test_broken_target_is_an_error_not_an_exception(tmp_path):
    facts = probe_gpu(base_env(), python=str(tmp_path / "no-python"), paths=hermetic(tmp_path))
    assert any("sys.path" in e for e in facts.errors)


def test_nvml_through_the_targets_pynvml(tmp_path):
    sp = site(tmp_path / "site", {"nvidia-ml-py": "12.535.108"})
    (sp / "pynvml.py").write_text(
        "class NVMLError(Exception):\n    pass\n"
        "def nvmlInit(): pass\n"
        "def nvmlShutdown(): pass\n"
        "def nvmlSystemGetDriverVersion(): return b'535.104.05'\n"
        "def nvmlSystemGetCudaDriverVersion(): return 12020\n"
        "def nvmlDeviceGetCount(): return 1\n"
        "def nvmlDeviceGetHandleByIndex(i): return i\n"
        "def nvmlDeviceGetName(h): return 'NVIDIA L4'\n"
        "def nvmlDeviceGetCudaComputeCapability(h): return (8, 9)\n"
        "class _M:\n    total = 24 * 1024 ** 3\n"
        "def nvmlDeviceGetMemoryInfo(h): return _M()\n"
        "def nvmlDeviceGetUUID(h): return 'GPU-12345678-aaaa-bbbb-cccc-1234567890ab'\n")
    lib = tmp_path / "nvml"
    lib.mkdir()
    (lib / "libnvidia-ml.so.535.104.05").write_bytes(b"")
    (lib / "libnvidia-ml.so.1").symlink_to("libnvidia-ml.so.535.104.05")
    proc = tmp_path / "proc-version"
    proc.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n")
    env = base_env(PYTHONPATH=str(sp), LD_LIBRARY_PATH=str(lib))
    facts = _probe(tmp_path, env, sys_path=[str(sp)], proc_driver_version=str(proc))
    assert facts.nvml.status == "ok" and facts.nvml.driver_version == "535.104.05"
    assert facts.nvml.cuda_driver_version == "12.2" and facts.nvml.library_version == "535.104.05"
    assert [(g.name, g.compute_capability, g.memory_mib, g.source) for g in facts.gpus] == [
        ("NVIDIA L4", "8.9", 24576, "nvml")]
    assert facts.kernel_module_version == "535.104.05"
    assert facts.driver_version == "535.104.05" and facts.has_driver


def test_wsl_library_folder(tmp_path, fake_libs):
    wsl = tmp_path / "wsl-lib"
    fake_libs.install("cuda", wsl, "libcuda.so.1")
    facts = _probe(tmp_path, base_env(LD_LIBRARY_PATH=str(wsl)), wsl_lib=str(wsl))
    assert facts.wsl
    assert [f.source for f in facts.libcuda.candidates] == ["ld_library_path"]
    assert facts.libcuda.status == "ok"


def test_library_already_loaded_in_this_process(tmp_path, fake_libs):
    d = tmp_path / "loaded"
    path = fake_libs.install("cudart", d, "libcudart.so.12", version=12060)
    ctypes.CDLL(str(path))
    facts = _probe(tmp_path, base_env(), proc_maps="/proc/self/maps")
    assert [(f.source, f.version) for f in facts.cuda_runtimes] == [("loaded", "12.6")]


def test_probe_never_raises(tmp_path, monkeypatch):
    def broken(*a, **k):
        raise OSError("disk on fire")

    monkeypatch.setattr(probe_mod, "locate", broken)
    facts = _probe(tmp_path, base_env())
    assert facts.errors and "disk on fire" in facts.errors[0]
    assert facts.environ == {}


def test_a_cudart_version_is_asked_once_per_file(tmp_path, fake_libs, monkeypatch):
    """Remembered by the file's identity: the second probe starts no child; a changed file is asked again."""
    from kbackend.gpu.libcache import LibVersions

    sysdir = tmp_path / "usr-local" / "cuda-12.4" / "lib64"
    lib = fake_libs.install("cudart", sysdir, "libcudart.so.12", realname="libcudart.so.12.4.127", version=12040)
    cache = LibVersions(str(tmp_path / "cache" / "libversions.json"))
    env = base_env(LD_LIBRARY_PATH=str(sysdir))
    first = probe_gpu(env, sys_path=[], paths=hermetic(tmp_path), timeout=20, libcache=cache)
    assert [(f.version, f.version_from) for f in first.cuda_runtimes] == [("12.4", "library")]
    _no_children(monkeypatch)
    again = probe_gpu(env, sys_path=[], paths=hermetic(tmp_path), timeout=20, libcache=cache)
    assert [(f.version, f.version_from, f.status) for f in again.cuda_runtimes] == [("12.4", "library", "ok")]
    monkeypatch.undo()
    import shutil

    shutil.copyfile(fake_libs.build("cudart", version=12060), lib.resolve())  # another build in its place
    third = probe_gpu(env, sys_path=[], paths=hermetic(tmp_path), timeout=20, libcache=cache)
    assert [f.version for f in third.cuda_runtimes] == ["12.6"]
