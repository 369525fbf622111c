"""fleet run's srun line, built without Slurm: what is passed through, what each node runs, what is refused."""

from __future__ import annotations

import sys

import pytest

from kbackend.errors import KbackendError, UsageError
from kbackend.fleet import slurm as S


def test_the_srun_line_passes_the_user_s_options_through(tmp_path):
    p = S.plan(["verify", "--backend", "jax", "--json"], nodes=4, partition="gpu", account="proj", time="10",
               out=str(tmp_path / "out"), timeout=30, python="/envs/jax/bin/python", srun_args=["--exclusive"],
               srun="/usr/bin/srun")
    assert p.srun[:3] == ["/usr/bin/srun", "--ntasks-per-node=1", "--kill-on-bad-exit=0"]
    for arg in ("--nodes=4", "--ntasks=4", "--partition=gpu", "--account=proj", "--time=10", "--exclusive"):
        assert arg in p.srun
    assert "--label" not in p.srun and (tmp_path / "out").is_dir()
    assert p.srun[-3:] == ["kbackend-fleet-task", str(tmp_path / "out"), "30"]
    # the same kbackend on every node, describing --python's interpreter; --json once, at the end
    assert p.node_argv == [sys.executable, "-m", "kbackend", "--python", "/envs/jax/bin/python", "verify",
                           "--backend", "jax", "--json"]
    assert S.describe(p).endswith(": kbackend --python /envs/jax/bin/python verify --backend jax --json")


def test_without_a_folder_srun_labels_its_output_and_doctor_is_the_default():
    p = S.plan([], srun="/usr/bin/srun", kbackend="/opt/kb/bin/kbackend", timeout=0)
    assert "--label" in p.srun and p.node_argv == ["/opt/kb/bin/kbackend", "doctor", "--json"]
    assert p.srun[-2:] == ["", "0"]  # no folder, no limit


def test_what_cannot_work_is_refused_before_anything_starts(monkeypatch):
    with pytest.raises(UsageError, match="not 'envs'"):
        S.plan(["envs"], srun="/usr/bin/srun")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(KbackendError, match="needs Slurm's `srun`"):
        S.plan(["doctor"])


def test_labelled_output_is_split_by_task(tmp_path):
    stdout = "\n".join(["0: @@kbackend-fleet-node n1", '0: {"a":', '0:  1}', "1: @@kbackend-fleet-node n2",
                        "0: @@kbackend-fleet-rc 0", "1: @@kbackend-fleet-rc 124"])
    runs = S._from_labels(stdout, "1: still probing\n", str(tmp_path))
    assert [(r.node, r.status, r.rc) for r in runs] == [("n1", "answered", 0), ("n2", "timed_out", 124)]
    assert (tmp_path / "n1.json").read_text() == '{"a":\n 1}' and "still probing" in runs[1].detail
