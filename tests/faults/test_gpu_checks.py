"""Each GPU doctor check: one case where it fires, one where it passes, and its skip.

Most facts are built by hand (the checks are pure functions); the fault cases that
matter most (a stub libcuda, an aborting cuDNN, LD_LIBRARY_PATH shadowing, R470) also
run through the real probe against the compiled fakes."""

from __future__ import annotations

import pytest
from gpu_fakes import base_env, fake_libs, fake_smi, hermetic, make_facts, site  # noqa: F401

from kbackend.doctor import gpu_checks as G
from kbackend.doctor.facts import BackendFacts
from kbackend.gpu import compat as C
from kbackend.gpu.model import GpuDevice, GpuFacts, Libcuda, LibraryFile, NvidiaSmi, Nvml
from kbackend.gpu.probe import probe_gpu


def smi(driver="535.104.05", cuda="12.2", ccs=("8.0",), status="ok", **kw) -> NvidiaSmi:
    gpus = [GpuDevice(index=i, name="NVIDIA A100", compute_capability=cc, uuid=f"GPU-{i}aaa") for i, cc in
            enumerate(ccs)]
    return NvidiaSmi(path="/usr/bin/nvidia-smi", status=status, driver_version=driver if status == "ok" else None,
                     cuda_version=cuda if status == "ok" else None, gpus=gpus if status == "ok" else [], **kw)


def gpu(s: NvidiaSmi | None = None, **kw) -> GpuFacts:
    s = s or smi()
    base = dict(nvidia_smi=s, driver_version=s.driver_version, driver_cuda_version=s.cuda_version, gpus=s.gpus)
    base.update(kw)
    return GpuFacts(**base)


def lib(kind, path, source, version, soname=None, **kw) -> LibraryFile:
    soname = soname or {"cudnn": f"libcudnn.so.{version.split('.')[0]}",
                        "cudart": f"libcudart.so.{version.split('.')[0]}"}[kind]
    return LibraryFile(kind=kind, path=path, source=source, soname=soname, realpath=path, version=version,
                       status=kw.pop("status", "ok"), **kw)


def wheel(framework, dist, version, requires=(), installed=None):
    return C.wheel_cuda(framework, dist, version, list(requires), installed or {}, platform="linux")


TORCH = wheel("torch", "torch", "2.6.0+cu124", ['nvidia-cudnn-cu12==9.1.0.70'])
TF216 = wheel("tensorflow", "tensorflow", "2.16.1")
TF218 = wheel("tensorflow", "tensorflow", "2.18.0")
JAX = wheel("jax", "jax-cuda12-plugin", "0.6.0", ['nvidia-cudnn-cu12<10,>=9.8; extra == "with-cuda"'],
            {"nvidia-cuda-runtime-cu12": "12.9.79"})
PIP_RT12 = lib("cudart", "/site/nvidia/cuda_runtime/lib/libcudart.so.12", "pip", "12.4")
PIP_DNN9 = lib("cudnn", "/site/nvidia/cudnn/lib/libcudnn.so.9", "pip", "9.1.0")


def run(check, g, **kw):
    f = check(make_facts(g, **kw))
    assert f.id in {c.id for c in G.CHECKS}
    # one title per check, whatever the outcome: the one `doctor --list-checks` shows
    assert f.title == G.TITLES[f.id] == next(c.title for c in G.CHECKS if c.id == f.id)
    return f


# -- gpu-driver ------------------------------------------------------------------------------------

def test_driver_ok():
    f = run(G.check_driver, gpu(wheels=[TORCH]))
    assert f.status == "ok" and f.title == G.TITLES["gpu-driver"]
    assert "535.104.05" in f.evidence[0] and "supports CUDA 12.2" in f.evidence[0]  # the verdict leads the evidence


