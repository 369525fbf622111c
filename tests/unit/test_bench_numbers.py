"""Numbers that add up: every printed ratio is the printed after / before, in every output.

The time shown, the time compared and the ratio come from one estimator (the median of the
per-process best samples), so a reader who divides the two printed times gets the printed ratio, to the
printed precision, on the terminal, in the markdown summary, in the HTML page and in the JSON.
"""

from __future__ import annotations

import re

import pytest

from bench_samples import backend, report, result
from kbackend.bench import gate
from kbackend.render import bench_view

UNITS = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "ns": 1e-9}
TIME = r"([0-9][0-9.,]*) (s|ms|µs|ns)"


def _seconds(value: str, unit: str) -> float:
    return float(value.replace(",", "")) * UNITS[unit]


def _gated():
    """Regressions, improvements and an inconclusive case, from µs to ms, with spread processes."""
    base = report([
        result("numpy", "add", (53.5e-6, 58.8e-6, 74.6e-6, 66.8e-6)),
        result("numpy", "conv2d", (2.748e-3, 2.9e-3, 2.6e-3, 2.7e-3)),
        result("numpy", "softmax", (15.4e-3, 15.0e-3, 16.1e-3, 15.2e-3)),
        result("numpy", "relu", (32.9e-6, 33.2e-6, 34.1e-6, 34.6e-6)),
        result("jax", "add", (106.5e-6, 101.0e-6, 99.0e-6, 111.0e-6)),
    ], backends=[backend("numpy", calibration=(1e-4,) * 4), backend("jax", calibration=(1e-4,) * 4)])
    cur = report([
        result("numpy", "add", (131.3e-6, 127.0e-6, 140.2e-6, 135.9e-6)),
        result("numpy", "conv2d", (9.181e-3, 9.0e-3, 9.4e-3, 9.3e-3)),
        result("numpy", "softmax", (7.502e-3, 7.4e-3, 7.7e-3, 7.6e-3)),
        result("numpy", "relu", (33.0e-6, 33.9e-6, 33.5e-6, 34.0e-6)),
        result("jax", "add", (161.0e-6, 158.0e-6, 170.0e-6, 165.0e-6)),
    ], backends=[backend("numpy", calibration=(1e-4,) * 4), backend("jax", calibration=(1.5e-4,) * 4)])
    g = gate.compare(cur, base, threshold=0.10, baseline_path="base.json")
    assert {c.verdict for c in g.comparisons} >= {"regression", "improvement", "inconclusive", "unchanged"}
    return cur.model_copy(update={"gate": g})


def _check(pairs: list[tuple[float, float, float]]) -> None:
    assert pairs
    for before, after, ratio in pairs:
        # the times have 4 significant digits, the ratio 2 decimals
        assert ratio == pytest.approx(after / before, abs=0.005 + 0.002 * ratio), (before, after, ratio)


def test_terminal_ratios_are_the_printed_times_ratio(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    rep = _gated()
    bench_view.terminal(rep)
    out = capsys.readouterr().out
    found = re.findall(TIME + r" → " + TIME + r" \(×([0-9.]+)", out)
    _check([(_seconds(a, au), _seconds(b, bu), float(r)) for a, au, b, bu, r in found])
    assert len(found) == len(rep.gate.regressions + rep.gate.improvements + rep.gate.inconclusive)
    # the verdict's "now" is the time of that case in the results table
    for c in rep.gate.regressions:
        row = next(r for r in rep.results if r.key == (c.backend, c.case, c.size, c.dtype, c.mode))
        assert bench_view.fmt_time(row.median_s) == bench_view.fmt_time(c.median_s)


def test_markdown_ratios_are_the_printed_times_ratio():
    md = bench_view.markdown(_gated())
    found = re.findall(r"\| " + TIME + r" \| " + TIME + r" \| ×([0-9.]+) \|", md)
    _check([(_seconds(a, au), _seconds(b, bu), float(r)) for a, au, b, bu, r in found])
    assert len(found) == 4


def test_html_ratios_are_the_printed_times_ratio():
    page = bench_view.html(_gated())
    found = re.findall(r"<td>" + TIME + r"</td><td>" + TIME + r"</td><td>×([0-9.]+)</td>", page)
    _check([(_seconds(a, au), _seconds(b, bu), float(r)) for a, au, b, bu, r in found])
    assert len(found) == 4


def test_json_ratio_is_exactly_after_over_before():
    data = bench_view.json_data(_gated())
    assert data["comparisons"]
    for c in data["comparisons"]:
        assert c["ratio"] == c["median_s"] / c["baseline_median_s"]
    by_key = {(r["backend"], r["case"]): r for r in data["results"]}
    for c in data["comparisons"]:
        r = by_key[(c["backend"], c["case"])]
        assert c["median_s"] == r["median_s"] and c["iqr_s"] == r["iqr_s"]


def test_the_spread_is_of_the_estimator_shown():
    r = result("numpy", "add", (1.0, 2.0, 3.0, 4.0, 100.0))
    assert r.median_s == 3.0 and r.iqr_s == 2.0  # quartiles of the per-process values, not of all samples
