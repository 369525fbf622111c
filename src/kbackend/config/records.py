"""Frozen result records of the config layer.

Plain frozen records on the bases of `kbackend._record`, the neutral module every layer uses.
"""

from __future__ import annotations

from typing import Any

from kbackend._record import Record, field, record


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

__all__ = ["Record", "Problem", "Value", "FileState", "FILE_STATUSES", "SEVERITIES", "field"]
