"""One record base, in a neutral module: no layer imports config/ for a record base, and the
fast bases never import pydantic (config commands start without it)."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import kbackend

SRC = pathlib.Path(kbackend.__file__).parent
BASES = {"Record", "Model", "Checked", "Frozen", "dump"}


def _imports(path: pathlib.Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, {a.name for a in node.names}


def test_no_layer_takes_a_record_base_from_config():
    wrong = []
    for path in SRC.rglob("*.py"):
        if "config" in path.relative_to(SRC).parts[:1]:
            continue
        for module, names in _imports(path):
            if module.startswith("kbackend.config") and names & BASES:
                wrong.append(f"{path.relative_to(SRC)}: from {module} import {sorted(names & BASES)}")
    assert not wrong, wrong


def test_frozen_names_no_base_any_more():
    """`Frozen` meant a pydantic base in one module and the fast record in three others."""
    for path in SRC.rglob("*.py"):
        for module, names in _imports(path):
            assert "Frozen" not in names, f"{path}: from {module} import Frozen"


def test_fast_bases_leave_pydantic_unimported_and_checked_is_one_class():
    code = ("import sys, kbackend._record as r\n"
            "from kbackend.doctor import facts\n"
            "assert 'pydantic' not in sys.modules, 'pydantic imported by the fast bases'\n"
            "from kbackend.suite.model import CaseResult\n"
            "from kbackend.bench.model import Result\n"
            "assert CaseResult.__mro__[1] is Result.__mro__[1] is r.Checked\n"
            "assert facts.Facts.model_dump and issubclass(facts.Facts, r.Model)\n")
    subprocess.run([sys.executable, "-c", code], check=True)
