"""The README's fleet recipes, run as written where this machine allows.

- The Slurm health-check script (README, "As a Slurm health check") on the real Slurm of
  slurm_fixture.py: a node with a broken keras.json is drained with kbackend's line as the
  reason; a clear node is left alone.
- The Kubernetes Job's container script (README, "On Kubernetes") run by `sh` for two "nodes"
  into one results folder, then `fleet merge` over that folder (the layout the Job leaves).
The checks are narrowed (CHECKS for the health check; `--check config` for the Job's doctor)
so that no backend is imported: the recipes' plumbing is what is under test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _block(heading: str, lang: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split(f"### {heading}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)[0]


def _kbackend() -> str:
    exe = shutil.which("kbackend", path=os.path.dirname(sys.executable)) or shutil.which("kbackend")
    assert exe, "the kbackend script of this environment"
    return exe


def _sinfo(cluster, node: str) -> tuple[str, str]:
    r = subprocess.run(["sinfo", "-h", "-N", "-n", node, "-o", "%t|%E"], capture_output=True, text=True,
                       env={**os.environ, **cluster.env}, timeout=10)
    state, _, reason = r.stdout.strip().partition("|")
    return state, reason


def test_the_health_check_script_drains_a_broken_node_only(slurm_cluster, tmp_path):
    script = tmp_path / "kbackend-healthcheck"
    script.write_text(_block("As a Slurm health check", "sh"))
    script.chmod(0o755)
    homes = {}
    for node, text in (("node1", json.dumps({"backend": "jax"})), ("node2", '{"backend": "jax",')):
        homes[node] = tmp_path / node
        homes[node].mkdir()
        (homes[node] / "keras.json").write_text(text)
    try:
        for node in ("node1", "node2"):
            env = {**os.environ, **slurm_cluster.env, "KBACKEND": _kbackend(), "PYTHON": sys.executable,
                   "SLURMD_NODENAME": node, "KERAS_HOME": str(homes[node]), "CHECKS": "config"}
            r = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
        state1, _ = _sinfo(slurm_cluster, "node1")
        state2, reason = _sinfo(slurm_cluster, "node2")
        assert state1 == "idle" and state2 in ("drain", "drng"), (state1, state2, reason)
        assert reason.startswith("kbackend doctor: error config: keras.json valid"), reason
    finally:
        subprocess.run(["scontrol", "update", "nodename=node2", "state=resume"], env={**os.environ, **slurm_cluster.env},
                       capture_output=True, timeout=10)


def test_the_kubernetes_job_script_leaves_a_folder_fleet_merge_reads(run_cli, tmp_path):
    script = _block("On Kubernetes", "yaml").split("- |\n", 1)[1].split("\n          resources:", 1)[0]
    script = "\n".join(line[14:] for line in script.splitlines())
    assert "kbackend doctor --json" in script
    script = script.replace("kbackend doctor --json", f"{_kbackend()} doctor --check config --json")
    results = tmp_path / "results"
    results.mkdir()
    for node in ("gpu-node-a", "gpu-node-b"):
        env = {**os.environ, "NODE_NAME": node, "RESULTS": str(results)}
        r = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in results.iterdir()) == ["gpu-node-a.json", "gpu-node-a.json.err",
                                                         "gpu-node-b.json", "gpu-node-b.json.err"]
    code, out, err = run_cli("--json", "fleet", "merge", "--expect", "gpu-node-a,gpu-node-b,gpu-node-c", str(results))
    doc = json.loads(out)
    assert [n["name"] for n in doc["nodes"]] == ["gpu-node-a", "gpu-node-b"], doc
    assert doc["missing"] == ["gpu-node-c"] and code == 1
