"""Backend probe worker: import a backend and Keras in this interpreter, report what they see.

Run by `_boot.py` in the target interpreter with KERAS_BACKEND set by the parent.
Standard library only at module level, Python 2.7/3.5-compatible syntax (the
target may be a legacy environment); the backend and Keras are the target's own.

Input:  {"backend": "jax", "module": "jax", "import_keras": true,
         "origins": {"keras": ["keras", ...], "jax": ["jax"], ...},  # module -> its distributions
         "journal": "/tmp/.../jax.phase"}                              # optional
Output: {"module_version", "backend_import_s", "keras_import_s", "import_s",
         "keras_version", "keras_backend", "devices", "gpu_devices",
         "built_cuda", "built_cudnn", "cuda_archs", "origins", "extra"}

`origins` says where each module of `origins` that got imported came from: its
file, and whether that file is one of its distribution's files (RECORD, found
with importlib.metadata and `locate_file`), lies in the distribution's recorded
location (no RECORD, an editable install) or neither: a stray `keras.py` or
`jax/` on PYTHONPATH or in a directory a .pth file adds.

The journal gets one line per step ("importing jax", "importing keras",
"listing devices"), written before the step, so that the parent of a child it had
to kill knows where it hung.

A failing import is not caught: `_boot.py` reports it as `import_error` or
`error` with its traceback, and the parent keeps the child's output as a log.
"""

import atexit
import importlib
import json
import os
import sys
import time


def _str(v):
    return None if v is None else str(v)


