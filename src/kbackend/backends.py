"""The registry of every backend name Keras ever accepted: the parent side of a backend.

Pure data and `packaging` logic: which Keras versions accept a name, which
distributions provide it, the minimum versions Keras needs, the Python
versions the legacy backends can be installed on, and what kbackend's commands
need to know of a backend (its colour, its probe cost, its verify order).
Every other list of backend names in kbackend derives from REGISTRY. The child
side of a Keras 3 backend is its adapter, kbackend/child/adapters/<name>.py.

Adding a backend: one `Backend(...)` entry below (or `register(...)`), one
adapter module (child/adapters/, or a folder named in KBACKEND_ADAPTERS_PATH),
plus its rows in kbackend/gpu/ when it has CUDA builds.

>>> get("jax").accepted_by("3.15.1")
True
>>> get("cntk").accepted_by("3.15.1")
False
>>> get("openvino").accepted_by("3.7.0")
False
"""

from __future__ import annotations

import os
from functools import lru_cache

from packaging.version import Version

from kbackend._record import record


_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
        "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


@lru_cache(maxsize=None)
def _clauses(text: str) -> tuple[tuple[str, Version], ...] | None:
    """`text` as (operator, version) clauses when every clause is a plain comparison with a release
    version (">=3.0,<3.2"); None for anything else (wildcards, ~=, ===, pre-releases)."""
    out = []
    for part in text.split(","):
        part = part.strip()
        op = next((o for o in (">=", "<=", "==", "!=", ">", "<") if part.startswith(o)), None)
        raw = part[len(op):].strip() if op else ""
        if op is None or not raw or not all(c.isdigit() or c == "." for c in raw):
            return None
        out.append((op, Version(raw)))
    return tuple(out)


def contains(text: str, version: str | Version) -> bool:
    """`version in SpecifierSet(text)`, without importing packaging.specifiers (about 7 ms) for the
    plain comparisons the registry uses; anything else, and pre-release versions, go to packaging.

    >>> contains(">=3.0,<3.2", "3.1.5"), contains(">=3.0,<3.2", "3.2.0"), contains(">=3.2", "3.16.0rc1")
    (True, False, True)
    >>> contains("~=2.2", "2.3.1")
    True
    """
    v = version if isinstance(version, Version) else Version(str(version))
    clauses = _clauses(text)
    if clauses is None or v.is_prerelease or v.is_devrelease or v.local:
        return v in spec(text)
    return all(_OPS[op](v, bound) for op, bound in clauses)


@lru_cache(maxsize=None)
def spec(text: str):
    """A parsed `packaging` SpecifierSet (imported lazily: it costs start-up time)."""
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(text)


