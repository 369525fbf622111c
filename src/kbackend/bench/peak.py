"""The machine's peak, measured once per machine fingerprint and cached.

Re-measuring the peak every run made "% of peak" swing between runs (103 vs
149 GFLOP/s on this 2-core machine): a peak is a property of the machine and
its libraries, not of the run. It is measured once for a fingerprint (CPU
model, cores, threads, architecture, the target's Python and the versions of
numpy, Keras and the backends in the plan), kept with its spread in
kbackend's cache folder (`bench-peak.json`), and reused until
`--remeasure-peak` or a new fingerprint.

>>> fp = fingerprint(2, {"numpy": "2.0", "keras": "3.15.1", "six": "1"}, cpu="X", cores=2, arch="x86_64")
>>> sorted(fp["versions"]), key(fp) == key(dict(fp))
(['keras', 'numpy'], True)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time

from kbackend import _fs, cache_dir
from kbackend.bench.model import Machine

FILE = "bench-peak.json"
#: the distributions whose versions change the peak (BLAS builds, backend kernels).
LIBRARIES = ("numpy", "keras", "jax", "jaxlib", "torch", "tensorflow", "tensorflow-cpu", "openvino", "scipy")


def cpu_model() -> str:
    """The CPU model the JSON documents' fingerprint names (kbackend._host), else the platform's word for it."""
    from kbackend import _host

    return _host.fingerprint()["cpu"] or platform.processor() or platform.machine() or "unknown"


def fingerprint(threads: int, versions: dict[str, str], *, cpu: str | None = None, cores: int | None = None,
                arch: str | None = None, python: str = "") -> dict:
    return {
        "cpu": cpu or cpu_model(), "cores": cores or os.cpu_count() or 1, "threads": threads,
        "arch": arch or platform.machine(), "python": python,
        "versions": {k: versions[k] for k in sorted(versions) if k in LIBRARIES},
    }


def key(fp: dict) -> str:
    return hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]


def path() -> str:
    return cache_dir(FILE)


def _read() -> dict:
    try:
        with open(path(), encoding="utf-8") as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}  # no cache, or a damaged one: measure again


def load(fp: dict) -> Machine | None:
    """The cached machine for this fingerprint, or None."""
    entry = _read().get(key(fp))
    if not isinstance(entry, dict):
        return None
    try:
        m = Machine.model_validate(entry.get("machine"))
    except Exception:  # noqa: BLE001 - an entry of another format is measured again
        return None
    return m.model_copy(update={"peak_origin": "cached"}) if m.peak_gflops else None


def store(fp: dict, machine: Machine) -> Machine:
    """Keep `machine`'s peak for `fp`; returns it stamped. A cache that cannot be written is no error."""
    stamped = machine.model_copy(update={"fingerprint": fp, "peak_origin": "measured",
                                         "peak_measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    if not machine.peak_gflops:
        return stamped  # a failed peak measurement is not kept
    doc = _read()
    doc[key(fp)] = {"fingerprint": fp, "machine": stamped.model_dump(mode="json")}
    try:
        os.makedirs(os.path.dirname(path()), exist_ok=True)
        _fs.atomic_write(path(), json.dumps(doc, indent=1) + "\n", fsync=False)
    except OSError:
        pass
    return stamped