def test_driver_missing_for_a_cuda_build():
    f = run(G.check_driver, GpuFacts(wheels=[TORCH]))
    assert f.status == "warn" and "torch 2.6.0+cu124" in f.evidence[0]
    assert "download.pytorch.org/whl/cpu" in f.fix


def test_driver_installed_but_broken():
    f = run(G.check_driver, GpuFacts(wheels=[TORCH], nvidia_smi=smi(status="no_driver", error="NVIDIA-SMI has failed")))
    assert f.status == "error" and any("NVIDIA-SMI has failed" in e for e in f.evidence)


def test_driver_skips_without_cuda_builds():
    cpu = wheel("torch", "torch", "2.6.0+cpu")
    assert run(G.check_driver, gpu(wheels=[cpu])).status == "skip"
    # a probe that imported torch and found no CUDA wins over the metadata
    probed = BackendFacts(name="torch", installed=True, status="ok", version="2.6.0")
    assert run(G.check_driver, gpu(wheels=[wheel("torch", "torch", "2.6.0", ["nvidia-cudnn-cu12==9.1.0.70"])]),
               backends=[probed]).status == "skip"


# -- gpu-driver-cuda -------------------------------------------------------------------------------

def test_driver_cuda_ok():
    f = run(G.check_driver_cuda, gpu(smi(driver="550.54.14", cuda="12.4"), wheels=[TORCH]))
    assert f.status == "ok"


def test_driver_cuda_minor_version_compatibility_warns():
    f = run(G.check_driver_cuda, gpu(wheels=[TORCH]))
    assert f.status == "warn" and "550.54.14" in f.fix


def test_driver_cuda_too_old():
    f = run(G.check_driver_cuda, gpu(smi(driver="470.82.01", cuda="11.4"), wheels=[TORCH]))
    assert f.status == "error"
    assert "550.54.14" in f.fix and "whl/cu118" not in f.fix  # 11.4 driver: no torch index is new enough
    f = run(G.check_driver_cuda, gpu(smi(driver="530.30.02", cuda="12.1"),
                                     wheels=[wheel("torch", "torch", "2.9.0+cu130")]))
    assert f.status == "error" and "whl/cu121" in f.fix and "580.65.06" in f.fix


def test_driver_cuda_uses_the_probed_build():
    probed = BackendFacts(name="torch", installed=True, status="ok", built_cuda="13.0")
    f = run(G.check_driver_cuda, gpu(smi(driver="550.54.14", cuda="12.4"), wheels=[TORCH]), backends=[probed])
    assert f.status == "error" and any("its import reports" in e for e in f.evidence)


def test_driver_cuda_skips():
    assert run(G.check_driver_cuda, GpuFacts(wheels=[TORCH])).status == "skip"
    assert run(G.check_driver_cuda, gpu(wheels=[])).status == "skip"


# -- gpu-compute-capability -----------------------------------------------------------------------

def test_compute_capability_ok_with_archs():
    probed = BackendFacts(name="torch", installed=True, status="ok", built_cuda="12.4",
                          cuda_archs=["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"])
    f = run(G.check_compute_capability, gpu(smi(ccs=("8.9",)), wheels=[TORCH]), backends=[probed])
    assert f.status == "ok"


def test_compute_capability_no_kernel_image():
    probed = BackendFacts(name="torch", installed=True, status="ok", built_cuda="12.8",
                          cuda_archs=["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"])
    f = run(G.check_compute_capability, gpu(smi(ccs=("8.0", "6.1")), wheels=[TORCH]), backends=[probed])
    assert f.status == "error" and "sm_61" in f.fix
    assert any("no kernel image" in e and "6.1" in e for e in f.evidence)


def test_compute_capability_cuda13_drops_old_gpus():
    f = run(G.check_compute_capability, gpu(smi(ccs=("7.0",)), wheels=[wheel("torch", "torch", "2.9.0+cu130")]))
    assert f.status == "error" and any(">= 7.5" in e for e in f.evidence)


