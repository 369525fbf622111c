"""A stray `keras.py` or `jax/` shadows the installed distribution (issue 11, item 7).

Python imports the first `keras` on sys.path: a file left on PYTHONPATH, or in a directory
that a .pth file adds, wins over site-packages. doctor must say where each module came
from and flag one that is not its installed distribution's, with the path and the fix.

End to end: real stray files, a real .pth in a real virtual environment, real Keras and
NumPy in the probe children. Unit: the child's `_origin` against distributions built on
disk (RECORD, no RECORD, editable, symlinked site-packages, namespace packages).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from kbackend.workers.runner import worker_path

FAKE_KERAS = '__version__ = "0.0.stray"\nclass config:\n    @staticmethod\n    def backend():\n        return "jax"\n'
FAKE_JAX = '__version__ = "0.0.stray"\ndef devices():\n    return []\n'


def _site_of(module: str) -> str:
    """The sys.path directory this interpreter imports `module` from."""
    origin = importlib.util.find_spec(module).origin
    return str(Path(origin).parent.parent)


def _stray(root: Path, name: str, body: str, *, package: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if package:
        (root / name).mkdir()
        (root / name / "__init__.py").write_text(body)
        return root / name
    (root / f"{name}.py").write_text(body)
    return root / f"{name}.py"


def _venv_with_pth(tmp_path: Path, stray_dir: Path) -> tuple[str, Path]:
    """A virtual environment whose `000-stray.pth` adds `stray_dir` before the directories
    holding the real keras, jax and numpy (added by `zz-real.pth`)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    pth = site / "000-stray.pth"
    pth.write_text(f"# a project's source folder\n{stray_dir}\n")
    real = dict.fromkeys(_site_of(m) for m in ("keras", "jax", "jaxlib", "numpy", "packaging"))
    (site / "zz-real.pth").write_text("\n".join(real) + "\n")
    return str(python), pth


def doctor(run_cli, monkeypatch, *args, python=None, pythonpath=None, backend="jax"):
    monkeypatch.setenv("KERAS_BACKEND", backend)
    if pythonpath:
        monkeypatch.setenv("PYTHONPATH", str(pythonpath))
    else:
        monkeypatch.delenv("PYTHONPATH", raising=False)
    pre = ["--python", python] if python else []
    code, out, err = run_cli(*pre, "doctor", "--json", "--refresh", "--check", "backend-importable", *args)
    assert out, (code, err)
    doc = json.loads(out)
    return code, doc["checks"][0], {b["name"]: b for b in doc["facts"]["backends"]}


def test_stray_keras_and_jax_modules_on_pythonpath(run_cli, monkeypatch, tmp_path):
    """The issue's case: the probe 'works' (the strays import fine) and doctor said ok, jax 0.10.2."""
    stray = tmp_path / "stray"
    k = _stray(stray, "keras", FAKE_KERAS, package=False)
    j = _stray(stray, "jax", FAKE_JAX, package=False)
    code, f, backends = doctor(run_cli, monkeypatch, pythonpath=stray)
    jax = backends["jax"]
    assert jax["status"] == "ok"  # the child ran: the strays imported
    assert jax["origins"]["keras"]["file"] == str(k) and jax["origins"]["keras"]["verdict"] == "not_from_dist"
    assert jax["origins"]["jax"]["file"] == str(j) and jax["origins"]["jax"]["verdict"] == "not_from_dist"
    assert jax["origins"]["jax"]["via"] == "PYTHONPATH" and jax["origins"]["jax"]["dist"] == "jax"
    assert code == 1 and f["status"] == "error"
    text = "\n".join(f["evidence"])
    assert f"`import keras` loads {k} (on PYTHONPATH)" in text and f"`import jax` loads {j} (on PYTHONPATH)" in text
    assert "instead of the installed keras" in text and "it says it is 0.0.stray" in text
    assert f["fix"] == f"remove or rename {k}, {j} / unset PYTHONPATH"
    _, out, _ = run_cli("doctor", "--report", "--check", "backend-importable")  # the cached probe
    assert f"  jax: {j} (not_from_dist; jax " in out and f"  keras: {k} (not_from_dist; keras " in out


