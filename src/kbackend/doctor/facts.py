"""What doctor knows about a target, gathered once, judged by the checks.

`Facts` is frozen: the probes fill it (`kbackend.doctor.collect`), the checks
only read it, and `doctor --json` prints it under `facts`.

>>> b = BackendFacts(name="jax", installed=False)
>>> b.status, b.devices
('not_run', [])
"""

from __future__ import annotations

from kbackend._record import Model
from kbackend.services.config import CheckResult
from kbackend.doctor.system import SystemFacts
from kbackend.gpu.model import CoLoad, GpuFacts

#: the statuses of a backend probe: the runner's, plus `not_run` (not installed / not asked).
PROBE_STATUSES = ("ok", "import_error", "error", "timeout", "crashed", "bad_output", "not_run")


class InterpreterFacts(Model):
    python: str
    version: str
    #: where kbackend got it: current, option:--python, env:KBACKEND_PYTHON, env:VIRTUAL_ENV, ...
    origin: str


class KerasFacts(Model):
    version: str | None = None
    #: the distribution that provides `keras` (keras, keras-mxnet), None when not installed.
    dist: str | None = None
    #: the config rules line (kbackend.config.rules), e.g. "3.14+".
    rules_line: str
    #: True when Keras is not installed and the newest rules are assumed.
    rules_assumed: bool = False
    #: the Requires-Python of the keras distribution's metadata.
    requires_python: str | None = None


class BackendFacts(Model):
    """One backend as its probe child saw it (checks in gpu_checks.py read these names)."""

    name: str
    installed: bool
    version: str | None = None
    #: the installed distributions that provide it or that it needs: name -> version.
    dists: dict[str, str] = {}
    status: str = "not_run"
    error: str | None = None
    import_s: float | None = None
    keras_version: str | None = None
    devices: list[str] = []
    gpu_devices: list[str] = []
    built_cuda: str | None = None
    built_cudnn: str | None = None
    cuda_archs: list[str] = []
    #: the child's stdout/stderr (tail), the traceback of a failed import.
    log: str = ""
    #: where each module the child imported came from (keras, the backend's packages):
    #: module -> {"file", "verdict", "dist", "dist_version", "dist_location", "via", ...};
    #: verdict "dist", "editable", "dist_location" or "site" is the installed distribution,
    #: "not_from_dist" a stray file or directory that shadows it.
    origins: dict[str, dict] = {}
    #: the last step the child began ("importing jax", "importing keras", "listing
    #: devices"), for a child that gave no result; None when it never began one.
    phase: str | None = None
    #: anything else the probe reported (jax plugin versions, TF build info, ...).
    extra: dict = {}
    #: True when this result came from the probe cache.
    cached: bool = False


class Facts(Model):
    interpreter: InterpreterFacts
    keras: KerasFacts
    config: CheckResult
    backends: list[BackendFacts] = []
    gpu: GpuFacts = GpuFacts()
    #: normalised distribution name -> version, from metadata.
    installed: dict[str, str] = {}
    #: the environment variables that matter to Keras, backends and CUDA.
    environ: dict[str, str] = {}
    #: programs found on PATH that checks need (dot), name -> path or None.
    programs: dict[str, str | None] = {}
    #: OS, kernel, glibc, CPU model and instruction sets (kbackend.doctor.system).
    system: SystemFacts = SystemFacts()
    #: the GPU frameworks imported together in one child (kbackend.gpu.coload).
    coload: CoLoad = CoLoad()
    #: where else KERAS_BACKEND is set for the target (kbackend.envs.elsewhere.Setting.as_json).
    elsewhere: list[dict] = []
    #: the backend keras.json (or an environment pin) gives, without this shell's KERAS_BACKEND: (value, origin).
    base_backend: list = []

    def backend(self, name: str) -> BackendFacts | None:
        for b in self.backends:
            if b.name == name:
                return b
        return None

    def configured_backend(self) -> tuple[object, str]:
        """(name, origin) of the backend Keras will use (file, pin or KERAS_BACKEND), as the
        config layer resolved it; the name may be anything the file holds."""
        v = self.config.effective.get("backend")
        return (None, "") if v is None else (v.value, v.origin)
