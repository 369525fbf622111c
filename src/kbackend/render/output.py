"""Output for every command: one JSON document with --json, text for people otherwise.

The JSON envelope (DESIGN.md): {"schema_version": 1, "kbackend_version": ...,
"command": ..., "exit_code": ..., ...command data...} on stdout. Everything for
people that is not the answer (progress, warnings) goes to stderr.

Colour follows NO_COLOR, FORCE_COLOR and whether the stream is a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from kbackend import __version__
from kbackend.config.records import dump

SCHEMA_VERSION = 1


def _finite(v: Any) -> Any:
    """JSON has no NaN or infinity: such floats (an epsilon of NaN in keras.json) become their repr."""
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return repr(v)
    return v


def to_jsonable(obj: Any) -> Any:
    return dump(obj, leaf=_finite)


def envelope(command: str, exit_code: int, data: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kbackend_version": __version__,
        "command": command,
        "exit_code": exit_code,
    }
    for k, v in (data or {}).items():
        if k not in doc:
            doc[k] = to_jsonable(v)
    return doc


def emit_json(command: str, exit_code: int, data: dict[str, Any] | None = None) -> None:
    sys.stdout.write(json.dumps(envelope(command, exit_code, data), indent=2, allow_nan=False, default=str) + "\n")
    sys.stdout.flush()


def use_color(stream=None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def style(text: str, *, stream=None, **kw) -> str:
    return click.style(text, **kw) if use_color(stream) else text


def out(text: str = "") -> None:
    click.echo(text, color=use_color(sys.stdout))


def err(text: str = "") -> None:
    click.echo(text, err=True, color=use_color(sys.stderr))


SEV_STYLE = {
    "error": dict(fg="red", bold=True),
    "ignored": dict(fg="red", bold=True),
    "legacy": dict(fg="yellow"),
    "too_new": dict(fg="yellow"),
    "unknown": dict(fg="red", bold=True),
    "warning": dict(fg="yellow"),
    "info": dict(fg="cyan"),
    "ok": dict(fg="green"),
    "pass": dict(fg="green"),
    "fail": dict(fg="red", bold=True),
    "skip": dict(dim=True),
    "xfail": dict(fg="yellow"),
    "crashed": dict(fg="red", bold=True),
    "warn": dict(fg="yellow"),
}


def sev(label: str, stream=None) -> str:
    return style(label, stream=stream, **SEV_STYLE.get(label, {}))


def table(rows: list[list[str]], headers: list[str] | None = None, indent: int = 2) -> str:
    """A plain aligned table (cheap: no rich import on the config commands' path)."""
    allrows = ([headers] if headers else []) + rows
    widths = [max(len(click.unstyle(str(r[i]))) for r in allrows) for i in range(len(allrows[0]))]
    lines = []
    for n, r in enumerate(allrows):
        cells = []
        for i, c in enumerate(r):
            pad = widths[i] - len(click.unstyle(str(c)))
            cells.append(str(c) + " " * pad)
        line = " " * indent + "  ".join(cells).rstrip()
        if headers and n == 0:
            line = style(line, bold=True)
        lines.append(line)
    return "\n".join(lines)


def fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    return json.dumps(v) if not isinstance(v, float) else repr(v)
