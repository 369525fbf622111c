"""`kbackend verify --model` wall time on MobileNetV3Small over the cost of merely loading and running it.

The floor of a verify that runs the model on every backend is one child per backend that
loads the model and predicts once: this script times each such child alone (the same worker,
`child/model_worker.py`, with no reference, no train step and no layers), then the full
`kbackend verify --model --json` as a subprocess (the float64 reference, every backend in
parallel, the train step, the comparison) and prints

    ratio = verify wall / max(slowest load+predict child, sum of those children / cores)

(target <= 1.3), cold (a fresh home) and warm (verify again in the same home: jax's persistent
compilation cache then holds its programs), each backend's child inside verify (its time, its first train step), and the
peak memory of the whole verify run (the sum of the resident sets of
its process tree, sampled every 50 ms). The model is keras.applications.MobileNetV3Small
(weights=None: nothing is downloaded), built once in a child and saved to a temporary folder.
Other work on the machine inflates every figure: the load average is printed with them.

    python benchmarks/model.py [--backend NAME ...] [--no-train] [--size 224] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

from _common import isolated_env

BUILD = '''
import sys, keras
side = int(sys.argv[2])
keras.applications.MobileNetV3Small(weights=None, input_shape=(side, side, 3)).save(sys.argv[1])
'''


def _tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants (Linux /proc)."""
    kids: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            kids.setdefault(int(st[1]), []).append(int(d))
            rss[int(d)] = int(st[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(kids.get(p, []))
    return total


def verify_run(argv: list[str], env: dict) -> tuple[float, int, dict]:
    peak = [0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, cwd=env["HOME"])
    stop = threading.Event()

    def sample():
        while not stop.wait(0.05):
            peak[0] = max(peak[0], _tree_rss(proc.pid))

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    try:
        doc = json.loads(out)
    except ValueError:
        raise SystemExit(f"verify --model printed no JSON (exit {proc.returncode}):\n{err[-3000:]}")
    return wall, peak[0], doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", action="append", default=[])
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--size", type=int, default=224, help="the input side (MobileNetV3Small's default: 224)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from kbackend.bench.run import cores
    from kbackend.suite import model_verify as M
    from kbackend.suite.run import installed_backends
    from kbackend.workers.runner import run_worker

    python = sys.executable
    backends = args.backend or installed_backends(sys.path)[0]
    with tempfile.TemporaryDirectory() as home:
        env = isolated_env(home)
        path = os.path.join(home, "mobilenet_v3_small.keras")
        subprocess.run([python, "-c", BUILD, path, str(args.size)], env={**env, "KERAS_BACKEND": backends[0]},
                       check=True, capture_output=True, cwd=home)
        os.environ.update({k: env[k] for k in ("HOME", "KERAS_HOME", "XDG_CACHE_HOME")})
        plan = M.ModelPlan(python, path, backends, {}, "numpy", train=False, env={"KERAS_HOME": env["KERAS_HOME"]})
        children, cpu = {}, {}
        for b in backends:  # each alone: the floor is what one child costs
            job = M._job(plan, b, os.path.join(home, f"{b}.npz"), reference=False, layers=False, train=False)
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = run_worker(python, M.WORKER, job, timeout=600, env=M._env(plan, b, False))
            ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[b] = ru2.ru_utime + ru2.ru_stime - ru.ru_utime - ru.ru_stime
            if not r.ok or (r.data or {}).get("load_error"):
                raise SystemExit(f"{b}: {r.error or (r.data or {}).get('load_error')}")
            children[b] = r.elapsed_s
        n = cores()
        floor = max(max(children.values()), sum(children.values()) / n)
        argv = [python, "-m", "kbackend", "verify", "--json", "--model", path]
        for b in backends:
            argv += ["--backend", b]
        if args.no_train:
            argv.append("--no-train")
        wall, peak, doc = verify_run(argv, env)
        # again in the same home: jax's persistent compilation cache (kbackend's cache folder) now holds
        # the programs, as on a user's second verify of the same model
        warm, _, doc_warm = verify_run(argv, env)
    load = os.getloadavg()
    res = {"model": f"MobileNetV3Small(weights=None, input {args.size}x{args.size}x3)", "backends": backends,
           "cores": n, "load_predict_children_s": {b: round(s, 2) for b, s in children.items()},
           "floor_s": round(floor, 2), "verify_s": round(wall, 2), "ratio": round(wall / floor, 3), "target": 1.3,
           "verify_warm_s": round(warm, 2), "ratio_warm": round(warm / floor, 3),
           "cpu_s": {b: round(s, 2) for b, s in cpu.items()}, "cpu_floor_s": round(sum(cpu.values()) / n, 2),
           "peak_rss_mib": round(peak / 2**20), "verify_ok": doc.get("ok"), "train": not args.no_train,
           "loadavg": [round(x, 2) for x in load],
           "in_verify_s": {r["backend"]: {k: r.get(k) and round(r[k], 2) for k in ("elapsed_s", "train_first_s")}
                           for r in doc.get("backends", [])},
           "in_verify_warm_s": {r["backend"]: {k: r.get(k) and round(r[k], 2) for k in ("elapsed_s", "train_first_s")}
                                for r in doc_warm.get("backends", [])}}
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"{res['model']} on {', '.join(backends)} ({n} cores; load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f})")
    for b, s in children.items():
        print(f"  load+predict child alone  {b:<11} {s:7.2f} s")
    print(f"  floor = max(slowest {max(children.values()):.2f} s, sum/cores {sum(children.values()) / n:.2f} s)"
          f" = {floor:.2f} s")
    print(f"  (those children's CPU time: {sum(cpu.values()):.2f} s, / cores = {sum(cpu.values()) / n:.2f} s; "
          "under their wall times when other work shares the machine)")
    print(f"  verify --model{' --no-train' if args.no_train else ''}: {wall:.2f} s (ok: {doc.get('ok')})")
    for b, r in res["in_verify_s"].items():  # where the time went: each backend's child inside verify
        print(f"    its {b:<11} child {r['elapsed_s'] or 0:7.2f} s (first train step {r['train_first_s'] or 0:.2f} s)")
    print(f"  ratio {wall / floor:.2f} (target <= 1.3); peak memory of the whole run {peak / 2**20:.0f} MiB")
    print(f"  again, compile cache warm: {warm:.2f} s, ratio {warm / floor:.2f} (target <= 1.3)")
    for b, r in res["in_verify_warm_s"].items():
        print(f"    its {b:<11} child {r['elapsed_s'] or 0:7.2f} s (first train step {r['train_first_s'] or 0:.2f} s)")


if __name__ == "__main__":
    main()
