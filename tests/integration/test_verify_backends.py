"""verify against the real backends: every case on every installed backend, once.

The full suite runs once per module (one `kbackend verify --json` subprocess: one child
per backend), and the tests below read that document. Faults are built, not imagined:
a backend's op is made wrong inside its child (the worker's documented test hook,
KBACKEND_TEST_PATCH), a backend's import fails, a child segfaults.
"""

from __future__ import annotations

import os
import sys

import pytest

from kbackend.backends import REGISTRY
from kbackend.child import cases as K
from kbackend.suite.run import installed_backends
from isolated_run import run_verify

pytestmark = pytest.mark.integration

BACKENDS = installed_backends(sys.path)[0]
GRAD_BACKENDS = tuple(b.name for b in REGISTRY.values() if b.trains and b.keras3)


_verify = run_verify


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    if not BACKENDS:
        pytest.skip("no Keras backend installed")
    code, doc, err = _verify(tmp_path_factory.mktemp("verify-full"))
    return code, doc


def _rows(doc, **match):
    return [r for r in doc["results"] if all(r.get(k) == v for k, v in match.items())]


def test_every_installed_backend_has_a_column(full):
    _, doc = full
    assert [b["name"] for b in doc["backends"]] == BACKENDS
    for b in doc["backends"]:
        # A child may only end unclean by dying inside a case, which then is an error row (and it resumed
        # after it, unless that case was the last).
        assert b["status"] == "ok" or (b["status"] in ("crashed", "timeout") and _rows(
            doc, backend=b["name"], status="error")), b
        assert b["version"] and b["keras_version"]


def test_every_case_is_checked_on_every_backend(full):
    _, doc = full
    for b in BACKENDS:
        seen = {(r["case"], r["data_format"]) for r in _rows(doc, backend=b, check="value")}
        for c in K.CASES:
            for fmt in (K.DATA_FORMATS if c.layout_dependent else (None,)):
                assert (c.name, fmt) in seen, (b, c.name, fmt)


def test_nothing_fails_at_float32_and_errors_are_only_crashes(full):
    code, doc = full
    fails = [r for r in doc["results"] if r["status"] == "fail"]
    assert not fails, fails
    errors = [r for r in doc["results"] if r["status"] == "error"]
    for r in errors:
        assert "process crashed" in r["message"] or "hung" in r["message"], r
    for r in doc["results"]:
        if r["status"] == "known":  # a known upstream defect: its entry, in range, with its thread
            assert r["known"]["reference"] and r["known"]["versions"] and r["known"]["installed"], r
    assert code == (1 if errors else 0)
    assert doc["exit_code"] == code


def test_every_non_pass_says_why(full):
    _, doc = full
    for r in doc["results"]:
        if r["status"] != "pass":
            assert r["message"], r
        if r["status"] == "pass" and r["check"] == "value":
            assert r["expected_dtype"] == r["got_dtype"], r
            assert r["max_abs_err"] is not None and r["worst"] <= 1, r


def test_gradients_are_checked_where_backends_differentiate(full):
    _, doc = full
    for b in BACKENDS:
        grads = {r["case"] for r in _rows(doc, backend=b, check="grad")}
        if b in GRAD_BACKENDS:
            # a case whose value raised (a known error: xfail, no output) has no gradient to check
            raised = {r["case"] for r in _rows(doc, backend=b, check="value", status="xfail") if not r["got_dtype"]}
            want = {c.name for c in K.CASES if c.differentiable and "float32" in c.dtypes} - raised
            assert want <= grads, (b, want - grads)
            assert all(r["status"] in ("pass", "xfail") for r in _rows(doc, backend=b, check="grad"))
        else:
            assert not grads


def test_the_tiny_model_trains_where_backends_train(full):
    _, doc = full
    for b in BACKENDS:
        steps = {r["check"]: r for r in _rows(doc, backend=b, case="tiny_mlp")}
        assert steps["forward"]["status"] == "pass"
        if b in ("jax", "torch", "tensorflow"):
            assert steps["sgd_step"]["status"] == "pass", steps["sgd_step"]
            assert steps["fit"]["status"] == "pass" and "→" in steps["fit"]["message"]
        else:
            assert steps["sgd_step"]["status"] == steps["fit"]["status"] == "skip"


def test_known_differences_are_xfail_with_their_reason(full):
    _, doc = full
    if "torch" in BACKENDS:
        r = _rows(doc, backend="torch", case="argmax_signed_zero")[0]
        assert r["status"] == "xfail" and "−0.0" in r["message"]


# --------------------------------------------------------------------------- faults


PATCH_WRONG_EXP = '''
if backend == "torch":
    _exp = ops.exp
    ops.exp = lambda x: _exp(x) * 1.001
'''


