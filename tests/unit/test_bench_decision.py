"""The gate's decision on recorded samples: noisy, bimodal, drifting, truly slower; confirmation; --strict.

The per-process values below (microseconds) were recorded by `kbackend bench --quick --backend
numpy` (2 threads, 4 processes, as per-process medians) on the shared 2-core development machine at
load averages 1.2-6.6, on unchanged code unless said otherwise; here they stand for the per-process
values the gate compares.
"""

from __future__ import annotations

import pytest

from bench_samples import backend, report, result
from kbackend.bench import gate

US = 1e-6

#: two runs of unchanged code, ten seconds apart (load 1.2 -> 2.3).
RUN1 = {"add": (53.5, 58.8, 74.6, 66.8), "relu": (32.9, 33.2, 251.1, 34.6), "sum": (71.4, 134.9, 73.9, 77.6),
        "matmul": (243.1, 7980.5, 10548.6, 16589.7), "conv2d": (1477.7, 4051.8, 6938.8, 14236.8),
        "softmax": (303.1, 343.0, 386.3, 374.5)}
RUN2 = {"add": (61.5, 56.2, 65.9, 59.0), "relu": (32.9, 34.5, 35.5, 33.8), "sum": (163.5, 67.3, 76.3, 76.1),
        "matmul": (15551.9, 266.7, 2847.5, 328.9), "conv2d": (2718.9, 814.1, 1419.4, 2042.9),
        "softmax": (361.7, 328.3, 347.0, 329.6)}
#: the calibration kernel (a 160x160 float32 matmul) in the same processes.
CAL1 = (71.7, 3777.6, 921.1, 117.5)
CAL2 = (15777.1, 71.6, 396.3, 73.2)


def _us(xs):
    return tuple(x * US for x in xs)


def _run(medians: dict, cal=CAL1, scale: float = 1.0, slow: dict | None = None, load=(1.0, 1.0)):
    slow = slow or {}
    rs = [result("numpy", k, _us(v * scale * slow.get(k, 1.0) for v in ms), rounds=5)
          for k, ms in medians.items()]
    return report(rs, backends=[backend("numpy", processes=len(cal), calibration=_us(cal))], load=load)


def _verdicts(cur, base, **kw):
    return {c.case: c.verdict for c in gate.compare(cur, base, threshold=0.10, **kw).comparisons}


def test_noisy_unchanged_runs_raise_no_regression_either_way():
    one, two = _run(RUN1, CAL1), _run(RUN2, CAL2)
    for cur, base in ((two, one), (one, two)):
        v = _verdicts(cur, base)
        assert "regression" not in v.values() and "improvement" not in v.values(), v
        # the BLAS cases moved x3-x6 between identical runs; they are noise or inconclusive, not verdicts
        assert v["matmul"] in ("noise", "inconclusive") and v["conv2d"] in ("noise", "inconclusive")


def _merged(per_process: list[tuple]) -> object:
    from kbackend.bench import run

    item = run.Item("matmul", "matmul", "medium", "float32")
    rows = [{"status": "ok", "samples": list(_us(xs)), "first_call_s": 0.01, "loops": 1} for xs in per_process]
    return run._result("numpy", item, rows, run.make_plan(["numpy"], [item], threads=2))


def test_bimodal_samples_are_decided_on_each_process_best_sample():
    # matmul with 2 BLAS threads: ~250 us when both cores are free, 5-16 ms when another process holds
    # one; recorded rounds of two processes of each run
    a = _merged([(251.2, 250.3, 243.1, 242.2, 242.7), (5221.6, 7980.5, 10105.9, 11932.1, 4980.8),
                 (258.7, 15551.9, 16065.0, 15910.5, 11211.1), (299.3, 268.4, 257.0, 266.7, 258.9)])
    b = _merged([(1134.8, 8718.6, 2718.9, 986.0, 3890.7), (963.9, 758.9, 781.9, 832.6, 814.1),
                 (250.3, 251.2, 249.9, 248.8, 252.0), (5221.6, 7980.5, 10105.9, 11932.1, 4980.8)])
    assert a.process_medians == pytest.approx(_us((243.1, 7980.5, 15551.9, 266.7)))
    # each process's best round finds the undisturbed mode when it got one: shown = median of those
    assert a.process_mins == pytest.approx(_us((242.2, 4980.8, 258.7, 257.0)))
    assert a.median_s == pytest.approx((257.0 + 258.7) / 2 * US)
    assert a.iqr_s == pytest.approx(a.q3_s - a.q1_s) and a.iqr_s > 0
    for cur, base in ((a, b), (b, a)):
        c = gate.decide(cur, base, 0.10)
        assert c.verdict in ("noise", "unchanged"), (c.ratio, c.p_slower, c.p_faster)
        assert c.ratio == c.median_s / c.baseline_median_s


