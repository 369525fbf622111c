"""Frozen result records of the config layer.

Plain frozen dataclasses rather than pydantic models: `kbackend show` and shell
completion must start fast, and importing pydantic alone costs more than the
whole command's budget. `model_dump(mode="json")` gives the same shape a
pydantic model would, so the renderers treat both alike.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


class Record:
    """Mixin: pydantic-like `model_dump` for frozen dataclasses."""

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        return _dump(self)


def _dump(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _dump(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if isinstance(obj, dict):
        return {k: _dump(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_dump(v) for v in obj]
    return obj


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Value(Record):
    value: Any
    origin: str


@dataclass(frozen=True)
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


FILE_STATUSES = (
    "ok", "missing", "empty", "malformed", "bom", "not_utf8", "not_object",
    "unreadable", "is_directory", "dangling_symlink", "too_large",
)
SEVERITIES = ("error", "ignored", "legacy", "warning", "info")

__all__ = ["Record", "Problem", "Value", "FileState", "FILE_STATUSES", "SEVERITIES", "field"]