@record
class Backend:
    name: str
    #: Keras versions whose loader accepts this name (a specifier).
    keras: str
    #: distributions (any one of them) that provide the backend's package.
    dists: tuple[str, ...]
    #: distributions that must also be installed (numpy backend imports jax).
    also_needs: tuple[str, ...] = ()
    #: the pip requirement suggested to install it.
    pip: str = ""
    #: Python versions the backend's package can be installed on.
    python: str = ""
    #: (keras specifier, distribution, minimum version) triples.
    minimums: tuple[tuple[str, str, str], ...] = ()
    #: legacy backends: a sentence about where they live.
    legacy_note: str = ""
    #: can Keras train with it (fit) or only run inference.
    trains: bool = True
    #: what `model.fit` raises where it does not train (seen with Keras 3.15.1 and the installed backend).
    fit_error: str = ""
    #: the top-level module a child imports to probe it.
    module: str = ""
    #: for people: the Keras and Python versions a legacy backend needs.
    needs_text: str = ""
    #: a Keras 3 backend: probed, verified and benched through its child-side adapter.
    keras3: bool = False
    #: other names people type for it (`kbackend switch pytorch`).
    aliases: tuple[str, ...] = ()
    #: its colour in bench's charts.
    colour: str = ""
    #: rough seconds a probe child takes (longest first), until doctor's cache measured it.
    probe_cost: float = 1.5
    #: its column in verify's matrix (lower first).
    verify_column: int = 99
    #: rough relative cost of its verify child: the costliest start first, so the cores stay busy.
    verify_cost: float = 1.0
    #: its children compile through jax (the persistent compilation cache, XLA flags, jax's plugins).
    compiles_through_jax: bool = False
    #: distributions shown with it although they do not provide it (tf-keras beside tensorflow).
    related_dists: tuple[str, ...] = ()
    #: environment variables of its own that doctor shows.
    env_vars: tuple[str, ...] = ()

    def accepted_by(self, keras_version: str | Version) -> bool:
        return contains(self.keras, keras_version)

    def minimum_for(self, keras_version: str | Version | None) -> dict[str, str]:
        """Minimum versions of distributions this backend needs under a Keras version."""
        out: dict[str, str] = {}
        for kspec, dist, minimum in self.minimums:
            if keras_version is None or contains(kspec, keras_version):
                out[dist] = minimum
        return out

    @property
    def legacy(self) -> bool:
        return not self.accepted_by("3.0.0") and not self.accepted_by("2.15.0")

    @property
    def since(self) -> Version | None:
        """The lowest Keras version that accepts it (the `>=` bound of `keras`), without SpecifierSet.

        >>> get("openvino").since, get("jax").since
        (<Version('3.8')>, <Version('3.0')>)
        """
        low = next((c.strip()[2:] for c in self.keras.split(",") if c.strip().startswith(">=")), None)
        return None if low is None else Version(low)

    @property
    def installed_with(self) -> str | None:
        """The backend whose package carries this one (Keras's numpy backend imports jax), or None.

        >>> get("numpy").installed_with, get("jax").installed_with
        ('jax', None)
        """
        return next((d for d in self.also_needs if d in REGISTRY and d != self.name), None)

    @property
    def install_name(self) -> str:
        """The backend installed to get this one: itself, or the one that carries it."""
        return self.installed_with or self.name


TF_DISTS = (
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-gpu",
    "tensorflow-macos",
    "tensorflow-intel",
    "tensorflow-aarch64",
    "intel-tensorflow",
    "tf-nightly",
    "tf-nightly-cpu",
)

#: the variables each backend reads that change what it imports, finds or does (doctor shows them).
TENSORFLOW_ENV = (
    "TF_USE_LEGACY_KERAS", "TF_CPP_MIN_LOG_LEVEL", "TF_CPP_MAX_VLOG_LEVEL", "TF_CPP_VMODULE",
    "TF_ENABLE_ONEDNN_OPTS", "TF_FORCE_GPU_ALLOW_GROWTH", "TF_GPU_ALLOCATOR", "TF_XLA_FLAGS",
    "TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_DETERMINISTIC_OPS", "TF_CUDNN_DETERMINISTIC",
    "TF_CUDNN_USE_AUTOTUNE", "TF_GPU_THREAD_MODE", "TF_GPU_THREAD_COUNT", "TF_FORCE_UNIFIED_MEMORY",
    "TF_GPU_HOST_MEM_LIMIT_IN_MB", "TF_PER_DEVICE_MEMORY_LIMIT_MB", "TF_ENABLE_GPU_GARBAGE_COLLECTION",
    "TF2_BEHAVIOR",
)
JAX_ENV = (
    "JAX_PLATFORMS", "JAX_PLATFORM_NAME", "JAX_ENABLE_X64", "JAX_CUDA_VISIBLE_DEVICES",
    "JAX_ROCM_VISIBLE_DEVICES", "JAX_NUM_CPU_DEVICES", "JAX_DEFAULT_DEVICE", "JAX_DEFAULT_MATMUL_PRECISION",
    "JAX_DISABLE_JIT", "JAX_DEBUG_NANS", "JAX_DEBUG_INFS", "JAX_TRACEBACK_FILTERING", "JAX_LOG_COMPILES",
    "JAX_ENABLE_COMPILATION_CACHE", "JAX_COMPILATION_CACHE_DIR", "JAX_COMPILATION_CACHE_MAX_SIZE",
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES",
    "JAX_SKIP_CUDA_CONSTRAINTS_CHECK",
)
TORCH_ENV = (
    "PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF", "PYTORCH_HIP_ALLOC_CONF", "PYTORCH_NO_CUDA_MEMORY_CACHING",
    "PYTORCH_NVML_BASED_CUDA_CHECK", "PYTORCH_ENABLE_MPS_FALLBACK", "PYTORCH_JIT", "TORCH_HOME", "TORCH_LOGS",
    "TORCH_SHOW_CPP_STACKTRACES", "TORCH_USE_CUDA_DSA", "TORCH_COMPILE_DISABLE", "TORCHDYNAMO_DISABLE",
    "TORCH_DEVICE_BACKEND_AUTOLOAD", "CUBLAS_WORKSPACE_CONFIG",
)

