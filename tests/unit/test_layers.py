"""The shape of the code: which package may import which (ast over src/kbackend).

Imports inside functions (lazy imports) count as much as those at the top: an
arrow is an arrow whenever it runs.
"""

from __future__ import annotations

import ast
import pathlib

import kbackend

SRC = pathlib.Path(kbackend.__file__).parent


def _module_name(path: pathlib.Path, src: pathlib.Path = SRC) -> str:
    rel = path.relative_to(src.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: pathlib.Path, src: pathlib.Path = SRC) -> list[tuple[str, int]]:
    """(module imported, line) for every import in the file, at any depth; `from kbackend import x`
    names `kbackend.x`, and relative imports are resolved against the file's package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = ""
    if src.parent in path.parents:
        me = _module_name(path, src)
        package = me if path.name == "__init__.py" else me.rpartition(".")[0]
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


#: the layers from the bottom; a module may import its own layer and those below it, never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_record", "errors", "backends", "names", "_signals", "_procs", "_fs", "result", "child", "_host"),
    ("config",),
    ("envs",),
    ("workers",),  # the parent-side runner (child scripts import no kbackend at all)
    ("gpu", "install"),  # install words commands for the GPU it finds (gpu.smi)
    ("doctor", "suite", "bench", "services", "fleet"),
    ("render",),
    ("cli", "__main__"),
)
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}

def _top(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "kbackend":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def upward_imports(src: pathlib.Path = SRC) -> list[tuple[str, int, str]]:
    """(file, line, module) of every import of a higher layer, lazy or not."""
    out = []
    for p in sorted(src.rglob("*.py")):
        me = _top(_module_name(p, src))
        if me == "__init__":
            continue
        for name, line in imports_of(p, src):
            other = _top(name)
            if other is None or other == "__init__" or other == me:
                continue
            if other not in RANK:
                continue  # `from kbackend import x` also yields `kbackend.x` for x itself
            if RANK[other] > RANK[me]:
                out.append((str(p.relative_to(src)), line, name))
    return out


def test_every_package_has_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
            if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))} - {"__init__"}
    assert tops <= set(RANK), f"give these a layer in LAYERS: {sorted(tops - set(RANK))}"


def test_no_import_runs_up_the_layers():
    """Lazy imports inside functions count: an arrow is an arrow whenever it runs."""
    bad = [f"{f}:{line} imports {name}" for f, line, name in upward_imports()]
    assert not bad, "imports from a lower layer up to a higher one:\n" + "\n".join(bad)


def test_the_layer_walk_finds_lazy_and_relative_arrows_up(tmp_path):
    pkg = tmp_path / "kbackend"
    for d in ("config", "envs", "cli"):
        (pkg / d).mkdir(parents=True)
        (pkg / d / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "config" / "x.py").write_text("def f():\n    from kbackend.cli import main\n")
    (pkg / "envs" / "y.py").write_text("from ..workers import runner\nfrom kbackend import errors\n")
    (pkg / "cli" / "z.py").write_text("from kbackend.config import x\n")
    found = {(f, n) for f, _, n in upward_imports(pkg)}
    assert found == {("config/x.py", "kbackend.cli"), ("config/x.py", "kbackend.cli.main"),
                     ("envs/y.py", "kbackend.workers"), ("envs/y.py", "kbackend.workers.runner")}
