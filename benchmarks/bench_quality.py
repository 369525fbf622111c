"""Measurement quality of `kbackend bench`, printed from one run.

1. accuracy: bench's median for a matmul and an elementwise op on the numpy
   backend against an independent `timeit` of the same Keras call (its own
   child process, same thread settings). Target: within 10 %.
2. false alarms: the same bench run twice, the second gated against the
   first. Target: no regression in at least 19 of 20 gate decisions.
3. sensitivity: a third run in which one op is slowed down by 30 % in the
   child (a patched call), gated against the first. Target: reported as a
   regression.

The three runs of 2 and 3 are interleaved process by process (run 1's
process 1, run 2's process 1, run 3's process 1, run 1's process 2, ...), so
that load from other users of a shared machine hits them alike; the accuracy
check alternates bench and timeit processes for the same reason.

    python benchmarks/bench_quality.py [--threads 1] [--json]

Threads default to 1 here: the machine is shared, and with 2 BLAS threads a
busy second core makes medians of identical runs differ by far more than
10 % (FACTS.md section 4); `kbackend bench` itself defaults to all cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from kbackend.bench import gate, run
from kbackend.workers.runner import child_env

TIMEIT = r"""
import json, sys, timeit
import numpy as np
import keras
from keras import ops
n = int(sys.argv[1])
rng = np.random.default_rng(0)
x = ops.convert_to_tensor(rng.standard_normal((n, n)).astype("float32"))
y = ops.convert_to_tensor(rng.standard_normal((n, n)).astype("float32"))
out = {}
for name, stmt in (("matmul", "ops.matmul(x, y)"), ("add", "ops.add(x, y)")):
    t = timeit.Timer(stmt, globals={"ops": ops, "x": x, "y": y})
    number, _ = t.autorange()
    out[name] = sorted(v / number for v in t.repeat(repeat=7, number=number))[3]
print(json.dumps(out))
"""

#: 20 medium float32 cases across the categories for the gate decisions.
GATE_CASES = ("add", "multiply", "exp", "tanh", "relu", "sigmoid", "gelu_tanh", "sum", "max", "mean_keepdims",
              "transpose", "take", "matmul", "matmul_batched", "einsum", "conv2d", "max_pool2d",
              "layer_normalization", "softmax", "sort")


def timeit_child(threads: int, n: int = 256) -> dict[str, float]:
    env = child_env(dict(run.thread_env(threads), KERAS_BACKEND="numpy", KERAS_HOME=tempfile.mkdtemp()))
    proc = subprocess.run([sys.executable, "-c", TIMEIT, str(n)], capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir(), timeout=300)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backend", default="numpy")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    py = sys.executable
    load_before = os.getloadavg()
    cases = run.catalog(py)
    names = {c["name"] for c in cases}
    report: dict = {"threads": args.threads}

    # 1. accuracy: one bench process, then one timeit process, five times over
    items = run.select(cases, ops=["matmul", "add"], sizes=["medium"])
    plan = run.make_plan(["numpy"], items, threads=args.threads, processes=1)
    ratios = {}
    bench_t: dict[str, list[float]] = {"matmul": [], "add": []}
    timeit_t: dict[str, list[float]] = {"matmul": [], "add": []}
    for _ in range(5):
        for r in run.run_interleaved(py, [plan], measure_peak=False)[0].results:
            bench_t[r.case].append(r.median_s)
        for k, v in timeit_child(args.threads).items():
            timeit_t[k].append(v)
    for k in bench_t:
        b, t = statistics.median(bench_t[k]), statistics.median(timeit_t[k])
        ratios[k] = {"bench_s": b, "timeit_s": t, "ratio": b / t, "ok": abs(b / t - 1) <= 0.10}
    report["accuracy"] = ratios

    # 2 and 3: three runs interleaved process by process: A, A again, A with one op slowed
    chosen = [c for c in GATE_CASES if c in names][:20]
    items = run.select(cases, ops=chosen, sizes=["medium"])
    plan = run.make_plan([args.backend], items, threads=args.threads)
    slow_case = "add"
    slow_plan = run.make_plan([args.backend], items, threads=args.threads, slowdown={slow_case: 1.3})
    first, second, slowed = run.run_interleaved(py, [plan, plan, slow_plan])

    g = gate.compare(second, first, threshold=0.10)
    report["false_alarms"] = {
        "decisions": len(g.comparisons), "regressions": len(g.regressions),
        "no_regression": len(g.comparisons) - len(g.regressions),
        "ok": len(g.comparisons) >= 20 and len(g.comparisons) - len(g.regressions) >= 19,
        "ratios": {c.case: round(c.ratio, 3) for c in g.comparisons},
        "flagged": [f"{c.case} x{c.ratio:.2f} p={c.p_slower:.3f}" for c in g.regressions],
    }
    g3 = gate.compare(slowed, first, threshold=0.10)
    hit = next((c for c in g3.comparisons if c.case == slow_case), None)
    report["sensitivity"] = {
        "case": slow_case, "slowdown": 1.3, "ratio": hit.ratio if hit else None,
        "p_slower": hit.p_slower if hit else None, "verdict": hit.verdict if hit else None,
        "ok": bool(hit and hit.verdict == "regression"),
        "other_regressions": [c.case for c in g3.regressions if c.case != slow_case],
        "other_decisions": len([c for c in g3.comparisons if c.case != slow_case]),
    }

    report["load_average"] = {"before": load_before[0], "after": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"threads: {args.threads}  (machine: {first.machine.cpu}, {first.machine.cores} cores; "
              f"1-minute load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after)")
        print("accuracy (bench median / timeit median, numpy backend, medium float32; target within 10 %):")
        for k, v in ratios.items():
            print(f"  {k:<7} bench {v['bench_s'] * 1e6:9.2f} us  timeit {v['timeit_s'] * 1e6:9.2f} us  "
                  f"ratio {v['ratio']:.3f}  {'ok' if v['ok'] else 'FAIL'}")
        fa = report["false_alarms"]
        print(f"false alarms ({args.backend}, same run twice; target >= 19 of 20 without regression): "
              f"{fa['no_regression']} of {fa['decisions']} without regression  {'ok' if fa['ok'] else 'FAIL'}")
        print("  ratios: " + ", ".join(f"{k} {v:.3f}" for k, v in fa["ratios"].items()))
        if fa["flagged"]:
            print("  flagged: " + "; ".join(fa["flagged"]))
        s = report["sensitivity"]
        print(f"sensitivity ({slow_case} slowed x1.30 in the child): ratio "
              f"{s['ratio'] if s['ratio'] is None else round(s['ratio'], 3)}, p={s['p_slower']}, "
              f"verdict {s['verdict']}  {'ok' if s['ok'] else 'FAIL'}"
              + f"; false alarms among the {s['other_decisions']} other cases of that run: "
              f"{len(s['other_regressions'])} {s['other_regressions'] or ''}")
    ok = all(v["ok"] for v in ratios.values()) and report["false_alarms"]["ok"] and report["sensitivity"]["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