REGISTRY: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "tensorflow",
            ">=0.3",
            TF_DISTS,
            pip="tensorflow",
            module="tensorflow",
            minimums=((">=3.0,<3.2", "tensorflow", "2.15"), (">=3.2", "tensorflow", "2.16.1")),
            keras3=True, aliases=("tf", "tensorflow-cpu", "tf-keras"), colour="#e8710a", probe_cost=4.0,
            verify_column=4, verify_cost=4.0, related_dists=("tf-keras",), env_vars=TENSORFLOW_ENV,
        ),
        Backend(
            "jax",
            ">=3.0",
            ("jax",),
            also_needs=("jaxlib",),
            pip="jax",
            module="jax",
            minimums=((">=3.0", "jax", "0.4.20"),),
            keras3=True, aliases=("jaxlib",), colour="#5e97f6", probe_cost=1.5, verify_column=2, verify_cost=5.0,
            compiles_through_jax=True, env_vars=JAX_ENV,
        ),
        Backend(
            "torch",
            ">=3.0",
            ("torch",),
            pip="torch",
            module="torch",
            minimums=((">=3.0", "torch", "2.1.0"),),
            keras3=True, aliases=("pytorch",), colour="#ee4c2c", probe_cost=4.5, verify_column=3, verify_cost=3.0,
            env_vars=TORCH_ENV,
        ),
        Backend(
            "numpy",
            ">=3.0",
            ("numpy",),
            also_needs=("jax", "jaxlib"),
            pip="jax",
            module="numpy",
            trains=False, fit_error="NotImplementedError: fit not implemented for NumPy backend.",
            keras3=True, aliases=("np",), colour="#13a89e", probe_cost=1.5, verify_column=1, verify_cost=2.0,
            compiles_through_jax=True,
        ),
        Backend(
            "openvino",
            ">=3.8",
            ("openvino",),
            pip="openvino",
            module="openvino",
            trains=False, fit_error="NotImplementedError: `fit` is not supported with openvino backend",
            minimums=((">=3.8,<3.15", "openvino", "2025.0.0"), (">=3.15", "openvino", "2026.2.0")),
            keras3=True, aliases=("ov",), colour="#6c3fb5", probe_cost=2.5, verify_column=5,
            # on the 590-case suite its child is second only to jax's (measured 62-84 s, tensorflow's 30 s):
            # started last, it alone ran on after the others had finished
            verify_cost=4.5,
            env_vars=("OPENVINO_LOG_LEVEL", "OPENVINO_LIB_PATHS"),
        ),
        Backend(
            "theano",
            ">=0.1,<2.4",
            ("theano",),
            pip="Theano==1.0.5",
            module="theano",
            python="<3.11",
            legacy_note="Theano was a Keras 1.x and 2.0-2.3 backend; Theano 1.0.5 does not build on Python 3.11 or later",
            needs_text="keras>=2.0,<2.4 and Theano 1.0.5 on Python 3.10 or older",
        ),
        Backend(
            "cntk",
            ">=2.0.5,<2.4",
            ("cntk", "cntk-gpu"),
            pip="cntk==2.7",
            module="cntk",
            python="<3.7",
            legacy_note="CNTK is a Keras 2.0.5-2.3 backend; CNTK 2.7 ships wheels for Python 3.6 and older only",
            needs_text="keras>=2.0.5,<2.4 and cntk==2.7 on Python 3.6 or older",
        ),
        Backend(
            "mxnet",
            ">=2.2.4,<2.3",
            ("mxnet", "mxnet-cu112", "mxnet-cu110", "mxnet-cu102", "mxnet-mkl"),
            pip="keras-mxnet mxnet==1.9.1",
            module="mxnet",
            python="<3.11",
            legacy_note="MXNet is a backend of keras-mxnet (the awslabs fork installed as keras 2.2.4.x) only; mxnet 1.9.1 needs numpy < 2",
            needs_text="keras-mxnet 2.2.4.x, mxnet 1.9.1 and numpy<2 on Python 3.10 or older",
        ),
    )
}



