"""`kbackend fleet merge` on documents from real runs of kbackend under different node configurations.

The doctor documents come from real `python -m kbackend doctor --json` runs (in parallel), one
per "node" (KBACKEND_NODE names it, as SLURMD_NODENAME does under Slurm): three alike, one
whose fake NVIDIA driver is newer, one whose keras.json names torch, one whose keras.json is
broken (doctor's config check fails there). Bench documents go through bench's real JSON view
and the real envelope, one node 1.5 times slower on a case. Older and newer kbackend documents
are those documents without the fields this version added, and with a schema_version above
the one this kbackend reads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

FAKE_SMI = Path(__file__).resolve().parent.parent / "faults" / "fakes" / "nvidia-smi"
CHECKS = ["--check", "config", "--check", "keras-backend-env"]
KERAS_JSON = {"backend": "jax", "floatx": "float32", "epsilon": 1e-07, "image_data_format": "channels_last"}

#: node -> (driver, keras.json text)
NODES = {
    "node-01": ("570.124.06", json.dumps(KERAS_JSON)),
    "node-02": ("570.124.06", json.dumps(KERAS_JSON)),
    "node-03": ("570.124.06", json.dumps(KERAS_JSON)),
    "node-04": ("575.51.03", json.dumps(KERAS_JSON)),
    "node-05": ("570.124.06", json.dumps(dict(KERAS_JSON, backend="torch"))),
    "node-06": ("570.124.06", '{"backend": "jax",'),
}


@pytest.fixture(scope="module")
def doctor_docs(tmp_path_factory) -> Path:
    """One real doctor document per node, in one folder (the shape `fleet run --out` leaves)."""
    root = tmp_path_factory.mktemp("fleet-docs")
    out = root / "docs"
    out.mkdir()
    bin_dir = root / "bin"
    bin_dir.mkdir()
    shutil.copyfile(FAKE_SMI, bin_dir / "nvidia-smi")
    (bin_dir / "nvidia-smi").chmod(0o755 | stat.S_IXUSR)
    procs = []
    for node, (driver, keras_json) in NODES.items():
        home = root / node
        (home / ".keras").mkdir(parents=True)
        (home / ".keras" / "keras.json").write_text(keras_json)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_", "KBACKEND_"))}
        env.update(HOME=str(home), KERAS_HOME=str(home / ".keras"), KBACKEND_NODE=node,
                   PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_SMI_DRIVER=driver)
        f = open(out / f"{node}.json", "w")
        procs.append((node, f, subprocess.Popen([sys.executable, "-m", "kbackend", "doctor", *CHECKS, "--json"],
                                                stdout=f, stderr=subprocess.DEVNULL, env=env)))
    for node, f, p in procs:
        p.wait(120)
        f.close()
        assert p.returncode == (1 if node == "node-06" else 0), node
    return out


def _merge(run_cli, *args, columns="80"):
    code, out, err = run_cli("fleet", "merge", *map(str, args), env={"COLUMNS": columns})
    return code, out, err


def _json(run_cli, *args):
    code, out, err = run_cli("--json", "fleet", "merge", *map(str, args))
    doc = json.loads(out)
    assert doc["exit_code"] == code and doc["command"] == "fleet merge", doc
    return code, doc


def test_drift_and_a_failing_node_are_named_in_one_line_each(run_cli, doctor_docs):
    code, doc = _json(run_cli, doctor_docs)
    assert code == 1
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert list(nodes) == list(NODES)
    assert nodes["node-06"]["status"] == "error" and nodes["node-06"]["checks"]["config"] == "error"
    assert all(nodes[n]["status"] == "ok" for n in ("node-01", "node-02", "node-03"))
    # the nodes outside the common value of a uniform fact say so
    assert nodes["node-04"]["status"] == "warn" and nodes["node-05"]["status"] == "warn"
    assert nodes["node-04"]["problems"] == ["driver 575.51.03 (most nodes: 570.124.06)"]
    assert nodes["node-05"]["problems"] == ["backend torch (most nodes: jax)"]
    drift = {d["fact"]: d for d in doc["drift"]}
    assert drift["driver"]["line"] == "driver: 5 nodes agree on 570.124.06; node-04 differs: 575.51.03"
    # node-06's broken file: Keras ignores it and falls back to tensorflow
    assert drift["backend"]["line"] == "backend: 4 nodes agree on jax; node-06 tensorflow; node-05 torch"
    assert drift["driver"]["uniform"] and drift["backend"]["uniform"]
    assert doc["counts"] == {"ok": 3, "warn": 2, "error": 1, "missing": 0, "skipped_files": 0}
    code, text, _ = _merge(run_cli, doctor_docs)
    assert code == 1
    assert "driver: 5 nodes agree on 570.124.06; node-04 differs: 575.51.03" in text
    assert re.search(r"config: error on 1 of 6 nodes \(node-06\)", text)
    assert "fleet NOT clear: 1 node with an error; drift in driver, backend (must be\n  uniform)" in text
    assert all(len(line) <= 80 for line in text.splitlines()), text


def test_uniform_decides_which_drift_fails(run_cli, doctor_docs, tmp_path):
    alike = tmp_path / "alike"
    alike.mkdir()
    for n in ("node-01", "node-02", "node-04"):  # only the driver differs
        shutil.copy(doctor_docs / f"{n}.json", alike)
    code, doc = _json(run_cli, alike)
    assert code == 1 and [d["fact"] for d in doc["drift"] if d["uniform"]] == ["driver"]
    code, doc = _json(run_cli, "--uniform", "keras,backend", alike)
    assert code == 0 and doc["drift"][0]["fact"] == "driver" and not doc["drift"][0]["uniform"]
    code, text, _ = _merge(run_cli, "--uniform", "none", alike)
    assert code == 0 and "! driver: 2 nodes agree on 570.124.06; node-04 differs: 575.51.03" in text


def test_a_node_that_gave_no_document_is_missing(run_cli, doctor_docs):
    code, doc = _json(run_cli, "--uniform", "none", "--expect", "node-[01-03,07]", *(
        doctor_docs / f"node-0{i}.json" for i in (1, 2, 3)))
    assert code == 1 and doc["missing"] == ["node-07"]
    code, text, _ = _merge(run_cli, "--uniform", "none", "--expect", "node-[01-03,07]",
                           doctor_docs / "node-01.json")
    assert re.search(r"node-07\s+missing", text) and "3 missing" in text and "3 nodes did not answer" in text
    assert "fleet: 1 node (doctor 1) · 1 ok · 3 missing" in text


def test_documents_of_an_older_and_a_newer_kbackend(run_cli, doctor_docs, tmp_path):
    """An older kbackend's document (no host, no fingerprint) is read, named after its file; a newer
    schema is refused for that file alone, with the reason, and the verdict is not all clear."""
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    doc = json.loads((doctor_docs / "node-01.json").read_text())
    shutil.copy(doctor_docs / "node-02.json", mixed)
    old = {k: v for k, v in doc.items() if k not in ("host", "node", "fingerprint")}
    old["kbackend_version"] = "0.0.9"
    (mixed / "old-node.json").write_text(json.dumps(old))
    new = dict(doc, schema_version=2, kbackend_version="9.0.0", node="node-09")
    (mixed / "node-09.json").write_text(json.dumps(new))
    (mixed / "broken.json").write_text('{"schema_version": 1, "comm')
    (mixed / "empty.json").write_text("")
    code, out = _json(run_cli, mixed)
    assert code == 1
    assert [n["name"] for n in out["nodes"]] == ["node-02", "old-node"]
    old_node = out["nodes"][1]
    assert old_node["kbackend"] == ["0.0.9"] and "no host in the document" in old_node["notes"][0]
    reasons = {Path(s["file"]).name: s["reason"] for s in out["skipped"]}
    assert set(reasons) == {"node-09.json", "broken.json", "empty.json"}
    assert reasons["node-09.json"].startswith("schema 2 (kbackend 9.0.0) is newer than this kbackend reads (up to 1)")
    assert reasons["broken.json"].startswith("not JSON") and reasons["empty.json"].startswith("empty")
    code, text, _ = _merge(run_cli, mixed)
    assert "Files not read" in text and "3 files skipped" in text


def _bench_doc(monkeypatch, node: str, medians: dict[str, float]) -> str:
    """A bench --json document as bench prints it (its JSON view, the real envelope), for `node`."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench_samples import report, result

    from kbackend.render import bench_view, output

    monkeypatch.setenv("KBACKEND_NODE", node)
    rep = report([result("numpy", case, (m, m, m)) for case, m in medians.items()])
    return json.dumps(output.envelope("bench", rep.exit_code, bench_view.json_data(rep)))


