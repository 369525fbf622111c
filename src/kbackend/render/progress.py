"""The one progress helper of the long commands (doctor's probes, verify, bench, envs --probe).

`progress(what, total)` yields `step(text=None, *, advance=1, completed=None, total=None)`:
- on a terminal's stderr, a transient rich bar (what, text, done/total, time);
- on a stderr that is not a terminal (a CI log), one line per completed step,
  `what: text (done/total)`, so a log shows where a slow or hung run was;
- with `enabled=False`, nothing.
Progress never goes to stdout: with `--json` stdout holds the one document alone.

>>> import io
>>> buf = io.StringIO()
>>> with progress("probing", 2, stream=buf) as step:
...     step("jax")
...     step("torch")
...     step("(not counted)", advance=0)
>>> print(buf.getvalue(), end="")
probing: jax (1/2)
probing: torch (2/2)
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from kbackend.render.output import isatty, use_color, width

Step = Callable[..., None]

__all__ = ["progress", "Step"]


@contextlib.contextmanager
def progress(what: str, total: int | None = None, *, enabled: bool | None = None,
             stream=None) -> Iterator[Step]:
    """A `step` callback reporting `what`'s progress on stderr (a bar on a terminal, lines otherwise)."""
    stream = stream if stream is not None else sys.stderr
    if enabled is False:
        yield _nothing
    elif isatty(stream):
        with _bar(what, total, stream) as step:
            yield step
    else:
        yield _lines(what, total, stream)


def _nothing(*a, **k) -> None:
    return None


def _lines(what: str, total: int | None, stream) -> Step:
    state = {"done": 0, "total": total}

    def step(text: str | None = None, *, advance: int = 1, completed: int | None = None,
             total: int | None = None) -> None:
        if total is not None:
            state["total"] = total
        before = state["done"]
        state["done"] = completed if completed is not None else before + advance
        if state["done"] <= before:
            return
        of = f"/{state['total']}" if state["total"] else ""
        count = f" ({state['done']}{of})"
        line = f"{what}: {text}" if text else what
        room = width(stream) - len(count)
        if len(line) > room:
            line = line[:max(room - 1, 1)] + "…"
        try:
            stream.write(line + count + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass  # a log that went away is no reason to stop the work

    return step


@contextlib.contextmanager
def _bar(what: str, total: int | None, stream) -> Iterator[Step]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(file=stream, no_color=not use_color(stream))
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, transient=True)
    task = bar.add_task(what, total=total)

    def step(text: str | None = None, *, advance: int = 1, completed: int | None = None,
             total: int | None = None) -> None:
        kw: dict = {"description": f"{what} · {text}" if text else what}
        if total is not None:
            kw["total"] = total
        if completed is not None:
            kw["completed"] = completed
        else:
            kw["advance"] = advance
        bar.update(task, **kw)

    with bar:
        yield step
