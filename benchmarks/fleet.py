"""`kbackend fleet merge` over 1,000 generated node documents: wall time and peak memory (target < 2 s).

One real `kbackend doctor --json` of this machine is the template (or --doc FILE); 1,000 copies
differ as nodes do (host, node name, a driver on a few, a failing check on one, keras.json's
backend on another), written to a temporary folder. Then `kbackend fleet merge --json DIR` runs
as a child process (start-up included), timed over a few runs; its peak RSS (ru_maxrss) is
printed next to the same merge over 100 documents and the size of all the documents, so that
"memory bounded" can be read: the peak stays far below the documents' total and grows with the
nodes' summaries only. The load average is printed with every figure.

    python benchmarks/fleet.py [--nodes 1000] [--doc doctor.json] [--bench]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import kbackend_exe, precompile  # noqa: E402


def template(path: str | None, home: str) -> dict:
    if path:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    env = dict(os.environ, HOME=home)
    env.pop("KERAS_HOME", None)
    r = subprocess.run([kbackend_exe(), "doctor", "--json"], capture_output=True, text=True, env=env, timeout=600)
    return json.loads(r.stdout)


def generate(doc: dict, folder: str, n: int) -> int:
    """n node documents in folder; returns their total size in bytes."""
    total = 0
    for i in range(1, n + 1):
        d = dict(doc)
        d["host"] = f"gpu-{i:04d}"
        d.pop("node", None)
        facts = json.loads(json.dumps(doc["facts"]))
        facts["gpu"]["driver_version"] = "575.51.03" if i % 97 == 0 else "570.124.06"
        if i == 7:
            facts["config"]["effective"]["backend"]["value"] = "torch"
        d["facts"] = facts
        if i == 13:
            d["checks"] = [dict(c, status="error") if c["id"] == "config" else c for c in doc["checks"]]
        text = json.dumps(d, indent=2)
        total += len(text)
        with open(os.path.join(folder, f"gpu-{i:04d}.json"), "w", encoding="utf-8") as f:
            f.write(text)
    return total


def bench_docs(folder: str, n: int, cases: int = 40) -> int:
    total = 0
    for i in range(1, n + 1):
        results = [{"backend": "jax", "case": f"case{k}", "size": "medium", "dtype": "float32", "mode": "eager",
                    "status": "ok", "median_s": 0.001 * (k + 1) * (1.5 if i == 42 else 1.0),
                    "samples": [0.001 * (k + 1)] * 33} for k in range(cases)]
        d = {"schema_version": 1, "kbackend_version": "0.1.0", "command": "bench", "exit_code": 0,
             "host": f"gpu-{i:04d}", "backends": [{"backend": "jax", "status": "ok", "keras": "3.15.1",
                                                    "version": "0.10.2"}], "results": results}
        text = json.dumps(d, indent=2)
        total += len(text)
        with open(os.path.join(folder, f"gpu-{i:04d}-bench.json"), "w", encoding="utf-8") as f:
            f.write(text)
    return total


def measure(folder: str, runs: int) -> tuple[float, float, int, float]:
    """(median wall s, best wall s, peak RSS in KiB, median CPU s) of the merge child over `runs` runs.

    The CPU time (user + system) does not grow with the machine's load the way wall time does.
    """
    walls, peaks, cpus = [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.Popen([kbackend_exe(), "--json", "fleet", "merge", folder], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)  # this child's own peak RSS
        walls.append(time.perf_counter() - t)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode not in (0, 1):
            raise SystemExit(f"fleet merge failed ({p.returncode})")
        peaks.append(usage.ru_maxrss)
        cpus.append(usage.ru_utime + usage.ru_stime)
    return statistics.median(walls), min(walls), max(peaks), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--doc", help="a doctor --json document to use as the template (default: run doctor once)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bench", action="store_true", help="also merge N bench documents of 40 cases each")
    a = ap.parse_args()
    precompile()
    with tempfile.TemporaryDirectory() as tmp:
        doc = template(a.doc, tmp)
        small, big = os.path.join(tmp, "small"), os.path.join(tmp, "big")
        os.makedirs(small)
        os.makedirs(big)
        small_n = max(a.nodes // 10, 1)
        small_bytes = generate(doc, small, small_n)
        big_bytes = generate(doc, big, a.nodes)
        s_med, _, s_peak, _ = measure(small, a.runs)
        b_med, b_best, b_peak, b_cpu = measure(big, a.runs)
        load = os.getloadavg()
        print(f"fleet merge of {a.nodes} doctor documents ({big_bytes / 2**20:.1f} MiB): "
              f"median {b_med:.2f} s, best {b_best:.2f} s (target < 2 s) over {a.runs} runs; "
              f"CPU {b_cpu:.2f} s")
        print(f"  peak RSS {b_peak / 1024:.0f} MiB ({small_n} documents, {small_bytes / 2**20:.1f} MiB: "
              f"{s_peak / 1024:.0f} MiB, median {s_med:.2f} s)")
        if a.bench:
            bdir = os.path.join(tmp, "bench")
            os.makedirs(bdir)
            bb = bench_docs(bdir, a.nodes)
            m, best, peak, cpu = measure(bdir, a.runs)
            print(f"fleet merge of {a.nodes} bench documents, 40 cases each ({bb / 2**20:.1f} MiB): "
                  f"median {m:.2f} s, best {best:.2f} s, CPU {cpu:.2f} s, peak RSS {peak / 1024:.0f} MiB")
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