def test_stray_packages_in_a_directory_a_pth_adds(run_cli, monkeypatch, tmp_path):
    stray = tmp_path / "project-src"
    k = _stray(stray, "keras", FAKE_KERAS, package=True)
    j = _stray(stray, "jax", FAKE_JAX, package=True)
    python, pth = _venv_with_pth(tmp_path, stray)
    code, f, backends = doctor(run_cli, monkeypatch, python=python)
    origins = backends["jax"]["origins"]
    assert origins["keras"]["thing"] == str(k) and origins["jax"]["thing"] == str(j)
    assert origins["keras"]["via"] == str(pth) and origins["keras"]["entry"] == str(stray)
    assert code == 1 and f["status"] == "error"
    assert any(e.startswith(f"`import keras` loads {k} (added by {pth}), instead of") for e in f["evidence"])
    assert f["fix"] == f"remove or rename {k}, {j} / remove its directory from {pth}"


def test_a_stray_backend_package_breaks_the_real_keras(run_cli, monkeypatch, tmp_path):
    """Only jax is stray: the real Keras fails to import it, and the failure is traced to the file."""
    stray = tmp_path / "stray"
    j = _stray(stray, "jax", FAKE_JAX, package=True)
    code, f, backends = doctor(run_cli, monkeypatch, pythonpath=stray)
    jax = backends["jax"]
    assert jax["status"] in ("import_error", "error")
    assert jax["origins"]["jax"]["thing"] == str(j) and jax["origins"]["jax"]["verdict"] == "not_from_dist"
    assert jax["origins"]["keras"]["verdict"] == "dist"  # the real one, from its RECORD
    assert code == 1 and f["status"] == "error"
    assert any(e.startswith(f"`import jax` loads {j}") for e in f["evidence"])
    assert f["fix"] == f"remove or rename {j} / unset PYTHONPATH"


def test_a_stray_keras_module_from_a_pth_with_the_real_numpy(run_cli, monkeypatch, tmp_path):
    stray = tmp_path / "notebooks"
    k = _stray(stray, "keras", FAKE_KERAS.replace('"jax"', '"numpy"'), package=False)
    python, pth = _venv_with_pth(tmp_path, stray)
    code, f, backends = doctor(run_cli, monkeypatch, python=python, backend="numpy")
    origins = backends["numpy"]["origins"]
    assert origins["numpy"]["verdict"] == "dist" and origins["keras"]["verdict"] == "not_from_dist"
    assert code == 1 and f["status"] == "error" and f["fix"] == f"remove or rename {k} / remove its directory from {pth}"


def test_without_strays_each_module_comes_from_its_distribution(run_cli, monkeypatch):
    code, f, backends = doctor(run_cli, monkeypatch, backend="numpy")
    origins = backends["numpy"]["origins"]
    assert {m: o["verdict"] for m, o in origins.items()} == {"keras": "dist", "numpy": "dist", "jax": "dist",
                                                             "jaxlib": "dist"}
    assert f["status"] == "ok" and code == 0
    keras_dir = str(Path(importlib.util.find_spec("keras").origin).parent)
    assert any(e.startswith(f"keras from {keras_dir} (keras ") for e in f["evidence"])


# ---------------------------------------------------------------------- the child's verdicts


