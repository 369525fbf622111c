"""Every example in a docstring under src/kbackend runs (found by walking the package, so a new
module's examples run without being listed). Child-side modules that need a backend or run as
scripts in the target interpreter are imported only where that is safe (their examples, if any,
need no backend)."""

import doctest
import importlib
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "kbackend"
#: scripts run by path in the target interpreter (they read their input at import or need a backend)
NOT_IMPORTABLE = {"kbackend.__main__", "kbackend.child._boot"}


def _modules() -> list[str]:
    out = []
    for p in sorted(SRC.rglob("*.py")):
        rel = p.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        if name in NOT_IMPORTABLE or ">>>" not in p.read_text(encoding="utf-8"):
            continue
        out.append(name)
    return out


MODULES = _modules()


def test_the_walk_finds_the_modules_with_examples():
    assert {"kbackend.backends", "kbackend.install", "kbackend.render.output", "kbackend.config.judge"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0
