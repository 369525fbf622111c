"""`kbackend bench` on the command line: options, exit codes, the JSON contract, files written.

Errors found before any backend starts are tested plainly; the runs that start
the numpy backend (one process, two rounds) are marked integration.
"""

from __future__ import annotations

import json
import shutil

import pytest


def _json(out: str) -> dict:
    return json.loads(out)  # the whole of stdout is one document


def test_help_shows_examples(run_cli):
    code, out, _ = run_cli("bench", "--help")
    assert code == 0
    assert "kbackend bench --quick" in out and "--max-regression" in out and "--force-compare" in out


@pytest.mark.parametrize("args,msg", [
    (("--backend", "theano"), "Invalid `--backend`. Expected one of ['tensorflow', 'jax', 'torch', 'numpy', "
                              "'openvino'] (the Keras 3 backends). Received: backend=theano"),
    (("--backend", "jax,nope"), "Received: backend=nope"),
])
def test_bad_backend_is_a_usage_error(run_cli, args, msg):
    code, out, err = run_cli("bench", *args)
    assert code == 2 and msg in err and out == ""


def test_bad_backend_with_json_is_an_error_document(run_cli):
    code, out, err = run_cli("bench", "--backend", "cntk", "--json")
    doc = _json(out)
    assert code == 2 and doc["exit_code"] == 2 and doc["command"] == "bench"
    assert "Received: backend=cntk" in doc["error"]["message"]


@pytest.mark.parametrize("args", [("--max-regression", "0"), ("--threads", "0"), ("--size", "huge"),
                                  ("--dtype", "int8"), ("--processes", "0")])
def test_out_of_range_options_are_usage_errors(run_cli, args):
    code, _, err = run_cli("bench", *args)
    assert code == 2 and args[0] in err


def test_unreadable_baseline_fails_before_any_timing(run_cli, tmp_path):
    bad = tmp_path / "base.json"
    bad.write_text('{"format": "kbackend-bench", "format_version": 99}')
    code, out, err = run_cli("bench", "--backend", "numpy", "--baseline", str(bad), "--json")
    doc = _json(out)
    assert code == 1
    assert "Received: format_version=99" in doc["error"]["message"]
    code, _, err = run_cli("bench", "--baseline", str(tmp_path / "absent.json"))
    assert code == 1 and "Cannot read the baseline" in err


def test_keras_missing_in_the_target(run_cli):
    py = shutil.which("python3.11", path="/usr/bin")
    if py is None:
        pytest.skip("no /usr/bin/python3.11 without Keras on this machine")
    code, out, err = run_cli("--python", py, "bench", "--quick")
    assert code == 1 and "Keras is not installed in" in err and "pip install 'keras>=3'" in err


def test_unknown_op_lists_the_cases(run_cli):
    code, out, err = run_cli("bench", "--backend", "numpy", "--op", "add,no_such_op", "--json")
    doc = _json(out)
    assert code == 2
    msg = doc["error"]["message"]
    # The suite's 100+ names are listed by `kbackend verify --list`; the fix keeps the valid ones.
    assert msg.startswith("Invalid `--op`. Expected case names of the suite (see `kbackend verify --list`). ")
    assert msg.endswith("Received: op=no_such_op.")
    assert doc["error"]["fix"] == "kbackend bench --op add"


FAST = ("bench", "--backend", "numpy", "--op", "add,matmul", "--processes", "1", "--repeat", "2", "--quick",
        "--threads", "1")


