"""The shape of the code: which package may import which (ast over src/kbackend).

Imports inside functions (lazy imports) count as much as those at the top: an
arrow is an arrow whenever it runs.
"""

from __future__ import annotations

import ast
import pathlib

import kbackend

SRC = pathlib.Path(kbackend.__file__).parent


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: pathlib.Path) -> list[tuple[str, int]]:
    """(module imported, line) for every import in the file, at any depth; `from kbackend import x`
    names `kbackend.x`, and relative imports are resolved against the file's package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = ""
    if SRC.parent in path.parents:
        package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            out.append((base, node.lineno))
            out += [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return out


CONFIG_MAY_NOT = ("kbackend.envs", "kbackend.workers", "kbackend.doctor", "kbackend.suite", "kbackend.bench",
                  "kbackend.cli", "kbackend.render", "kbackend.services", "kbackend.gpu", "kbackend.install",
                  "kbackend._procs", "subprocess")


def _hits(name: str, banned: tuple[str, ...]) -> bool:
    return any(name == b or name.startswith(b + ".") for b in banned)


def test_config_is_pure():
    """config/ reads and judges keras.json: no environments, no children, nothing above it."""
    bad = [f"{p.name}:{line} imports {name}"
           for p in sorted((SRC / "config").glob("*.py"))
           for name, line in imports_of(p) if _hits(name, CONFIG_MAY_NOT)]
    assert not bad, bad


def test_the_purity_walk_sees_lazy_and_relative_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    import subprocess\n    from kbackend.envs import installed\n")
    names = [n for n, _ in imports_of(f)]
    assert "subprocess" in names and "kbackend.envs.installed" in names
