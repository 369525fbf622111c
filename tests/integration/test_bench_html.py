"""The HTML report opened in headless Chromium: it renders, with no console error and no network request.

Needs Debian's chromium (`apt-get install -y --no-install-recommends chromium`);
without it the tests fail on CI (CI or KBACKEND_REQUIRE_CHROMIUM set) and are
skipped with that install line elsewhere.
"""

from __future__ import annotations

import os

import pytest

from bench_chromium import INSTALL, find_chromium, render
from bench_samples import backend, report, result
from kbackend.bench import gate
from kbackend.render import bench_view

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def chromium():
    if find_chromium() is None:
        msg = f"chromium is not installed: {INSTALL}"
        if os.environ.get("CI") or os.environ.get("KBACKEND_REQUIRE_CHROMIUM"):
            pytest.fail(msg)
        pytest.skip(msg)


def _page(tmp_path):
    base = report([result("numpy", "add"), result("jax", "add", (0.4,) * 3), result("numpy", "matmul", flops=1e10)])
    cur = report([result("numpy", "add", (1.4,) * 3), result("jax", "add", (0.4,) * 3),
                  result("numpy", "matmul", (0.7,) * 3, flops=1e10),
                  result("torch", "add", status="error", error="<RuntimeError> & 'quotes'", median_s=None)],
                 backends=[backend("numpy"), backend("jax"), backend("torch", status="crashed", error="killed")])
    rep = cur.model_copy(update={"gate": gate.compare(cur, base, threshold=0.1, baseline_path="base.json")})
    path = tmp_path / "bench.html"
    path.write_text(bench_view.html(rep))
    return path


def test_report_renders_without_errors(tmp_path):
    got = render(str(_page(tmp_path)))
    assert got["errors"] == [] and got["requests"] == []
    probe = got["probe"]
    assert probe["title"] == "kbackend bench"
    assert probe["svg_count"] == 3 and probe["svg_drawn"] == 3  # roofline + add + matmul
    assert probe["marks"] >= 3 + 3  # bars and roofline points
    assert "1 regression(s), 1 improvement(s)" in probe["text"]
    assert "<RuntimeError> & 'quotes'" in probe["text"]  # escaped in the source, shown as text


def test_the_checker_sees_errors_and_network_requests(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><title>bad</title></head><body>'
                   '<img src="http://192.0.2.1/logo.png"><script>console.error("oops"); undefinedFn();</script>'
                   '</body></html>')
    got = render(str(bad))
    assert any("oops" in e for e in got["errors"])
    assert any("undefinedFn" in e for e in got["errors"])
    assert got["requests"] == ["http://192.0.2.1/logo.png"]
