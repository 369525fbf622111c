"""Baseline files: round trip, versioned format, refusal of what cannot be read."""

from __future__ import annotations

import json
import os
import stat

import pytest

from bench_samples import report, result
from kbackend.bench import baseline
from kbackend.bench.baseline import BaselineError
from kbackend.render import bench_view
from kbackend.render.output import envelope


def test_round_trip_keeps_every_sample(tmp_path):
    r = report([result("numpy", "add", (1.0, 1.1, 0.9)), result("jax", "matmul", (2.0, 2.0, 2.1), status="ok")])
    path = tmp_path / "base.json"
    baseline.save(r, str(path))
    back = baseline.load(str(path))
    assert back == r
    assert back.results[0].samples == r.results[0].samples
    doc = json.loads(path.read_text())
    assert doc["format"] == "kbackend-bench" and doc["format_version"] == 2 and doc["saved_at"].endswith("Z")


def test_save_is_atomic_and_readable_by_others(tmp_path):
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "base.json"
    path.write_text("old")
    baseline.save(report([result()]), str(path))
    assert [p.name for p in path.parent.iterdir()] == ["base.json"]  # no temp file left
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o044  # not 0600 like a mkstemp file


def test_save_to_a_missing_directory_is_a_user_error(tmp_path):
    with pytest.raises(BaselineError, match="Cannot write the baseline"):
        baseline.save(report([result()]), str(tmp_path / "no" / "base.json"))


def test_newer_format_version_is_refused(tmp_path):
    doc = json.loads(baseline.dumps(report([result()])))
    doc["format_version"] = 3
    with pytest.raises(BaselineError) as e:
        baseline.loads(json.dumps(doc), "b.json")
    assert "Received: format_version=3" in e.value.message and "upgrade kbackend" in e.value.fix


@pytest.mark.parametrize("text,match", [
    ("{nope", "not JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"format": "pyperf"}', "Received: format='pyperf'"),
    ('{"format": "kbackend-bench", "format_version": 1, "machine": {"cpu": "x"}}', "machine.cores"),
])
def test_unreadable_baselines_say_why(text, match):
    with pytest.raises(BaselineError, match=match):
        baseline.loads(text)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(BaselineError, match="Cannot read the baseline"):
        baseline.load(str(tmp_path / "absent.json"))


def test_bench_json_output_is_accepted_as_a_baseline():
    r = report([result()])
    doc = envelope("bench", 0, bench_view.json_data(r))
    assert baseline.loads(json.dumps(doc)) == r


def test_a_version_1_file_is_read_with_the_one_estimator():
    import json

    from bench_samples import report, result

    r = result("numpy", "add", (1.0, 2.0, 3.0, 4.0, 100.0))
    doc = json.loads(baseline.dumps(report([r])))
    doc["format_version"] = 1
    doc["results"][0].update(median_s=2.5, iqr_s=50.0)  # version 1: of all samples
    old = baseline.loads(json.dumps(doc))
    assert old.results[0].median_s == 3.0 and old.results[0].iqr_s == 2.0
