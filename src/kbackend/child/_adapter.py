"""Find and load a backend's adapter, and the small helpers adapters share.

Child side: standard library only, Python 2.7/3.4 syntax (the probe worker that
loads this may run in a legacy interpreter). Never imports kbackend.

An adapter is `adapters/<backend>.py` (see adapters/__init__.py for the
protocol). The folders named in KBACKEND_ADAPTERS_PATH (os.pathsep-separated)
are searched first: a backend kbackend does not ship brings its adapter there,
as its registry entry brings the parent side. A name with no adapter (the legacy
backends, an external module path) gets None, and the workers do without.
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ADAPTERS_DIR = os.path.join(HERE, "adapters")
PATH_ENV = "KBACKEND_ADAPTERS_PATH"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_loaded = {}


def dirs():
    extra = [d for d in os.environ.get(PATH_ENV, "").split(os.pathsep) if d]
    return extra + [ADAPTERS_DIR]


def find(name):
    """The path of `name`'s adapter, or None (names that are not identifiers never match a file)."""
    if not isinstance(name, str) or not _NAME.match(name):
        return None
    for d in dirs():
        p = os.path.join(d, name + ".py")
        if os.path.isfile(p):
            return p
    return None


def load_path(path, modname):
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
        return mod
    except (ImportError, AttributeError):  # Python 2.7
        import imp

        return imp.load_source(modname, path)


def load(name):
    """`name`'s adapter module, loaded once, or None when there is none."""
    if name not in _loaded:
        path = find(name)
        _loaded[name] = None if path is None else load_path(path, "kbackend_adapter_" + name)
    return _loaded[name]


def get(adapter, attr, default=None):
    """An optional part of the protocol: the adapter's, or `default`."""
    return getattr(adapter, attr, default) if adapter is not None else default


# ------------------------------------------------------------------ helpers adapters share


def str_or_none(v):
    return None if v is None else str(v)


def version_from_int(v, cudnn=False):
    """CUDA ints are 1000*major + 10*minor; cuDNN 9 is M*10000 + m*100 + p (8: M*1000 + m*100 + p)."""
    try:
        v = int(v)
    except (TypeError, ValueError):
        return str_or_none(v)
    if v <= 0:
        return None
    if cudnn:
        if v >= 90000:
            return "%d.%d.%d" % (v // 10000, (v % 10000) // 100, v % 100)
        return "%d.%d.%d" % (v // 1000, (v % 1000) // 100, v % 100)
    return "%d.%d" % (v // 1000, (v % 1000) // 10)


def jsonable(v):
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return str(v)


def dist_version(name):
    try:
        from importlib import metadata

        return metadata.version(name)
    except Exception:  # noqa: BLE001 - PackageNotFoundError, or Python < 3.8
        return None


def dist_versions(names):
    out = {}
    for n in names:
        v = dist_version(n)
        if v is not None:
            out[n] = v
    return out


def flatten(x):
    if isinstance(x, (list, tuple)):
        out = []
        for e in x:
            out.extend(flatten(e))
        return out
    if isinstance(x, dict):
        return flatten(list(x.values()))
    return [x]