@pytest.mark.skipif("torch" not in BACKENDS or "numpy" not in BACKENDS, reason="needs torch and numpy")
def test_a_wrong_op_in_one_backend_fails_verify_naming_op_and_backend(tmp_path):
    patch = tmp_path / "patch.py"
    patch.write_text(PATCH_WRONG_EXP)
    code, doc, _ = _verify(tmp_path, "--backend", "torch", "--backend", "numpy", "--op", "exp", "--op", "log",
                           env_extra={"KBACKEND_TEST_PATCH": str(patch)})
    assert code == 1 and doc["ok"] is False
    failing = {(r["backend"], r["case"], r["check"]) for r in doc["results"] if r["status"] == "fail"}
    assert failing == {("torch", "exp", "value"), ("torch", "exp", "grad")}
    row = _rows(doc, backend="torch", case="exp", check="value")[0]
    assert "values off" in row["message"] and row["max_rel_err"] == pytest.approx(1e-3, rel=0.05)
    assert all(r["status"] == "pass" for r in doc["results"] if r["backend"] == "numpy")


PATCH_BROKEN = '''
import os, signal
if backend == "numpy":
    raise ImportError("simulated broken install: No module named 'numpy.core._multiarray_umath'")
if backend == "jax":
    os.kill(os.getpid(), signal.SIGSEGV)
'''


@pytest.mark.skipif(not {"numpy", "jax", "openvino"} <= set(BACKENDS), reason="needs numpy, jax and openvino")
def test_a_broken_backend_marks_its_column_and_the_others_still_run(tmp_path):
    patch = tmp_path / "patch.py"
    patch.write_text(PATCH_BROKEN)
    code, doc, _ = _verify(tmp_path, "--backend", "numpy", "--backend", "jax", "--backend", "openvino",
                           "--op", "add", env_extra={"KBACKEND_TEST_PATCH": str(patch)})
    assert code == 1
    b = {x["name"]: x for x in doc["backends"]}
    assert b["numpy"]["status"] == "import_error" and "simulated broken install" in b["numpy"]["error"]
    assert b["jax"]["status"] == "crashed" and "SIGSEGV" in b["jax"]["error"]
    assert b["openvino"]["status"] == "ok"
    assert [r["status"] for r in _rows(doc, backend="openvino", case="add")] == ["pass"]
    assert not _rows(doc, backend="numpy") and not _rows(doc, backend="jax")


PATCH_KNOWN_CRASH = '''
import dataclasses, os, signal, sys
if backend == "numpy":
    cases = sys.modules["kbackend_suite_cases"]
    # declare `divide` a known crash of this backend, and make it crash
    cases.CASES = tuple(dataclasses.replace(c, crashes=(("numpy", "*", "simulated known crash"),))
                        if c.name == "divide" else c for c in cases.CASES)
    ops.divide = lambda x, y: os.kill(os.getpid(), signal.SIGSEGV)
'''


@pytest.mark.skipif("numpy" not in BACKENDS, reason="needs numpy")
def test_a_known_crash_runs_last_so_no_second_child_is_needed(tmp_path):
    patch = tmp_path / "patch.py"
    patch.write_text(PATCH_KNOWN_CRASH)
    # `divide` comes first in the suite (none of the three has variants): without its crash rule it would
    # crash the child before exp and log.
    code, doc, _ = _verify(tmp_path, "--backend", "numpy", "--op", "divide", "--op", "exp", "--op", "log",
                           env_extra={"KBACKEND_TEST_PATCH": str(patch)})
    assert code == 1
    b = doc["backends"][0]
    assert b["status"] == "crashed" and b["restarts"] == 0, b
    assert b["version"] and b["keras_version"]  # from the child's journal: no child ended with a result
    assert [(r["case"], r["status"]) for r in doc["results"]] == [("divide", "error"), ("exp", "pass"), ("log", "pass")]
    msg = doc["results"][0]["message"]
    assert "SIGSEGV" in msg and "the last case it had to run" in msg and "a known crash: simulated known crash" in msg


def _worker_rows(backend, batch, dtypes):
    from kbackend.suite import run as R
    from kbackend.workers.runner import run_worker

    names = [c.name for c in K.CASES if not any(
        c.crash_reason(backend, d) or (c.defect_key(backend, d) and K.KNOWN_DEFECTS[c.defect_key(backend, d)].get("crash"))
        for d in dtypes)]
    r = run_worker(sys.executable, R.WORKER, {
        "mode": "run", "cases_path": R.CASES_PATH, "compare_path": R.COMPARE_PATH, "names": names, "dtypes": dtypes,
        "data_formats": list(R.DATA_FORMATS), "size": "small", "grads": False, "model": False, "batch": batch,
    }, timeout=300, env=R._child_env(backend))
    assert r.ok, (r.status, r.error, r.log[-2000:])
    return r.data


@pytest.mark.skipif("openvino" not in BACKENDS, reason="needs openvino")
def test_openvino_one_model_step_gives_the_rows_of_op_by_op():
    dtypes = ["float32", "bfloat16"]
    one, alone = _worker_rows("openvino", True, dtypes), _worker_rows("openvino", False, dtypes)
    assert one["batched"] > 200 and alone["batched"] == 0  # both layouts, both dtypes: the step really ran
    key = lambda r: (r["case"], r["check"], r["dtype"], r["data_format"])  # noqa: E731
    fields = ("status", "max_abs_err", "max_rel_err", "got_dtype", "expected_dtype")
    got = {key(r): tuple(r[f] for f in fields) for r in one["results"]}
    want = {key(r): tuple(r[f] for f in fields) for r in alone["results"]}
    assert got == want


