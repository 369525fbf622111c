"""verify's known upstream defects, gradient consensus at kinks, draws and variants, on built data (no backend).

The real backends meet the same code in tests/integration/test_verify_known_repro.py.
"""

from __future__ import annotations

import json

import pytest

from kbackend.child import cases as K
from kbackend.child import compare as C
from kbackend.render import verify_view as V
from kbackend.render.output import render
from kbackend.suite import run as R
from kbackend.suite.model import BackendRun, CaseInfo, CaseResult, VerifyReport

# --------------------------------------------------------------------------- known upstream defects


@pytest.mark.parametrize("version,spec,inside", [
    ("2026.4.1-22982-e213a147257-releases/2026/4", ">=2026.4,<2026.5", True),
    ("2026.4.0", ">=2026.4,<2026.5", True),
    ("2026.5.0", ">=2026.4,<2026.5", False),  # a new release runs normally: a fix is noticed
    ("2026.3.9", ">=2026.4,<2026.5", False),
    ("2.13.0+cpu", ">=2.1,<2.14", True),
    ("2.14.0.dev20261201", ">=2.1,<2.14", False),
    ("2.9", ">=2.10", False),  # numbers, not strings
    (None, ">=1", False),
    ("garbage", ">=1", False),
])
def test_a_version_is_in_a_defects_range_by_its_release_numbers(version, spec, inside):
    assert K.version_in(version, spec) is inside


def test_every_known_defect_says_its_range_its_thread_and_how_the_range_was_measured():
    import re

    for key, d in K.KNOWN_DEFECTS.items():
        assert d["backend"] in ("jax", "torch", "tensorflow", "numpy", "openvino"), key
        assert ">=" in d["versions"] and "<" in d["versions"].replace("<=", ""), key  # bounded on both sides
        ref = d["reference"]
        assert ref == "no upstream report found" or re.fullmatch(r"([\w.-]+/[\w.-]+#\d+(; )?)+", ref), key
        assert len(d["reason"]) > 30 and len(d["measured"]) > 30, key
        assert K.defect_doc(key, "0.0.1") is None
    used = {k for c in K.CASES for _, _, k in c.defects} | {k for *_, k in K.KNOWN_ERRORS}
    assert used <= set(K.KNOWN_DEFECTS), used - set(K.KNOWN_DEFECTS)
    assert K.CASES_BY_NAME["eigh_values"].defect_key("openvino", "float32") == "openvino_eigh_crash"
    assert K.CASES_BY_NAME["eigh_values"].defect_key("jax", "float32") is None
    assert K.CASES_BY_NAME["eigh_values"].crashes == ()  # the crash is a versioned defect now


def _r(backend, case, status="pass", check="value", **kw):
    kw.setdefault("category", "elementwise")
    kw.setdefault("dtype", "float32")
    return CaseResult(backend=backend, case=case, check=check, status=status, **kw)


KNOWN = {"key": "openvino_eigh_crash", "backend": "openvino", "package": "openvino", "versions": ">=2026.4,<2026.5",
         "installed": "2026.4.1", "reference": "no upstream report found", "reason": "segfaults in compile_model"}


def _report(results, strict=False, backends=("jax", "openvino")):
    runs = [BackendRun(name=b, status="ok", version="1.0", elapsed_s=1.5,
                       known_crashes=["eigh_values"] if b == "openvino" else []) for b in backends]
    return VerifyReport(python="/py", dtypes=["float32"], data_formats=["channels_last"], backends=runs,
                        results=results, elapsed_s=3.0, strict=strict)


