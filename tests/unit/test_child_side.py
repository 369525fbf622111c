"""The process boundary as a folder: nothing under src/kbackend/child/ imports kbackend.

Every module in kbackend/child/ runs in the target interpreter (another Python,
perhaps a legacy one, without kbackend installed): an `import kbackend` there
would work in kbackend's own venv and fail in every other target. The check
parses the source (ast), so it also sees imports inside functions.
"""

from __future__ import annotations

import ast
import os

import pytest

from kbackend.workers import runner

CHILD = runner.CHILD_DIR


def _modules():
    for root, _dirs, files in os.walk(CHILD):
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.join(root, f)


def _bad_imports(path: str) -> list[str]:
    rel_depth = os.path.relpath(path, CHILD).count(os.sep)  # how many levels below child/ the file is
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bad += [a.name for a in node.names if a.name == "kbackend" or a.name.startswith("kbackend.")]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 0 and (mod == "kbackend" or mod.startswith("kbackend.")):
                bad.append(mod)
            elif node.level > 0:
                # A relative import: child modules are loaded by path, so any relative import
                # is wrong; one that climbs out of child/ reaches kbackend itself.
                bad.append("." * node.level + mod + (" (outside child/)" if node.level > rel_depth + 1 else ""))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "import_module", "__import__"):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("kbackend"):
                bad.append(arg.value)
    return bad


def test_child_folder_holds_the_child_side():
    names = {os.path.relpath(p, CHILD) for p in _modules()}
    for expected in ("_boot.py", "probe_backend.py", "gpu_probe.py", "suite_worker.py", "bench_worker.py",
                     "external_backend.py", "cases.py", "compare.py"):
        assert expected in names
    assert os.path.exists(runner.BOOT) and runner.BOOT.startswith(CHILD)
    assert runner.CASES_PATH.startswith(CHILD) and runner.COMPARE_PATH.startswith(CHILD)


@pytest.mark.parametrize("path", list(_modules()), ids=lambda p: os.path.relpath(p, CHILD))
def test_no_child_module_imports_kbackend(path):
    assert _bad_imports(path) == []


def test_the_check_sees_the_imports_it_forbids(tmp_path):
    src = tmp_path / "sub" / "m.py"
    src.parent.mkdir()
    src.write_text("import os\ndef f():\n    import kbackend.config\n    from kbackend import names\n"
                   "    from ... import x\n    import importlib; importlib.import_module('kbackend.backends')\n")
    old = runner.CHILD_DIR
    try:
        globals()["CHILD"] = str(tmp_path)
        assert _bad_imports(str(src)) == ["kbackend.config", "kbackend", "... (outside child/)", "kbackend.backends"]
    finally:
        globals()["CHILD"] = old


def test_no_parent_module_lives_in_child():
    # The runner (parent side) is not in the child folder; the child folder is not a place
    # parent code is run from except as plain data modules (cases, compare).
    assert not os.path.exists(os.path.join(CHILD, "runner.py"))
    assert os.path.dirname(runner.__file__) != CHILD