@pytest.mark.integration
def test_json_contract_save_compare_and_reports(run_cli, tmp_path):
    base = tmp_path / "base.json"
    code, out, err = run_cli(*FAST, "--json", "--save", str(base))
    doc = _json(out)
    assert code == 0, err
    assert (doc["schema_version"], doc["command"], doc["exit_code"]) == (1, "bench", 0)
    m = doc["machine"]
    assert m["threads"] == 1 and m["cores"] >= 1 and m["cpu"]
    assert m["peak_gflops"]["float32"] > 0 and m["peak_gbs"] > 0
    assert {(r["backend"], r["case"], r["dtype"]) for r in doc["results"]} == {
        ("numpy", "add", "float32"), ("numpy", "matmul", "float32")}
    for r in doc["results"]:
        assert r["status"] == "ok" and r["median_s"] > 0 and r["iqr_s"] is None and len(r["samples"]) == 2
        assert r["gflops"] > 0 and 0 < r["peak_fraction"] < 1.5
    assert "regressions" not in doc
    assert json.loads(base.read_text())["format_version"] == 2

    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    md, page = tmp_path / "bench.md", tmp_path / "bench.html"
    code, out, err = run_cli(*FAST, "--json", "--baseline", str(base), "--markdown", str(md), "--html", str(page),
                             env={"GITHUB_STEP_SUMMARY": str(summary)})
    doc = _json(out)
    # one process and two rounds a side can never be significant: no regression whatever the noise
    assert code == 0 and doc["regressions"] == [] and doc["refused"] == []
    assert sorted(c["case"] for c in doc["comparisons"]) == ["add", "matmul"]
    assert all(c["repetitions"] == "rounds" for c in doc["comparisons"])
    assert md.read_text().startswith("## kbackend bench")
    assert summary.read_text().startswith("earlier step\n## kbackend bench")
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert f"wrote {page}" in err

    code, out, err = run_cli(*FAST[:-1], "2", "--baseline", str(base))  # --threads 2 against a 1-thread baseline
    assert code == 0
    assert "not compared numpy: threads: baseline 1, now 2" in out and "--force-compare" in out


@pytest.mark.integration
def test_terminal_output_ranks_and_nothing_but_json_with_json(run_cli):
    code, out, err = run_cli(*FAST)
    assert code == 0
    assert out.startswith("Machine: ") and "add" in out and "matmul" in out and "Fastest: numpy 2" in out
    code, out, err = run_cli(*FAST, "--json")
    assert out.lstrip().startswith("{") and out.rstrip().endswith("}")


def _saved(tmp_path, name, add_medians, calibration=(1e-4,) * 4):
    from bench_samples import backend, report, result
    from kbackend.bench import baseline

    rep = report([result("numpy", "add", add_medians), result("numpy", "relu", (2e-5, 2.1e-5, 1.9e-5, 2e-5))],
                 backends=[backend("numpy", processes=4, calibration=calibration)])
    path = tmp_path / name
    baseline.save(rep, str(path))
    return str(path)


def test_compare_decides_between_two_saved_runs_without_measuring(run_cli, tmp_path, monkeypatch):
    from kbackend.bench import run

    def no_measuring(*a, **k):
        raise AssertionError("compare measured something")

    monkeypatch.setattr(run, "run_interleaved", no_measuring)
    old = _saved(tmp_path, "old.json", (1e-4, 1.02e-4, 0.98e-4, 1e-4))
    new = _saved(tmp_path, "new.json", (2e-4, 2.02e-4, 1.98e-4, 2e-4))
    code, out, err = run_cli("bench", "compare", old, new)
    assert code == 1, err
    assert "regression  numpy add medium float32: 100.0 µs → 200.0 µs (×2.00" in out
    assert "none re-measured" in out
    code, out, _ = run_cli("bench", "compare", old, old, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["command"] == "bench" and doc["regressions"] == []
    # the machine was slower in NEW: its calibration kernel moved as much as the case
    drift = _saved(tmp_path, "drift.json", (2e-4, 2.02e-4, 1.98e-4, 2e-4), calibration=(2e-4,) * 4)
    code, out, _ = run_cli("bench", "compare", old, drift, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["regressions"] == []
    assert [c["verdict"] for c in doc["comparisons"] if c["case"] == "add"] == ["inconclusive"]
    code, _, _ = run_cli("bench", "compare", old, drift, "--strict")
    assert code == 1


def test_compare_needs_two_readable_files(run_cli, tmp_path):
    code, out, err = run_cli("bench", "compare", str(tmp_path / "absent.json"), str(tmp_path / "b.json"))
    assert code == 1 and "Cannot read the baseline" in err
    code, _, err = run_cli("bench", "compare", "only-one.json")
    assert code == 2 and "Missing argument" in err


def test_ab_needs_two_pythons(run_cli):
    code, _, err = run_cli("bench", "--ab", "--python", "/usr/bin/python3")
    assert code == 2 and "pass `--python` twice" in err
    code, _, err = run_cli("bench", "--python", "/usr/bin/python3")
    assert code == 2 and "--ab" in err
    code, _, err = run_cli("bench", "--ab", "--python", "a", "--python", "b", "--baseline", "base.json")
    assert code == 2 and "not with a baseline" in err