def keras3_names() -> tuple[str, ...]:
    """The names Keras 3 accepts, in the order its loader checks them (the registry's order)."""
    return tuple(b.name for b in REGISTRY.values() if b.keras3)


#: The names Keras 3 accepts, in the order its loader checks them (as the registry was at import:
#: code that must see a backend registered later calls keras3_names()).
KERAS3_ORDER = keras3_names()


def inference_only(name: str) -> str | None:
    """The sentence that says a backend does not train, or None when it does (or is unknown).

    >>> inference_only("openvino")
    'openvino is inference-only: model.fit raises NotImplementedError: `fit` is not supported with openvino backend; use it for predict, train with another backend'
    >>> inference_only("jax") is None
    True
    """
    b = get(name)
    if b is None or b.trains or not b.keras3:
        return None
    raises = f"raises {b.fit_error}" if b.fit_error else "raises NotImplementedError"
    return f"{b.name} is inference-only: model.fit {raises}; use it for predict, train with another backend"


def get(name: str) -> Backend | None:
    return REGISTRY.get(name)


def names() -> list[str]:
    return list(REGISTRY)


def all_names() -> tuple[str, ...]:
    """Every name Keras ever accepted, Keras 3's first."""
    return tuple(REGISTRY)


def aliases() -> dict[str, str]:
    """Other names people type for a backend -> the name Keras spells."""
    return {a: b.name for b in REGISTRY.values() for a in b.aliases}


def suite_order() -> tuple[str, ...]:
    """The Keras 3 backends in the order verify's matrix shows them."""
    return tuple(sorted(keras3_names(), key=lambda n: REGISTRY[n].verify_column))


def verify_start_order() -> tuple[str, ...]:
    """The order verify's children start in: the costliest first."""
    return tuple(sorted(keras3_names(), key=lambda n: -REGISTRY[n].verify_cost))


def accepted_keras3(keras_version: str | Version) -> tuple[str, ...]:
    """The Keras 3 backends a Keras 3 version accepts (by their `>=` bound: cheap, no SpecifierSet)."""
    v = Version(str(keras_version))
    return tuple(b.name for b in REGISTRY.values() if b.keras3 and (b.since is None or b.since <= v))


def register(backend: Backend) -> Backend:
    """Add a backend to the registry (after the known ones), as a backend shipped apart would.

    Its child side is an adapter `<name>.py` in child/adapters/ or in a folder named in
    KBACKEND_ADAPTERS_PATH. Lists computed at import (KERAS3_ORDER) are refreshed.
    """
    global KERAS3_ORDER
    REGISTRY[backend.name] = backend
    KERAS3_ORDER = keras3_names()
    return backend


#: A Python file that calls register(): backends shipped apart from kbackend, and kbackend's own
#: tests (tests/faults/test_fake_backend.py) add theirs this way. Unset, it costs nothing.
EXTRA_ENV = "KBACKEND_EXTRA_BACKENDS"


def _load_extra() -> None:
    path = os.environ.get(EXTRA_ENV)
    if not path:
        return
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    exec(code, {"__name__": "kbackend_extra_backends", "Backend": Backend, "register": register})  # noqa: S102


_load_extra()
