"""The GPU facts: frozen models filled by `kbackend.gpu.probe`, read by the doctor checks.

Every field is something seen (a program's output, a library's answer, a file
found), never a judgement: the judgements live in `kbackend.gpu.compat` and
`kbackend.doctor.gpu_checks`.

>>> GpuFacts().has_driver
False
>>> LibraryFile(kind="cudnn", path="/x/libcudnn.so.9", source="pip", soname="libcudnn.so.9").major
9
"""

from __future__ import annotations

from typing import Literal

from kbackend._record import Model

#: where a library file was found, in the order the probe looks.
Source = Literal["loaded", "pip", "conda", "ld_library_path", "ldconfig", "cuda_home", "usr_local", "wsl"]
SOURCES: tuple[str, ...] = ("loaded", "pip", "conda", "ld_library_path", "ldconfig", "cuda_home", "usr_local", "wsl")
LibKind = Literal["cuda", "cudart", "cudnn", "nvml"]
#: a native probe's outcome: the runner's statuses plus `not_probed` (not asked, or over the cap).
LibStatus = Literal["ok", "not_probed", "import_error", "error", "timeout", "crashed", "bad_output"]


class GpuDevice(Model):
    index: int
    name: str
    #: "9.0"; None when the source cannot tell (nvidia-smi of an R470 driver).
    compute_capability: str | None = None
    memory_mib: int | None = None
    uuid: str | None = None
    #: which probe saw it: nvidia-smi, libcuda, nvml.
    source: str = "nvidia-smi"


class LibraryFile(Model):
    """One CUDA library file found on the machine, and what loading it said."""

    kind: LibKind
    path: str
    source: Source
    #: the name the loader asks for, e.g. libcudnn.so.9, libcudart.so.11.0.
    soname: str
    realpath: str | None = None
    #: "12.4", "9.1.0": from the library itself, else from the file or wheel name.
    version: str | None = None
    #: library, file_name or wheel.
    version_from: str | None = None
    status: LibStatus = "not_probed"
    error: str | None = None
    #: True for the file a plain dlopen(soname) picks (LD_LIBRARY_PATH, then the ldconfig cache).
    loader_pick: bool = False
    #: the pip distribution that installed it (nvidia-cudnn-cu12 9.1.0.70), for source pip.
    wheel: str | None = None

    @property
    def major(self) -> int | None:
        """The major version the soname promises (9 for libcudnn.so.9, 11 for libcudart.so.11.0)."""
        tail = self.soname.split(".so.", 1)[1] if ".so." in self.soname else ""
        head = tail.split(".", 1)[0]
        return int(head) if head.isdigit() else None


class NvidiaSmi(Model):
    """`nvidia-smi` (query, then the plain header for the driver's CUDA version)."""

    path: str | None = None
    #: ok, not_found, no_driver, no_devices, version_mismatch, error, timeout.
    status: str = "not_found"
    error: str | None = None
    returncode: int | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    #: True when the query had to be repeated without compute_cap (R470 and older).
    retried_without_compute_cap: bool = False
    #: for a version mismatch: the NVML library's version nvidia-smi names.
    nvml_library_version: str | None = None
    gpus: list[GpuDevice] = []


class Libcuda(Model):
    """libcuda.so.1 (the driver API) loaded with ctypes in a child."""

    path: str | None = None
    #: ok, not_found, stub, no_device, error (cuInit failed), crashed, timeout, ...
    status: str = "not_found"
    #: cuDriverGetVersion as "12.2" (answered before cuInit).
    version: str | None = None
    device_count: int | None = None
    is_stub: bool = False
    #: the CUresult of the first failing call (34 stub, 100 no device, 999 unknown, ...).
    error_code: int | None = None
    error: str | None = None
    gpus: list[GpuDevice] = []
    #: every libcuda file found, the one probed first.
    candidates: list[LibraryFile] = []


class Nvml(Model):
    """NVML through the target's nvidia-ml-py (pynvml), when installed."""

    #: ok, not_installed, error, crashed, timeout, ...
    status: str = "not_installed"
    error: str | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    #: the version in libnvidia-ml.so.<version>'s file name, found without loading it.
    library_version: str | None = None
    gpus: list[GpuDevice] = []


