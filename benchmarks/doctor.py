"""`kbackend doctor` wall time against the backend imports it cannot avoid, and against `kbackend show`.

Prints, from one run:
- cold: `kbackend doctor --refresh` wall time over max(slowest single backend import,
  sum of backend imports / cores). Each import is `import <backend>; import keras` with
  KERAS_BACKEND set, timed inside a fresh interpreter that runs alone (so interpreter
  start and exit are not counted: the strict reference). Target <= 1.25.
- warm: `kbackend doctor` with the probe cache filled, over `kbackend show`, measured
  interleaved (one of each per round). Target <= 2.

Rounds interleave the reference imports and the cold doctor, so drift in machine load
hits both alike; medians are reported. On a machine that other work keeps busy, the
cores are not free and the sum/cores reference is out of reach for anything; the script
also prints cold doctor over the same imports run bare, `cores` at a time (the overhead
of doctor itself under the same load).

    python benchmarks/doctor.py [--rounds 3] [--warm-rounds 11] [--json]
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

IMPORT = (
    "import importlib, os, sys, time\n"
    "t = time.perf_counter()\n"
    "importlib.import_module(sys.argv[1])\n"
    "import keras\n"
    "print(time.perf_counter() - t)\n"
    "sys.stdout.flush()\n"
    "os._exit(0)\n"
)


def _run(argv, env) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, check=False, stdin=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _import_s(python: str, name: str, module: str, env: dict) -> float:
    out = subprocess.run([python, "-c", IMPORT, module], env={**env, "KERAS_BACKEND": name}, capture_output=True,
                         text=True, check=True, stdin=subprocess.DEVNULL, cwd=env["HOME"])
    return float(out.stdout.strip().splitlines()[-1])


def _bare_parallel(python: str, jobs: list[tuple[str, str]], env: dict, cores: int) -> float:
    """Wall time of the same imports as plain processes, `cores` at a time, longest first."""
    from concurrent.futures import ThreadPoolExecutor

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=cores) as ex:
        list(ex.map(lambda j: _import_s(python, j[0], j[1], env), jobs))
    return time.perf_counter() - t0


def main() -> int:
    precompile()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="cold rounds (each: every import alone, one cold doctor)")
    ap.add_argument("--warm-rounds", type=int, default=11)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from kbackend import backends as B
    from kbackend.doctor.probe import available_cores, plan
    from kbackend.envs import installed as inst

    kb = kbackend_exe()
    installed = inst.versions(inst.scan(sys.path))
    names = [p.name for p in plan(installed, installed.get("keras"))]
    if not names:
        print("no backend installed: nothing to measure", file=sys.stderr)
        return 1
    cores = available_cores()
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HOME=home, KERAS_HOME=os.path.join(home, ".keras"), XDG_CACHE_HOME=os.path.join(home, "c"),
                   TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
        os.makedirs(env["KERAS_HOME"])
        with open(os.path.join(env["KERAS_HOME"], "keras.json"), "w") as f:
            json.dump({"floatx": "float32", "epsilon": 1e-07, "backend": names[0], "image_data_format": "channels_last"}, f)
        doctor = [kb, "doctor"]
        for n in names:  # warm the OS file caches once
            _import_s(sys.executable, n, B.get(n).module, env)
        _run(doctor + ["--refresh"], env)

        imports: dict[str, list[float]] = {n: [] for n in names}
        cold: list[float] = []
        refs: list[float] = []
        bare: list[float] = []
        for _ in range(args.rounds):
            for n in names:
                imports[n].append(_import_s(sys.executable, n, B.get(n).module, env))
            cold.append(_run(doctor + ["--refresh"], env))
            round_imports = [imports[n][-1] for n in names]
            refs.append(max(max(round_imports), sum(round_imports) / cores))
            order = sorted(names, key=lambda n: -imports[n][-1])
            bare.append(_bare_parallel(sys.executable, [(n, B.get(n).module) for n in order], env, cores))

        show, warm = [], []
        for _ in range(args.warm_rounds):
            show.append(_run([kb, "show"], env))
            warm.append(_run(doctor, env))

    med_imp = {n: statistics.median(v) for n, v in imports.items()}
    med_cold, med_ref, med_bare = statistics.median(cold), statistics.median(refs), statistics.median(bare)
    cold_ratio = med_cold / med_ref
    med_show, med_warm = statistics.median(show), statistics.median(warm)
    warm_ratio = med_warm / med_show
    if args.json:
        print(json.dumps({"cores": cores, "imports_s": med_imp, "cold_doctor_s": med_cold, "reference_s": med_ref,
                          "cold_ratio": cold_ratio, "bare_parallel_s": med_bare,
                          "cold_over_bare": med_cold / med_bare, "load_avg": os.getloadavg(), "warm_doctor_s": med_warm, "show_s": med_show,
                          "warm_ratio": warm_ratio, "rounds": args.rounds, "warm_rounds": args.warm_rounds,
                          "targets": {"cold": 1.25, "warm": 2}}))
        return 0
    print(f"cores: {cores}   backends probed: {', '.join(names)}")
    for n, v in med_imp.items():
        print(f"  import {n:11s} median {v:6.2f} s")
    print(f"reference max(slowest, sum/cores)  median {med_ref:6.2f} s  (n={args.rounds})")
    print(f"cold kbackend doctor --refresh     median {med_cold:6.2f} s  (n={args.rounds})")
    print(f"cold ratio = {cold_ratio:.2f}  (target <= 1.25: {'met' if cold_ratio <= 1.25 else 'NOT met'})")
    print(f"same imports bare, {cores} at a time      median {med_bare:6.2f} s  -> cold doctor / bare = "
          f"{med_cold / med_bare:.2f}  (load average {os.getloadavg()[0]:.1f} on {cores} cores)")
    print(f"kbackend show                      median {med_show * 1000:6.0f} ms (n={args.warm_rounds})")
    print(f"warm kbackend doctor               median {med_warm * 1000:6.0f} ms (n={args.warm_rounds})")
    print(f"warm ratio = {warm_ratio:.2f}  (target <= 2: {'met' if warm_ratio <= 2 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
