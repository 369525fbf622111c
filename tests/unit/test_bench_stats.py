"""Bench statistics and the worker's timing loop, with synthetic samples and a fake clock."""

from __future__ import annotations

import importlib.util
import random

import pytest

from kbackend.bench import stats
from kbackend.workers.runner import worker_path


def _worker():
    spec = importlib.util.spec_from_file_location("bench_worker_under_test", worker_path("bench_worker.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


W = _worker()


class FakeClock:
    """Time advances only when a fake op runs (or when the spin loop reads it)."""

    def __init__(self, tick: float = 0.0):
        self.now = 0.0
        self.tick = tick  # cost of reading the clock

    def __call__(self) -> float:
        self.now += self.tick
        return self.now

    def op(self, cost: float, log: list | None = None, name: str = ""):
        def fn():
            self.now += cost
            if log is not None:
                log.append(name)
            return name

        return fn


# ---------------------------------------------------------------- statistics


def test_median_quantiles_iqr_match_numpy_linear_interpolation():
    np = pytest.importorskip("numpy")
    rng = random.Random(3)
    for n in (1, 2, 5, 10, 31):
        xs = [rng.random() for _ in range(n)]
        assert stats.median(xs) == pytest.approx(float(np.median(xs)))
        assert stats.quantile(xs, 0.25) == pytest.approx(float(np.percentile(xs, 25)))
        assert stats.iqr(xs) == pytest.approx(float(np.percentile(xs, 75) - np.percentile(xs, 25)))


def test_quantile_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        stats.median([])


def test_mann_whitney_exact_small_samples():
    # 3 against 3: complete separation is the one labelling in C(6,3) = 20.
    assert stats.mann_whitney_greater([4, 5, 6], [1, 2, 3]) == pytest.approx(1 / 20)
    assert stats.mann_whitney_greater([1, 2, 3], [4, 5, 6]) == pytest.approx(1.0)
    assert stats.mann_whitney_greater([1, 5, 6], [2, 3, 4]) > 0.05
    assert stats.mann_whitney_greater([], [1.0]) == 1.0


def test_mann_whitney_agrees_with_scipy():
    sp = pytest.importorskip("scipy.stats")
    rng = random.Random(7)
    for n, m in ((3, 3), (4, 6), (5, 5), (12, 15), (30, 30)):
        a = [rng.gauss(0.3, 1) for _ in range(n)]
        b = [rng.gauss(0, 1) for _ in range(m)]
        method = "exact" if n + m <= 13 else "asymptotic"
        want = sp.mannwhitneyu(a, b, alternative="greater", method=method).pvalue
        assert stats.mann_whitney_greater(a, b) == pytest.approx(want, rel=1e-6, abs=1e-9), (n, m)


def test_mann_whitney_with_ties_is_a_valid_probability():
    p = stats.mann_whitney_greater([1.0, 1.0, 2.0], [1.0, 1.0, 1.0])
    assert 0 < p < 1


# ---------------------------------------------------------------- the worker's timing loop


def test_autorange_grows_blocks_until_min_time():
    clock = FakeClock()
    loops, t = W.autorange(clock.op(1e-4), clock, min_time=0.01)
    assert t >= 0.01
    assert loops * 1e-4 == pytest.approx(t)
    assert loops < 0.01 / 1e-4 * 3  # never more than ~2x past what the target needs


def test_autorange_slow_op_takes_one_call_per_sample():
    clock = FakeClock()
    assert W.autorange(clock.op(0.5), clock, min_time=0.01) == (1, 0.5)


def test_autorange_respects_max_loops():
    clock = FakeClock()
    loops, _ = W.autorange(clock.op(0.0), clock, min_time=0.01, max_loops=1000)
    assert loops == 1000


def _item(name, fn, setup_s=0.0):
    return {"case": name, "size": "s", "dtype": "f", "status": "ok", "make": lambda: (fn, "eager", setup_s)}


def test_first_call_is_reported_apart_and_rounds_are_interleaved():
    clock = FakeClock()
    log: list[str] = []
    compiled = {"done": False}

    def jit_like():
        clock.now += 0.0 if compiled["done"] else 2.0  # compilation on the first call only
        compiled["done"] = True
        clock.now += 1e-3
        log.append("a")

    items = [_item("a", jit_like), _item("b", clock.op(2e-3, log, "b")),
             {"case": "c", "size": "s", "dtype": "f", "status": "skipped"}]
    W.measure_items(items, rounds=4, clock=clock, min_time=0.01, warmup_time=0.0)
    a, b, c = items
    assert a["first_call_s"] == pytest.approx(2.001)
    assert a["samples"] == pytest.approx([1e-3] * 4)
    assert b["samples"] == pytest.approx([2e-3] * 4)
    assert "samples" not in c
    # the timed phase alternates a-block, b-block, a-block ...
    timed = log[-(a["loops"] + b["loops"]) * 4:]
    blocks = [timed[i] for i in range(0, len(timed), a["loops"] + b["loops"])]
    assert blocks == ["a"] * 4
    assert timed[a["loops"]] == "b"


def test_an_item_that_raises_is_an_error_not_a_crash():
    clock = FakeClock()

    def boom():
        raise RuntimeError("op not supported")

    items = [_item("x", boom)]
    W.measure_items(items, rounds=2, clock=clock, min_time=0.01, warmup_time=0.0)
    assert items[0]["status"] == "error" and "op not supported" in items[0]["error"]


def test_set_up_time_counts_in_the_first_call_and_the_watchdog_follows_every_step():
    clock = FakeClock()

    class Recorder:
        steps: list = []

        def arm(self, stage, item):
            self.steps.append((stage, item and item["case"]))

    items = [_item("x", clock.op(1e-3), setup_s=3.0)]
    W.measure_items(items, rounds=2, clock=clock, min_time=0.01, warmup_time=0.0, watchdog=Recorder())
    assert items[0]["first_call_s"] == pytest.approx(3.001)
    assert Recorder.steps == [("prepare", "x"), ("round 1/2", "x"), ("round 2/2", "x"), (None, None)]


def test_slowed_adds_the_factor_per_call():
    clock = FakeClock(tick=1e-7)
    fn = W.slowed(clock.op(1e-3), 1.3, clock)
    t0 = clock()
    fn()
    assert clock() - t0 == pytest.approx(1.3e-3, rel=0.01)


def test_warm_up_calls_at_least_twice():
    clock = FakeClock()
    calls = []
    assert W.warm_up(clock.op(1.0, calls, "x"), clock, min_time=0.0) == 2
    assert W.warm_up(clock.op(1e-3), clock, min_time=0.01) >= 10