def test_a_slow_node_is_a_bench_outlier_and_json_lines_files_are_read(run_cli, monkeypatch, tmp_path):
    lines = [_bench_doc(monkeypatch, f"gpu{i}", {"add": 0.010, "matmul": 0.020}) for i in range(1, 5)]
    lines.append(_bench_doc(monkeypatch, "gpu5", {"add": 0.010, "matmul": 0.030}))  # 1.5x on matmul
    lines.append(_bench_doc(monkeypatch, "gpu6", {"add": 0.0115, "matmul": 0.020}))  # 1.15x: within 20 %
    (tmp_path / "bench.jsonl").write_text("\n".join(lines) + "\n")  # one file, one document a line (Ray)
    code, doc = _json(run_cli, tmp_path / "bench.jsonl")
    assert code == 0, doc  # slow is a warning, not an error
    assert [(o["node"], o["case"], o["ratio"]) for o in doc["bench_outliers"]] == [
        ("gpu5", "numpy/matmul/medium/float32/eager", 1.5)]
    code, out, _ = run_cli("--json", "fleet", "merge", "-", input="\n".join(lines))  # piped in
    assert [n["name"] for n in json.loads(out)["nodes"]] == [f"gpu{i}" for i in range(1, 7)]
    code, text, _ = _merge(run_cli, "--slow", "10", tmp_path / "bench.jsonl")
    assert "gpu6  numpy/add/medium/float32/eager: 1.15× (11.5 ms vs median 10 ms)" in text
    assert all(len(line) <= 80 for line in text.splitlines()), text


