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
import itertools
import json
import operator
import os
import re
import shutil
import stat
import sys
import tempfile
from typing import Any, Callable, Iterator

from kbackend import _fs
from kbackend.config.records import FileState
from kbackend.errors import ConfigWriteError

#: kbackend parses keras.json whole up to this size (Keras reads any size; see `read_state`).
MAX_BYTES = 64 * 1024 * 1024
BACKUP_SUFFIX = ".bak"
#: nesting below this depth parses at import on every CPython; deeper depends on the interpreter.
SAFE_DEPTH = 500

#: Linux character devices by (major, minor) whose reads kbackend knows without reading them.
_KNOWN_DEVICES = {(1, 3): "null", (1, 5): "zero", (1, 7): "full", (1, 8): "random", (1, 9): "urandom"}


def read_state(path: str) -> FileState:
    """What is at `path`, classified the way Keras's loader would meet it.

    Never blocks: the type is taken from `stat` before opening, the open is
    non-blocking (a FIFO put there in between does not wait for a writer) and
    `fstat` on the open file decides again. Only regular files are read.
    """
    try:
        lst = os.lstat(path)
    except OSError as e:
        return _stat_failure(path, e, is_link=False)
    is_link = stat.S_ISLNK(lst.st_mode)
    if is_link:
        try:
            st = os.stat(path)
        except OSError as e:
            return _stat_failure(path, e, is_link=True)
    else:
        st = lst
    if not stat.S_ISREG(st.st_mode):
        return _special(path, st, is_link)
    if st.st_size > MAX_BYTES:
        return FileState(path=path, status="too_large", size=st.st_size, is_symlink=is_link)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        if e.errno == errno.ELOOP:
            return FileState(path=path, status="symlink_loop", detail=e.strerror, is_symlink=is_link)
        return FileState(path=path, status="unreadable", detail=e.strerror or str(e), is_symlink=is_link)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped for something else since the stat
            return _special(path, st, is_link)
        if st.st_size > MAX_BYTES:
            return FileState(path=path, status="too_large", size=st.st_size, is_symlink=is_link)
        chunks = []
        left = MAX_BYTES + 1
        while left > 0:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        raw = b"".join(chunks)
    except OSError as e:
        return FileState(path=path, status="unreadable", detail=e.strerror or str(e), is_symlink=is_link)
    finally:
        os.close(fd)
    if len(raw) > MAX_BYTES:  # grew while read
        return FileState(path=path, status="too_large", size=len(raw), is_symlink=is_link)
    return parse_bytes(path, raw, is_symlink=is_link)


def _stat_failure(path: str, e: OSError, *, is_link: bool) -> FileState:
    """`stat` failed: how Keras's `os.path.exists` (False on any error) then open() meet it."""
    if e.errno == errno.ELOOP:
        # os.path.exists is False: Keras uses its defaults, and its write fails with ELOOP.
        return FileState(path=path, status="symlink_loop", detail=e.strerror, is_symlink=is_link)
    if e.errno == errno.ENOTDIR and not is_link:
        # A file where a directory on the way should be: Keras's makedirs and write fail too.
        return FileState(path=path, status="missing", detail="a component of the path is not a directory")
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return FileState(path=path, status="dangling_symlink" if is_link else "missing", is_symlink=is_link)
    if e.errno in (errno.EACCES, errno.EPERM):
        # A directory on the way cannot be searched: os.path.exists is False for Keras too.
        return FileState(path=path, status="missing", detail=e.strerror, is_symlink=is_link)
    return FileState(path=path, status="unreadable", detail=e.strerror or str(e), is_symlink=is_link)


def _special(path: str, st: os.stat_result, is_link: bool) -> FileState:
    """A directory, FIFO, socket or device at keras.json's path (never opened here)."""
    m = st.st_mode
    common = dict(path=path, is_symlink=is_link)
    if stat.S_ISDIR(m):
        return FileState(status="is_directory", **common)
    if stat.S_ISFIFO(m):
        return FileState(status="fifo", **common)
    if stat.S_ISSOCK(m):
        return FileState(status="socket", **common)
    if stat.S_ISCHR(m):
        kind = _KNOWN_DEVICES.get((os.major(st.st_rdev), os.minor(st.st_rdev)), "other") if sys.platform.startswith(
            "linux") else "other"
        return FileState(status="char_device", detail=kind, **common)
    if stat.S_ISBLK(m):
        return FileState(status="block_device", size=st.st_size or None, **common)
    return FileState(status="unreadable", detail=f"not a regular file (mode {stat.filemode(m)})", **common)


#: what is at the path is not a regular file: kbackend never writes over it.
NOT_REGULAR = ("is_directory", "fifo", "socket", "char_device", "block_device", "symlink_loop")