class WheelCuda(Model):
    """What an installed framework distribution says about the CUDA it needs (from metadata)."""

    framework: str
    dist: str
    version: str
    #: True when this build uses CUDA at all (torch+cpu, tensorflow-cpu: False).
    cuda_build: bool
    #: the CUDA runtime it needs, "12.4"; from the local version (+cu124), its nvidia-* requirements,
    #: the installed nvidia-cuda-runtime wheel, or the release table.
    cuda: str | None = None
    #: a specifier on the cuDNN version (==9.1.0.70, >=9.8,<10), from the requirements or the table.
    cudnn: str | None = None
    #: local_version, requires, nvidia_wheel, table.
    cuda_from: str | None = None
    #: the nvidia-* requirements of the build (the [and-cuda]/[cuda12] extras included).
    requires: list[str] = []


class ToolFile(Model):
    """A CUDA tool or data file XLA looks for (ptxas, libdevice), where it was found, and its version."""

    path: str
    #: xla_flags (XLA_FLAGS' --xla_gpu_cuda_data_dir), pip (nvidia-cuda-nvcc wheel), path (PATH),
    #: cuda_home (CUDA_HOME/CUDA_PATH), usr_local (/usr/local/cuda*).
    source: str
    #: "12.4.131" from `ptxas --version`; None when not asked (no driver) or unreadable.
    version: str | None = None
    error: str | None = None


class Toolchain(Model):
    """What XLA (jax, TensorFlow) compiles GPU code with: ptxas and libdevice, in XLA's search order."""

    ptxas: list[ToolFile] = []
    libdevice: list[ToolFile] = []
    #: the folder XLA_FLAGS' --xla_gpu_cuda_data_dir names, when set.
    xla_data_dir: str | None = None


class GpuFacts(Model):
    """Everything the GPU probe saw; `probe_gpu` never raises, failures land in `errors`."""

    driver_version: str | None = None
    #: the newest CUDA the driver supports ("12.2"): nvidia-smi's header, else libcuda, else NVML.
    driver_cuda_version: str | None = None
    #: /proc/driver/nvidia/version: the kernel module that is running.
    kernel_module_version: str | None = None
    gpus: list[GpuDevice] = []
    cuda_runtimes: list[LibraryFile] = []
    cudnns: list[LibraryFile] = []
    libcuda: Libcuda = Libcuda()
    nvidia_smi: NvidiaSmi = NvidiaSmi()
    nvml: Nvml = Nvml()
    wsl: bool = False
    #: CUDA builds of frameworks installed in the target (torch, tensorflow, jax).
    wheels: list[WheelCuda] = []
    #: the environment the probe ran under (only the variables that matter to CUDA).
    environ: dict[str, str] = {}
    #: probe failures worded for a person ("nvidia-smi timed out after 10 s").
    errors: list[str] = []
    elapsed_s: float = 0.0
    #: ptxas and libdevice as XLA finds them (kbackend.gpu.toolchain).
    toolchain: Toolchain = Toolchain()

    @property
    def has_driver(self) -> bool:
        """A working driver answered: nvidia-smi, NVML, or a real libcuda."""
        return bool(
            self.nvidia_smi.status in ("ok", "no_devices")
            or self.nvml.status == "ok"
            or (self.libcuda.status in ("ok", "no_device") and not self.libcuda.is_stub)
        )

    @property
    def driver_seen(self) -> bool:
        """Any trace of an NVIDIA driver, working or not (a mismatch, a failing libcuda)."""
        smi_failed = self.nvidia_smi.status in ("version_mismatch", "no_driver", "error")
        libcuda_failed = self.libcuda.status != "not_found" and not self.libcuda.is_stub
        return self.has_driver or smi_failed or libcuda_failed or self.kernel_module_version is not None


class MappedLib(Model):
    """A CUDA library file the co-loading child had mapped, and the step that mapped it first."""

    path: str
    realpath: str | None = None
    #: libcudart, libcudnn, libcublas, libnccl.
    lib: str
    #: the step (framework) after whose import it appeared.
    by: str
    version: str | None = None


class CoLoad(Model):
    """The co-loading child's outcome (kbackend.gpu.coload)."""

    #: not_run (fewer than two GPU builds, no driver, or not asked), or the runner's status.
    status: str = "not_run"
    why_not: str | None = None
    error: str | None = None
    #: [{"name", "error"}] in the order they ran.
    steps: list[dict] = []
    mapped: list[MappedLib] = []
    #: step name -> {"cudnn": specifier or None, "cuda": "12.4" or None, "label": "torch 2.6.0+cu124"}.
    needs: dict[str, dict] = {}
    elapsed_s: float = 0.0
    #: True when this outcome came from the probe cache.
    cached: bool = False