def test_compute_capability_skips_without_gpus():
    assert run(G.check_compute_capability, GpuFacts(wheels=[TORCH])).status == "skip"


# -- gpu-cudnn -------------------------------------------------------------------------------------

def test_cudnn_ok():
    f = run(G.check_cudnn, gpu(wheels=[TORCH], cudnns=[PIP_DNN9]))
    assert f.status == "ok"


def test_cudnn_tf217_needs_8_but_only_9_resolves():
    f = run(G.check_cudnn, gpu(wheels=[TF216], cudnns=[PIP_DNN9]))
    assert f.status == "error" and any("libcudnn.so.8 not found" in e for e in f.evidence)
    assert 'tensorflow[and-cuda]==2.16.1' in f.fix


def test_cudnn_minor_too_old_for_tf218():
    f = run(G.check_cudnn, gpu(wheels=[TF218], cudnns=[PIP_DNN9]))
    assert f.status == "error" and any("9.3" in e and "9.1.0" in e for e in f.evidence)


def test_cudnn_ld_library_path_wins_for_torch_but_not_for_jax():
    sys8 = lib("cudnn", "/opt/cudnn/lib/libcudnn.so.9", "ld_library_path", "9.0.0")
    new = lib("cudnn", "/site/nvidia/cudnn/lib/libcudnn.so.9", "pip", "9.10.2")
    f = run(G.check_cudnn, gpu(wheels=[TORCH, JAX], cudnns=[new, sys8]))
    assert f.status == "error"
    torch_line = next(e for e in f.evidence if e.startswith("torch"))
    jax_line = next(e for e in f.evidence if e.startswith("jax"))
    assert "/opt/cudnn" in torch_line and "/site/nvidia" in jax_line


def test_cudnn_that_aborts(tmp_path, fake_libs):
    sp = site(tmp_path / "site", {"torch": "2.6.0+cu124", "nvidia-cudnn-cu12": "9.1.0.70"},
              {"torch": ["nvidia-cudnn-cu12==9.1.0.70"]})
    fake_libs.install("cudnn", sp / "nvidia" / "cudnn" / "lib", "libcudnn.so.9", abort=True)
    drv = tmp_path / "driver"
    fake_libs.install("cuda", drv, "libcuda.so.1")
    g = probe_gpu(base_env(LD_LIBRARY_PATH=str(drv)), sys_path=[str(sp)], paths=hermetic(tmp_path))
    f = run(G.check_cudnn, g)
    assert f.status == "error" and any("crashed" in e and "SIGABRT" in e for e in f.evidence)


def test_cudnn_skips():
    assert run(G.check_cudnn, GpuFacts(wheels=[TORCH], cudnns=[PIP_DNN9])).status == "skip"  # no driver
    assert run(G.check_cudnn, gpu(wheels=[TORCH], cudnns=[])).status == "skip"  # gpu-libraries says it


# -- gpu-libraries ---------------------------------------------------------------------------------

def test_libraries_present():
    f = run(G.check_libraries, gpu(wheels=[TORCH], cuda_runtimes=[PIP_RT12], cudnns=[PIP_DNN9]))
    assert f.status == "ok"


def test_libraries_missing_cannot_dlopen():
    off = lib("cudnn", "/usr/local/cuda/lib64/libcudnn.so.9", "usr_local", "9.3.0")
    f = run(G.check_libraries, gpu(wheels=[TF218], cuda_runtimes=[], cudnns=[off]))
    assert f.status == "error" and any("Cannot dlopen some GPU libraries" in e for e in f.evidence)
    assert any("libcudart.so.12" in e and "libcudnn.so.9" in e for e in f.evidence)
    assert any("/usr/local/cuda/lib64/libcudnn.so.9" in e and "not on the loader path" in e for e in f.evidence)


