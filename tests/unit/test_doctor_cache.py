"""The backend probe cache: keys, hits, and files that are corrupt or unreadable."""

from __future__ import annotations

import json
import os

import pytest

from kbackend.doctor import cache as K

BASE = dict(python="/v/bin/python", python_version="3.11.7", installed={"jax": "0.4.30", "keras": "3.15.1"},
            environ={"KERAS_BACKEND": "jax"}, driver="NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14", keras_json=b'{"backend": "jax"}')


@pytest.mark.parametrize("change", [
    {"python": "/w/bin/python"},
    {"python_version": "3.11.8"},
    {"installed": {"jax": "0.4.31", "keras": "3.15.1"}},
    {"installed": {"jax": "0.4.30", "keras": "3.15.1", "jax-cuda12-plugin": "0.4.30"}},
    {"environ": {"KERAS_BACKEND": "jax", "LD_LIBRARY_PATH": "/usr/local/cuda/lib64"}},
    {"driver": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  560.28.03"},
    {"driver": None},
    {"keras_json": b'{"backend": "jax", "floatx": "float64"}'},
    {"keras_json": None},
])
def test_key_changes_with_everything_a_probe_depends_on(change):
    assert K.probe_key(**{**BASE, **change}) != K.probe_key(**BASE)


def test_key_is_stable_and_order_independent():
    again = {**BASE, "installed": dict(reversed(list(BASE["installed"].items())))}
    assert K.probe_key(**again) == K.probe_key(**BASE)


def test_key_changes_when_the_probe_worker_changes(monkeypatch):
    k1 = K.probe_key(**BASE)
    monkeypatch.setattr(K, "_worker_digest", lambda: "another worker")
    assert K.probe_key(**BASE) != k1


def test_default_path_is_in_the_user_cache_dir(isolated_home):
    assert K.default_path().startswith(os.environ["XDG_CACHE_HOME"])
    assert K.default_path().endswith(os.path.join("kbackend", K.FILE_NAME))


def test_put_then_get_in_a_new_instance(tmp_path):
    p = str(tmp_path / "c" / "probes.json")
    assert K.ProbeCache(p).put("k1", {"jax": {"name": "jax", "status": "ok"}}) is None
    c = K.ProbeCache(p)
    assert c.get("k1", "jax") == {"name": "jax", "status": "ok"}
    assert c.get("k1", "torch") is None and c.get("k2", "jax") is None
    # a later put under the same key merges
    c.put("k1", {"torch": {"name": "torch", "status": "import_error"}})
    c2 = K.ProbeCache(p)
    assert c2.get("k1", "jax") and c2.get("k1", "torch")["status"] == "import_error"


def test_keeps_only_the_newest_keys(tmp_path):
    p = str(tmp_path / "probes.json")
    for i in range(K.MAX_KEYS + 3):
        K.ProbeCache(p).put(f"k{i}", {"jax": {"i": i}})
    c = K.ProbeCache(p)
    assert c.get("k0", "jax") is None
    assert c.get(f"k{K.MAX_KEYS + 2}", "jax") == {"i": K.MAX_KEYS + 2}
    assert len(json.loads(open(p).read())["entries"]) == K.MAX_KEYS


@pytest.mark.parametrize("content", [
    b"\x00\xff\xfe garbage",
    b'{"format": 1, "entries": {"k1": ',
    b"[1, 2]",
    b'{"format": 999, "entries": {}}',
    b'{"format": 1, "entries": {"k1": {"backends": {"jax": "not a dict"}}}}',
])
def test_a_corrupt_file_is_ignored_and_rewritten(tmp_path, content):
    p = tmp_path / "probes.json"
    p.write_bytes(content)
    c = K.ProbeCache(str(p))
    assert c.get("k1", "jax") is None
    assert c.put("k1", {"jax": {"status": "ok"}}) is None
    assert json.loads(p.read_text())["entries"]["k1"]["backends"]["jax"] == {"status": "ok"}
    assert c.problem is None


def test_an_unreadable_cache_is_reported_not_raised(tmp_path):
    p = tmp_path / "probes.json"
    p.mkdir()  # a directory where the file should be: open() fails (even for root)
    c = K.ProbeCache(str(p))
    assert c.get("k1", "jax") is None
    assert c.problem and "IsADirectoryError" in c.problem
    why = c.put("k1", {"jax": {"status": "ok"}})
    assert why and "cannot write" in why


def test_an_unwritable_cache_dir_is_reported_not_raised(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    c = K.ProbeCache(str(blocker / "sub" / "probes.json"))
    assert c.get("k", "jax") is None
    assert "cannot write" in c.put("k", {"jax": {}})


def test_driver_fingerprint_reads_the_kernel_module_and_wsl_libcuda(tmp_path):
    proc = tmp_path / "proc_version"
    lib = tmp_path / "libcuda.so.1"
    assert K.driver_fingerprint((str(proc), str(lib))) is None  # no driver at all
    lib.write_bytes(b"x" * 10)
    wsl = K.driver_fingerprint((str(proc), str(lib)))
    assert wsl and "10" in wsl
    lib.write_bytes(b"x" * 11)  # a driver update on the Windows host replaces the file
    assert K.driver_fingerprint((str(proc), str(lib))) != wsl
    procfile = tmp_path / "proc" / "driver_version"
    procfile.parent.mkdir()
    procfile.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\n")
    # /proc files are read, not stat'ed: their size and mtime say nothing.
    assert "550.54.14" in K.driver_fingerprint(("/proc/../" + str(procfile),))


def test_timings_are_remembered_across_keys(tmp_path):
    p = str(tmp_path / "probes.json")
    K.ProbeCache(p).put("k1", {}, {"/py|torch": 4.5})
    c = K.ProbeCache(p)
    assert c.timing("/py", "torch") == 4.5 and c.timing("/py", "jax") is None and c.timing("/other", "torch") is None
