"""A real quick bench on the installed backends: structure and sanity, never absolute speed."""

from __future__ import annotations

import json
import sys

import pytest

from kbackend.bench import gate, run
from kbackend.envs.installed import keras_dist, scan

pytestmark = pytest.mark.integration

#: a peak fraction may pass 1 a little: one library can beat every peak probe on some shape.
MARGIN = 1.5


def _installed() -> list[str]:
    dists = scan(tuple(sys.path))
    return run.installed_backends({k: d.version for k, d in dists.items()}, keras_dist(dists).version)


def test_quick_bench_on_every_installed_backend(run_cli, tmp_path):
    backends = _installed()
    assert "numpy" in backends
    page = tmp_path / "bench.html"
    code, out, err = run_cli("bench", "--quick", "--processes", "1", "--json", "--html", str(page))
    doc = json.loads(out)
    assert code == 0, err
    assert [b["backend"] for b in doc["backends"]] == backends
    for b in doc["backends"]:
        assert b["status"] == "ok", (b["backend"], b["error"], b["log"])
        assert b["keras"] and b["version"] and b["sync"] and b["processes"] == 1
        assert b["thread_env"]["OMP_NUM_THREADS"] == str(doc["machine"]["threads"])
        want = doc["machine"]["threads"]
        if b["backend"] == "torch":
            assert b["backend_threads"]["torch.get_num_threads"] == want
        if b["backend"] == "tensorflow":
            assert b["backend_threads"]["intra_op"] == want
    m = doc["machine"]
    assert m["peak_gflops"]["float32"] > 0 and m["peak_gflops"]["float64"] > 0
    assert m["peak_gbs"] > 0 and len(m["bandwidth"]) >= 3
    assert len(doc["results"]) == len(backends) * len(doc["options"]["cases"])
    for r in doc["results"]:
        where = (r["backend"], r["case"])
        if r["status"] == "skipped":
            continue
        assert r["status"] == "ok", (where, r["error"])
        assert r["median_s"] > 0 and r["min_s"] > 0 and r["first_call_s"] > 0, where
        # one process: its best round, and no spread of the per-process values to show
        assert r["iqr_s"] is None and r["q1_s"] is None and r["median_s"] == r["process_mins"][0], where
        assert r["gflops"] > 0 and r["gbs"] > 0, where
        assert 0 < r["peak_fraction"] < MARGIN, (where, r["peak_fraction"])
        assert r["bound"] in ("compute", "memory")
        assert r["mode"] == ("compiled" if r["backend"] == "openvino" else "eager")
    assert page.read_text().count("<svg") == 1 + len(doc["options"]["cases"])


def test_jit_times_the_compiled_form_and_reports_compilation_apart():
    wanted = [b for b in ("jax", "tensorflow") if b in _installed()]
    if not wanted:
        pytest.skip("neither jax nor tensorflow installed")
    items = run.select(run.catalog(sys.executable), ops=["matmul", "add"], sizes=["small"])
    rep = run.run(sys.executable, run.make_plan(wanted, items, threads=1, processes=1, rounds=2, jit=True, quick=True))
    for r in rep.results:
        assert r.status == "ok" and r.mode == "jit", (r.backend, r.case, r.error)
        # the first call traces and compiles: far slower than a steady-state call
        assert r.first_call_s > 5 * r.median_s, (r.backend, r.case, r.first_call_s, r.median_s)


def test_float64_computed_in_float32_is_recorded():
    items = run.select(run.catalog(sys.executable), ops=["matmul"], sizes=["small"], dtypes=["float64"])
    rep = run.run(sys.executable, run.make_plan(["numpy"], items, threads=1, processes=1, rounds=1, quick=True))
    # Keras's result_type maps float64 to float32 on every backend but TensorFlow (BIT64_TO_BIT32_DTYPE)
    assert rep.results[0].compute_dtype == "float32"


def test_an_op_slowed_in_the_child_is_a_regression():
    items = run.select(run.catalog(sys.executable), ops=["add", "relu"], sizes=["medium"])
    # 5 processes a side: with 3, the exact one-sided Mann-Whitney p is 0.05 at best, so one overlap
    # caused by a busy CI machine (tests run two at a time) made the 2x slowdown "noise".
    plan = run.make_plan(["numpy"], items, threads=1, processes=5, rounds=3, quick=True)
    slow = run.make_plan(["numpy"], items, threads=1, processes=5, rounds=3, quick=True, slowdown={"add": 2.0})
    base, cur = run.run_interleaved(sys.executable, [plan, slow], measure_peak=False)
    g = gate.compare(cur, base, threshold=0.10)
    verdicts = {c.case: c for c in g.comparisons}
    # The verdict is the behaviour under test; the measured ratio of a 2x spin varies with machine load.
    assert verdicts["add"].verdict == "regression" and verdicts["add"].ratio >= 1.10
    assert cur.options["slowdown"] == {"add": 2.0}
