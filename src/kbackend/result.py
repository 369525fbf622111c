"""What every command returns: a `Result` carrying its exit code; `render.output.render` prints it.

A command parses, calls a service, and returns `Result(command, exit_code, data, text)`:
`data` is the body of the `--json` envelope, `text` prints the same answer for people
(the command's view function). One renderer (`kbackend.render.output.render`) prints one
or the other; cli.main turns the exit code into the process's.

Exit codes are decided here, from what the services found (DESIGN.md; README: Exit codes):

>>> class Found:
...     ok = False
>>> exit_code(Found()), exit_code(True), Result("check", exit_code(Found())).exit_code
(1, 0, 1)
"""

from __future__ import annotations

from typing import Any, Callable

from kbackend._record import field, record
from kbackend.errors import EXIT_OK, EXIT_PROBLEM

__all__ = ["Result", "exit_code"]


@record
class Result:
    """One command's answer.

    data: the JSON envelope's body; text: prints it for people (stdout); warn: prints,
    first and in either mode, what people are told on stderr (warnings, notes).
    """

    command: str
    exit_code: int = EXIT_OK
    data: dict[str, Any] = field(default_factory=dict)
    text: Callable[[], None] | None = field(default=None, repr=False)
    warn: Callable[[], None] | None = field(default=None, repr=False)


def exit_code(outcome: Any) -> int:
    """0 when a command found nothing wrong, 1 when it ran and found a problem.

    outcome: a bool (all clear?), or a service's result: its own `exit_code` when it
    carries one (a child's code for `run`, doctor's --strict, bench's gate), else its `ok`.
    """
    if isinstance(outcome, bool):
        return EXIT_OK if outcome else EXIT_PROBLEM
    code = getattr(outcome, "exit_code", None)
    if isinstance(code, int):
        return code
    return EXIT_OK if outcome.ok else EXIT_PROBLEM
