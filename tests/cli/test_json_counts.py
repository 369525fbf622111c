"""One name for the tallies: `counts` in doctor, verify, bench and envs JSON; verify says what is missing."""

from __future__ import annotations

import json

import pytest

import bench_samples as S
from tests.faults.gpu_fakes import fake_python, site


def test_doctor_counts_its_checks(run_cli):
    code, out, _ = run_cli("doctor", "--json", "--check", "python", "--check", "keras")
    doc = json.loads(out)
    assert "summary" not in doc
    assert set(doc["counts"]) == {"ok", "warn", "error", "skip", "crashed"}
    assert sum(doc["counts"].values()) == len(doc["checks"]) == 2


def test_bench_counts_its_results():
    from kbackend.render.bench_view import json_data

    rep = S.report([S.result("numpy", "add"), S.result("numpy", "mul", status="error", error="boom")])
    data = json_data(rep)
    assert data["counts"]["ok"] == 1 and data["counts"]["error"] == 1 and sum(data["counts"].values()) == 2


def test_envs_counts_its_environments(tmp_path, run_cli):
    broken = tmp_path / "broken-env"
    broken.mkdir()
    code, out, _ = run_cli("envs", "--json", "--path", str(broken))
    doc = json.loads(out)
    assert doc["counts"]["broken"] >= 1
    assert sum(doc["counts"].values()) == len(doc["environments"])


@pytest.fixture
def no_torch(tmp_path):
    """A stand-in interpreter whose site-packages holds Keras 3 and jax, not torch."""
    sp = site(tmp_path / "site", {"keras": "3.15.1", "jax": "0.7.0", "jaxlib": "0.7.0", "numpy": "2.1.0"})
    return fake_python(tmp_path, [str(sp)])


def test_verify_of_a_backend_that_is_not_installed_says_how_to_install_it(no_torch, run_cli):
    code, out, err = run_cli("--python", str(no_torch), "verify", "--backend", "torch", env={"COLUMNS": "300"})
    assert code == 1
    assert f"torch: not installed; install it with: {no_torch} -m pip install " in out and "torch" in out
    assert "case" not in out  # no empty table
    assert out.rstrip().endswith(f"verify: nothing verified: torch not installed in {no_torch}")
    code, out, _ = run_cli("--python", str(no_torch), "verify", "--backend", "torch", "--json")
    doc = json.loads(out)
    assert code == doc["exit_code"] == 1 and doc["ok"] is False
    assert doc["backends"][0]["status"] == "not_installed" and doc["backends"][0]["fix"].startswith(f"{no_torch} -m pip install ")
    assert doc["counts"] == {"pass": 0, "fail": 0, "error": 0, "known": 0, "skip": 0, "xfail": 0}
