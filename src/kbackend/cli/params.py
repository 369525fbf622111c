"""Multi-valued options, one convention for every command: repeated or comma-separated.

`multi_option("--backend", "-b", "backends", choices=KERAS3)` accepts
`--backend jax --backend torch` and `--backend jax,torch` alike, refuses a name
that is not a choice with the closest one (kbackend.names), and completes each
item of a comma list. Options whose choices depend on the target (`--op`,
`--category`, `--check`) take `complete=` static lists (kbackend.cli.catalog)
and are checked by the command itself.
"""

from __future__ import annotations

from typing import Callable, Sequence

import click
from click.shell_completion import CompletionItem

from kbackend import names


class NameList(click.ParamType):
    """One or more names, comma-separated; converted to a tuple."""

    name = "names"

    def __init__(self, choices: Sequence[str] | None = None, complete: Sequence[str] | None = None,
                 expected: str | None = None, metavar: str = "NAME"):
        self.choices = tuple(choices) if choices is not None else None
        self.complete = tuple(complete if complete is not None else (choices or ()))
        self.expected = expected
        self.metavar = metavar

    def get_metavar(self, param, ctx=None) -> str:  # click 8.1 and 8.2 signatures
        return f"{self.metavar}[,...]"

    def convert(self, value, param, ctx):
        # Split only: the names are checked together, once every flag is read (see _flatten).
        return value if isinstance(value, tuple) else tuple(names.split(value))

    def check(self, items: list[str], param, ctx) -> None:
        if self.choices is not None:
            opt = param.opts[0] if param is not None and param.opts else "--value"
            path = ctx.command_path if ctx is not None else "kbackend"
            names.check(opt, items, self.choices, expected=self.expected, fix=f"{path} {opt} {{}}")

    def shell_complete(self, ctx, param, incomplete):
        head, _, last = incomplete.rpartition(",")
        done = set(head.split(",")) if head else set()
        prefix = head + "," if head else ""
        return [CompletionItem(prefix + c) for c in self.complete if c.startswith(last) and c not in done]


def _flatten(ctx, param, value) -> tuple[str, ...]:
    """All the flags' names as one tuple, each once, checked together (so a fix keeps every good one)."""
    out = names.split(item for v in value or () for item in (v if isinstance(v, tuple) else (v,)))
    if not ctx.resilient_parsing:  # not while completing
        param.type.check(out, param, ctx)
    return tuple(out)


def multi_option(*decls: str, choices: Sequence[str] | None = None, complete: Sequence[str] | None = None,
                 expected: str | None = None, metavar: str = "NAME", help: str = "",
                 **kw) -> Callable:
    """A repeatable, comma-accepting option whose value is a flat tuple of names (see the module)."""
    more = f" One of: {', '.join(choices)}." if choices else ""
    return click.option(*decls, multiple=True, type=NameList(choices, complete, expected, metavar),
                        callback=_flatten, metavar=f"{metavar}[,...]",
                        help=help + more + " Repeatable or comma-separated.", **kw)
