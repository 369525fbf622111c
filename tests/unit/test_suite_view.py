"""The rendering of verify (kbackend/render/verify_view.py) from a report built by hand."""

from __future__ import annotations

import json

from kbackend.render import verify_view as V
from kbackend.render.output import render
from kbackend.suite.model import BackendRun, CaseResult, VerifyReport


def _r(backend, case, status="pass", check="value", **kw):
    kw.setdefault("category", "elementwise")
    kw.setdefault("dtype", "float32")
    return CaseResult(backend=backend, case=case, check=check, status=status, **kw)


def _report(results, backends=("jax", "torch")):
    runs = [BackendRun(name=b, status="ok", version="1.0", elapsed_s=1.5) for b in backends]
    return VerifyReport(python="/py", dtypes=["float32"], data_formats=["channels_last", "channels_first"],
                        backends=runs, results=results, elapsed_s=3.0)


def test_matrix_has_a_row_per_case_and_a_cell_per_backend_with_gradients_joined():
    rep = _report([
        _r("jax", "exp"), _r("jax", "exp", check="grad"),
        _r("torch", "exp", "fail", worst=3.2, max_abs_err=0.1, atol=1e-5, rtol=1e-5, message="2 of 20 values off"),
        _r("torch", "exp", check="grad"),
        _r("jax", "conv2d", data_format="channels_first", category="conv"),
    ])
    headers, rows = V.matrix(rep)
    assert headers == ["jax 1.0", "torch 1.0"]
    assert rows[0] == ("exp", [("pass", "ok ∇ok"), ("fail", "FAIL 3.2×tol ∇ok")])
    assert rows[1] == ("conv2d [channels_first]", [("pass", "ok"), ("none", "—")])


def test_a_failing_gradient_colours_the_cell():
    rep = _report([_r("jax", "exp"), _r("jax", "exp", "fail", check="grad", worst=12.0)], backends=("jax",))
    _, rows = V.matrix(rep)
    assert rows[0][1] == [("fail", "ok ∇FAIL 12×tol")]


def test_explanations_list_failures_known_differences_and_skips():
    rep = _report([
        _r("torch", "exp", "fail", message="2 of 20 values off"),
        _r("torch", "argmax", "xfail", message="torch differs [1 of 4 values off]"),
        _r("jax", "argmax", "xfail", message="torch differs [detail]"),
        _r("jax", "svd", "skip", message="not implemented"),
        _r("torch", "eigh", "error", message="the torch process crashed"),
    ])
    fails, known, skips = V.explanations(rep)
    assert fails == ["torch · exp · float32: 2 of 20 values off",
                     "torch · eigh · float32: the torch process crashed"]
    assert known == ["torch · argmax, jax · argmax: torch differs"]
    assert skips == ["jax · svd: not implemented"]


def test_summary_counts_and_names_broken_backends():
    rep = VerifyReport(python="/py", dtypes=["float32"], data_formats=["channels_last"], elapsed_s=2.0,
                       backends=[BackendRun(name="jax", status="ok"),
                                 BackendRun(name="torch", status="import_error", error="No module named 'torch'")],
                       results=[_r("jax", "exp"), _r("jax", "log", "xfail")])
    line = V.summary_line(rep)
    assert line.startswith("verify: 1 pass, 1 xfail on 2 backends in 2.0 s (float32)")
    assert "not clean: torch" in line
    assert not rep.ok


def test_json_document_holds_results_and_backends(capsys):
    rep = _report([_r("jax", "exp", max_abs_err=1e-7, max_rel_err=2e-7), _r("torch", "exp", "fail")])
    code = render(V.render(rep), as_json=True)
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["exit_code"] == 1 and doc["command"] == "verify" and doc["schema_version"] == 1
    r = doc["results"][0]
    for k in ("backend", "case", "dtype", "status", "max_abs_err", "max_rel_err"):
        assert k in r
    assert r["max_abs_err"] == 1e-7
    assert doc["backends"][0] == {"name": "jax", "status": "ok", "version": "1.0", "keras_version": None,
                                  "error": None, "fix": None, "elapsed_s": 1.5, "import_s": None, "restarts": 0,
                                  "log": None, "warnings": [], "known_crashes": []}
    assert doc["counts"] == {"pass": 1, "fail": 1, "error": 0, "known": 0, "skip": 0, "xfail": 0}


def test_plain_text_in_a_pipe_has_the_matrix_and_the_explanations(capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    rep = _report([_r("jax", "exp"), _r("torch", "exp", "fail", message="2 of 20 values off", worst=3.0)])
    assert render(V.render(rep), as_json=False) == 1
    out = capsys.readouterr().out
    assert "case" in out and "jax 1.0" in out and "FAIL 3×tol" in out
    assert "failures (1):" in out and "torch · exp · float32: 2 of 20 values off" in out
    assert "\x1b[" not in out
    assert out.rstrip().endswith("on 2 backends in 3.0 s (float32)")


def test_verify_steps_report_cases_done_of_total(capsys):
    from kbackend.render.progress import progress

    with progress("verifying jax", enabled=False) as step:
        V.steps(step)(1, 4)
    assert capsys.readouterr().err == ""
    with progress("verifying jax") as step:
        cb = V.steps(step)
        cb(1, 4)
        cb(4, 4)
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err.splitlines() == ["verifying jax (1/4)", "verifying jax (4/4)"]


def test_a_backend_that_crashed_shows_its_version_status_and_restarts():
    crashed = BackendRun(name="openvino", status="crashed", version="2026.4.1", error="killed by SIGSEGV", restarts=1)
    assert V._backend_line(crashed) == "openvino 2026.4.1: crashed (1 restart): killed by SIGSEGV"
    unknown = BackendRun(name="torch", status="import_error", error="No module named 'torch'")
    assert V._backend_line(unknown) == "torch: import_error: No module named 'torch'"
