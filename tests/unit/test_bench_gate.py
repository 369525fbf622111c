"""The regression gate with synthetic samples: threshold, significance, metadata refusal."""

from __future__ import annotations

import pytest

from bench_samples import backend, machine, report, result
from kbackend.bench import gate


def _one(cur_medians, base_medians, threshold=0.10, **kw):
    return gate.decide(result(medians=cur_medians, **kw), result(medians=base_medians, **kw), threshold)


def test_significant_slowdown_beyond_threshold_is_a_regression():
    c = _one((1.30, 1.31, 1.29), (1.0, 1.01, 0.99))
    assert c.verdict == "regression"
    assert c.ratio == pytest.approx(1.30, rel=0.01)
    assert c.p_slower == pytest.approx(0.05) and c.repetitions == "processes"


def test_significant_slowdown_below_threshold_is_not_a_regression():
    assert _one((1.05, 1.051, 1.049), (1.0, 1.001, 0.999)).verdict == "unchanged"
    assert _one((1.05, 1.051, 1.049), (1.0, 1.001, 0.999), threshold=0.03).verdict == "regression"


def test_large_but_overlapping_slowdown_is_noise():
    # median 20 % slower, but the processes overlap: not significant
    c = _one((1.2, 0.95, 1.6), (1.0, 1.1, 0.9))
    assert c.ratio > 1.1
    assert c.verdict == "noise"


def test_improvement_is_reported():
    c = _one((0.7, 0.71, 0.69), (1.0, 1.01, 0.99))
    assert c.verdict == "improvement" and c.p_faster == pytest.approx(0.05)


def test_fewer_than_three_processes_use_the_interleaved_rounds():
    c = _one((1.3,), (1.0,), rounds=5)
    assert c.repetitions == "rounds" and c.verdict == "regression"


def test_compare_lists_regressions_and_exit_code():
    base = report([result("numpy", "add"), result("numpy", "matmul")])
    cur = report([result("numpy", "add", (1.5, 1.5, 1.5)), result("numpy", "matmul")])
    g = gate.compare(cur, base, threshold=0.1, baseline_path="b.json")
    assert [(c.backend, c.case) for c in g.regressions] == [("numpy", "add")]
    assert {c.case: c.verdict for c in g.comparisons} == {"add": "regression", "matmul": "unchanged"}
    assert cur.model_copy(update={"gate": g}).exit_code == 1
    same = gate.compare(base, base, threshold=0.1)
    assert not same.regressions and base.model_copy(update={"gate": same}).exit_code == 0


@pytest.mark.parametrize("change,word", [
    (dict(machine=machine(threads=1)), "threads"),
    (dict(machine=machine(cpu="Other CPU")), "CPU"),
    (dict(machine=machine(cores=8)), "core count"),
    (dict(backends=[backend("numpy", version="2.0")]), "numpy version"),
    (dict(backends=[backend("numpy", keras="3.14.0")]), "Keras version"),
    (dict(backends=[backend("numpy", mode="jit")]), "mode: baseline 'eager', now 'jit'"),
])
def test_different_metadata_is_refused_unless_forced(change, word):
    base = report([result("numpy", "add")])
    cur = report([result("numpy", "add", (2.0, 2.0, 2.0))], **change)
    g = gate.compare(cur, base, threshold=0.1)
    assert not g.comparisons and not g.regressions
    assert g.refused[0].backend == "numpy" and word in "; ".join(g.refused[0].reasons)
    forced = gate.compare(cur, base, threshold=0.1, force=True)
    assert forced.forced and not forced.refused
    assert [c.case for c in forced.regressions] == ["add"]
    assert any(word in d for d in forced.differences)


def test_only_the_backend_that_changed_is_refused():
    base = report([result("numpy", "add"), result("jax", "add")])
    cur = report([result("numpy", "add"), result("jax", "add")],
                 backends=[backend("numpy"), backend("jax", version="9.9")])
    g = gate.compare(cur, base, threshold=0.1)
    assert [r.backend for r in g.refused] == ["jax"]
    assert [c.backend for c in g.comparisons] == ["numpy"]


def test_missing_and_new_cases_are_listed_not_compared():
    base = report([result("numpy", "add"), result("numpy", "exp")])
    cur = report([result("numpy", "add"), result("numpy", "tanh")])
    g = gate.compare(cur, base, threshold=0.1)
    assert g.missing == ("numpy/exp/medium/float32/eager",)
    assert g.new == ("numpy/tanh/medium/float32/eager",)
    assert [c.case for c in g.comparisons] == ["add"]


def test_a_failed_backend_makes_the_exit_code_1():
    r = report([result("numpy", "add")], backends=[backend("numpy"), backend("torch", status="import_error")])
    assert r.exit_code == 1


def test_the_ratio_is_the_shown_times_ratio():
    # the time shown and the ratio come from one estimator: median of the per-process bests
    c = gate.decide(result(medians=(1.5, 1.2, 1.4)), result(medians=(1.0, 0.9, 1.1)), 0.1)
    assert c.median_s == pytest.approx(1.4) and c.baseline_median_s == pytest.approx(1.0)
    assert c.ratio == c.median_s / c.baseline_median_s
