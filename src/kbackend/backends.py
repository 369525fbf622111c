"""The registry of every backend name Keras ever accepted.

Pure data and `packaging` logic: which Keras versions accept a name, which
distributions provide it, the minimum versions Keras needs, and the Python
versions the legacy backends can be installed on.

>>> get("jax").accepted_by("3.15.1")
True
>>> get("cntk").accepted_by("3.15.1")
False
>>> get("openvino").accepted_by("3.7.0")
False
"""

from __future__ import annotations

from functools import lru_cache

from packaging.version import Version

from kbackend._record import record


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
    #: the top-level module a child imports to probe it.
    module: str = ""
    #: for people: the Keras and Python versions a legacy backend needs.
    needs_text: str = ""

    def accepted_by(self, keras_version: str | Version) -> bool:
        return Version(str(keras_version)) in spec(self.keras)

    def minimum_for(self, keras_version: str | Version | None) -> dict[str, str]:
        """Minimum versions of distributions this backend needs under a Keras version."""
        out: dict[str, str] = {}
        for kspec, dist, minimum in self.minimums:
            if keras_version is None or Version(str(keras_version)) in spec(kspec):
                out[dist] = minimum
        return out

    @property
    def legacy(self) -> bool:
        return not self.accepted_by("3.0.0") and not self.accepted_by("2.15.0")


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
        ),
        Backend(
            "jax",
            ">=3.0",
            ("jax",),
            also_needs=("jaxlib",),
            pip="jax",
            module="jax",
            minimums=((">=3.0", "jax", "0.4.20"),),
        ),
        Backend(
            "torch",
            ">=3.0",
            ("torch",),
            pip="torch",
            module="torch",
            minimums=((">=3.0", "torch", "2.1.0"),),
        ),
        Backend(
            "numpy",
            ">=3.0",
            ("numpy",),
            also_needs=("jax", "jaxlib"),
            pip="jax",
            module="numpy",
            trains=False,
        ),
        Backend(
            "openvino",
            ">=3.8",
            ("openvino",),
            pip="openvino",
            module="openvino",
            trains=False,
            minimums=((">=3.8,<3.15", "openvino", "2025.0.0"), (">=3.15", "openvino", "2026.2.0")),
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

#: The names Keras 3 accepts, in the order its loader checks them.
KERAS3_ORDER = ("tensorflow", "jax", "torch", "numpy", "openvino")


def get(name: str) -> Backend | None:
    return REGISTRY.get(name)


def names() -> list[str]:
    return list(REGISTRY)
