"""Bench against cases that crash or hang their process: left out, the rest still timed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from kbackend._record import replace
from kbackend.bench import run
from kbackend.workers.runner import worker_path

pytestmark = pytest.mark.integration

FAULTY = textwrap.dedent('''
    import dataclasses, importlib.util, os, sys, time
    spec = importlib.util.spec_from_file_location("real_bench_cases", {real!r})
    real = importlib.util.module_from_spec(spec)
    sys.modules["real_bench_cases"] = real
    spec.loader.exec_module(real)
    from real_bench_cases import make_args, seed_for, to_tensors, SIZES  # noqa: F401
    add = real.CASES_BY_NAME["add"]
    CASES = real.CASES + (
        dataclasses.replace(add, name="crash_me", call=lambda ops, a: os.abort()),
        dataclasses.replace(add, name="hang_me", call=lambda ops, a: time.sleep(3600)),
    )
    CASES_BY_NAME = {{c.name: c for c in CASES}}
''')


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "fresh"])
def test_crashing_and_hanging_cases_are_left_out(tmp_path, fork):
    cases = tmp_path / "faulty_cases.py"
    cases.write_text(FAULTY.format(real=run.CASES_PATH))
    items = run.select(run.catalog(sys.executable, cases_path=str(cases)), ops=["add", "crash_me", "hang_me", "relu"],
                       sizes=["small"])
    plan = run.make_plan(["numpy"], items, threads=1, processes=2, rounds=1, quick=True, item_timeout=3,
                         cases_path=str(cases))
    assert plan.fork  # --quick forks its processes after one import (bench/zygote.py); the default does not
    plan = replace(plan, fork=fork)
    rep = run.run_interleaved(sys.executable, [plan], measure_peak=False)[0]
    got = {r.case: r for r in rep.results}
    assert rep.backends[0].status == "ok" and rep.backends[0].processes == 2
    assert got["add"].status == got["relu"].status == "ok"
    assert len(got["add"].process_medians) == 2
    assert got["crash_me"].status == "crashed" and "SIGABRT" in got["crash_me"].error
    assert got["hang_me"].status == "timeout" and "more than 3 s" in got["hang_me"].error
    assert "first call" in got["hang_me"].error


def test_watchdog_ends_a_stuck_step(tmp_path):
    progress = tmp_path / "progress"
    code = textwrap.dedent(f'''
        import importlib.util, time
        spec = importlib.util.spec_from_file_location("w", {worker_path("bench_worker.py")!r})
        w = importlib.util.module_from_spec(spec); spec.loader.exec_module(w)
        dog = w.Watchdog(0.3, {str(progress)!r})
        dog.arm("prepare", {{"case": "slow", "size": "small", "dtype": "float32"}})
        time.sleep(30)
    ''')
    proc = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert proc.returncode == 124
    assert progress.read_text() == "timeout\tslow\tsmall\tfloat32\n"