def test_a_known_defect_is_counted_shown_and_fails_only_under_strict(capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    rows = [_r("jax", "eigh_values", category="linalg"),
            _r("openvino", "eigh_values", "known", category="linalg", known=KNOWN,
               message="segfaults in compile_model [the openvino process crashed]")]
    rep = _report(rows)
    assert rep.ok and rep.counts()["known"] == 1 and not rep.failures()
    assert V.summary_line(rep).startswith("verify: 1 pass, 1 known on 2 backends")
    assert render(V.render(rep), as_json=False) == 0
    text = " ".join(capsys.readouterr().out.split())  # wrapped to the width: read it as words
    assert "openvino 1.0: ok 1.5 s (its process crashed in eigh_values: a known defect)" in text
    assert "known upstream defects (1):" in text and "no upstream report found" in text
    assert "openvino 2026.4.1 is in >=2026.4,<2026.5" in text and "FAIL" not in text
    strict = _report(rows, strict=True)
    assert not strict.ok and [r.case for r in strict.failures()] == ["eigh_values"]
    assert render(V.render(strict), as_json=True) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit_code"] == 1 and doc["strict"] is True and doc["counts"]["known"] == 1
    row = doc["results"][1]
    assert row["status"] == "known" and row["known"]["versions"] == ">=2026.4,<2026.5"
    assert {"backend", "versions", "reference"} <= set(row["known"])


def test_a_crash_in_a_known_defect_is_a_known_row_and_does_not_mark_the_backend():
    from kbackend.workers.runner import ChildResult

    j = R.Journal(started="float32/eigh_values", category="linalg", known_crash="segfaults", known=KNOWN)
    child = ChildResult(status="crashed", error="killed by SIGSEGV")
    row = R._crash_rows("openvino", j, child, restarted=False)[0]
    assert row["status"] == "known" and row["known"] == KNOWN and "SIGSEGV" in row["message"]
    hung = R._crash_rows("openvino", j, ChildResult(status="timeout", error="hung"), restarted=False)[0]
    assert hung["status"] == "error"  # a hang is not the crash the entry describes
    plain = R._crash_rows("openvino", R.Journal(started="float32/eigh_values", category="linalg"), child)[0]
    assert plain["status"] == "error" and "known" not in plain


# --------------------------------------------------------------------------- gradients at kinks


def _kink(backend, grads, xfail=None, case="relu.at_zero"):
    return _r(backend, case, check="grad", category="activation",
              kink={"at": {"x": [0.0, 1.0]}, "grads": {"x": grads}, "xfail": xfail})


def test_the_outlier_at_a_kink_fails_naming_the_consensus():
    rows = R.kink_consensus([_kink("jax", [0.0, 1.0]), _kink("torch", [0.0, 1.0]), _kink("tensorflow", [1.0, 1.0])])
    by = {r.backend: r for r in rows}
    assert by["jax"].status == by["torch"].status == "pass"
    assert by["tensorflow"].status == "fail"
    assert by["tensorflow"].message == ("tensorflow's gradient at the kink differs from the consensus of jax and "
                                        "torch: d/dx at x=0: 1, consensus 0")
    assert by["jax"].message == "agrees with torch at the kink" or "torch" in by["jax"].message


def test_a_documented_outlier_is_xfail_and_two_backends_without_a_majority_are_not_judged():
    rows = R.kink_consensus([_kink("jax", [1.0, 1.0], xfail="jax's convention"), _kink("torch", [0.0, 1.0]),
                             _kink("tensorflow", [0.0, 1.0])])
    jax = next(r for r in rows if r.backend == "jax")
    assert jax.status == "xfail" and jax.message.startswith("jax's convention [")
    # two backends that differ, neither documented: no consensus, said so (not a pass)
    two = R.kink_consensus([_kink("jax", [1.0, 1.0]), _kink("torch", [0.0, 1.0])])
    assert [r.status for r in two] == ["skip", "skip"] and "no consensus" in two[0].message
    # ... unless one of them is the documented outlier: the other is the consensus
    doc = R.kink_consensus([_kink("jax", [1.0, 1.0], xfail="jax's convention"), _kink("torch", [0.0, 1.0])])
    assert [r.status for r in doc] == ["xfail", "pass"]
    alone = R.kink_consensus([_kink("torch", [0.0, 1.0])])
    assert alone[0].status == "skip" and "two or more" in alone[0].message


# --------------------------------------------------------------------------- draws, variants, failures


def test_a_failing_row_names_its_seed_and_condition_and_how_to_reproduce_it():
    rows = [_r("torch", "argmax.ties", "fail", seed=3, conditions=["ties"], category="reduction",
               message="1 of 12 values off")]
    rep = _report(rows, backends=("torch",))
    fails, _, _ = V.explanations(rep)
    assert fails == ["torch · argmax.ties · float32 (seed 3; condition ties): 1 of 12 values off"]
    assert V.repro_hint(rep).endswith("kbackend verify --repro argmax.ties --backend torch --dtype float32 --seed 3")


def test_op_selects_its_variants_and_a_variant_alone(run_cli):
    code, out, _ = run_cli("verify", "--list", "--op", "relu", "--json")
    assert code == 0
    assert [c["name"] for c in json.loads(out)["cases"]] == ["relu", "relu.at_zero"]  # not relu6
    code, out, _ = run_cli("verify", "--list", "--op", "relu.at_zero", "--json")
    assert [c["name"] for c in json.loads(out)["cases"]] == ["relu.at_zero"]
    code, out, _ = run_cli("verify", "--list", "--category", "activation", env={"COLUMNS": "80"})
    lines = out.splitlines()
    relu = next(i for i, ln in enumerate(lines) if ln.split()[:1] == ["relu"])
    assert lines[relu + 1].startswith("      relu.at_zero")  # the variant right under its op, indented
    code, out, _ = run_cli("verify", "--repro", "nope", "--json")
    assert code == 2 and "Invalid `--repro`" in json.loads(out)["error"]["message"]


def test_op_names_without_a_case_of_their_own_are_accepted():
    suite = [CaseInfo(name=n, category="elementwise", tol="exact", dtypes=["float32"], layout_dependent=False,
                      differentiable=True) for n in ("clip", "clip.at_bound", "clipper")]
    assert [c.name for c in R.select(suite, ops=["clip"])] == ["clip", "clip.at_bound"]


# --------------------------------------------------------------------------- tolerances


def test_no_float32_tolerance_lets_a_relative_error_of_1e_3_pass():
    # The rule: on float32, a relative error of 1e-3 in any element fails, whatever the op class.
    for cls, row in C.TOLERANCES.items():
        atol, rtol = row["float32"]
        assert rtol < 1e-3, cls
        # and the bound really fails it: an element of magnitude 1 off by 1e-3 is refused
        got = C.compare([1.001], [1.0], tol=cls, dtype="float32")
        assert got["status"] == "fail", cls


# --------------------------------------------------------------------------- --repro's script


def _worker():
    import importlib.util

    from kbackend.workers.runner import worker_path

    spec = importlib.util.spec_from_file_location("kbackend_suite_worker_test", worker_path("suite_worker.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_cases_call_can_be_written_out_as_plain_keras_ops(tmp_path):
    import numpy as np

    w = _worker()
    # Calls that compute on values in Python cannot be written out as one keras.ops expression: the
    # reconstructions (they multiply the decomposition's outputs back), the Python-valued ops, the control
    # flow with Python callables; `--repro` says so for them. The random checks (their calls compute
    # statistics with keras.random) are left out here: they import Keras.
    values = {"eigh_reconstruct", "svd_reconstruct", "qr_reconstruct", "is_tensor", "shape", "stop_gradient",
              "cond", "cond.false", "elastic_transform"}
    unwritten = []
    for c in K.CASES:
        if c.category == "random":
            continue
        dtype = "float32" if "float32" in c.dtypes else c.dtypes[0]
        args = K.make_args(c, np.random.default_rng(0), dtype, "small", "channels_first" if c.layout_dependent else None)
        src = w.call_source(c, args)
        if not src:
            unwritten.append(c.name)
            continue
        assert "ops." in src, (c.name, src)
    assert set(unwritten) <= values, sorted(set(unwritten) - values)  # a new one: write it out, or add it here
    sym = w._Sym("x", np.zeros(3))
    with pytest.raises(TypeError):
        list(sym)  # iterating a recorded value ends at once (it used to go on through __getitem__ forever)
    c = K.CASES_BY_NAME["conv2d"]
    args = K.make_args(c, np.random.default_rng(0), "float32", "small", "channels_first")
    assert w.call_source(c, args) == ("ops.conv(x, k, dilation_rate=1, strides=1, padding='valid', "
                                      "data_format='channels_first')")
    out = w._repro(K, C, {"case": "maximum.ties", "dtype": "bfloat16", "seed": 2, "backend": "torch",
                          "out_dir": str(tmp_path)})
    text = open(out["script"]).read()
    compile(text, out["script"], "exec")  # a valid script
    assert "os.environ.setdefault(\"KERAS_BACKEND\", 'torch')" in text and "out = ops.maximum(x, y)" in text
    assert "x = ops.convert_to_tensor(d['x'], dtype='bfloat16')" in text and "seed 2" in text
    assert sorted(np.load(out["npz"]).files) == ["expected", "x", "y"]


def test_the_kept_jax_program_is_never_used_when_a_test_patch_changes_the_ops(monkeypatch, tmp_path):
    import importlib.util

    from kbackend.workers.runner import worker_path

    spec = importlib.util.spec_from_file_location("kbackend_jax_adapter_test", worker_path("adapters/jax.py"))
    jax_adapter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(jax_adapter)  # the adapter imports jax only inside its functions
    monkeypatch.delenv("KBACKEND_NO_EXPORT_CACHE", raising=False)
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.delenv("KBACKEND_TEST_PATCH", raising=False)
    assert jax_adapter._ExportStore(None, [], "float32").path is None  # no compilation cache: nothing kept
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("KBACKEND_TEST_PATCH", str(tmp_path / "patch.py"))
    store = jax_adapter._ExportStore(None, [], "float32")
    assert store.path is None and store.load() is None


def _kink_rec(backend, grads, expected, xfail=None):
    r = _kink(backend, grads, xfail=xfail, case="abs.at_zero")
    return r.model_copy(update={"kink": dict(r.kink, expected={"x": expected})})


def test_a_documented_outlier_never_outvotes_the_recorded_convention():
    # jax's abs'(0) = 1 is its documented choice; tensorflow made wrong the same way would be a majority
    # of all three, but the outliers are left out and the two others disagree: the recorded convention judges.
    rows = R.kink_consensus([_kink_rec("jax", [1.0, 1.0], [0.0, 1.0], xfail="jax's convention"),
                             _kink_rec("torch", [0.0, 1.0], [0.0, 1.0]),
                             _kink_rec("tensorflow", [1.0, 1.0], [0.0, 1.0])])
    by = {r.backend: r for r in rows}
    assert (by["jax"].status, by["torch"].status, by["tensorflow"].status) == ("xfail", "pass", "fail")
    assert "recorded consensus" in by["tensorflow"].message and "x=0: 1, consensus 0" in by["tensorflow"].message


def test_one_backend_alone_is_judged_by_the_recorded_convention():
    ok = R.kink_consensus([_kink_rec("torch", [0.0, 1.0], [0.0, 1.0])])
    bad = R.kink_consensus([_kink_rec("torch", [1.0, 1.0], [0.0, 1.0])])
    assert ok[0].status == "pass" and bad[0].status == "fail"