@pytest.fixture
def worker(monkeypatch):
    spec = importlib.util.spec_from_file_location("probe_backend_under_test", worker_path("probe_backend.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _dist(site: Path, name: str, files: list[str] | None, *, direct_url: dict | None = None) -> Path:
    meta = site / f"{name}-1.0.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    if files is not None:
        (meta / "RECORD").write_text("".join(f"{f},sha256=x,1\n" for f in files) + f"{meta.name}/RECORD,,\n")
    if direct_url is not None:
        (meta / "direct_url.json").write_text(json.dumps(direct_url))
    return meta


def _module(monkeypatch, name: str, file: str | None, path: list[str] | None = None):
    m = types.ModuleType(name)
    m.__file__ = file
    if path is not None:
        m.__path__ = path
    monkeypatch.setitem(sys.modules, name, m)


def _verdict(worker, monkeypatch, sys_path, name="fakepkg", site_dirs=()):
    monkeypatch.setattr(sys, "path", [str(p) for p in sys_path])
    return worker._origin(name, [name], [worker._real(str(d)) for d in site_dirs])


def test_a_file_its_record_lists(worker, monkeypatch, tmp_path):
    site = tmp_path / "site-packages"
    _dist(site, "fakepkg", ["fakepkg/__init__.py"])
    (site / "fakepkg").mkdir()
    (site / "fakepkg" / "__init__.py").write_text("")
    _module(monkeypatch, "fakepkg", str(site / "fakepkg" / "__init__.py"))
    o = _verdict(worker, monkeypatch, [site], site_dirs=[site])
    assert o["verdict"] == "dist" and o["dist"] == "fakepkg" and o["in_site"] is True
    # the same file through a symlinked site-packages
    link = tmp_path / "link-site"
    link.symlink_to(site)
    _module(monkeypatch, "fakepkg", str(link / "fakepkg" / "__init__.py"))
    assert _verdict(worker, monkeypatch, [link])["verdict"] == "dist"


def test_a_stray_in_site_packages_itself_is_still_a_stray(worker, monkeypatch, tmp_path):
    """A fakepkg.py in a user site-packages (in_site) that no RECORD lists: site-packages is not enough."""
    user_site = tmp_path / "user" / "site-packages"
    user_site.mkdir(parents=True)
    (user_site / "fakepkg.py").write_text("")
    site = tmp_path / "site-packages"
    _dist(site, "fakepkg", ["fakepkg/__init__.py"])
    _module(monkeypatch, "fakepkg", str(user_site / "fakepkg.py"))
    o = _verdict(worker, monkeypatch, [user_site, site], site_dirs=[user_site, site])
    assert o["in_site"] is True and o["verdict"] == "not_from_dist" and o["thing"] == str(user_site / "fakepkg.py")


def test_without_a_record_the_dists_own_directory_counts(worker, monkeypatch, tmp_path):
    site = tmp_path / "site"
    _dist(site, "fakepkg", None)
    (site / "fakepkg").mkdir()
    _module(monkeypatch, "fakepkg", str(site / "fakepkg" / "__init__.py"))
    assert _verdict(worker, monkeypatch, [site])["verdict"] == "dist_location"
    _module(monkeypatch, "fakepkg", str(tmp_path / "elsewhere" / "fakepkg.py"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "elsewhere"))
    o = _verdict(worker, monkeypatch, [tmp_path / "elsewhere", site])
    assert o["verdict"] == "not_from_dist" and o["via"] == "PYTHONPATH"


def test_an_editable_install_is_its_distribution(worker, monkeypatch, tmp_path):
    project = tmp_path / "my project"  # a space: the URL is percent-encoded
    (project / "src" / "fakepkg").mkdir(parents=True)
    site = tmp_path / "site"
    _dist(site, "fakepkg", ["__editable__.fakepkg-1.0.pth"],
          direct_url={"url": "file://" + str(project).replace(" ", "%20"), "dir_info": {"editable": True}})
    _module(monkeypatch, "fakepkg", str(project / "src" / "fakepkg" / "__init__.py"))
    o = _verdict(worker, monkeypatch, [site])
    assert o["verdict"] == "editable" and o["dist_location"] == str(project)
    # a copy outside the project is not
    _module(monkeypatch, "fakepkg", str(tmp_path / "copy" / "fakepkg.py"))
    assert _verdict(worker, monkeypatch, [site])["verdict"] == "not_from_dist"


def test_a_namespace_package_and_no_metadata(worker, monkeypatch, tmp_path):
    site = tmp_path / "site"
    _dist(site, "fakepkg", ["fakepkg/__init__.py"])
    ns = tmp_path / "ns" / "fakepkg"
    ns.mkdir(parents=True)
    _module(monkeypatch, "fakepkg", None, path=[str(ns)])
    o = _verdict(worker, monkeypatch, [site])
    assert o["verdict"] == "not_from_dist" and o["thing"] == str(ns)
    # no distribution at all: only site-packages can tell
    sp = tmp_path / "lib" / "site-packages"
    sp.mkdir(parents=True)
    _module(monkeypatch, "fakepkg", str(sp / "fakepkg.py"))
    assert _verdict(worker, monkeypatch, [sp], site_dirs=[sp])["verdict"] == "site"
    assert _verdict(worker, monkeypatch, [sp], site_dirs=[])["verdict"] == "not_from_dist"


def test_a_module_whose_import_failed_is_found_without_importing_it(worker, monkeypatch, tmp_path):
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "fakepkg_unimported.py").write_text("raise SystemExit('must not run')\n")
    monkeypatch.delitem(sys.modules, "fakepkg_unimported", raising=False)
    monkeypatch.setattr(sys, "path", [str(stray)])
    assert worker._origin("fakepkg_unimported", [], [], find=False) is None
    o = worker._origin("fakepkg_unimported", [], [], find=True)
    assert o["file"] == str(stray / "fakepkg_unimported.py") and o["imported"] is False
    assert o["verdict"] == "not_from_dist" and "fakepkg_unimported" not in sys.modules


def test_the_cache_key_changes_when_a_stray_appears(tmp_path):
    from kbackend.doctor.cache import probe_key, sys_path_fingerprint
    from kbackend.doctor.probe import shadowable_modules

    project, site = tmp_path / "project", tmp_path / "site-packages"
    project.mkdir()
    site.mkdir()
    kw = {"python": "/p", "python_version": "3.11.7", "installed": {}, "environ": {}, "driver": None,
          "keras_json": None}

    def key():
        return probe_key(**kw, paths=sys_path_fingerprint([str(project), str(site)], shadowable_modules()))

    before = key()
    for name in ("notes.txt", "train.py", "data"):  # a project at work: the key stays
        (project / name).write_text("") if "." in name else (project / name).mkdir()
    assert key() == before
    for stray in ("jax.py", "keras", "torch.cpython-311-x86_64-linux-gnu.so", "tensorflow.py"):
        p = project / stray
        p.mkdir() if "." not in stray else p.write_text("")
        after = key()
        assert after != before, stray
        p.rmdir() if p.is_dir() else p.unlink()
        assert key() == before
    (site / "000-extra.pth").write_text(str(project) + "\n")  # a .pth added
    assert key() != before


def test_without_importlib_metadata_the_metadata_beside_the_module_counts(worker, monkeypatch, tmp_path):
    """Python < 3.8 has no importlib.metadata: a `pip --target` folder is told by its dist-info."""
    import builtins

    real_import = builtins.__import__

    def no_metadata(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "importlib" and fromlist and "metadata" in fromlist:
            raise ImportError("No module named metadata")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_metadata)
    target = tmp_path / "libs"
    _dist(target, "fakepkg", ["fakepkg/__init__.py"])
    _module(monkeypatch, "fakepkg", str(target / "fakepkg" / "__init__.py"))
    o = _verdict(worker, monkeypatch, [target])
    assert o["dist"] is None and o["verdict"] == "dist_location"
    _module(monkeypatch, "fakepkg", str(tmp_path / "stray" / "fakepkg.py"))
    assert _verdict(worker, monkeypatch, [target])["verdict"] == "not_from_dist"
