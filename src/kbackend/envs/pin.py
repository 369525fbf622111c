"""Per-environment backend pins: a `.pth` file in the environment's site-packages.

Python runs `import` lines of `.pth` files at start-up, so the pin sets a
default `KERAS_BACKEND` for that interpreter only, before Keras is imported; an
explicit non-empty `KERAS_BACKEND` still wins. Precedence: default < keras.json
< environment pin < KERAS_BACKEND < a command's option.

When the pin sets `KERAS_BACKEND` it also sets `KBACKEND_PIN_SET` to the same
value, so that a process (kbackend itself, run from the pinned environment) can
tell a value the pin set from one the user set: `KERAS_BACKEND` equal to
`KBACKEND_PIN_SET` came from a pin; a different one was set by the user after.
A pin also replaces a value another pin set (inherited from a pinned parent
process): only the user's own value wins over it. kbackend forgets a pin-set
value at start-up (`strip_pin_environ`), so that what it reports as
`env:KERAS_BACKEND`, and what its children inherit, is only the user's.

The backend name is written as an ASCII-only Python literal, so any string
round-trips (quotes, backslashes, newlines, non-ASCII); a name the process
environment cannot hold (a NUL byte) is refused.

>>> read_line(pin_line("it's"))
"it's"
>>> user_environ({"KERAS_BACKEND": "torch", "KBACKEND_PIN_SET": "torch", "HOME": "/h"})
{'HOME': '/h'}
>>> user_environ({"KERAS_BACKEND": "jax", "KBACKEND_PIN_SET": "torch"})
{'KERAS_BACKEND': 'jax'}
"""

from __future__ import annotations

import os
import re
from typing import Mapping, MutableMapping

from kbackend.envs.target import Target

PIN_FILE = "kbackend-pin.pth"
#: set by a pin, beside KERAS_BACKEND and to the same value, only when the pin set KERAS_BACKEND.
MARKER = "KBACKEND_PIN_SET"
_LINE = (
    "import os; (os.environ.get('KERAS_BACKEND') or '') in ('', os.environ.get('" + MARKER + "', ''))"
    " and os.environ.update(KERAS_BACKEND={lit}, " + MARKER + "={lit})"
    "  # kbackend pin: remove with `kbackend switch --scope env --unset`\n"
)
_LIT = r"""('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")"""
#: this format, then the one of kbackend before KBACKEND_PIN_SET (`__setitem__('KERAS_BACKEND', ...)`).
_PARSE = (re.compile(r"KERAS_BACKEND=" + _LIT), re.compile(r"__setitem__\('KERAS_BACKEND', " + _LIT + r"\)"))


def site_packages(target: Target) -> list[str]:
    """The target's own site-packages directories (inside its prefix)."""
    prefix = os.path.realpath(target.prefix)
    out = []
    for p in target.sys_path:
        if os.path.basename(p) in ("site-packages", "dist-packages") and os.path.realpath(p).startswith(prefix + os.sep):
            out.append(p)
    return out


def pin_path(target: Target) -> str | None:
    sp = site_packages(target)
    return os.path.join(sp[0], PIN_FILE) if sp else None


def read_pin(target: Target) -> tuple[str, str] | None:
    """(backend, "env-pin:PATH") when the target has a pin."""
    for sp in site_packages(target):
        path = os.path.join(sp, PIN_FILE)
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                name = read_line(f.read())
        except OSError:
            continue
        if name:  # an empty pin sets KERAS_BACKEND='' and Keras ignores an empty one: no pin
            return name, f"env-pin:{path}"
    return None


def read_line(text: str) -> str | None:
    """The backend a pin file's text sets, or None when it holds no pin kbackend wrote."""
    for rx in _PARSE:
        m = rx.search(text)
        if m:
            return _unliteral(m.group(1))
    return None


def pin_line(name: str) -> str:
    """The pin file's text for `name`; raises ValueError for a name no environment can hold."""
    why = name_problem(name)
    if why:
        raise ValueError(why)
    return _LINE.format(lit=_literal(name))


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a KERAS_BACKEND value at all, or None."""
    if "\0" in name:
        return "it contains a NUL byte, which no environment variable can hold"
    try:
        os.fsencode(name)
    except UnicodeError:
        return "it cannot be encoded for the process environment"
    return None


def user_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of `environ` without what a pin set: KERAS_BACKEND as the user set it, or absent."""
    env = dict(environ)
    strip_pin_environ(env)
    return env


def strip_pin_environ(environ: MutableMapping[str, str]) -> str | None:
    """Forget, in place, a KERAS_BACKEND a pin set (returned) and the pin's marker."""
    marker = environ.pop(MARKER, None)
    if marker is not None and environ.get("KERAS_BACKEND") == marker:
        del environ["KERAS_BACKEND"]
        return marker
    return None


def _literal(s: str) -> str:
    """A single-quoted Python literal of `s` made of printable ASCII only (one line, any locale)."""
    out = []
    for ch in s:
        o = ord(ch)
        if ch in "'\\":
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        elif o < 0x100:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return "'" + "".join(out) + "'"


def _unliteral(lit: str) -> str | None:
    body = lit[1:-1]
    try:
        return body.encode("ascii").decode("unicode_escape")
    except (UnicodeError, ValueError):
        pass
    import ast  # a hand-edited file with non-ASCII text: rare, so imported only then

    try:
        v = ast.literal_eval(lit)
    except (ValueError, SyntaxError):
        return None
    return v if isinstance(v, str) else None
