"""`kbackend verify` wall time over the time to merely import Keras on each backend in parallel children.

The floor of any verify that runs a child per backend is starting those children and
importing Keras in each: this script measures that floor with the same runner, the
same parallelism (one child per core, longest first) and the same backends, then the
full `kbackend verify --json` (every case, float32, both data formats, gradients, the
tiny model) as a subprocess, and prints the ratio. Targets: <= 2.0 warm, <= 2.5 cold.

verify keeps the XLA programs jax compiles in kbackend's cache folder, so it runs twice
a round: cold (that folder emptied first: a first run) and warm (a repeat run). Both
ratios are printed.

Rounds interleave floor and verify so that drift in machine load hits both alike;
medians are reported. Other work on the machine inflates both.

    python benchmarks/verify.py [--rounds 1] [--backend NAME ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _common import isolated_env

IMPORT_WORKER = '''
def main(inp):
    import time
    t = time.time()
    import keras
    return {"backend": keras.backend.backend(), "import_s": time.time() - t}
'''


def floor_s(python: str, backends: list[str], env: dict) -> float:
    from kbackend.suite.run import START_ORDER, _child_env
    from kbackend.workers.runner import Job, run_many

    order = sorted(backends, key=lambda b: START_ORDER.index(b) if b in START_ORDER else 99)
    with tempfile.TemporaryDirectory() as tmp:
        worker = os.path.join(tmp, "import_keras.py")
        with open(worker, "w") as f:
            f.write(IMPORT_WORKER)
        t0 = time.perf_counter()
        res = run_many([Job(python, worker, {}, timeout=300, env={**env, **_child_env(b)}) for b in order])
        wall = time.perf_counter() - t0
    bad = [(b, r.status, r.error) for b, r in zip(order, res) if not r.ok]
    if bad:
        raise SystemExit(f"importing Keras failed: {bad}")
    return wall


def verify_s(python: str, backends: list[str], env: dict) -> tuple[float, dict]:
    argv = [python, "-m", "kbackend", "--python", python, "verify", "--json"]
    for b in backends:
        argv += ["--backend", b]
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=env["HOME"])
    wall = time.perf_counter() - t0
    doc = json.loads(p.stdout)
    return wall, doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--backend", action="append", default=[])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from kbackend.suite.run import COMPILE_CACHE_SUBDIR, installed_backends

    python = sys.executable
    backends = args.backend or installed_backends(sys.path)[0]
    with tempfile.TemporaryDirectory() as home:
        env = isolated_env(home)
        cache = os.path.join(env["XDG_CACHE_HOME"], "kbackend", COMPILE_CACHE_SUBDIR)
        floors, colds, warms, docs = [], [], [], []
        for i in range(args.rounds):
            f = floor_s(python, backends, env)
            shutil.rmtree(cache, ignore_errors=True)
            c, doc = verify_s(python, backends, env)
            w, warm_doc = verify_s(python, backends, env)
            floors.append(f)
            colds.append(c)
            warms.append(w)
            docs.append((doc, warm_doc))
            if not args.json:
                print(f"round {i + 1}: import floor {f:.2f} s, verify cold {c:.2f} s (ratio {c / f:.2f}), "
                      f"warm {w:.2f} s (ratio {w / f:.2f})", flush=True)
    f, v, w = statistics.median(floors), statistics.median(colds), statistics.median(warms)
    last, last_warm = docs[-1]
    counts = last.get("counts", {})
    warm_s = {b["name"]: b["elapsed_s"] for b in last_warm.get("backends", [])}
    children = {b["name"]: {"status": b["status"], "elapsed_s": b["elapsed_s"], "warm_elapsed_s": warm_s.get(b["name"]),
                            "import_s": b["import_s"], "restarts": b["restarts"]} for b in last.get("backends", [])}
    result = {"backends": backends, "cores": os.cpu_count(), "rounds": args.rounds, "floor_s": f, "verify_s": v,
              "ratio": v / f, "verify_warm_s": w, "ratio_warm": w / f, "target": 2.5, "target_warm": 2.0,
              "counts": counts,
              "children": children,
              "load_avg_1m": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"backends: {', '.join(backends)} ({os.cpu_count()} cores, load {result['load_avg_1m']:.1f})")
    print(f"cases: {sum(counts.values())} rows, {counts}")
    for name, c in children.items():
        print(f"  {name}: {c['status']}, child {c['elapsed_s'] or 0:.1f} s cold, {c['warm_elapsed_s'] or 0:.1f} s warm "
              f"(Keras import {c['import_s'] or 0:.1f} s)"
              + (f", {c['restarts']} restart(s)" if c["restarts"] else ""))
    print(f"median import floor {f:.2f} s, verify {v:.2f} s cold: ratio {v / f:.2f} (target <= 2.5)")
    print(f"                              verify {w:.2f} s warm: ratio {w / f:.2f} (target <= 2.0)")


if __name__ == "__main__":
    main()
