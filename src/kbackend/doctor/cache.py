"""The backend probe cache: a second `doctor` with nothing changed is nearly instant.

One JSON file in the user cache directory (platformdirs), holding the probe
results of a few recent keys. A key is a hash of everything that could change
what a probe sees: the interpreter and its version, every installed
distribution and its version, the directories of its sys.path (a stray file
changes one), the relevant environment variables, the GPU
driver (`driver_fingerprint`), the keras.json the child reads, and the probe
worker's own source. The file also remembers how long each backend's probe
took, so the slowest start first next time. An unreadable or corrupt file is ignored (and rewritten by the next
store); writes are atomic (temp file + os.replace), so concurrent doctors at
worst lose each other's entries, never corrupt the file.

>>> k1 = probe_key(python="/venv/bin/python", python_version="3.11.7", installed={"jax": "0.4.30"},
...                environ={}, driver=None, keras_json=None)
>>> k2 = probe_key(python="/venv/bin/python", python_version="3.11.7", installed={"jax": "0.4.31"},
...                environ={}, driver=None, keras_json=None)
>>> k1 != k2
True
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence

from kbackend import _fs

CACHE_FORMAT = 1
FILE_NAME = "backend-probes.json"
#: how many keys (environments / states) the file remembers.
MAX_KEYS = 16
#: statuses the child itself reported: deterministic enough to reuse. A timeout or a
#: crash may be the machine's mood (load, OOM killer), so it is probed again.
CACHEABLE = ("ok", "import_error", "error")


def default_path() -> str:
    from kbackend import cache_dir

    return cache_dir(FILE_NAME)


def _worker_digest() -> str:
    from kbackend.workers.runner import worker_path

    h = hashlib.sha256()
    # the probe, and the adapters it runs (child/adapters/, then the folders a backend shipped
    # apart names in KBACKEND_ADAPTERS_PATH): a changed adapter is a changed probe
    adapters = os.path.dirname(worker_path("adapters/__init__.py"))
    extra = [d for d in os.environ.get("KBACKEND_ADAPTERS_PATH", "").split(os.pathsep) if d]
    names = ["_boot.py", "probe_backend.py", "_adapter.py"]
    for d in [adapters, *extra]:
        try:
            names += sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".py"))
        except OSError:
            h.update(d.encode())
    for name in names:
        h.update(name.encode())
        try:
            with open(worker_path(name), "rb") as f:
                h.update(f.read())
        except OSError:
            pass
    return h.hexdigest()


#: files whose content or identity changes when the NVIDIA driver does (Linux, WSL2).
DRIVER_FILES = ("/proc/driver/nvidia/version", "/usr/lib/wsl/lib/libcuda.so.1")


def driver_fingerprint(files: tuple[str, ...] = DRIVER_FILES) -> str | None:
    """The identity of the installed NVIDIA driver, read in microseconds without running anything.

    The kernel module's version text, and the WSL2 host driver's libcuda size and mtime;
    None on a machine without either.
    """
    parts = []
    for path in files:
        try:
            if path.startswith("/proc/"):
                with open(path, "rb") as f:
                    parts.append(f.read(4096).decode("utf-8", "replace"))
            else:
                st = os.stat(path)
                parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            continue
    return "\n".join(parts) or None


def sys_path_fingerprint(paths: Sequence[str], modules: Iterable[str]) -> list:
    """What on the target's sys.path decides which `keras` or `jax` an import finds: each
    directory, in order, with its entries named like one of `modules` (`jax.py`, `jax/`,
    `jax.cpython-311-x86_64-linux-gnu.so`) and its .pth files (name and mtime).

    Names, not directory mtimes: a directory written to all day (a project on PYTHONPATH)
    keeps its key until a file that can shadow a module appears in it.
    """
    wanted = set(modules)
    out: list = []
    for p in paths:
        try:
            names = os.listdir(p)
        except (OSError, ValueError):
            out.append([p, None])
            continue
        hits: list = []
        for n in sorted(names):
            if n.endswith(".pth"):
                try:
                    hits.append([n, os.stat(os.path.join(p, n)).st_mtime_ns])
                except OSError:
                    hits.append([n, None])
            elif n.split(".", 1)[0] in wanted:
                hits.append(n)
        out.append([p, hits])
    return out


def probe_key(
    *,
    python: str,
    python_version: str,
    installed: Mapping[str, str],
    environ: Mapping[str, str],
    driver: str | None,
    keras_json: bytes | None,
    paths: Sequence = (),
) -> str:
    """The cache key: a hash of everything a backend probe's answer depends on.

    `paths` is `sys_path_fingerprint` of the target's sys.path: a stray `jax.py` dropped
    into one of its directories, or a .pth file added, makes a new key.
    """
    doc = {
        "format": CACHE_FORMAT,
        "python": os.path.abspath(python),
        "python_version": python_version,
        "installed": sorted(installed.items()),
        "environ": sorted(environ.items()),
        "driver": driver,
        "keras_json": None if keras_json is None else hashlib.sha256(keras_json).hexdigest(),
        "worker": _worker_digest(),
        "paths": list(paths),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


class ProbeCache:
    """Probe results by key and backend name (plain JSON-able dicts)."""

    def __init__(self, path: str | None = None):
        self.path = path or default_path()
        #: why the file on disk was not used, when it was not (corrupt, unreadable, ...).
        self.problem: str | None = None
        self._doc: dict | None = None

    def _load(self) -> dict:
        if self._doc is not None:
            return self._doc
        doc: dict = {"format": CACHE_FORMAT, "entries": {}}
        try:
            with open(self.path, "rb") as f:
                raw = json.loads(f.read().decode("utf-8"))
            if not isinstance(raw, dict) or raw.get("format") != CACHE_FORMAT or not isinstance(raw.get("entries"), dict):
                raise ValueError(f"not a kbackend probe cache of format {CACHE_FORMAT}")
            doc = raw
        except FileNotFoundError:
            pass
        except (OSError, ValueError, UnicodeDecodeError) as e:
            self.problem = f"{self.path} ignored: {type(e).__name__}: {e}"
        self._doc = doc
        return doc

    def get(self, key: str, name: str) -> dict | None:
        entry = self._load()["entries"].get(key)
        if not isinstance(entry, dict):
            return None
        hit = entry.get("backends", {}).get(name) if isinstance(entry.get("backends"), dict) else None
        return hit if isinstance(hit, dict) else None

    def timing(self, python: str, name: str) -> float | None:
        """How long the last probe of this backend in this interpreter took (any key)."""
        t = self._load().get("timings", {})
        v = t.get(f"{python}|{name}") if isinstance(t, dict) else None
        return float(v) if isinstance(v, (int, float)) else None

    def put(self, key: str, results: Mapping[str, dict], timings: Mapping[str, float] | None = None) -> str | None:
        """Store results under key (and probe durations by "python|name"); returns why it
        could not be written, or None."""
        if not results and not timings:
            return None
        doc = self._load()
        if timings:
            if not isinstance(doc.get("timings"), dict):
                doc["timings"] = {}
            doc["timings"].update(timings)
        entries: dict = doc["entries"]
        entry = entries.pop(key, None)
        backends = dict(entry.get("backends", {})) if isinstance(entry, dict) else {}
        backends.update(results)
        if backends:
            entries[key] = {"backends": backends}  # re-inserted last: the newest
        while len(entries) > MAX_KEYS:
            entries.pop(next(iter(entries)))
        try:
            self._write(doc)
        except OSError as e:
            return f"cannot write {self.path}: {e.strerror or e}"
        self.problem = None
        return None

    def _write(self, doc: dict) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        _fs.atomic_write(self.path, json.dumps(doc), mode=0o600, fsync=False, prefix=".probes-")