def _adapters():
    """child/_adapter.py, loaded by path (a worker cannot import kbackend)."""
    mod = sys.modules.get("kbackend_child_adapter")
    if mod is None:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_adapter.py")
        try:
            import importlib.util

            spec = importlib.util.spec_from_file_location("kbackend_child_adapter", path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules["kbackend_child_adapter"] = mod
            spec.loader.exec_module(mod)
        except (ImportError, AttributeError):  # Python 2.7
            import imp

            mod = imp.load_source("kbackend_child_adapter", path)
    return mod


# ---------------------------------------------------------------------- where modules came from


def _real(path):
    return os.path.normcase(os.path.realpath(path))


def _under(path, root):
    root = root.rstrip(os.sep)
    return path == root or path.startswith(root + os.sep)


def _site_dirs():
    """The environment's site-packages / dist-packages directories."""
    out = []
    try:
        import site

        out += list(getattr(site, "getsitepackages", lambda: [])())
        user = getattr(site, "getusersitepackages", lambda: None)()
        if user:
            out.append(user)
    except Exception:  # noqa: BLE001 - an old virtualenv's site.py
        pass
    try:
        import sysconfig

        paths = sysconfig.get_paths()
        out += [paths.get("purelib"), paths.get("platlib")]
    except Exception:  # noqa: BLE001
        pass
    out += [p for p in sys.path if os.path.basename(p.rstrip(os.sep)) in ("site-packages", "dist-packages")]
    seen = []
    for p in out:
        if p and os.path.isdir(p) and _real(p) not in seen:
            seen.append(_real(p))
    return seen


def _editable_root(dist):
    """The project directory of an editable install (PEP 610 direct_url.json), or None."""
    try:
        doc = json.loads(dist.read_text("direct_url.json") or "null")
    except Exception:  # noqa: BLE001 - no file, bad JSON
        return None
    if not isinstance(doc, dict) or not (doc.get("dir_info") or {}).get("editable"):
        return None
    url = doc.get("url") or ""
    if not url.startswith("file://"):
        return None
    try:
        from urllib.parse import unquote
    except ImportError:  # Python 2.7
        from urllib import unquote
    return _real(unquote(url[len("file://"):]))


def _in_record(dist, real):
    """Whether `real` is one of the distribution's files; None when it lists none.

    RECORD is searched as text: parsing it into `dist.files` takes most of a second
    for TensorFlow's 15,000 files.
    """
    text = dist.read_text("RECORD")
    if text is None:
        files = dist.files  # an egg-info's installed-files.txt or SOURCES.txt
        if files is None:
            return None
        lines = [str(p) + "," for p in files]
    else:
        lines = text.splitlines()
    base = _real(str(dist.locate_file("")))
    if _under(real, base):
        rel = os.path.relpath(real, base).replace(os.sep, "/")
        hay = "\n" + "\n".join(lines)
        if ("\n" + rel + ",") in hay or ("\n\"" + rel + "\",") in hay:
            return True
    leaf = os.path.basename(real)
    for line in lines:  # a path through a symlink or "..": compare the files themselves
        path = line.rsplit(",", 2)[0].strip('"') if line.count(",") >= 2 else line.rstrip(",")
        if path.replace("\\", "/").rsplit("/", 1)[-1] == leaf and _real(str(dist.locate_file(path))) == real:
            return True
    return False


def _meta_beside(thing, dists):
    """Whether a distribution's metadata (NAME-VERSION.dist-info / .egg-info) sits in the
    directory that holds `thing`, as pip --target and every site-packages put it."""
    try:
        names = os.listdir(os.path.dirname(thing.rstrip(os.sep)))
    except (OSError, AttributeError):
        return False
    prefixes = tuple(d.replace("-", "_").lower() + "-" for d in dists)
    return bool(prefixes) and any(
        n.lower().startswith(prefixes) and n.endswith((".dist-info", ".egg-info")) for n in names)


def _via(entry):
    """How a sys.path entry got there: "PYTHONPATH", the .pth file that names it, or None."""
    e = _real(entry)
    for p in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if p and _real(p) == e:
            return "PYTHONPATH"
    for d in sys.path:
        try:
            names = sorted(n for n in os.listdir(d) if n.endswith(".pth"))
        except OSError:
            continue
        for n in names:
            try:
                with open(os.path.join(d, n)) as f:
                    lines = f.read().splitlines()
            except (OSError, UnicodeDecodeError, ValueError):
                continue
            for line in lines:
                line = line.strip()
                if not line or line.startswith(("#", "import ", "import\t")):
                    continue
                if _real(os.path.join(d, line)) == e:
                    return os.path.join(d, n)
    return None


def _find(modname):
    """The file `import modname` would load (without importing it), or None."""
    try:
        import importlib.util

        spec = importlib.util.find_spec(modname)
    except Exception:  # noqa: BLE001 - Python 2.7, or a finder that raises
        return None
    if spec is None:
        return None
    if spec.origin and getattr(spec, "has_location", False):
        return spec.origin
    locs = list(spec.submodule_search_locations or [])
    return {"namespace": locs[0] if locs else None}


def _origin(modname, dists, site_dirs, find=False):
    """Where an imported module came from, and whether that is its installed distribution.
    With `find`, a module that is not imported (its import failed) is looked up instead."""
    mod = sys.modules.get(modname)
    if mod is not None:
        f = getattr(mod, "__file__", None)
        mod_paths = list(getattr(mod, "__path__", None) or [])
    elif find:
        found = _find(modname)
        if found is None:
            return None
        f = found if not isinstance(found, dict) else None
        mod_paths = [found["namespace"]] if isinstance(found, dict) and found["namespace"] else []
    else:
        return None
    out = {"file": f, "thing": None, "verdict": "unknown", "dist": None, "dist_version": None,
           "dist_location": None, "in_site": False, "entry": None, "via": None,
           "version": _str(getattr(mod, "__version__", None)), "imported": mod is not None}
    if not f:  # a namespace package: a directory without __init__.py, no distribution's
        out["thing"] = mod_paths[0] if mod_paths else None
        out["verdict"] = "not_from_dist"
    else:
        real = _real(f)
        leaf = os.path.basename(f)
        out["thing"] = os.path.dirname(f) if leaf.startswith("__init__.") else f
        out["in_site"] = any(_under(real, d) for d in site_dirs)
        try:
            from importlib import metadata
        except ImportError:  # Python < 3.8: only where the file lies can tell
            metadata = None
        for dn in (dists if metadata is not None else ()):
            try:
                dist = metadata.distribution(dn)
            except Exception:  # noqa: BLE001 - PackageNotFoundError
                continue
            out["dist"] = dn
            out["dist_version"] = _str(dist.version)
            base = _real(str(dist.locate_file("")))
            out["dist_location"] = base
            listed = _in_record(dist, real)
            root = _editable_root(dist)
            if listed:
                out["verdict"] = "dist"
            elif root is not None and _under(real, root):
                out["verdict"] = "editable"
                out["dist_location"] = root
            elif listed is None and _under(real, base):
                out["verdict"] = "dist_location"  # no RECORD: the directory of its metadata
            else:
                out["verdict"] = "not_from_dist"
            break
        else:  # no metadata to ask (Python < 3.8) or none found: where the file lies tells
            if _meta_beside(out["thing"], dists):
                out["verdict"] = "dist_location"
            else:
                out["verdict"] = "site" if out["in_site"] else "not_from_dist"
    if out["verdict"] == "not_from_dist" and out["thing"]:
        out["entry"] = os.path.dirname(out["thing"].rstrip(os.sep))
        out["via"] = _via(out["entry"])
    return out


def origins(wanted, find=False):
    """`_origin` of each module in `wanted` (module -> distribution names) that was imported
    (with `find`, or that an import would load)."""
    site_dirs = _site_dirs()
    out = {}
    for modname, dists in sorted((wanted or {}).items()):
        try:
            o = _origin(modname, list(dists or ()), site_dirs, find)
        except Exception as e:  # noqa: BLE001 - never lose the probe over it
            o = {"file": None, "verdict": "unknown", "error": "%s: %s" % (type(e).__name__, e)}
        if o is not None:
            out[modname] = o
    return out


# ---------------------------------------------------------------------- entry


def _journal(path, t0):
    """A function that notes a step in the journal (one line: seconds, tab, step)."""
    def note(step):
        if not path:
            return
        try:
            with open(path, "a") as f:
                f.write("%.3f\t%s\n" % (time.time() - t0, step))
        except (OSError, IOError):
            pass
    return note


def main(inp):
    name = inp["backend"]
    module = inp.get("module") or name
    out = {
        "backend": name, "module_version": None, "keras_version": None, "keras_backend": None,
        "devices": [], "gpu_devices": [], "built_cuda": None, "built_cudnn": None, "cuda_archs": [],
        "origins": {}, "extra": {}, "python": "%d.%d.%d" % tuple(sys.version_info[:3]),
    }
    t0 = time.time()
    note = _journal(inp.get("journal"), t0)
    try:
        note("importing " + module)
        mod = importlib.import_module(module)
        t1 = time.time()
        out["backend_import_s"] = t1 - t0
        out["module_version"] = _str(getattr(mod, "__version__", None))
        if inp.get("import_keras", True):
            note("importing keras")
            import keras

            out["keras_version"] = _str(getattr(keras, "__version__", None))
            be = getattr(keras, "backend", None)
            try:
                out["keras_backend"] = keras.config.backend()
            except AttributeError:  # Keras 2
                out["keras_backend"] = be.backend() if be is not None else None
        t2 = time.time()
        out["keras_import_s"] = t2 - t1
        out["import_s"] = t2 - t0
    except BaseException:
        # The import failed (_boot.py reports it): the journal still tells where the
        # modules came from, a stray jax.py being the likeliest cause.
        try:
            note("origins " + json.dumps(origins(inp.get("origins"), find=True)))
        except Exception:  # noqa: BLE001 - the import error is the news
            pass
        raise
    note("finding where the modules came from")
    out["origins"] = origins(inp.get("origins"))
    t2 = time.time()
    note("listing devices")
    A = _adapters()
    probe = A.get(A.load(name), "probe")  # the backend's adapter: devices and build CUDA
    if probe is not None:
        try:
            probe(mod, out, A)
        except Exception as e:  # noqa: BLE001 - the import worked; the device query did not
            out["extra"]["device_error"] = "%s: %s" % (type(e).__name__, e)
    out["devices_s"] = time.time() - t2
    note("exiting")
    # Runs first at exit (handlers run last-registered first), after _boot.py has written
    # the result: skips the seconds TensorFlow and PyTorch spend tearing themselves down.
    atexit.register(_fast_exit)
    return out


def _fast_exit():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream
            pass
    os._exit(0)
