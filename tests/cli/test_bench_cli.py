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
    (("--backend", "theano"), "Invalid `--backend`. Expected one of {tensorflow, jax, torch, numpy, openvino}. "
                              "Received: backend=theano"),
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
    assert msg.startswith("Invalid `--op`. Expected one of {add, ") and msg.endswith("Received: op=no_such_op")


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
        assert r["status"] == "ok" and r["median_s"] > 0 and r["iqr_s"] >= 0 and len(r["samples"]) == 2
        assert r["gflops"] > 0 and 0 < r["peak_fraction"] < 1.5
    assert "regressions" not in doc
    assert json.loads(base.read_text())["format_version"] == 1

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
