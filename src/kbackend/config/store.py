"""Reading keras.json as Keras would parse it, and writing it safely.

Writes (DESIGN.md): whole document validated by the caller first; a lock
against concurrent writers; a temp file in the same directory, fsync,
`os.replace`; the previous file kept as `keras.json.bak`; key order, unknown
keys, indentation, permissions and the target of a symlink preserved.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import tempfile
from typing import Any, Callable, Iterator

from kbackend.config.records import FileState
from kbackend.errors import ConfigWriteError

MAX_BYTES = 16 * 1024 * 1024
BACKUP_SUFFIX = ".bak"


def read_state(path: str) -> FileState:
    """What is at `path`, classified the way Keras's loader would meet it."""
    is_link = os.path.islink(path)
    if not os.path.exists(path):
        return FileState(path=path, status="dangling_symlink" if is_link else "missing", is_symlink=is_link)
    if os.path.isdir(path):
        return FileState(path=path, status="is_directory", is_symlink=is_link)
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            return FileState(path=path, status="too_large", size=size, is_symlink=is_link)
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except PermissionError as e:
        return FileState(path=path, status="unreadable", detail=e.strerror, is_symlink=is_link)
    except OSError as e:
        return FileState(path=path, status="unreadable", detail=str(e), is_symlink=is_link)
    return parse_bytes(path, raw, is_symlink=is_link)


def parse_bytes(path: str, raw: bytes, *, is_symlink: bool = False) -> FileState:
    """Classify file contents exactly as `json.load(open(path))` would fail or succeed."""
    common = dict(path=path, is_symlink=is_symlink, size=len(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return FileState(status="not_utf8", detail=f"byte 0x{raw[e.start]:02x} at offset {e.start}", **common)
    if text.startswith("\ufeff"):
        return FileState(status="bom", **common)
    if not text.strip():
        return FileState(status="empty", **common)
    try:
        doc = json.loads(text)
    except ValueError as e:
        return FileState(status="malformed", detail=str(e), **common)
    if not isinstance(doc, dict):
        return FileState(status="not_object", other=doc, **common)
    return FileState(status="ok", data=doc, **common)


def _indent_of(text: str) -> int | str | None:
    m = re.search(r"\{\s*\n([ \t]+)\"", text)
    if m:
        ws = m.group(1)
        return ws if "\t" in ws else len(ws)
    if text.strip().startswith("{") and "\n" not in text.strip():
        return None
    return 4


def dumps(doc: dict[str, Any], template: str | None = None) -> str:
    """Serialise like Keras (indent 4, no trailing newline) or like the file it replaces."""
    indent: int | str | None = 4
    trailing = ""
    if template:
        indent = _indent_of(template)
        trailing = "\n" if template.endswith("\n") else ""
    return json.dumps(doc, indent=indent) + trailing


@contextlib.contextmanager
def locked(directory: str) -> Iterator[None]:
    """An exclusive lock on the directory that holds keras.json.

    `flock` on the directory itself leaves no lock file behind; where that
    is refused, a `.keras.json.lock` file beside keras.json is used.
    """
    fd = None
    try:
        fd = os.open(directory, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        if fd is not None:
            os.close(fd)
        fd = os.open(os.path.join(directory, ".keras.json.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def real_target(path: str) -> str:
    """The file a write should replace: the target of a symlink, followed."""
    if os.path.islink(path):
        return os.path.realpath(path)
    return path


def update(
    path: str,
    mutate: Callable[[FileState], dict[str, Any]],
    *,
    force: bool = False,
    backup: bool = True,
) -> tuple[FileState, dict[str, Any], str | None]:
    """Read, mutate and atomically replace keras.json under a lock.

    `mutate` gets the current `FileState` (read under the lock) and returns the
    new document; it raises to abort, leaving the file untouched. Returns the old
    state, the new document and the backup path (None when there was no file).
    """
    target = real_target(path)
    directory = os.path.dirname(target) or "."
    try:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError:
        raise ConfigWriteError(f"Cannot create {directory}: a file is in the way.")
    except OSError as e:
        raise ConfigWriteError(f"Cannot create {directory}: {e.strerror}.")
    if os.path.isdir(target):
        raise ConfigWriteError(
            f"{target} is a directory, not a file; kbackend will not remove it.",
            fix=f"move it away (mv {target} {target}.dir), then run the command again",
        )
    try:
        with locked(directory):
            _remove_stale_temps(directory)
            old = read_state(path)
            if old.status in ("unreadable",):
                raise ConfigWriteError(f"Cannot read {path}: {old.detail}.", fix=f"chmod u+rw {target}")
            new_doc = mutate(old)
            template = None
            if old.status == "ok":
                with open(target, encoding="utf-8") as f:
                    template = f.read()
            text = dumps(new_doc, template)
            bak = _write_atomic(target, text, keep_backup=backup and old.status not in ("missing", "dangling_symlink"))
            return old, new_doc, bak
    except PermissionError as e:
        raise ConfigWriteError(
            f"Cannot write {target}: permission denied ({e.filename or directory}). The file is unchanged.",
            fix=f"check the permissions of {directory}, or point KERAS_HOME (or --keras-home) at a writable directory",
        )
    except OSError as e:
        raise ConfigWriteError(
            f"Cannot write {target}: {e.strerror or e}"
            + (f" ({e.filename})" if e.filename and e.filename != target else "") + ". The file is unchanged.",
            fix="point KERAS_HOME (or --keras-home) at a writable directory" if e.errno != errno.ENOSPC else None,
        )


def _write_atomic(target: str, text: str, *, keep_backup: bool) -> str | None:
    directory = os.path.dirname(target) or "."
    mode = None
    st = None
    if os.path.exists(target):
        st = os.stat(target)
        mode = stat.S_IMODE(st.st_mode)
    fd, tmp = tempfile.mkstemp(prefix=".keras.json.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
            with contextlib.suppress(OSError):
                os.chown(tmp, st.st_uid, st.st_gid)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        bak = None
        if keep_backup and st is not None:
            bak = target + BACKUP_SUFFIX
            shutil.copy2(target, bak + ".tmp")
            os.replace(bak + ".tmp", bak)
        os.replace(tmp, target)
        tmp = None
        _fsync_dir(directory)
        return bak
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _remove_stale_temps(directory: str) -> None:
    """Temp files of writers killed mid-write (only a lock holder creates them)."""
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            if name.startswith(".keras.json.") and name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def _fsync_dir(directory: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
