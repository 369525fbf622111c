"""jax's persistent compilation cache in verify, where `filelock` is missing, and its warnings.

jax needs `filelock` to enforce the cache's size limit that kbackend sets
(JAX_COMPILATION_CACHE_MAX_SIZE); without it, every read and write of the cache
fails with a warning and the cache stays empty. The README's own jax-only install
did not bring filelock. Here a PYTHONPATH shim makes `import filelock` raise
ImportError in verify's children, as in an environment without it; the real jax
child runs `verify --backend jax --op add` twice, and a test patch (the worker's
KBACKEND_TEST_PATCH hook) counts jax's own cache-hit and cache-miss events.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kbackend.suite import run as R
from kbackend.workers.runner import worker_path

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")

COUNTER = '''
import json, os
import jax.monitoring

counts = {"hits": 0, "misses": 0}


def on_event(event, **kwargs):
    key = {"/jax/compilation_cache/cache_hits": "hits", "/jax/compilation_cache/cache_misses": "misses"}.get(event)
    if key:
        counts[key] += 1
        with open(os.environ["KBACKEND_TEST_CACHE_COUNTS"], "w") as f:
            json.dump(counts, f)


jax.monitoring.register_event_listener(on_event)
'''


@pytest.fixture
def no_filelock(tmp_path, monkeypatch):
    """Children where `import filelock` raises ImportError (the module is installed in this venv)."""
    shim = tmp_path / "no-filelock"
    shim.mkdir()
    (shim / "filelock.py").write_text('raise ImportError("No module named \'filelock\' (hidden by the test)")\n')
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH")) if p))
    probe = subprocess.run([sys.executable, "-c", "import filelock"], capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "hidden by the test" in probe.stderr
    return shim


@pytest.fixture
def counter(tmp_path, monkeypatch):
    patch = tmp_path / "count_cache_events.py"
    patch.write_text(COUNTER)
    counts = tmp_path / "counts.json"
    monkeypatch.setenv("KBACKEND_TEST_PATCH", str(patch))
    monkeypatch.setenv("KBACKEND_TEST_CACHE_COUNTS", str(counts))

    def read():
        doc = json.loads(counts.read_text()) if counts.exists() else {"hits": 0, "misses": 0}
        counts.unlink(missing_ok=True)
        return doc

    return read


def _verify(run_cli):
    code, out, err = run_cli("--json", "verify", "--backend", "jax", "--op", "add")
    doc = json.loads(out)
    assert code == 0, doc
    return doc, err


def _entries(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*-cache")} if folder.is_dir() else {}


def test_the_cache_works_without_filelock_and_says_why_it_has_no_limit(run_cli, no_filelock, counter):
    doc, err = _verify(run_cli)
    cache = Path(doc["compile_cache"])
    jax = doc["backends"][0]
    note = next(w for w in jax["warnings"] if w.startswith("filelock is not installed"))
    assert str(R.COMPILE_CACHE_MAX_BYTES) in note and str(cache) in note
    # shown to people too, on stderr (wrapped to the width, so compared without whitespace)
    assert "".join(f"warning: jax: {note}".split()) in "".join(err.split())
    # no warning of jax about a cache it cannot use
    assert not [w for w in jax["warnings"] if "Error reading" in w or "Error writing" in w]
    first = _entries(cache)
    assert first, f"jax wrote nothing to {cache}"
    assert counter()["misses"] >= 1

    doc, _ = _verify(run_cli)
    counts = counter()
    # the second run reads what the first compiled: hits, no miss, no entry rewritten
    assert counts["hits"] >= 1 and counts["misses"] == 0, counts
    assert _entries(cache) == first


def test_with_filelock_the_limit_stays_and_nothing_is_said(run_cli, counter):
    doc, _ = _verify(run_cli)
    jax = doc["backends"][0]
    assert jax["warnings"] == []
    assert _entries(Path(doc["compile_cache"]))
    assert (Path(doc["compile_cache"]) / ".lockfile").exists()  # the size limit's lock: filelock at work


def test_a_cache_jax_cannot_use_is_reported_not_swallowed(run_cli, tmp_path, monkeypatch):
    """The user's own JAX_COMPILATION_CACHE_DIR names a file: jax turns the cache off with a warning."""
    not_a_folder = tmp_path / "cache-is-a-file"
    not_a_folder.write_text("x")
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(not_a_folder))
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")  # a user's filter does not hide it either
    doc, err = _verify(run_cli)
    ws = doc["backends"][0]["warnings"]
    assert any("persistent compilation cache" in w and "FileExistsError" in w for w in ws), ws
    assert "warning: jax:" in err
    assert doc["compile_cache"] == str(not_a_folder)  # the folder jax was given, not kbackend's own


# ----------------------------------------------------------------------------- the pieces


def _worker():
    spec = importlib.util.spec_from_file_location("kbackend_test_suite_worker",
                                                  worker_path("suite_worker.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("env, has_filelock, dropped", [
    ({"JAX_COMPILATION_CACHE_DIR": "/c", "JAX_COMPILATION_CACHE_MAX_SIZE": "134217728"}, False, True),
    ({"JAX_COMPILATION_CACHE_DIR": "/c", "JAX_COMPILATION_CACHE_MAX_SIZE": "134217728"}, True, False),
    ({"JAX_COMPILATION_CACHE_DIR": "/c", "JAX_COMPILATION_CACHE_MAX_SIZE": "-1"}, False, False),
    ({"JAX_COMPILATION_CACHE_MAX_SIZE": "134217728"}, False, False),
])
def test_the_limit_is_dropped_only_where_jax_could_not_keep_it(monkeypatch, env, has_filelock, dropped):
    w = _worker()
    for k in ("JAX_COMPILATION_CACHE_DIR", "JAX_COMPILATION_CACHE_MAX_SIZE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    if not has_filelock:
        monkeypatch.setitem(sys.modules, "filelock", None)  # `import filelock` raises ImportError
    notes = w._compile_cache_without_filelock()
    assert bool(notes) == dropped
    assert ("JAX_COMPILATION_CACHE_MAX_SIZE" in os.environ) == (not dropped)


def test_the_journal_keeps_each_warning_once(tmp_path):
    journal = tmp_path / "jax.jsonl"
    lines = [{"warning": "filelock is not installed: ..."}, {"backend": "jax", "units": 1, "order": ["float32/add"]},
             {"start": "float32/add"}, {"warning": "filelock is not installed: ..."},
             {"warning": "UserWarning: Error writing persistent compilation cache entry"},
             {"unit": "float32/add", "rows": []}]
    journal.write_text("".join(json.dumps(x) + "\n" for x in lines))
    j = R.read_journal(str(journal))
    assert j.warnings == ["filelock is not installed: ...", "UserWarning: Error writing persistent compilation cache entry"]
    assert j.units == 1 and j.done == ["float32/add"]
