"""The gate end to end on the numpy backend: a really slowed op caught (with its confirmation), progress
lines in a log, and A/B of two real environments. Tiny settings: one thread, 2 ops, 3-4 processes.

The slowed op is a real difference in the child: KBACKEND_TEST_BENCH_SLOWDOWN ("case=factor") makes
the bench worker spin after each call of that case. For A/B, a second virtual environment created
here sets it from a .pth file at interpreter start-up: the same packages, one op slower.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv

import pytest

pytestmark = pytest.mark.integration

TINY = ("bench", "--backend", "numpy", "--op", "add,relu", "--quick", "--repeat", "3", "--threads", "1")


def test_a_slowed_op_is_a_confirmed_regression_and_a_log_shows_progress(run_cli, tmp_path, monkeypatch):
    base = tmp_path / "base.json"
    code, out, err = run_cli(*TINY, "--processes", "3", "--save", str(base))
    assert code == 0, err
    # stderr is not a terminal here: one line per backend and process, with times, not one per sample
    lines = [ln for ln in err.splitlines() if ln.startswith("bench: ")]
    assert re.match(r"bench: numpy · process 1/3 · 2 cases in \d+\.\d s · \d+ s elapsed \(1/3\)$", lines[1]), lines
    assert "peak" in lines[0] and len(lines) == 4
    monkeypatch.setenv("KBACKEND_TEST_BENCH_SLOWDOWN", "add=2")
    code, out, err = run_cli(*TINY, "--processes", "3", "--baseline", str(base), "--json")
    doc = json.loads(out)
    assert code == 1, (err, [(c["case"], c["verdict"], c["ratio"], c.get("note")) for c in doc["comparisons"]],
                       doc["gate"]["noise"])
    assert [c["case"] for c in doc["regressions"]] == ["add"]
    add = doc["regressions"][0]
    assert add["confirmation"] == "confirmed" and add["processes"] == 3 + 5
    assert add["ratio"] == add["median_s"] / add["baseline_median_s"]
    # relu may be suspected too on a busy machine, and then not confirmed
    assert re.search(r"re-measuring [12] suspected case\(s\) with 5 processes before deciding", err), err
    assert {c["case"]: c["verdict"] for c in doc["comparisons"]}["relu"] != "regression"
    # the peak was measured by the first run and reused: % of peak from the same roof
    assert doc["machine"]["peak_origin"] == "cached"
    assert json.loads(base.read_text())["machine"]["peak_gflops"] == doc["machine"]["peak_gflops"]


def _slow_env(where) -> str:
    """A venv seeing this interpreter's packages, whose interpreters run with `add` twice as slow."""
    venv.create(where, with_pip=False, symlinks=os.name != "nt")
    py = str(where / "bin" / "python")
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    dirs = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    with open(os.path.join(site, "kbackend_parent.pth"), "w") as f:
        f.write("import site; " + "; ".join(f"site.addsitedir({d!r})" for d in dirs) + "\n")
    with open(os.path.join(site, "zz_kbackend_slow.pth"), "w") as f:
        f.write("import os; os.environ['KBACKEND_TEST_BENCH_SLOWDOWN'] = 'add=2'\n")
    return py


def test_ab_of_two_real_environments_finds_the_slower_op(run_cli, tmp_path):
    slow = _slow_env(tmp_path / "slow-venv")
    # 5 processes a side and no confirmation: the rank test tolerates two processes out of order
    code, out, err = run_cli(*TINY, "--processes", "5", "--no-confirm", "--ab", "--python", sys.executable,
                             "--python", slow, "--json")
    doc = json.loads(out)
    assert code == 1, (err, [(c["case"], c["verdict"], c["ratio"], c["p_slower"]) for c in doc["comparisons"]],
                       [r["process_mins"] for r in doc["results"]])
    assert [c["case"] for c in doc["regressions"]] == ["add"]
    assert {c["case"]: c["verdict"] for c in doc["comparisons"]}["relu"] != "regression"
    assert [b["python"] for b in doc["backends"]] == [slow]
    # interleaved: A's and B's processes alternate in the log
    sides = [m.group(1) for m in re.finditer(r"bench: (A|B) · numpy · process", err)]
    assert sides == ["A", "B"] * 5
