"""kbackend's one atomic file writer.

Every file kbackend writes whole (keras.json, its backup, a pin's `.pth`, the doctor's
probe cache, bench baselines and reports) goes through `atomic_write`: the bytes go to
a temporary file in the target's directory, are flushed (and fsynced), get their
permissions, and only then replace the target with `os.replace`; the directory is
fsynced after. A failure at any step (a full disk, a signal) removes the temporary and
leaves the old file exactly as it was.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> p = os.path.join(d, "x.json")
>>> atomic_write(p, '{"a": 1}\\n', mode=0o644)
>>> open(p).read(), oct(os.stat(p).st_mode & 0o777), os.listdir(d)
('{"a": 1}\\n', '0o644', ['x.json'])
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from typing import Callable

__all__ = ["atomic_write", "default_mode", "fsync_dir", "write_all"]


def atomic_write(path: str, data: str | bytes, *, mode: int | None = None, fsync: bool = True,
                 prefix: str | None = None, suffix: str = ".tmp",
                 before_replace: Callable[[], None] | None = None) -> None:
    """Replace `path` with `data` (str is written as UTF-8) atomically.

    mode: the new file's permission bits; None keeps the existing file's mode and
    owner, or gives a new file the usual `0o666 & ~umask`. prefix/suffix name the
    temporary (`.<name>.` by default) so a caller can sweep those a killed writer left.
    before_replace runs once the temporary is complete, just before the rename (a
    backup of the old file is made there). Raises OSError; nothing is left behind.
    """
    directory = os.path.dirname(path) or "."
    payload = data.encode("utf-8") if isinstance(data, str) else data
    st = None
    if mode is None:
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix or f".{os.path.basename(path)}.", suffix=suffix, dir=directory)
    try:
        try:
            write_all(fd, payload)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if st is not None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            with contextlib.suppress(OSError):
                os.chown(tmp, st.st_uid, st.st_gid)
        else:
            os.chmod(tmp, default_mode() if mode is None else mode)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    if fsync:
        fsync_dir(directory)


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a short write is not an error)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def default_mode() -> int:
    """The mode a new file gets from `open`: 0o666 less the umask."""
    m = os.umask(0)
    os.umask(m)
    return 0o666 & ~m


def fsync_dir(directory: str) -> None:
    """Make a rename in `directory` durable (best effort: not every filesystem allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
