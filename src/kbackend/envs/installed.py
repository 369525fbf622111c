"""What is installed in a target, read from distribution metadata (no imports).

The names and versions come from the `*.dist-info` / `*.egg-info` entries on
the target's `sys.path`; the first entry on the path wins, as for importlib.

>>> normalize("TensorFlow_CPU")
'tensorflow-cpu'
"""

from __future__ import annotations

import os
import re

from kbackend._record import record

_NORM = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    return _NORM.sub("-", name).lower()


@record
class Dist:
    name: str
    version: str
    location: str
    #: the directory holding the metadata (dist-info or egg-info).
    meta: str


def _split(entry: str) -> tuple[str, str] | None:
    for suffix in (".dist-info", ".egg-info"):
        if entry.endswith(suffix):
            stem = entry[: -len(suffix)]
            name, sep, rest = stem.partition("-")
            if not sep:
                return None
            version = rest.split("-py")[0] if suffix == ".egg-info" else rest
            return name, version
    return None


def scan(sys_path: tuple[str, ...] | list[str]) -> dict[str, Dist]:
    """All distributions visible on `sys_path`, by normalised name."""
    found: dict[str, Dist] = {}
    for d in sys_path:
        try:
            entries = os.listdir(d)
        except OSError:
            continue
        for e in entries:
            nv = _split(e)
            if nv is None:
                continue
            key = normalize(nv[0])
            if key not in found:
                found[key] = Dist(nv[0], nv[1], d, os.path.join(d, e))
    return found


def versions(dists: dict[str, Dist]) -> dict[str, str]:
    return {k: v.version for k, v in dists.items()}


def keras_dist(dists: dict[str, Dist]) -> Dist | None:
    """The distribution that provides the `keras` module (keras or the keras-mxnet fork)."""
    return dists.get("keras") or dists.get("keras-mxnet")
