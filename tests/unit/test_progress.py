"""The one progress helper: a bar on a terminal, one line per step off a terminal, never stdout."""

from __future__ import annotations

import io
import pathlib
import re

import kbackend
from kbackend.render import progress as P

SRC = pathlib.Path(kbackend.__file__).parent


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_lines_off_a_terminal_fit_80_columns_and_skip_non_steps():
    buf = io.StringIO()
    with P.progress("bench", 3, stream=buf) as step:
        step("x" * 200)
        step("importing", advance=0)
        step(completed=3)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines), lines
    assert lines[0].endswith("… (1/3)") and lines[1] == "bench (3/3)"


def test_disabled_is_silent_even_on_a_terminal():
    buf = Terminal()
    with P.progress("verify", 2, enabled=False, stream=buf) as step:
        step("a")
    assert buf.getvalue() == ""


def test_a_bar_on_a_terminal_is_transient(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    buf = Terminal()
    with P.progress("probing", 2, stream=buf) as step:
        step("jax")
        step("torch")
    assert "probing" in buf.getvalue() and "2/2" in buf.getvalue()


def test_a_log_that_went_away_does_not_stop_the_work():
    buf = io.StringIO()
    buf.close()
    with P.progress("doctor", 1, stream=buf) as step:
        step("jax")


def test_the_one_helper_and_the_one_isatty():
    """Four progress helpers with four signatures and three `_isatty` were one each too many."""
    defs = {str(p.relative_to(SRC)): p.read_text() for p in SRC.rglob("*.py") if "workers" not in p.parts}
    assert [f for f, t in defs.items() if re.search(r"^def progress\(", t, re.M)] == ["render/progress.py"]
    assert [f for f, t in defs.items() if re.search(r"^def _?isatty\(", t, re.M)] == ["render/output.py"]
    assert not [f for f, t in defs.items() if "rich.progress" in t and f != "render/progress.py"]
