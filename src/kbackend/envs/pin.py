"""Per-environment backend pins: a `.pth` file in the environment's site-packages.

Python runs `import` lines of `.pth` files at start-up, so the pin sets a
default `KERAS_BACKEND` for that interpreter only, before Keras is imported; an
explicit non-empty `KERAS_BACKEND` still wins. Precedence: default < keras.json
< environment pin < KERAS_BACKEND < a command's option.
"""

from __future__ import annotations

import os
import re

from kbackend.envs.target import Target

PIN_FILE = "kbackend-pin.pth"
_LINE = (
    "import os; os.environ.get('KERAS_BACKEND') or os.environ.__setitem__('KERAS_BACKEND', {name!r})"
    "  # kbackend pin: remove with `kbackend switch --scope env --unset`\n"
)
_PARSE = re.compile(r"__setitem__\('KERAS_BACKEND', '([^']*)'\)")


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
            with open(path, encoding="utf-8") as f:
                m = _PARSE.search(f.read())
        except OSError:
            continue
        if m:
            return m.group(1), f"env-pin:{path}"
    return None


def pin_line(name: str) -> str:
    return _LINE.format(name=name)
