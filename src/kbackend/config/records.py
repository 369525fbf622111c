"""Frozen result records of the config layer.

Plain frozen records (`kbackend._record`) rather than pydantic models: `kbackend show` and shell
completion must start fast, and importing pydantic alone costs more than the
whole command's budget. `model_dump(mode="json")` gives the same shape a
pydantic model would, so the renderers treat both alike.
"""

from __future__ import annotations

from typing import Any, Callable

from kbackend._record import MISSING, field, fields, is_record, record, replace


class Record:
    """Mixin: pydantic-like `model_dump` for frozen records."""

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        return dump(self)


class Model(Record):
    """Declare fields pydantic-style; get a frozen, keyword-only record.

    List, dict and set defaults become per-instance copies. `model_copy(update=...)`
    and `model_validate(dict)` behave like pydantic's for these flat records.

    >>> class P(Model):
    ...     name: str
    ...     tags: list[str] = []
    >>> P(name="a").model_copy(update={"tags": ["x"]})
    P(name='a', tags=['x'])
    """

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        for name in cls.__dict__.get("__annotations__", {}):
            default = cls.__dict__.get(name, MISSING)
            if isinstance(default, (list, dict, set)):
                setattr(cls, name, field(default_factory=lambda d=default: type(d)(d)))
        record(kw_only=True)(cls)

    def model_copy(self, *, update: dict[str, Any] | None = None):
        return replace(self, **(update or {}))

    @classmethod
    def model_validate(cls, data: Any):
        """Build from a dict (a cache entry, say), checking the simple field types.

        Raises ValueError when a required field is missing or a value has the
        wrong type, as pydantic's ValidationError (a ValueError) would.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        kwargs = {}
        for f in fields(cls):
            if f.name not in data:
                if f.required:
                    raise ValueError(f"{cls.__name__}: missing field {f.name!r}")
                continue
            v = data[f.name]
            allowed = _simple_types(f.type)
            if allowed and not isinstance(v, allowed):
                raise ValueError(f"{cls.__name__}.{f.name}: expected {f.type}, got {type(v).__name__}")
            kwargs[f.name] = v
        return cls(**kwargs)


_SIMPLE = {"str": str, "int": int, "float": (int, float), "bool": bool, "None": type(None), "dict": dict,
           "list": list}


def _simple_types(annotation: Any) -> tuple[type, ...] | None:
    """isinstance types for annotations like `str | None`, `list[str]`, `dict[str, str]`; None if not simple."""
    if not isinstance(annotation, str):
        return None
    out: list[type] = []
    for part in annotation.split("|"):
        base = part.strip().split("[", 1)[0]
        t = _SIMPLE.get(base)
        if t is None:
            return None
        out.extend(t if isinstance(t, tuple) else (t,))
    return tuple(out)


def dump(obj: Any, leaf: Callable[[Any], Any] | None = None) -> Any:
    """Records, pydantic models, dicts and lists as plain JSON-like data; `leaf` maps every scalar."""
    if is_record(obj):
        return {f.name: dump(getattr(obj, f.name), leaf) for f in fields(obj)}
    if hasattr(obj, "model_dump"):
        return dump(obj.model_dump(mode="json"), leaf)
    if isinstance(obj, dict):
        return {k: dump(v, leaf) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [dump(v, leaf) for v in obj]
    return leaf(obj) if leaf else obj


@record
class Problem(Record):
    """One thing wrong with the configuration, worded for a person.

    severity: error (Keras fails at import), ignored (Keras silently ignores the
    file), legacy (a key with no effect in this Keras), warning, info.
    """

    id: str
    severity: str
    message: str
    key: str | None = None
    #: the exception real Keras raises at import for this, e.g. "ValueError: ...".
    keras_error: str | None = None
    fix: str | None = None


@record
class Value(Record):
    value: Any
    origin: str


@record
class FileState(Record):
    """What is at keras.json's path. status is one of FILE_STATUSES."""

    path: str
    status: str
    detail: str | None = None
    #: the parsed document when it is a JSON object (key order kept).
    data: dict[str, Any] | None = None
    #: the top-level JSON value when it parses but is not an object.
    other: Any = None
    is_symlink: bool = False
    size: int | None = None
    #: how deeply arrays and objects nest (status too_deep).
    depth: int | None = None


FILE_STATUSES = (
    "ok", "missing", "empty", "malformed", "bom", "not_utf8", "not_object",
    "unreadable", "is_directory", "dangling_symlink", "too_large",
    "too_deep", "symlink_loop", "fifo", "socket", "char_device", "block_device",
)
#: too_new: a key only a later Keras reads (this one ignores it).
SEVERITIES = ("error", "ignored", "legacy", "too_new", "warning", "info")

__all__ = ["Record", "Model", "Problem", "Value", "FileState", "FILE_STATUSES", "SEVERITIES", "field"]
