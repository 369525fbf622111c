"""What `import keras` needs besides the backend, asked of the real Keras 3.0.5 and 3.3.3 wheels.

Each wheel (and dm-tree, which 3.0.5 imports) is downloaded from PyPI and unpacked, and
`import keras` runs in a child of this interpreter with the wheel first on the path and one
distribution made absent (an import hook raises ModuleNotFoundError for it, as an environment
without it would). kbackend judges the same environment: the same Keras version, the same
distributions minus the absent one. Both must name the same error, or both import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from kbackend.config.judge import judge
from kbackend.config.records import FileState
from kbackend.config.rules import rules_for
from kbackend.envs import installed as inst

pytestmark = pytest.mark.integration

BLOCK = r"""
import os, sys
class _Absent:
    def find_spec(self, name, path=None, target=None):
        for m in filter(None, os.environ["ABSENT"].split(",")):
            if name == m or name.startswith(m + "."):
                raise ModuleNotFoundError(f"No module named '{name}'", name=name)
sys.meta_path.insert(0, _Absent())
import keras
print("imported", keras.__file__)
"""


def _download(spec: str, dest) -> None:
    p = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", spec,
                        "-d", str(dest)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    d = tmp_path_factory.mktemp("keras-wheels")
    out = {}
    for v in ("3.0.5", "3.3.3"):
        _download(f"keras=={v}", d)
        with zipfile.ZipFile(next(d.glob(f"keras-{v}-*.whl"))) as z:
            z.extractall(d / v)
        out[v] = d / v
    _download("dm-tree", d / "dmtree")  # 3.0.5 imports `tree`
    with zipfile.ZipFile(next((d / "dmtree").glob("dm_tree-*.whl"))) as z:
        z.extractall(d / "deps")
    out["deps"] = d / "deps"
    return out


@pytest.fixture(scope="module")
def installed():
    return inst.versions(inst.scan(tuple(p for p in sys.path if p)))


def _real(wheels, version, backend, absent, tmp_path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_")}
    env.update(KERAS_HOME=str(tmp_path), KERAS_BACKEND=backend, ABSENT=",".join(absent),
               PYTHONPATH=f"{wheels[version]}{os.pathsep}{wheels['deps']}")
    p = subprocess.run([sys.executable, "-c", BLOCK], env=env, capture_output=True, text=True, timeout=300,
                       cwd=str(tmp_path))
    if p.returncode == 0:
        assert str(wheels[version]) in p.stdout  # the wheel's Keras, not the installed one
        return "ok"
    return p.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("version,backend,absent", [
    ("3.0.5", "numpy", ("torch",)),
    ("3.3.3", "jax", ("packaging",)),
    ("3.3.3", "numpy", ("torch",)),
    ("3.3.3", "jax", ("jax", "jaxlib", "packaging")),
])
def test_kbackend_names_what_real_keras_needs(wheels, installed, tmp_path, version, backend, absent):
    theirs = _real(wheels, version, backend, absent, tmp_path)
    have = {k: v for k, v in installed.items() if k not in absent} | {"keras": version}
    j = judge(FileState(path=str(tmp_path / "keras.json"), status="missing"), rules_for(version),
              {"KERAS_BACKEND": backend}, have)
    if theirs == "ok":
        assert j.imports is True, j.problems
    else:
        assert j.imports is False and j.keras_error == theirs