def test_libraries_trusts_a_torch_that_imported():
    probed = BackendFacts(name="torch", installed=True, status="ok", built_cuda="12.4", built_cudnn="9.1.0")
    f = run(G.check_libraries, gpu(wheels=[TORCH], cuda_runtimes=[], cudnns=[PIP_DNN9]), backends=[probed])
    assert f.status == "ok"
    f = run(G.check_libraries, gpu(wheels=[TORCH], cuda_runtimes=[], cudnns=[PIP_DNN9]))
    assert f.status == "error" and f.link == G.TORCH_INSTALL


def test_libraries_skip_without_driver():
    assert run(G.check_libraries, GpuFacts(wheels=[TF218])).status == "skip"


# -- gpu-ld-library-path ---------------------------------------------------------------------------

def test_ld_library_path_shadowing(tmp_path, fake_libs):
    sp = site(tmp_path / "site", {"nvidia-cudnn-cu12": "9.3.0.75"})
    fake_libs.install("cudnn", sp / "nvidia" / "cudnn" / "lib", "libcudnn.so.9", version=90300)
    system = tmp_path / "usr-local-cuda" / "lib64"
    fake_libs.install("cudnn", system, "libcudnn.so.9", realname="libcudnn.so.9.0.0", version=90000)
    keep = tmp_path / "other"
    keep.mkdir()
    env = base_env(LD_LIBRARY_PATH=f"{system}:{keep}")
    g = probe_gpu(env, sys_path=[str(sp)], paths=hermetic(tmp_path))
    f = run(G.check_ld_library_path, g, environ={"LD_LIBRARY_PATH": env["LD_LIBRARY_PATH"]})
    assert f.status == "error"
    assert f.fix == f"export LD_LIBRARY_PATH={keep}"
    assert any("9.0.0" in e and "9.3.0" in e for e in f.evidence)


def test_ld_library_path_without_shadowing():
    other = lib("cudnn", "/opt/x/libcudnn.so.8", "ld_library_path", "8.9.7")
    f = run(G.check_ld_library_path, gpu(cudnns=[PIP_DNN9, other]), environ={"LD_LIBRARY_PATH": "/opt/x"})
    assert f.status == "ok"


def test_ld_library_path_unset_skips():
    assert run(G.check_ld_library_path, gpu(cudnns=[PIP_DNN9])).status == "skip"


# -- gpu-visible-devices ---------------------------------------------------------------------------

@pytest.mark.parametrize("value,status", [("", "error"), ("-1", "error"), ("0,0", "error"), ("NoDevFiles", "error"),
                                          ("2", "error"), ("0,2", "warn"), ("0,abc,1", "warn"), ("1,0", "ok"),
                                          ("GPU-1aaa", "ok")])
def test_visible_devices(value, status):
    f = run(G.check_visible_devices, gpu(smi(ccs=("8.0", "8.0"))), environ={"CUDA_VISIBLE_DEVICES": value})
    assert f.status == status, f
    if status == "error":
        assert f.fix.startswith("unset CUDA_VISIBLE_DEVICES")


def test_visible_devices_unset():
    assert run(G.check_visible_devices, gpu()).status == "ok"
    assert run(G.check_visible_devices, GpuFacts()).status == "skip"
    assert run(G.check_visible_devices, GpuFacts(), environ={"CUDA_VISIBLE_DEVICES": ""}).status == "warn"


# -- gpu-jax-preallocate ---------------------------------------------------------------------------

def test_jax_preallocation_with_torch():
    f = run(G.check_jax_preallocate, gpu(wheels=[TORCH, JAX]))
    assert f.status == "warn" and f.fix == "export XLA_PYTHON_CLIENT_PREALLOCATE=false" and "75%" in f.evidence[0]


def test_jax_preallocation_uppercase_false_is_true():
    f = run(G.check_jax_preallocate, gpu(wheels=[TORCH, JAX]), environ={"XLA_PYTHON_CLIENT_PREALLOCATE": "FALSE"})
    assert f.status == "warn" and any("read as true" in e for e in f.evidence)


