"""--quick's processes forked after one import (bench/zygote.py): real forks of a real interpreter.

Each request is its own process (its own pid, its own result), the importing process survives a
request that hangs past the parent's limit, an import that fails is every request's error, and a
dead importing process is a crash of the request, never a hang of kbackend.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from kbackend.bench import run, zygote
from kbackend.workers.runner import CASES_PATH

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not zygote.available(), reason="fork is POSIX-only")]


def _inp(tmp_path, *items, timeout=None):
    return {"mode": "run", "cases_path": CASES_PATH, "threads": 1, "jit": False,
            "items": [{"case": c, "size": "small", "dtype": "float32"} for c in items], "rounds": 2,
            "min_time": 0.0005, "warmup_time": 0.001, "slowdown": {}, "peak_probe": False,
            "item_timeout": timeout, "progress": str(tmp_path / f"progress-{time.monotonic_ns()}")}


def _zygote(tmp_path, backend="numpy"):
    env = dict(run.thread_env(1), KERAS_BACKEND=backend, KERAS_HOME=str(tmp_path / "keras"))
    return zygote.Zygote(sys.executable, run.WORKER, {"threads": 1}, env)


def test_each_request_is_its_own_forked_process_with_the_one_import_time(tmp_path):
    z = _zygote(tmp_path)
    try:
        assert z.wait_ready(120)  # imported: nothing is timed before every backend's import is done
        a, b = z.run(_inp(tmp_path, "add"), 120), z.run(_inp(tmp_path, "relu"), 120)
        assert a.ok and b.ok, (a.error, a.log[-2000:], b.error)
        assert a.data["pid"] != b.data["pid"] and z.child.pid not in (a.data["pid"], b.data["pid"])
        assert [it["case"] for it in a.data["items"]] == ["add"] and a.data["items"][0]["status"] == "ok"
        # the import happened once, in the importing process: both report its time
        assert a.data["import_s"] == b.data["import_s"] > 0
    finally:
        z.close()
    assert z.child is None and not os.path.exists(z.dir)


def test_a_request_past_the_parents_limit_is_killed_and_the_next_one_runs(tmp_path):
    cases = tmp_path / "slow_cases.py"
    cases.write_text(
        "import dataclasses, importlib.util, sys, time\n"
        f"spec = importlib.util.spec_from_file_location('real_cases', {CASES_PATH!r})\n"
        "real = importlib.util.module_from_spec(spec); sys.modules['real_cases'] = real\n"
        "spec.loader.exec_module(real)\n"
        "from real_cases import make_args, seed_for, to_tensors, SIZES  # noqa: F401\n"
        "CASES = real.CASES + (dataclasses.replace(real.CASES_BY_NAME['add'], name='hang_me',\n"
        "                                          call=lambda ops, a: time.sleep(3600)),)\n"
        "CASES_BY_NAME = {c.name: c for c in CASES}\n")
    z = _zygote(tmp_path)
    try:
        assert z.run(_inp(tmp_path, "add"), 120).ok  # the import is done
        t0 = time.monotonic()
        hung = z.run(dict(_inp(tmp_path, "hang_me"), cases_path=str(cases)), 3)  # no watchdog: the parent's limit
        assert hung.status == "timeout" and "no result after 3 s" in hung.error
        assert time.monotonic() - t0 < 15
        again = z.run(_inp(tmp_path, "relu"), 120)
        assert again.ok, (again.error, again.log[-2000:])
    finally:
        z.close()


def test_an_import_that_fails_is_each_requests_error(tmp_path):
    z = _zygote(tmp_path, backend="no_such_backend")
    try:
        assert z.wait_ready(120)  # done importing, if unsuccessfully: the wait does not last
        for _ in range(2):
            r = z.run(_inp(tmp_path, "add"), 120)
            assert r.status in ("error", "import_error") and "no_such_backend" in r.error, (r.status, r.error)
    finally:
        z.close()


def test_a_dead_importing_process_is_a_crash_not_a_hang(tmp_path):
    z = _zygote(tmp_path)
    try:
        assert z.run(_inp(tmp_path, "add"), 120).ok
        os.killpg(z.child.pid, signal.SIGKILL)
        os.remove(z.ready_path)
        assert not z.wait_ready(10)
        t0 = time.monotonic()
        r = z.run(_inp(tmp_path, "add"), 120)
        assert r.status == "crashed" and "importing process ended" in r.error and time.monotonic() - t0 < 10
        assert z.run(_inp(tmp_path, "add"), 120).status == "crashed"  # and stays so
    finally:
        z.close()


def test_quick_forks_and_the_default_does_not():
    items = (run.Item("add", "elementwise", "medium", "float32"),)
    assert run.make_plan(["numpy"], items, quick=True).fork
    assert not run.make_plan(["numpy"], items).fork
    assert run.make_plan(["numpy"], items, quick=True).options()["processes_forked"] is True
