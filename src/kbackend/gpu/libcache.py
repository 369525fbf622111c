"""The versions libcudart files answered, remembered by file identity (real path, size, mtime), so a
machine with a CUDA toolkit and no driver does not start a child on every doctor run to ask again.

>>> c = LibVersions(path="/nonexistent/libversions.json")
>>> c.get("/nonexistent/libcudart.so.12") is None
True
"""

from __future__ import annotations

import json
import os

FILE_NAME = "libversions.json"
MAX_ENTRIES = 64


def _identity(path: str) -> str | None:
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    return f"{real}|{st.st_size}|{st.st_mtime_ns}"


class LibVersions:
    def __init__(self, path: str | None = None):
        if path is None:
            from kbackend import cache_dir

            path = cache_dir(FILE_NAME)
        self.path = path
        self._doc: dict | None = None

    def _load(self) -> dict:
        if self._doc is None:
            try:
                with open(self.path, encoding="utf-8") as f:
                    doc = json.load(f)
                self._doc = doc if isinstance(doc, dict) else {}
            except (OSError, ValueError):
                self._doc = {}
        return self._doc

    def get(self, path: str) -> str | None:
        key = _identity(path)
        v = self._load().get(key) if key else None
        return v if isinstance(v, str) else None

    def put(self, versions: dict[str, str]) -> None:
        """Remember path -> version; a cache that cannot be written is no error (it is asked again)."""
        doc = dict(self._load())
        for path, v in versions.items():
            key = _identity(path)
            if key:
                doc.pop(key, None)
                doc[key] = v
        while len(doc) > MAX_ENTRIES:
            doc.pop(next(iter(doc)))
        try:
            from kbackend import _fs

            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            _fs.atomic_write(self.path, json.dumps(doc), mode=0o600, fsync=False, prefix=".libversions-")
            self._doc = doc
        except OSError:
            pass
