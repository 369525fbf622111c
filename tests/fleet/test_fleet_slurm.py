"""`kbackend fleet run --slurm` end to end on a real Slurm (slurm_fixture.py: munged, slurmctld, two slurmd).

Each node's tasks get their own environment from the TaskProlog, as real nodes differ: node1
and node2 have fake NVIDIA drivers of different versions (the fake nvidia-smi of the GPU
tests) and keras.json files naming different backends. Each node runs the real
`python -m kbackend doctor --json` of this checkout; the documents come back through the
shared --out folder, or through srun's labelled output.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

FAKE_SMI = Path(__file__).resolve().parent.parent / "faults" / "fakes" / "nvidia-smi"
CHECKS = ["--check", "config", "--check", "keras-backend-env"]


@pytest.fixture
def on_slurm(slurm_cluster, monkeypatch, tmp_path):
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    slurm_cluster.clear_node_envs()
    yield slurm_cluster
    slurm_cluster.clear_node_envs()


def _fake_gpu_bin(tmp_path: Path) -> Path:
    d = tmp_path / "fake-bin"
    d.mkdir(exist_ok=True)
    dst = d / "nvidia-smi"
    shutil.copyfile(FAKE_SMI, dst)
    dst.chmod(dst.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return d


def _keras_home(tmp_path: Path, node: str, backend: str) -> Path:
    d = tmp_path / f"keras-{node}"
    d.mkdir()
    (d / "keras.json").write_text(json.dumps({"backend": backend, "floatx": "float32", "epsilon": 1e-07,
                                              "image_data_format": "channels_last"}))
    return d


def test_fleet_run_on_two_slurm_nodes_names_the_driver_and_backend_drift(on_slurm, run_cli, tmp_path):
    fake = _fake_gpu_bin(tmp_path)
    path = f"{fake}:{os.environ['PATH']}"
    on_slurm.node_env("node1", PATH=path, FAKE_SMI_DRIVER="570.124.06",
                      KERAS_HOME=str(_keras_home(tmp_path, "node1", "jax")))
    on_slurm.node_env("node2", PATH=path, FAKE_SMI_DRIVER="575.51.03",
                      KERAS_HOME=str(_keras_home(tmp_path, "node2", "torch")))
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("--json", "fleet", "run", "--slurm", "--nodes", "2", "--out", str(out),
                                   "--timeout", "120", "--python", sys.executable, "--", "doctor", *CHECKS)
    doc = json.loads(stdout)
    assert code == 1 and doc["exit_code"] == 1 and doc["command"] == "fleet run", (stdout, stderr)
    assert [n["name"] for n in doc["nodes"]] == ["node1", "node2"], stderr
    assert [r["status"] for r in doc["runs"]] == ["answered", "answered"]
    drift = {d["fact"]: d for d in doc["drift"]}
    assert {g["value"]: g["nodes"] for g in drift["driver"]["groups"]} == {"570.124.06": ["node1"],
                                                                           "575.51.03": ["node2"]}
    assert drift["driver"]["uniform"] and drift["backend"]["uniform"]
    assert {g["value"]: g["nodes"] for g in drift["backend"]["groups"]} == {"jax": ["node1"], "torch": ["node2"]}
    assert drift["driver"]["line"] == "driver: node1 570.124.06 vs node2 575.51.03"
    # each node wrote its own document, from its own node, into the shared folder
    for n in ("node1", "node2"):
        node_doc = json.loads((out / f"{n}.json").read_text())
        assert node_doc["command"] == "doctor" and node_doc["node"] == n
        assert node_doc["facts"]["interpreter"]["origin"] == "option:--python"
    # the terminal view says the same in one line per fact
    code, text, _ = run_cli("fleet", "merge", str(out), env={"COLUMNS": "80"})
    assert code == 1 and "driver: node1 570.124.06 vs node2 575.51.03" in text
    assert all(len(line) <= 80 for line in text.splitlines()), text


def test_fleet_run_without_a_folder_reads_srun_labelled_output_and_names_a_node_that_timed_out(on_slurm, run_cli,
                                                                                             tmp_path):
    fake = _fake_gpu_bin(tmp_path)
    # node2's nvidia-smi never answers: its doctor outlives the per-node limit and is killed there
    on_slurm.node_env("node2", PATH=f"{fake}:{os.environ['PATH']}", FAKE_SMI_MODE="hang")
    code, stdout, stderr = run_cli("--json", "fleet", "run", "--slurm", "--nodes", "2", "--timeout", "3",
                                   "--", "doctor", *CHECKS)
    doc = json.loads(stdout)
    assert code == 1, (stdout, stderr)
    runs = {r["node"]: r for r in doc["runs"]}
    assert runs["node1"]["status"] == "answered" and runs["node2"]["status"] == "timed_out", runs
    assert doc["missing"] == ["node2"] and [n["name"] for n in doc["nodes"]] == ["node1"]
    assert "--label" in doc["srun"]
    assert "node2 timed out" in stderr


def test_fleet_run_all_alike_is_all_clear(on_slurm, run_cli, tmp_path):
    code, stdout, stderr = run_cli("fleet", "run", "--slurm", "-N", "2", "--timeout", "120", "--", "doctor", *CHECKS)
    assert code == 0, (stdout, stderr)
    assert "2 nodes (doctor 2) · 2 ok" in stdout and "fleet all clear" in stdout


def test_a_job_slurm_refuses_is_an_error_with_srun_s_words(on_slurm, run_cli):
    code, stdout, stderr = run_cli("--json", "fleet", "run", "--slurm", "-N", "2", "-p", "nosuch", "--", "doctor")
    doc = json.loads(stdout)
    assert code == 1 and "srun started no task" in doc["error"]["message"], doc
    assert "invalid partition" in doc["error"]["message"].lower() and "--partition" in doc["error"]["fix"]


def test_missing_slurm_skips_only_when_it_is_not_required(monkeypatch, tmp_path):
    from slurm_fixture import require_programs

    monkeypatch.setenv("PATH", str(tmp_path))  # no slurmctld, no munged
    monkeypatch.delenv("KBACKEND_REQUIRE_SLURM", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_programs()
    monkeypatch.setenv("KBACKEND_REQUIRE_SLURM", "1")
    with pytest.raises(pytest.fail.Exception, match="KBACKEND_REQUIRE_SLURM is set"):
        require_programs()
