"""verify --coverage's two halves without a backend: the references of every case, and the recording proxy.

The references: every case's reference runs in every dtype the case declares and has the shape and
values its op's contract gives (elementwise ops the broadcast shape of their inputs; bool-valued and
integer-valued ops 0/1 and integral values). The proxy (child/coverage_worker.py) is exercised on a
fake `keras.ops` module: it lists every public function once, names each by its public name and its
namespace, and records exactly the functions a call goes through, aliases included.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from kbackend.child import cases as K
from kbackend.child import coverage_worker as W
from kbackend.render import verify_view
from kbackend.suite.coverage import build

#: categories whose ops are elementwise by contract: the output has the broadcast shape of the array inputs.
ELEMENTWISE = ("elementwise", "activation", "logic")


def _args(c, dtype):
    return K.make_args(c, np.random.default_rng(K.seed_for(c.name)), dtype, "small")


@pytest.mark.parametrize("name", [c.name for c in K.CASES])
def test_every_reference_runs_and_keeps_its_contract(name):
    c = K.CASES_BY_NAME[name]
    for dtype in c.dtypes:
        args = _args(c, dtype)
        ref = K.expected(c, args)
        assert ref.dtype == np.float64 and ref.size, (name, dtype)
        assert np.array_equal(ref, K.expected(c, _args(c, dtype)), equal_nan=True), (name, "not deterministic")
        arrays = [v for v in args.values() if isinstance(v, np.ndarray)]
        if c.category in ELEMENTWISE and arrays and not c.layout_dependent and c.name.split(".")[0] != "glu":
            # (glu, an activation, halves its axis)
            assert ref.shape == np.broadcast_shapes(*(a.shape for a in arrays)), (name, ref.shape)
        if c.out_dtype == "bool":
            assert set(np.unique(ref)) <= {0.0, 1.0}, name
        if c.out_dtype in ("int32", "int64"):
            assert np.array_equal(ref, np.round(ref)), name
        assert not np.all(np.isnan(ref)), name


def test_the_numpy_part_has_no_case_without_a_reason():
    assert len(K.NUMPY_CASES) >= 150
    assert set(K.NUMPY_CASES) <= set(K.CASES_BY_NAME)
    for fn, why in K.NO_CASE.items():
        assert isinstance(fn, str) and len(why) > 20, fn


def _fake_ops():
    """A keras.ops look-alike: numpy and nn submodules, an alias, a core function, one only in image."""
    ops = types.ModuleType("ops")
    npm, nn, image = types.ModuleType("numpy"), types.ModuleType("nn"), types.ModuleType("image")

    def add(x, y):
        return x + y

    def multiply(x, y):
        return x * y

    def silu(x):
        return x

    def cast(x, dtype):
        return x

    cast.__module__ = "keras.src.ops.core"

    def resize(x):
        return x

    npm.add, npm.multiply = add, multiply
    nn.silu = nn.swish = silu
    image.resize = resize
    ops.numpy, ops.nn, ops.image = npm, nn, image
    ops.add, ops.multiply, ops.silu, ops.swish, ops.cast = add, multiply, silu, silu, cast
    ops._private = add
    return ops


def test_functions_lists_each_public_name_once_with_its_namespace():
    listed, by_id = W.functions(_fake_ops())
    got = {f["name"]: f["namespace"] for f in listed}
    assert got == {"add": "numpy", "multiply": "numpy", "silu": "nn", "swish": "nn", "cast": "core",
                   "resize": "image"}
    ops = _fake_ops()
    listed, by_id = W.functions(ops)
    assert sorted(by_id[id(ops.silu)]) == ["silu", "swish"]


def test_the_proxy_records_exactly_the_functions_called():
    ops = _fake_ops()
    _, by_id = W.functions(ops)
    seen: set = set()
    rec = W.Recorder(ops, by_id, seen)
    rec.multiply  # noqa: B018 - looked up, never called: not recorded
    assert rec.add(2, 3) == 5 and rec.numpy.add(1, 1) == 2
    assert rec.nn.swish(4) == 4 and rec.image.resize(1) == 1
    assert seen == {"add", "silu", "swish", "resize"}


def test_no_case_merges_every_no_case_dict():
    mod = types.SimpleNamespace(NO_CASE={"a": "reason a"}, NO_CASE_NN={"b": "reason b"}, OTHER={"c": "x"})
    assert W.no_case(mod) == {"a": "reason a", "b": "reason b"}


def test_the_report_counts_covered_functions_and_keeps_the_gaps():
    data = {"backend": "numpy", "keras_version": "3.15.1",
            "functions": [{"name": n, "namespace": "numpy"} for n in ("add", "abs", "new_op", "empty")],
            "cases": {"add": {"functions": ["add"], "conditions": [], "error": None},
                      "abs_edges": {"functions": ["abs"], "conditions": ["nan", "inf"], "error": None},
                      "abs_2": {"functions": ["abs"], "conditions": ["inf"], "error": "ValueError: x"}},
            "no_case": {"empty": "values are uninitialised", "gone_op": "removed from Keras"}}
    rep = build("python", data)
    assert (rep.covered, rep.total) == (2, 4)
    assert [f.name for f in rep.uncovered] == ["new_op", "empty"]
    abs_ = next(f for f in rep.functions if f.name == "abs")
    assert abs_.cases == ["abs_edges", "abs_2"] and abs_.conditions == ["nan", "inf"]
    assert rep.no_case == {"empty": "values are uninitialised"} and rep.stale_no_case == ["gone_op"]
    doc = verify_view.coverage_data(rep)
    assert doc["uncovered"] == ["new_op", "empty"] and doc["covered"] == 2 and doc["total"] == 4
    assert doc["errors"] == {"abs_2": "ValueError: x"}
    assert verify_view.coverage_summary(rep) == "covered 2 of 4 keras.ops functions (50.0 %)"
