"""`kbackend._fs.atomic_write`, the one atomic writer, and that every whole-file writer uses it."""

from __future__ import annotations

import errno
import os
import pathlib
import re
import stat

import pytest

import kbackend
from kbackend import _fs

SRC = pathlib.Path(kbackend.__file__).parent


@pytest.fixture
def folder(tmp_path):
    """An empty directory of its own (tmp_path also holds the fake home)."""
    d = tmp_path / "w"
    d.mkdir()
    return d


def test_new_file_gets_the_umask_mode_and_no_temp_is_left(folder):
    p = folder / "a.json"
    _fs.atomic_write(str(p), "x")
    assert p.read_text() == "x" and os.listdir(folder) == ["a.json"]
    assert stat.S_IMODE(p.stat().st_mode) == _fs.default_mode()


def test_existing_mode_kept_unless_one_is_given(folder):
    p = folder / "a"
    p.write_text("old")
    p.chmod(0o640)
    _fs.atomic_write(str(p), b"new")
    assert p.read_bytes() == b"new" and stat.S_IMODE(p.stat().st_mode) == 0o640
    _fs.atomic_write(str(p), "newer", mode=0o600)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


@pytest.mark.parametrize("where", ["write", "fsync", "hook", "replace"])
def test_a_failure_at_any_step_leaves_the_old_file_and_no_temp(folder, monkeypatch, where):
    p = folder / "a"
    p.write_text("old")
    enospc = OSError(errno.ENOSPC, "No space left on device")

    def fail(*a, **k):
        raise enospc

    hook = None
    if where == "write":
        monkeypatch.setattr(_fs, "write_all", lambda fd, data: (os.write(fd, data[:1]), fail()))
    elif where == "fsync":
        monkeypatch.setattr(_fs.os, "fsync", fail)
    elif where == "hook":
        hook = fail
    else:
        monkeypatch.setattr(_fs.os, "replace", fail)
    with pytest.raises(OSError):
        _fs.atomic_write(str(p), "new" * 1000, before_replace=hook)
    assert p.read_text() == "old" and os.listdir(folder) == ["a"]


def test_the_hook_runs_once_the_temporary_is_complete(folder):
    p = folder / "a"
    seen = []
    _fs.atomic_write(str(p), "data", prefix=".a.", before_replace=lambda: seen.append(
        [open(folder / n).read() for n in os.listdir(folder) if n.startswith(".a.")]))
    assert seen == [["data"]]


def test_no_other_module_renames_a_temporary_into_place():
    """Four writers did temp + os.replace each their own way; now only `_fs` (and the store's
    backup copy, made inside `atomic_write`'s hook) calls os.replace outside the child scripts."""
    users = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                   if "workers" not in p.parts and "child" not in p.parts and re.search(r"\bos\.replace\(", p.read_text()))
    assert users == ["_fs.py", "config/store.py"], users