def test_half_and_double_precision_run_with_dtype_checks(tmp_path):
    if not BACKENDS:
        pytest.skip("no Keras backend installed")
    code, doc, _ = _verify(tmp_path, "--dtype", "float16", "--dtype", "bfloat16", "--dtype", "float64",
                           "--category", "elementwise", "--category", "matmul", "--category", "softmax",
                           "--no-grad")
    assert doc["dtypes"] == ["float16", "bfloat16", "float64"]
    cases = {c.name: c for c in K.CASES if c.category in ("elementwise", "matmul", "softmax")}
    for b in BACKENDS:  # every case ran in every asked dtype on every backend: none left out
        assert {(r["case"], r["dtype"]) for r in _rows(doc, backend=b)} == {
            (c, d) for c in cases for d in doc["dtypes"]}, b
    for r in doc["results"]:
        skip = cases[r["case"]].skip_reason(r["backend"], r["dtype"])
        if skip:  # the case itself says it does not run there
            assert r["status"] == "skip" and r["message"] == skip, r
            continue
        # Half and double precision run and are compared: a verdict, never an error (a crash, an
        # exception in the op) nor a skip nobody declared; a known difference or a failure says why.
        assert r["status"] in ("pass", "fail", "xfail", "known"), r  # known: an upstream defect in its range
        assert r["status"] == "pass" or r["message"], r
        if r["status"] in ("pass", "fail") and not (r["message"] or "").startswith("dtype"):
            assert r["expected_dtype"] and r["got_dtype"], r
    assert code == (1 if any(r["status"] in ("fail", "error") for r in doc["results"]) else 0)
    for b in set(BACKENDS) & {"jax", "torch", "tensorflow"}:
        # (less the cases that declare they run in one dtype only: mixed-dtype pairs fix their own dtypes)
        half = [r for r in _rows(doc, backend=b, dtype="float16")
                if not cases[r["case"]].skip_reason(r["backend"], r["dtype"])]
        assert half and all(r["status"] in ("pass", "xfail", "known") for r in half), [
            r for r in half if r["status"] not in ("pass", "xfail", "known")]
        assert {r["got_dtype"] for r in half if r["case"] == "matmul"} == {"float16"}
    if "jax" in BACKENDS and not os.environ.get("JAX_ENABLE_X64"):
        r = _rows(doc, backend="jax", dtype="float64", case="add")[0]
        assert r["status"] == "pass" and r["got_dtype"] == "float32" and "as float32" in r["message"]
    if "tensorflow" in BACKENDS:
        assert _rows(doc, backend="tensorflow", dtype="float64", case="matmul")[0]["got_dtype"] == "float64"


@pytest.mark.skipif("jax" not in BACKENDS, reason="needs jax")
def test_jax_programs_are_cached_between_runs_and_give_the_same_results(tmp_path):
    cache = tmp_path / ".cache" / "kbackend" / "jax-compilation"
    args = ("--backend", "jax", "--category", "conv", "--no-model")
    code1, doc1, _ = _verify(tmp_path, *args)
    entries = sorted(p.name for p in cache.iterdir())
    assert code1 == 0 and entries, "the first run wrote jax's compiled programs to kbackend's cache folder"
    # ... and the traced one-program step's programs (jax.export), so that the next run does not trace them again
    kept = sorted(p.name for p in (cache / "kbackend-programs").iterdir())
    assert kept and all(n.endswith(".stablehlo") for n in kept)
    assert doc1["compile_cache"] == str(cache)
    code2, doc2, _ = _verify(tmp_path, *args)
    assert code2 == 0 and sorted(p.name for p in cache.iterdir()) == entries  # reused, nothing new compiled
    assert sorted(p.name for p in (cache / "kbackend-programs").iterdir()) == kept  # nothing traced again

    def values(doc):
        return [(r["case"], r["check"], r["data_format"], r["status"], r["max_abs_err"]) for r in doc["results"]]

    assert values(doc2) == values(doc1)


@pytest.mark.skipif("jax" not in BACKENDS, reason="needs jax")
def test_no_compile_cache_and_the_users_own_cache_folder(tmp_path):
    mine = tmp_path / "my-jax-cache"
    code, doc, _ = _verify(tmp_path, "--backend", "jax", "--op", "matmul", "--no-model", "--no-compile-cache")
    assert code == 0 and doc["compile_cache"] is None
    assert not (tmp_path / ".cache" / "kbackend" / "jax-compilation").exists()
    code, doc, _ = _verify(tmp_path, "--backend", "jax", "--op", "matmul", "--no-model",
                           env_extra={"JAX_COMPILATION_CACHE_DIR": str(mine),
                                      "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"})
    assert code == 0 and any(mine.iterdir())  # the user's setting wins
    assert not (tmp_path / ".cache" / "kbackend" / "jax-compilation").exists()