def test_jax_preallocation_off():
    f = run(G.check_jax_preallocate, gpu(wheels=[TORCH, JAX]), environ={"XLA_PYTHON_CLIENT_PREALLOCATE": "false"})
    assert f.status == "ok"


def test_jax_preallocation_skips():
    assert run(G.check_jax_preallocate, gpu(wheels=[JAX])).status == "skip"
    assert run(G.check_jax_preallocate, gpu(wheels=[TORCH])).status == "skip"
    assert run(G.check_jax_preallocate, GpuFacts(wheels=[TORCH, JAX])).status == "skip"


# -- gpu-version-mismatch --------------------------------------------------------------------------

def test_version_mismatch_from_nvidia_smi(tmp_path, fake_smi):
    g = probe_gpu(base_env(PATH=f"{fake_smi}:/usr/bin:/bin", FAKE_SMI_MODE="mismatch"), sys_path=[],
                  paths=hermetic(tmp_path))
    f = run(G.check_version_mismatch, g)
    assert f.status == "error" and "reboot" in f.fix
    assert any("NVML library version: 535.129" in e for e in f.evidence)


def test_version_mismatch_from_kernel_module_vs_library():
    g = gpu(kernel_module_version="535.104.05", nvml=Nvml(status="not_installed", library_version="535.129.03"))
    assert run(G.check_version_mismatch, g).status == "error"


def test_version_mismatch_from_libcuda(tmp_path, fake_libs):
    drv = tmp_path / "driver"
    fake_libs.install("cuda", drv, "libcuda.so.1")
    g = probe_gpu(base_env(LD_LIBRARY_PATH=str(drv), FAKE_CUDA_INIT="803"), sys_path=[], paths=hermetic(tmp_path))
    f = run(G.check_version_mismatch, g)
    assert g.libcuda.status == "error" and f.status == "error"
    assert any("CUresult 803" in e for e in f.evidence)


def test_version_match():
    g = gpu(kernel_module_version="535.104.05", nvml=Nvml(status="not_installed", library_version="535.104.05"))
    assert run(G.check_version_mismatch, g).status == "ok"
    assert run(G.check_version_mismatch, GpuFacts()).status == "skip"


# -- gpu-stub-libcuda ------------------------------------------------------------------------------

def test_stub_libcuda(tmp_path, fake_libs):
    stubs = tmp_path / "cuda" / "lib64" / "stubs"
    fake_libs.install("cuda", stubs, "libcuda.so.1", stub=True)
    env = base_env(LD_LIBRARY_PATH=f"/opt/a:{stubs}")
    g = probe_gpu(env, sys_path=[], paths=hermetic(tmp_path))
    f = run(G.check_stub_libcuda, g, environ={"LD_LIBRARY_PATH": env["LD_LIBRARY_PATH"]})
    assert f.status == "error" and f.fix == "export LD_LIBRARY_PATH=/opt/a"
    assert any("CUDA_ERROR_STUB_LIBRARY" in e for e in f.evidence)


def test_real_libcuda(tmp_path, fake_libs):
    drv = tmp_path / "driver"
    fake_libs.install("cuda", drv, "libcuda.so.1")
    g = probe_gpu(base_env(LD_LIBRARY_PATH=str(drv)), sys_path=[], paths=hermetic(tmp_path))
    assert run(G.check_stub_libcuda, g).status == "ok"
    assert run(G.check_stub_libcuda, GpuFacts()).status == "skip"
    assert run(G.check_stub_libcuda, GpuFacts(libcuda=Libcuda(candidates=[]))).status == "skip"


def test_every_check_survives_empty_facts():
    facts = make_facts(GpuFacts())
    for c in G.CHECKS:
        f = c.func(facts)
        assert f.id == c.id and f.status in ("ok", "skip", "warn")
