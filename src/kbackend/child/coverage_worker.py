"""Worker: which keras.ops functions each op case really calls (`kbackend verify --coverage`).

Run by `_boot.py` in the target interpreter with KERAS_BACKEND set by the parent.
Imports only the standard library, numpy and the target's Keras; never kbackend.
The case module is loaded by the path given in the input.

The functions are those of the installed Keras: every public callable of
`keras.ops` and of its submodules (numpy, nn, linalg, image), one entry per
public name; a name reached from several places (keras.ops.abs is
keras.ops.numpy.abs) is one function. Each case's `call` runs once, on small
inputs, with `ops` replaced by a recording proxy that notes every function it
calls (through keras.ops or its submodules): what a case exercises is recorded,
not guessed. Two public names bound to one function object (silu and swish) are
both exercised by a call to either.

Input: {"cases_path": ..., "names": [case names] | null, "dtype": "float32", "size": "small"}

Output: {"backend", "keras_version", "functions": [{"name", "namespace"}],
"cases": {case: {"functions": [...], "conditions": [...], "error": text | null}},
"no_case": {function: reason}}.

Test hook (documented, for kbackend's own tests only): KBACKEND_TEST_PATCH, as in
suite_worker.py: a Python file executed after Keras is imported with `keras`,
`ops` and `backend` in its namespace (a test adds a fake keras.ops function and
sees it listed as uncovered).
"""

import functools
import importlib.util
import os
import sys

#: keras.ops's submodules whose functions are listed (in this order a function takes its namespace).
SUBMODULES = ("numpy", "nn", "linalg", "image")


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _public(mod):
    """(name, object) of a module's public callables, submodules left out."""
    out = []
    for n in dir(mod):
        if n.startswith("_"):
            continue
        f = getattr(mod, n, None)
        if callable(f) and not isinstance(f, type(sys)):
            out.append((n, f))
    return out


def functions(ops):
    """([{"name", "namespace"}], {id(function object): [names]}) of the installed keras.ops.

    The namespace is the first of SUBMODULES that holds the function, else the last part of
    the module that defines it (keras.src.ops.core -> "core", keras.src.ops.math -> "math").
    A submodule's function that keras.ops does not hold under the same name keeps its bare
    name unless another function has it, then "submodule.name".
    """
    entries = {}  # name -> (namespace, object)
    ns_of = {}
    for sub in SUBMODULES:
        m = getattr(ops, sub, None)
        if m is None:
            continue
        for n, f in _public(m):
            ns_of.setdefault(id(f), sub)
    for n, f in _public(ops):
        if n in SUBMODULES:
            continue
        ns = ns_of.get(id(f)) or (getattr(f, "__module__", None) or "core").rsplit(".", 1)[-1]
        entries[n] = (ns, f)
    for sub in SUBMODULES:
        m = getattr(ops, sub, None)
        if m is None:
            continue
        for n, f in _public(m):
            if n in entries and entries[n][1] is f:
                continue
            name = n if n not in entries else sub + "." + n
            entries[name] = (sub, f)
    by_id = {}
    for n, (_ns, f) in entries.items():
        by_id.setdefault(id(f), []).append(n)
    listed = [{"name": n, "namespace": ns} for n, (ns, _f) in sorted(entries.items(), key=lambda e: (e[1][0], e[0]))]
    return listed, by_id


class Recorder(object):
    """A stand-in for keras.ops (or one of its submodules) that notes the functions called through it."""

    def __init__(self, mod, by_id, seen):
        self._mod, self._by_id, self._seen = mod, by_id, seen

    def __getattr__(self, name):
        attr = getattr(self._mod, name)
        if name in SUBMODULES and isinstance(attr, type(sys)):
            return Recorder(attr, self._by_id, self._seen)
        names = self._by_id.get(id(attr))
        if names is None or not callable(attr):
            return attr
        seen = self._seen

        @functools.wraps(attr)
        def recorded(*args, **kwargs):
            seen.update(names)
            return attr(*args, **kwargs)

        return recorded


def no_case(cases):
    """Every NO_CASE* dict of the case module, merged: {function: why it has no case}."""
    out = {}
    for n in sorted(dir(cases)):
        v = getattr(cases, n)
        if n.startswith("NO_CASE") and isinstance(v, dict):
            out.update((str(k), str(r)) for k, r in v.items())
    return out


def main(inp):
    cases = _load(inp["cases_path"], "kbackend_coverage_cases")
    import keras  # noqa: E402 - the backend comes from KERAS_BACKEND
    import numpy as np

    ops = keras.ops
    backend = keras.backend.backend()
    patch = os.environ.get("KBACKEND_TEST_PATCH")
    if patch:
        with open(patch) as f:
            code = compile(f.read(), patch, "exec")
        exec(code, {"keras": keras, "ops": ops, "backend": backend, "__name__": "kbackend_test_patch"})
    listed, by_id = functions(ops)
    names = inp.get("names")
    want = inp.get("dtype") or "float32"
    size = inp.get("size") or "small"
    out = {}
    for c in cases.CASES:
        if names is not None and c.name not in names:
            continue
        seen = set()
        dtype = want if want in c.dtypes else c.dtypes[0]
        error = None
        try:
            args = cases.make_args(c, np.random.default_rng(cases.seed_for(c.name)), dtype, size)
            c.call(Recorder(ops, by_id, seen), cases.to_tensors(ops, args, dtype))
        except Exception as e:  # noqa: BLE001 - what it called before raising still counts; the error is shown
            error = "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:300] if str(e) else "")
        out[c.name] = {"functions": sorted(seen), "conditions": list(getattr(c, "conditions", ()) or ()),
                       "error": error}
    return {"backend": backend, "keras_version": keras.__version__, "functions": listed, "cases": out,
            "no_case": no_case(cases)}
