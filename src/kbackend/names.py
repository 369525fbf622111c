"""Names given on the command line, parsed one way for every command.

A multi-valued option takes repeated flags and comma lists alike
(`--backend jax --backend torch`, `--backend jax,torch`). A name that is not
one of the choices is refused as a usage error with the closest choices
(difflib, case-insensitive) and the command line corrected.

>>> split(["jax,torch", " numpy ", "jax"])
['jax', 'torch', 'numpy']
>>> closest("jaxx", ["tensorflow", "jax", "torch"])
'jax'
>>> closest("TORCH", ["tensorflow", "jax", "torch"])
'torch'
>>> closest("pytorch", ["jax", "torch"]), closest("zzz", ["jax", "torch"])
('torch', None)
"""

from __future__ import annotations

import re

from typing import Iterable, Sequence

from kbackend import backends as _backends
from kbackend.errors import UsageError


def split(values: Iterable[str] | str | None) -> list[str]:
    """Repeated values and comma (or space) separated lists as one list, in order, each once, blanks dropped.

    >>> split(["jax,torch", "numpy torch"])
    ['jax', 'torch', 'numpy']
    """
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        for part in re.split(r"[,\s]+", str(v)):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def closest(raw: str, choices: Iterable[str]) -> str | None:
    """The choice `raw` most likely meant (a typo, another case, a known alias), or None."""
    import difflib

    choices = list(choices)
    low = {c.lower(): c for c in choices}
    key = raw.strip().lower()
    if key in low:
        return low[key]
    alias = ALIASES.get(key)
    if alias in choices:
        return alias
    hit = difflib.get_close_matches(key, list(low), n=1, cutoff=0.6)
    return low[hit[0]] if hit else None


#: names people type for a backend that Keras spells otherwise.
ALIASES = _backends.aliases()


def did_you_mean(raw: str, choices: Iterable[str]) -> str:
    """' Did you mean `x`?' when a choice is close to `raw`, else ''."""
    hit = closest(raw, choices)
    return f" Did you mean `{hit}`?" if hit is not None and hit != raw else ""


def check(option: str, given: Sequence[str], choices: Sequence[str], *, fix: str,
          expected: str | None = None, fallback_fix: str | None = None) -> list[str]:
    """`given` when every name is one of `choices`; else a UsageError (exit 2).

    The message follows Keras's convention (what is allowed, then what was
    received), adds the closest choice, and the fix is the command line with the
    names corrected: `fix` holds `{}` for the corrected comma list (bad names
    without a close choice are dropped; `fallback_fix` when none is left).

    >>> check("--backend", ["jax", "torch"], ["jax", "torch"], fix="kbackend verify --backend {}")
    ['jax', 'torch']
    >>> try:
    ...     check("--backend", ["jaxx", "torch"], ["jax", "torch"], fix="kbackend verify --backend {}")
    ... except UsageError as e:
    ...     print(e.message); print(e.fix)
    Invalid `--backend`. Expected one of ['jax', 'torch']. Received: backend=jaxx. Did you mean `jax`?
    kbackend verify --backend jax,torch
    """
    given = list(given)
    allowed = set(choices)
    bad = [g for g in given if g not in allowed]
    if not bad:
        return given
    key = option.lstrip("-").replace("-", "_")
    hints = [h for h in (closest(b, choices) for b in bad) if h is not None]
    msg = (f"Invalid `{option}`. Expected {expected or f'one of {list(choices)}'}. "
           f"Received: {key}={', '.join(bad)}.")
    if hints:
        msg += " Did you mean " + " and ".join(f"`{h}`" for h in dict.fromkeys(hints)) + "?"
    corrected = list(dict.fromkeys(g if g in allowed else closest(g, choices) for g in given))
    corrected = [c for c in corrected if c is not None]
    if corrected:
        fix_line = fix.format(",".join(corrected))
    else:
        fix_line = fallback_fix or fix.format(choices[0])
    raise UsageError(msg, fix=fix_line, data={key: bad})
