"""Bench reports: terminal ranking with bars, JSON data, markdown for CI, self-contained HTML."""

from __future__ import annotations

import re

from bench_samples import backend, report, result
from kbackend.bench import gate
from kbackend.render import bench_view


def _report_with_gate():
    base = report([result("numpy", "add"), result("jax", "add", (0.5,) * 3), result("numpy", "matmul")])
    cur = report([result("numpy", "add", (1.5,) * 3), result("jax", "add", (0.5,) * 3),
                  result("numpy", "matmul", (0.6,) * 3),
                  result("torch", "add", status="error", error="RuntimeError: <boom> | x", median_s=None)],
                 backends=[backend("numpy"), backend("jax"), backend("torch", status="import_error", error="no torch")])
    return cur.model_copy(update={"gate": gate.compare(cur, base, threshold=0.1, baseline_path="base.json")})


def test_fmt_time_units():
    assert bench_view.fmt_time(1.5e-3) == "1.500 ms"
    assert bench_view.fmt_time(None) == "-"


def test_terminal_ranks_fastest_first_with_bars(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # room for the full bar (at 80 columns it is shorter: tests/faults/test_width.py)
    bench_view.terminal(_report_with_gate())
    out = capsys.readouterr().out
    block = out[out.index("add  medium"):out.index("matmul")]
    lines = [ln for ln in block.splitlines()[1:] if ln.strip()]
    assert lines[0].split()[:2] == ["1", "jax"] and lines[1].split()[:2] == ["2", "numpy"]
    assert "█" * bench_view.BAR_WIDTH in lines[0] and "3.00×" in lines[1]
    assert "error" in lines[2] and "torch" in lines[2]
    assert "regression" in out and "improvement" in out and "import_error" in out


def test_json_data_has_the_documented_fields():
    data = bench_view.json_data(_report_with_gate())
    assert {"cpu", "cores", "threads", "peak_gflops", "peak_gbs"} <= set(data["machine"])
    r = data["results"][0]
    assert {"backend", "case", "dtype", "median_s", "iqr_s", "gflops", "peak_fraction"} <= set(r)
    assert [(x["backend"], x["case"], round(x["ratio"], 2)) for x in data["regressions"]] == [("numpy", "add", 1.5)]
    assert [x["case"] for x in data["improvements"]] == ["matmul"]


def test_markdown_fits_a_job_page():
    md = bench_view.markdown(_report_with_gate())
    assert md.startswith("## kbackend bench")
    assert ":x: **1 regression(s)**" in md
    assert "| regression | numpy | add |" in md
    assert "RuntimeError: <boom> \\| x" in md  # a pipe would break the table
    assert all(line.count("|") in (0, 10, 11, 12) for line in md.splitlines() if line.startswith("|"))


def test_html_is_self_contained_and_escaped():
    page = bench_view.html(_report_with_gate())
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page and "@import" not in page
    assert page.count("<svg") == 1 + 2  # the roofline + a chart per case (add, matmul)
    assert "&lt;boom&gt;" in page and "<boom>" not in page
    assert "regression" in page


def test_roofline_without_peaks_says_so():
    r = report([result()], machine=None)
    empty = r.model_copy(update={"machine": r.machine.model_copy(update={"peak_gflops": {}})})
    assert "No roofline" in bench_view.roofline_svg(empty)


def test_progress_is_one_line_per_timed_step_without_a_terminal(capsys):
    from kbackend.bench.run import Progress
    from kbackend.render.progress import progress

    with progress("bench", 2) as step:
        cb = bench_view.steps(step)
        cb(Progress("numpy", 0, "peak"))
        cb(Progress("jax", 1, "start", total=2))
        cb(Progress("jax", 1, "round 1/3", "matmul", "medium", "float32", done=1, total=2))
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err.splitlines() == ["bench: jax · process 2 · round 1/3 · matmul medium float32 (1/2)"]


def test_progress_bar_names_the_case_being_timed(monkeypatch):
    import io

    from kbackend.bench.run import Progress
    from kbackend.render import progress

    monkeypatch.setenv("COLUMNS", "120")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    buf = Terminal()
    with progress.progress("bench", 4, stream=buf) as step:
        cb = bench_view.steps(step)
        cb(Progress("numpy", 0, "peak"))
        cb(Progress("jax", 1, "start", total=2))
        cb(Progress("jax", 1, "round 1/3", "matmul", "medium", "float32", done=1, total=2))
    shown = buf.getvalue()
    assert "jax · process 2 · round 1/3 · matmul medium float32" in shown and "1/4" in shown


def test_a_log_gets_one_line_per_backend_and_process_with_times(capsys):
    from kbackend.bench.run import Progress
    from kbackend.render.progress import progress

    with progress("bench", 2) as step:
        cb = bench_view.steps(step, lines=True, total=2)
        cb(Progress("numpy", 0, "peak"))
        cb(Progress("numpy", 0, "start", total=14))
        cb(Progress("numpy", 0, "round 1/3", "add", "medium", "float32", done=1, total=14))  # no line per sample
        cb(Progress("numpy", 0, "done", seconds=2.34, elapsed=5.6, processes=2, items=6))
        cb(Progress("", 0, "phase", label="confirm", items=1, processes=5, total=5))
        cb(Progress("numpy", 0, "done", seconds=1.5, elapsed=9.0, processes=5, items=1, label="confirm"))
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.splitlines() == [
        "bench: measuring this machine's peak (once per machine; cached)",
        "bench: numpy · process 1/2 · 6 cases in 2.3 s · 6 s elapsed (1/2)",
        "bench: re-measuring 1 suspected case(s) with 5 processes before deciding",
        "bench: confirm · numpy · process 1/5 · 1 cases in 1.5 s · 9 s elapsed (2/7)",
    ]