def test_a_drifting_machine_turns_a_change_into_inconclusive():
    # every case and the calibration kernel 40 % slower: the machine, not the code
    base = _run(RUN2, CAL2)
    cur = _run(RUN2, tuple(x * 1.4 for x in CAL2), scale=1.4)
    g = gate.compare(cur, base, threshold=0.10)
    v = {c.case: c for c in g.comparisons}
    assert v["add"].verdict == "inconclusive" and "machine was noisy" in v["add"].note
    assert not g.regressions and not g.failed
    assert g.noise[0].calibration_ratio == pytest.approx(1.4)
    strict = gate.compare(cur, base, threshold=0.10, strict=True)
    assert strict.failed and cur.model_copy(update={"gate": strict}).exit_code == 1
    assert cur.model_copy(update={"gate": g}).exit_code == 0


def test_truly_slower_is_a_regression_even_on_the_noisy_machine():
    base = _run(RUN2, CAL2)
    for factor in (1.3, 2.0):
        cur = _run(RUN2, CAL2, slow={"add": factor, "relu": factor})
        v = _verdicts(cur, base)
        assert v["add"] == v["relu"] == "regression", (factor, v)
        assert v["softmax"] == "unchanged"


def test_a_slowdown_the_machine_cannot_explain_stays_a_regression():
    # the calibration moved 10 %, the case 100 %: more than twice what the machine shows
    base = _run(RUN2, CAL2)
    cur = _run(RUN2, tuple(x * 1.1 for x in CAL2), slow={"add": 2.0})
    assert _verdicts(cur, base)["add"] == "regression"


def test_confirmation_keeps_a_change_seen_again_and_drops_one_that_was_not():
    base = result("numpy", "add", (1.0, 1.01, 0.99, 1.0, 1.02))
    first = gate.decide(result("numpy", "add", (1.3, 1.31, 1.29, 1.3)), base, 0.1)
    assert first.verdict == "regression"
    again = result("numpy", "add", (1.3, 1.28, 1.33, 1.3, 1.31))
    pooled_r = result("numpy", "add", (1.3, 1.31, 1.29, 1.3, 1.3, 1.28, 1.33, 1.3, 1.31))
    pooled = gate.decide(pooled_r, base, 0.1)
    kept = gate.confirm(first, gate.decide(again, base, 0.1), pooled)
    assert kept.verdict == "regression" and kept.confirmation == "confirmed" and kept.processes == 9
    # a burst of load during the first measurement: the re-measurement sees nothing
    calm = result("numpy", "add", (1.0, 1.02, 0.99, 1.01, 1.0))
    pooled_r = result("numpy", "add", (1.3, 1.31, 1.29, 1.3, 1.0, 1.02, 0.99, 1.01, 1.0))
    dropped = gate.confirm(first, gate.decide(calm, base, 0.1), gate.decide(pooled_r, base, 0.1))
    assert dropped.verdict in ("noise", "unchanged") and dropped.confirmation == "not confirmed"
    assert "re-measured ×1.00" in dropped.note
    # numbers that add up after pooling too
    assert dropped.ratio == dropped.median_s / dropped.baseline_median_s


def test_an_old_baseline_without_calibration_is_still_decided():
    base = _run(RUN2, CAL2)
    base = base.model_copy(update={"backends": (backend("numpy", calibration=()),)})
    cur = _run(RUN2, CAL2, slow={"add": 2.0})
    g = gate.compare(cur, base, threshold=0.10)
    assert g.noise[0].calibration_ratio is None
    assert {c.case: c.verdict for c in g.comparisons}["add"] == "regression"


def test_each_case_is_judged_against_the_calibration_of_its_kind():
    # another process held a core: the 2-thread BLAS kernel and conv2d ~3x slower, the 1-thread add
    # kernel unchanged; add really slowed 30 % (recorded: conv2d x3.39 flagged in such a run before)
    base = report([result("numpy", "add", _us(RUN2["add"])),
                   result("numpy", "conv2d", _us(RUN2["conv2d"]), category="conv")],
                  backends=[backend("numpy", processes=4, calibration=_us((70, 71, 72, 70)),
                                    calibration_blas=_us((900, 910, 905, 920)))])
    cur = report([result("numpy", "add", _us(v * 1.3 for v in RUN2["add"])),
                  result("numpy", "conv2d", _us(v * 3.4 for v in RUN2["conv2d"]), category="conv")],
                 backends=[backend("numpy", processes=4, calibration=_us((71, 70, 72, 71)),
                                   calibration_blas=_us((2900, 2950, 3000, 2800)))])
    g = gate.compare(cur, base, threshold=0.10)
    v = {c.case: c for c in g.comparisons}
    assert v["add"].verdict == "regression"
    assert v["conv2d"].verdict == "inconclusive" and "BLAS calibration kernel moved ×3.2" in v["conv2d"].note
    assert g.noise[0].blas_ratio == pytest.approx(3.2, rel=0.02)
