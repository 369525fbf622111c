"""How each Keras version line reads keras.json (FACTS.md §1-2).

`rules_for(version)` returns the frozen `Rules` of the Keras line a version
belongs to; with no Keras installed, `rules_for(None)` gives the newest rules
with `assumed=True` so the output can say so.

>>> rules_for("3.15.1").line
'3.14+'
>>> rules_for("3.7.0").backends
('tensorflow', 'jax', 'torch', 'numpy')
>>> rules_for("2.3.1").external_backends
True
>>> rules_for(None).assumed
True
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from kbackend import backends as _backends
from kbackend._record import field, record

FLOATX_FILE = ("float16", "float32", "float64")
DATA_FORMATS = ("channels_last", "channels_first")

#: The Keras version whose rules apply when none is installed.
NEWEST_KNOWN = "3.15.1"


@record
class Rules:
    line: str
    keras_version: str | None
    assumed: bool
    backends: tuple[str, ...]
    external_backends: bool = False
    backend_key_used: bool = True
    default_backend: str = "tensorflow"
    #: keys the loader reads from the file, in the order it checks them.
    keys: tuple[str, ...] = ("floatx", "epsilon", "backend", "image_data_format")
    #: keys that older Keras lines read and this one ignores: key -> explanation.
    legacy_keys: dict[str, str] = field(default_factory=dict)
    #: "raise" (ValueError with a message, 3.14+) or "assert" (bare AssertionError).
    check_style: str = "assert"
    #: the loader asserts the backend name while reading the file (2.0-2.1).
    backend_checked_at_load: bool = False
    keras_home_env: bool = True
    tmp_fallback: bool = True
    image_key: str = "image_data_format"
    env_vars: tuple[str, ...] = ("KERAS_HOME", "KERAS_BACKEND")
    nnx: bool = False
    #: keras-mxnet, the awslabs fork that installs itself as keras.
    mxnet_fork: bool = False
    #: distributions `import keras` imports besides the backend's (checked after it).
    import_needs: tuple[str, ...] = ()
    #: those of `import_needs` the Keras wheel does not declare (pip does not install them).
    undeclared_needs: tuple[str, ...] = ()
    #: distributions a backend needs on this Keras version besides its registry entry's.
    backend_needs: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def defaults(self) -> dict:
        d = {"floatx": "float32", "epsilon": 1e-07, "backend": self.default_backend}
        d[self.image_key] = "channels_last" if self.image_key == "image_data_format" else "tf"
        if self.nnx:
            d["nnx_enabled"] = False
        return d

    @property
    def settable_keys(self) -> tuple[str, ...]:
        return self.keys

    def accepts_backend(self, name: str) -> bool:
        if name in self.backends:
            return True
        return self.external_backends and _is_module_path(name)

    def describe(self) -> str:
        v = self.keras_version or NEWEST_KNOWN
        return f"Keras {v}" + (" (assumed: Keras is not installed)" if self.assumed else "")


def _is_module_path(name: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 1 and all(p.isidentifier() for p in parts)


_LEGACY_DIM = {
    "image_dim_ordering": "Keras 1.x read `image_dim_ordering` ('th'/'tf'); Keras 2 and 3 read "
    "`image_data_format` ('channels_first'/'channels_last') and ignore it",
}


def _keras3_needs(v: Version) -> dict:
    """What `import keras` needs on Keras 3 beyond the backend (checked against the real wheels).

    Every Keras 3 imports `packaging` (keras/src/utils/torch_utils.py) at `import keras`;
    3.0 to 3.3 do not declare it, 3.4 and later do. Keras 3.0.5's numpy backend imports
    torch (keras/src/backend/numpy/linalg.py imports the torch backend's convert_to_tensor).
    """
    needs: dict = {"import_needs": ("packaging",)}
    if v < Version("3.4"):
        needs["undeclared_needs"] = ("packaging",)
    if v.release[:3] == (3, 0, 5):
        needs["backend_needs"] = {"numpy": ("torch",)}
    return needs


def rules_for(keras_version: str | None, *, dist_name: str = "keras") -> Rules:
    """The rules of the Keras line `keras_version` belongs to."""
    assumed = keras_version is None
    try:
        v = Version(keras_version or NEWEST_KNOWN)
    except InvalidVersion:
        v = Version(NEWEST_KNOWN)
        assumed = True
    kv = None if keras_version is None else str(keras_version)
    if v >= Version("3.14"):
        return Rules(
            "3.14+", kv, assumed, _backends.accepted_keras3(v), check_style="raise", nnx=True,
            keys=("floatx", "epsilon", "backend", "image_data_format", "nnx_enabled"),
            legacy_keys=dict(_LEGACY_DIM),
            env_vars=("KERAS_HOME", "KERAS_BACKEND", "KERAS_MAX_EPOCHS", "KERAS_MAX_STEPS_PER_EPOCH",
                      "KERAS_NNX_ENABLED", "KERAS_TORCH_DEVICE"),
            **_keras3_needs(v),
        )
    if v >= Version("3.8"):
        nnx = v >= Version("3.11")
        env = ("KERAS_HOME", "KERAS_BACKEND")
        if v >= Version("3.10"):
            env += ("KERAS_MAX_EPOCHS", "KERAS_MAX_STEPS_PER_EPOCH")
        if nnx:
            env += ("KERAS_NNX_ENABLED",)
        keys = ("floatx", "epsilon", "backend", "image_data_format") + (("nnx_enabled",) if nnx else ())
        return Rules("3.8-3.13", kv, assumed, _backends.accepted_keras3(v), nnx=nnx, keys=keys,
                     legacy_keys=dict(_LEGACY_DIM), env_vars=env, **_keras3_needs(v))
    if v >= Version("3.0"):
        return Rules("3.0-3.7", kv, assumed, _backends.accepted_keras3(v), legacy_keys=dict(_LEGACY_DIM),
                     **_keras3_needs(v))
    if v >= Version("2.4"):
        legacy = dict(_LEGACY_DIM)
        return Rules(
            "2.4-2.15", kv, assumed, ("tensorflow",), backend_key_used=False,
            keys=("floatx", "epsilon", "image_data_format"), legacy_keys=legacy, tmp_fallback=False,
        )
    if v >= Version("2.2"):
        mx = dist_name.lower().replace("_", "-") == "keras-mxnet"
        bk = ("theano", "tensorflow", "cntk") + (("mxnet",) if mx else ())
        return Rules("2.2-2.3", kv, assumed, bk, external_backends=True,
                     legacy_keys=dict(_LEGACY_DIM), mxnet_fork=mx)
    if v >= Version("2.0.5"):
        return Rules("2.0.5-2.1", kv, assumed, ("theano", "tensorflow", "cntk"),
                     backend_checked_at_load=True, keras_home_env=False,
                     legacy_keys=dict(_LEGACY_DIM), env_vars=("KERAS_BACKEND",))
    if v >= Version("2.0"):
        return Rules("2.0.0-2.0.4", kv, assumed, ("theano", "tensorflow"),
                     keras_home_env=False, legacy_keys=dict(_LEGACY_DIM), env_vars=("KERAS_BACKEND",))
    default = "theano" if v < Version("1.1.0") else "tensorflow"
    return Rules("1.x", kv, assumed, ("theano", "tensorflow"), default_backend=default,
                 keys=("floatx", "epsilon", "backend", "image_dim_ordering"),
                 image_key="image_dim_ordering", keras_home_env=False, env_vars=("KERAS_BACKEND",))


def legacy_hint(name: str) -> str | None:
    """Where a backend that this Keras does not accept can still be used."""
    b = _backends.get(name)
    return b.legacy_note if b and b.legacy_note else None
