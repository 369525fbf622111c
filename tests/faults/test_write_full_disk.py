"""Writes on a full disk leave only the files that were there, byte-identical.

The disk is a real 256 KiB tmpfs mounted for the test (root may mount it in this
sandbox), filled so that the failure lands at each step of the write: the new
file's temp, the backup's copy. Where mounting is refused, the same steps fail
by fault injection (os.write / copyfileobj raising ENOSPC), which always runs.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from kbackend import _fs
from kbackend.config import store
from kbackend.errors import ConfigWriteError

PAGE = 4096


def listing(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.name != "filler"}


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs, or None where this sandbox refuses to mount one."""
    mnt = tmp_path / f"tmpfs-{uuid.uuid4().hex[:8]}"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        yield None
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill_leaving(d: Path, free_pages: int) -> None:
    """Fill the file system, then free exactly `free_pages` pages."""
    filler = d / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * PAGE)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - free_pages * PAGE))


def _setup(d: Path) -> tuple[bytes, bytes]:
    doc = {"floatx": "float32", "backend": "tensorflow", "pad": "p" * (3 * PAGE)}  # 4 pages
    (d / "keras.json").write_text(json.dumps(doc, indent=4))
    (d / "keras.json.bak").write_text('{"backend": "jax"}')
    return (d / "keras.json").read_bytes(), (d / "keras.json.bak").read_bytes()


def _cli(d: Path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, KERAS_HOME=str(d))
    env.pop("KERAS_BACKEND", None)
    return subprocess.run([sys.executable, "-m", "kbackend", *args], env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("free_pages,step", [(0, "nothing fits"), (2, "the new file's temp"),
                                             (4, "the backup's copy")])
def test_full_tmpfs_every_failed_write_leaves_the_original_files(small_disk, free_pages, step):
    if small_disk is None:
        pytest.skip("mounting a tmpfs is not permitted here; test_injected_enospc_* cover the same steps")
    d = small_disk
    _setup(d)
    before = listing(d)
    _fill_leaving(d, free_pages)
    for args in (("set", "floatx", "float64"), ("switch", "jax"), ("reset",), ("unset", "floatx")):
        p = _cli(d, *args)
        assert p.returncode == 1, (step, args, p.stderr)
        assert "No space left on device" in p.stderr and "Traceback" not in p.stderr, p.stderr
        assert listing(d) == before, (step, args)  # no temp, no backup temp, bytes identical


def test_full_tmpfs_then_space_freed_the_write_succeeds_and_backs_up(small_disk):
    if small_disk is None:
        pytest.skip("mounting a tmpfs is not permitted here")
    d = small_disk
    original, _ = _setup(d)
    _fill_leaving(d, 4)
    assert _cli(d, "set", "floatx", "float64").returncode == 1
    os.unlink(d / "filler")
    p = _cli(d, "set", "floatx", "float64")
    assert p.returncode == 0, p.stderr
    assert (d / "keras.json.bak").read_bytes() == original
    assert sorted(x.name for x in d.iterdir()) == ["keras.json", "keras.json.bak"]


# ------------------------------------------------- the same steps by fault injection (always run)


def _set_floatx(old):
    d = dict(old.data)
    d["floatx"] = "float64"
    return d


@pytest.mark.parametrize("where", ["write", "fsync", "backup_copy", "backup_fsync", "replace_backup"])
def test_injected_enospc_leaves_only_the_original_files(tmp_path, monkeypatch, where):
    d = tmp_path / "kh"
    d.mkdir()
    _setup(d)
    before = listing(d)
    enospc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    fsyncs = []
    real_fsync, real_replace = os.fsync, os.replace

    def fail(*a, **k):
        raise enospc

    if where == "write":
        def partial_write(fd, data):
            os.write(fd, data[:100])
            raise enospc
        monkeypatch.setattr(_fs, "write_all", partial_write)
    elif where == "fsync":
        monkeypatch.setattr(store.os, "fsync", fail)
    elif where == "backup_copy":
        def half_copy(src, dst, *a):
            dst.write(src.read(10))
            raise enospc
        monkeypatch.setattr(store.shutil, "copyfileobj", half_copy)
    elif where == "backup_fsync":
        def second_fsync_fails(fd):
            fsyncs.append(fd)
            if len(fsyncs) == 2:
                raise enospc
            return real_fsync(fd)
        monkeypatch.setattr(store.os, "fsync", second_fsync_fails)
    else:
        def replace_fails(a, b):
            if b.endswith(".bak"):
                raise enospc
            return real_replace(a, b)
        monkeypatch.setattr(store.os, "replace", replace_fails)
    with pytest.raises(ConfigWriteError) as e:
        store.update(str(d / "keras.json"), _set_floatx)
    assert "No space left on device" in str(e.value) and "unchanged" in str(e.value)
    monkeypatch.undo()
    assert listing(d) == before


def test_stale_backup_temp_of_an_older_kbackend_is_removed_by_the_next_write(tmp_path):
    d = tmp_path / "kh"
    d.mkdir()
    _setup(d)
    (d / "keras.json.bak.tmp").write_text("{half")  # what 0.1.0 left on a full disk
    store.update(str(d / "keras.json"), _set_floatx)
    assert sorted(p.name for p in d.iterdir()) == ["keras.json", "keras.json.bak"]


def test_file_swapped_for_a_fifo_during_a_write_is_refused_without_blocking(tmp_path, monkeypatch):
    """The lock keeps kbackend's writers out, not other processes: a FIFO put there mid-write."""
    d = tmp_path / "kh"
    d.mkdir()
    path = d / "keras.json"
    path.write_text('{"backend": "jax"}')

    def swap(old):
        os.unlink(path)
        os.mkfifo(path)
        return _set_floatx(old)

    with pytest.raises(ConfigWriteError) as e:
        store.update(str(path), swap)  # reading the old file for its layout would block on the FIFO
    assert "not a file" in str(e.value)
    assert sorted(p.name for p in d.iterdir()) == ["keras.json"]
