"""verify --coverage against the real Keras, and the keras.ops.numpy cases on two real backends.

One `kbackend verify --coverage --json` run (one child) is shared by the module; a second, small
one with a patch that adds a fake keras.ops function and selects one case shows that a function no
case calls is listed as uncovered (the new op of a newer Keras, a case taken out of the suite).
The numpy part's cases run once on numpy and jax (CI runs every case on every backend through
test_verify_backends.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kbackend.child import cases as K
from kbackend.suite.run import installed_backends
from isolated_run import run_kbackend

pytestmark = pytest.mark.integration

BACKENDS = installed_backends(sys.path)[0]
#: what this suite reached with Keras 3.15.1 (the numpy part alone); a lower figure is a lost case.
MIN_COVERED = 267


_kbackend = run_kbackend


def _public_ops(tmp):
    """keras.ops's public functions by namespace, listed independently in a Keras of the target."""
    code = ("import json, types, keras; o = keras.ops; subs = ('numpy', 'nn', 'linalg', 'image');"
            "pub = lambda m: sorted(n for n in dir(m) if not n.startswith('_') and callable(getattr(m, n))"
            " and not isinstance(getattr(m, n), types.ModuleType));"
            "print(json.dumps({'top': pub(o), **{s: pub(getattr(o, s)) for s in subs}}))")
    env = {**os.environ, "HOME": str(tmp), "KERAS_HOME": str(tmp / ".keras"), "KERAS_BACKEND": BACKENDS[0]}
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cov(tmp_path_factory):
    if not BACKENDS:
        pytest.skip("no Keras backend installed")
    tmp = tmp_path_factory.mktemp("coverage")
    code, out, err = _kbackend(tmp, "--json", "verify", "--coverage")
    assert code == 0, err[-3000:]
    return json.loads(out), _public_ops(tmp)


def test_coverage_lists_every_real_keras_ops_function(cov):
    doc, public = cov
    assert doc["command"] == "verify" and doc["exit_code"] == 0
    names = {f["name"] for f in doc["functions"]}
    want = set(public["top"]) | {n for s in ("numpy", "nn", "linalg", "image") for n in public[s]}
    assert names == want
    assert doc["total"] == len(doc["functions"]) == len(want)
    ns = {f["name"]: f["namespace"] for f in doc["functions"]}
    assert all(ns[n] == "numpy" for n in public["numpy"])
    assert ns["relu"] == "nn" and ns["resize"] == "image" and ns["solve"] == "linalg"
    assert {ns["cast"], ns["logsumexp"]} == {"core", "math"}


def test_coverage_counts_what_the_cases_really_call(cov):
    doc, public = cov
    by = {f["name"]: f for f in doc["functions"]}
    assert doc["covered"] == sum(1 for f in doc["functions"] if f["cases"]) >= MIN_COVERED
    assert doc["uncovered"] == [f["name"] for f in doc["functions"] if not f["cases"]]
    assert "add" in by["add"]["cases"] and "matmul_batched" in by["matmul"]["cases"]
    assert "abs_edges" in by["abs"]["cases"] and "nan" in by["nansum"]["conditions"]
    assert by["silu"]["cases"] == by["swish"]["cases"] and "silu" in by["silu"]["cases"]  # one function, two names
    # the numpy part: every keras.ops.numpy function has a case or a reason
    missing = [n for n in public["numpy"] if not by[n]["cases"] and n not in doc["no_case"]]
    assert not missing, missing
    assert doc["cases"] == len(K.CASES)
    for case, error in doc["errors"].items():  # a case may raise only where it says it does not run
        c = K.CASES_BY_NAME[case]
        assert c.skip_reason(doc["backend"], "float32") or c.xfail_reason(doc["backend"], "float32"), (case, error)


PATCH_NEW_OP = '''
def kbackend_fake_op(x):
    return x

ops.kbackend_fake_op = kbackend_fake_op
ops.numpy.kbackend_fake_op = kbackend_fake_op
'''


def test_a_function_no_case_calls_is_uncovered(tmp_path):
    if not BACKENDS:
        pytest.skip("no Keras backend installed")
    patch = tmp_path / "patch.py"
    patch.write_text(PATCH_NEW_OP)
    code, out, err = _kbackend(tmp_path, "--json", "verify", "--coverage", "--op", "divide",
                               env_extra={"KBACKEND_TEST_PATCH": str(patch)})
    assert code == 0, err[-3000:]
    doc = json.loads(out)
    by = {f["name"]: f for f in doc["functions"]}
    assert by["kbackend_fake_op"] == {"name": "kbackend_fake_op", "namespace": "numpy", "cases": [], "conditions": []}
    assert "kbackend_fake_op" in doc["uncovered"]
    assert by["divide"]["cases"] == ["divide"] and doc["covered"] == 1  # a suite of one case covers one function
    assert "subtract" in doc["uncovered"] and doc["cases"] == 1
    code, text, _ = _kbackend(tmp_path, "verify", "--coverage", "--op", "divide",
                              env_extra={"KBACKEND_TEST_PATCH": str(patch), "COLUMNS": "80"})
    assert code == 0 and "kbackend_fake_op" in text
    assert text.rstrip().splitlines()[-1] == f"covered 1 of {doc['total']} keras.ops functions " \
                                             f"({100 / doc['total']:.1f} %)"
    assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.skipif(not {"numpy", "jax"} <= set(BACKENDS), reason="needs numpy and jax")
def test_the_numpy_part_passes_on_numpy_and_jax(tmp_path):
    ops = ",".join(K.NUMPY_CASES)
    code, out, err = _kbackend(tmp_path, "--json", "verify", "--backend", "numpy", "--backend", "jax", "--op", ops,
                               "--no-model")
    doc = json.loads(out)
    bad = [r for r in doc["results"] if r["status"] not in ("pass", "xfail")]
    assert code == 0 and not bad, bad
    for b in ("numpy", "jax"):
        seen = {r["case"] for r in doc["results"] if r["backend"] == b and r["check"] == "value"}
        assert set(K.NUMPY_CASES) <= seen, (b, set(K.NUMPY_CASES) - seen)  # (--op OP runs its variants too)
    for r in doc["results"]:
        if r["status"] == "pass" and r["check"] == "value":
            assert r["expected_dtype"] == r["got_dtype"], r