def test_verify_failing_on_some_nodes_only(run_cli, monkeypatch, tmp_path):
    """verify documents through verify's real JSON view; one node fails one row, all fail another."""
    from kbackend.render import output, verify_view
    from kbackend.suite.model import BackendRun, CaseResult, VerifyReport

    def rep(fail_add: bool) -> VerifyReport:
        rows = [CaseResult(backend="jax", case="add", category="elementwise", dtype="float32",
                           status="fail" if fail_add else "pass"),
                CaseResult(backend="jax", case="erf", category="math", dtype="float32", status="fail")]
        return VerifyReport(python=sys.executable, dtypes=["float32"], data_formats=["channels_last"],
                            backends=[BackendRun(name="jax", status="ok", version="0.10.2", keras_version="3.15.1")],
                            results=rows)

    for i in range(1, 4):
        monkeypatch.setenv("KBACKEND_NODE", f"n{i}")
        r = verify_view.render(rep(fail_add=i == 2))
        (tmp_path / f"n{i}.json").write_text(json.dumps(output.envelope("verify", r.exit_code, r.data)))
    code, doc = _json(run_cli, tmp_path)
    assert code == 1
    assert doc["verify_partial"] == [{"result": "jax add value float32", "nodes": ["n2"], "of": 3}]
    assert doc["verify_everywhere"] == [{"result": "jax erf value float32", "nodes": ["n1", "n2", "n3"], "of": 3}]
    code, text, _ = _merge(run_cli, tmp_path)
    assert "jax add value float32: fails on 1 of 3 nodes only (n2)" in text
    assert "jax erf value float32: fails on all 3 nodes" in text


def test_markdown_and_a_self_contained_html_page(run_cli, doctor_docs, tmp_path):
    md, page = tmp_path / "fleet.md", tmp_path / "fleet.html"
    code, _, err = _merge(run_cli, "--markdown", md, "--html", page, doctor_docs)
    assert code == 1 and f"wrote {md}" in err
    text = md.read_text()
    assert "| node | status | config | keras-backend-env | doctor |" not in text  # doctor is no column
    assert "| node-06 | ✗ error | ✗ error | ok |" in text
    assert "- ✗ driver: 5 nodes agree on 570.124.06; node-04 differs: 575.51.03" in text
    html = page.read_text()
    assert html.startswith("<!doctype html>") and "<td class='error'>error</td>" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the page must be self-contained"


def test_no_document_at_all_is_an_error_with_the_fix(run_cli, tmp_path):
    code, out, err = run_cli("fleet", "merge", str(tmp_path))
    assert code == 1 and "found no .json file" in err and "fleet merge DIR" in err
    code, out, err = run_cli("fleet", "merge", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err


def test_a_large_fleet_lists_only_the_nodes_with_problems_of_their_own(run_cli, doctor_docs, tmp_path):
    """Past 24 nodes the table keeps the nodes that differ; what all share is said once."""
    base = json.loads((doctor_docs / "node-01.json").read_text())
    for i in range(1, 41):
        doc = dict(base, node=f"n{i:02d}")
        if i == 17:
            doc["facts"] = json.loads((doctor_docs / "node-04.json").read_text())["facts"]  # the other driver
        (tmp_path / f"n{i:02d}.json").write_text(json.dumps(doc))
    code, text, _ = _merge(run_cli, tmp_path)
    rows = [line.split()[0] for line in text.splitlines() if re.match(r"  n\d\d ", line)]
    assert code == 1 and rows == ["n17"], text
    assert "39 other nodes: no problem of their own" in text
    assert "driver: 39 nodes agree on 570.124.06; n17 differs: 575.51.03" in text
