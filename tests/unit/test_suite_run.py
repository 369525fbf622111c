"""verify's orchestration (kbackend/suite/run.py) with fake workers: no backend is imported.

A fake worker speaks the suite worker's protocol (journal lines, result rows) and
misbehaves on demand: it segfaults in one case, fails to import, or hangs, so the
crash-and-resume logic and the "a broken backend is a finding" contract run for real.
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from kbackend.errors import UsageError
from kbackend.suite import run as R
from kbackend.suite.model import CaseInfo

FAKE = textwrap.dedent('''
    import json, os, signal, sys, time

    def main(inp):
        backend = os.environ["KERAS_BACKEND"]
        if backend == "broken":
            raise ImportError("No module named 'brokenlib'")
        journal = open(inp["journal_path"], "a", buffering=1)
        journal.write(json.dumps({"units": len(inp["names"]) * len(inp["dtypes"])}) + "\\n")
        if backend == "batchcrash" and inp.get("batch", True):
            journal.write(json.dumps({"start": "float32/__batch__"}) + "\\n")
            journal.flush()
            os.kill(os.getpid(), signal.SIGSEGV)
        rows = []
        for name in inp["names"]:
            for dtype in inp["dtypes"]:
                key = dtype + "/" + name
                if key in inp["skip_units"]:
                    continue
                journal.write(json.dumps({"start": key, "category": "elementwise"}) + "\\n")
                journal.flush()
                if name == "boom" and backend == "crashy":
                    os.kill(os.getpid(), signal.SIGSEGV)
                if name == "boom" and backend == "hangs":
                    time.sleep(60)
                row = {"case": name, "category": "elementwise", "check": "value", "dtype": dtype,
                       "data_format": None, "status": "pass", "max_abs_err": 0.0, "max_rel_err": 0.0}
                rows.append(row)
                journal.write(json.dumps({"unit": key, "rows": [row]}) + "\\n")
        return {"backend": backend, "keras_version": "3.15.1", "backend_version": "1.0", "import_s": 0.1,
                "results": rows}
''')


def _infos(*names):
    return [CaseInfo(name=n, category="elementwise", tol="elementwise", dtypes=["float32"], layout_dependent=False,
                     differentiable=False) for n in names]


@pytest.fixture
def fake_worker(tmp_path, monkeypatch):
    p = tmp_path / "fake_suite_worker.py"
    p.write_text(FAKE)
    monkeypatch.setattr(R, "WORKER", str(p))
    return p


def test_a_clean_backend_returns_every_row(fake_worker):
    rep = R.run_verify(sys.executable, ["fine"], _infos("add", "boom", "exp"), dtypes=["float32"], model=False)
    assert rep.ok
    assert [r.case for r in rep.results] == ["add", "boom", "exp"]
    assert rep.backends[0].status == "ok" and rep.backends[0].version == "1.0"


def test_a_segfault_in_one_case_is_an_error_row_and_the_rest_still_runs(fake_worker):
    rep = R.run_verify(sys.executable, ["crashy", "fine"], _infos("add", "boom", "exp"), dtypes=["float32"],
                       model=False)
    assert not rep.ok
    crashy = {r.case: r for r in rep.results if r.backend == "crashy"}
    assert set(crashy) == {"add", "boom", "exp"}
    assert crashy["add"].status == "pass" and crashy["exp"].status == "pass"
    assert crashy["boom"].status == "error"
    assert "crashed (killed by SIGSEGV)" in crashy["boom"].message
    b = {b.name: b for b in rep.backends}
    assert b["crashy"].status == "crashed" and b["crashy"].restarts == 1
    assert b["fine"].status == "ok"
    assert [r.status for r in rep.results if r.backend == "fine"] == ["pass"] * 3


def test_a_crash_in_the_last_case_starts_no_new_child(fake_worker, tmp_path, monkeypatch):
    starts = tmp_path / "starts"
    real = R.run_worker

    def counting(*a, **kw):
        with open(starts, "a") as f:
            f.write("x")
        return real(*a, **kw)

    monkeypatch.setattr(R, "run_worker", counting)
    rep = R.run_verify(sys.executable, ["crashy"], _infos("add", "exp", "boom"), dtypes=["float32"], model=False)
    rows = {r.case: r for r in rep.results}
    assert [rows[c].status for c in ("add", "exp", "boom")] == ["pass", "pass", "error"]
    assert "crashed (killed by SIGSEGV)" in rows["boom"].message and "the last case it had to run" in rows["boom"].message
    assert rep.backends[0].status == "crashed" and rep.backends[0].restarts == 0
    assert starts.read_text() == "x"  # one child: nothing was left to run after the crash
    assert not rep.ok


def test_a_crash_in_jax_one_program_step_reruns_case_by_case(fake_worker):
    rep = R.run_verify(sys.executable, ["batchcrash"], _infos("add", "exp"), dtypes=["float32"], model=False)
    assert [(r.case, r.status) for r in rep.results] == [("add", "pass"), ("exp", "pass")]
    assert rep.backends[0].status == "crashed" and rep.backends[0].restarts == 1
    assert not rep.ok  # the crash itself is a finding


def test_an_import_failure_marks_the_column_and_others_run(fake_worker):
    rep = R.run_verify(sys.executable, ["broken", "fine"], _infos("add"), dtypes=["float32"], model=False)
    b = {b.name: b for b in rep.backends}
    assert b["broken"].status == "import_error"
    assert "brokenlib" in b["broken"].error
    assert b["broken"].fix == "kbackend doctor --backend broken"
    assert not [r for r in rep.results if r.backend == "broken"]
    assert [r.status for r in rep.results if r.backend == "fine"] == ["pass"]
    assert not rep.ok


def test_a_hanging_case_times_out_and_the_next_child_goes_on(fake_worker):
    rep = R.run_verify(sys.executable, ["hangs"], _infos("boom", "exp"), dtypes=["float32"], model=False,
                       timeout=3)
    rows = {r.case: r for r in rep.results}
    assert rows["boom"].status == "error" and "hung" in rows["boom"].message
    assert rows["exp"].status == "pass"
    assert rep.backends[0].status == "timeout"


def test_progress_reaches_the_total(fake_worker):
    seen = []
    R.run_verify(sys.executable, ["fine", "crashy"], _infos("add", "boom"), dtypes=["float32"], model=False,
                 progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (4, 4)
    assert all(d <= t for d, t in seen)


def test_not_installed_backends_are_columns_with_the_fix(fake_worker):
    rep = R.run_verify(sys.executable, [], _infos("add"), dtypes=["float32"], model=False,
                       missing={"jax": "pip install jax"})
    assert rep.backends[0].status == "not_installed" and rep.backends[0].fix == "pip install jax"
    assert not rep.ok


def test_read_journal_keeps_finished_units_and_names_the_one_that_died(tmp_path):
    j = tmp_path / "j.jsonl"
    j.write_text("\n".join(json.dumps(ev) for ev in (
        {"units": 3}, {"start": "float32/__batch__"}, {"unit": "float32/__batch__", "rows": []},
        {"start": "float32/a", "category": "conv"}, {"unit": "float32/a", "rows": [{"x": 1}]},
        {"start": "float32/b", "category": "linalg"})) + '\n{"unit": "float32/b", "ro')
    got = R.read_journal(str(j))
    assert got.rows == [{"x": 1}] and got.done == ["float32/__batch__", "float32/a"]
    assert got.started == "float32/b" and got.category == "linalg"
    assert got.units == 3 and got.finished_cases == 1
    assert R.read_journal(str(tmp_path / "missing")) == R.Journal()


def test_select_by_op_and_category_and_refuse_unknown_names():
    cases = _infos("add", "exp") + [CaseInfo(name="conv2d", category="conv", tol="matmul", dtypes=["float32"],
                                             layout_dependent=True, differentiable=True)]
    assert [c.name for c in R.select(cases)] == ["add", "exp", "conv2d"]
    assert [c.name for c in R.select(cases, ops=["exp"], categories=["conv"])] == ["exp", "conv2d"]
    assert R.select(cases, categories=["model"]) == []
    with pytest.raises(UsageError, match=r"Invalid `--op`.*Received: op=nope"):
        R.select(cases, ops=["nope"])
    with pytest.raises(UsageError, match=r"Invalid `--category`. Expected one of \['elementwise', 'conv', 'model'\]"):
        R.select(cases, categories=["convs"])


def test_children_that_compile_through_jax_get_the_fast_compile_flag_unless_the_user_set_it(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert R._child_env("jax")["XLA_FLAGS"] == R.XLA_FAST_COMPILE
    assert R._child_env("numpy")["XLA_FLAGS"] == R.XLA_FAST_COMPILE
    assert "XLA_FLAGS" not in R._child_env("torch")
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")
    assert "XLA_FLAGS" not in R._child_env("jax") and "XLA_FLAGS" not in R._child_env("numpy")
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    assert R._child_env("jax", {"KERAS_HOME": "/k"}) == {
        "KERAS_HOME": "/k", "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2 " + R.XLA_FAST_COMPILE}


def test_installed_backends_reads_metadata_only(tmp_path):
    site = tmp_path / "site"
    for d in ("keras-3.15.1.dist-info", "jax-0.4.30.dist-info", "jaxlib-0.4.30.dist-info", "numpy-2.1.0.dist-info",
              "torch-2.5.0.dist-info", "openvino-2025.1.dist-info"):
        (site / d).mkdir(parents=True)
    found, versions, kv = R.installed_backends([str(site)])
    assert kv == "3.15.1"
    assert found == ["numpy", "jax", "torch", "openvino"]  # the numpy backend needs jax; openvino needs Keras 3.8+
    (site / "keras-3.15.1.dist-info").rename(site / "keras-3.5.0.dist-info")
    assert "openvino" not in R.installed_backends([str(site)])[0]