def parse_bytes(path: str, raw: bytes, *, is_symlink: bool = False) -> FileState:
    """Classify file contents exactly as `json.load(open(path))` would fail or succeed.

    Nesting `SAFE_DEPTH` levels deep or more gives `too_deep` (with the depth and,
    when kbackend's own parser got through it, the document): whether Keras's
    parser gets through it depends on the target interpreter (judge.py).
    """
    common = dict(path=path, is_symlink=is_symlink, size=len(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return FileState(status="not_utf8", detail=f"byte 0x{raw[e.start]:02x} at offset {e.start}", **common)
    if text.startswith("\ufeff"):
        return FileState(status="bom", **common)
    if not text.strip():
        return FileState(status="empty", **common)
    depth, kind = nesting(raw)
    try:
        doc = json.loads(text)
    except ValueError as e:
        if depth >= SAFE_DEPTH and nesting(text[:getattr(e, "pos", len(text))].encode())[0] >= SAFE_DEPTH:
            # Deep before the syntax error: which a parser meets first depends on its depth limit.
            return FileState(status="too_deep", detail=kind, depth=depth, other=f"not valid JSON ({e})", **common)
        return FileState(status="malformed", detail=str(e), **common)
    except RecursionError:
        return FileState(status="too_deep", detail=kind, depth=depth, **common)
    if depth >= SAFE_DEPTH:
        return FileState(status="too_deep", detail=kind, depth=depth,
                         data=doc if isinstance(doc, dict) else None, **common)
    if not isinstance(doc, dict):
        return FileState(status="not_object", other=doc, **common)
    return FileState(status="ok", data=doc, **common)


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S)
_NON_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def _running(steps: bytes) -> Iterator[int]:
    """Running depth from steps of 2 (open) and 0 (close), at C speed."""
    return itertools.accumulate(map(operator.sub, steps, itertools.repeat(1)))


def nesting(raw: bytes, at: int = 940) -> tuple[int, str]:
    """The deepest nesting of arrays and objects in a JSON text (outside strings),
    and the kind of the first container to reach level `at` (else of the deepest).

    Iterative, so any depth is measured without recursion. A text with fewer than
    `SAFE_DEPTH` opening brackets returns their count at once (a bound below it).

    >>> nesting(b'{"a": "' + b'[' * 600 + b'"}')
    (1, 'object')
    >>> nesting(b'{"a":' + b'[' * 1000 + b']' * 1000 + b'}')
    (1001, 'array')
    """
    opening = raw.count(b"[") + raw.count(b"{")
    if opening < SAFE_DEPTH:
        return opening, "object"  # an upper bound, below SAFE_DEPTH: nothing more is needed
    brackets = _STRING.sub(b"", raw).translate(None, _NON_BRACKETS)
    if not brackets:
        return 0, "object"
    steps = brackets.translate(_STEPS)
    depth = max(_running(steps))
    level = min(at, depth)
    i = next(i for i, d in enumerate(_running(steps)) if d >= level)
    return depth, "array" if brackets[i] == ord("[") else "object"


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
    _refuse_not_regular(read_state(path))
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
            _refuse_not_regular(old)
            if old.status in ("unreadable",):
                raise ConfigWriteError(f"Cannot read {path}: {old.detail}.", fix=f"chmod u+rw {target}")
            new_doc = mutate(old)
            template = None
            if old.status == "ok":
                with open_regular(target) as f:
                    template = f.read().decode("utf-8")
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


def open_regular(path: str):
    """Open a regular file for reading without ever blocking (a FIFO swapped in is refused)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigWriteError(f"{path} was replaced by something that is not a file while kbackend "
                                   "worked; nothing was changed.", fix="run the command again")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


_WHAT = {
    "fifo": "a FIFO (named pipe)", "socket": "a socket", "char_device": "a character device",
    "block_device": "a block device", "is_directory": "a directory", "symlink_loop": "a symlink loop",
}


def _refuse_not_regular(fs: FileState) -> None:
    """Never replace what is not a regular file (or a link to one), even with --force."""
    if fs.status not in NOT_REGULAR:
        return
    p = fs.path
    if fs.status == "symlink_loop":
        raise ConfigWriteError(
            f"{p} is a symlink loop ({fs.detail}); kbackend will not write through it. The file is unchanged.",
            fix=f"see where it points (ls -l {p}), then remove it (rm {p}) and run the command again",
        )
    raise ConfigWriteError(
        f"{p} is {_WHAT[fs.status]}, not a file; kbackend will not replace it. Nothing was changed.",
        fix=f"move it away (mv {p} {p}.{fs.status}), then run the command again",
    )


def _write_atomic(target: str, text: str, *, keep_backup: bool) -> str | None:
    """Replace `target` with `text` (`kbackend._fs.atomic_write`); on any failure only the files that were there remain.

    Both temporaries (the new file and the backup's copy) are named `.keras.json.*.tmp`
    in the target's directory and removed on every failure path; the backup is put in
    place only once both are complete, just before the file itself.
    """
    directory = os.path.dirname(target) or "."
    bak = target + BACKUP_SUFFIX if keep_backup and os.path.exists(target) else None

    def backup() -> None:
        bfd, btmp = tempfile.mkstemp(prefix=".keras.json.bak.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(bfd, "wb") as out, open_regular(target) as src:
                shutil.copyfileobj(src, out)
                out.flush()
                os.fsync(out.fileno())
            shutil.copystat(target, btmp)
            os.replace(btmp, bak)
            btmp = None
        finally:
            if btmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(btmp)

    _fs.atomic_write(target, text, prefix=".keras.json.", suffix=".tmp", before_replace=backup if bak else None)
    return bak


def _remove_stale_temps(directory: str) -> None:
    """Temp files of writers killed mid-write (only a lock holder creates them)."""
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            # `*.json.bak.tmp`: the backup temp of kbackend 0.1.0, which a failed copy left behind.
            if (name.startswith(".keras.json.") and name.endswith(".tmp")) or name.endswith(".json.bak.tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))
