"""Start-up time of a config command against the closest everyday config CLI.

Prints, from one run, the median wall time of `kbackend show` and of
`python -m pip config list`, measured interleaved (one of each per round, so
drift in machine load hits both alike), and their ratio. Target: <= 0.5.

    python benchmarks/startup.py [--rounds 21]
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


def main() -> int:
    precompile()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    kb = kbackend_exe()
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, KERAS_HOME=home, HOME=home)
        with open(os.path.join(home, "keras.json"), "w") as f:
            json.dump({"floatx": "float32", "epsilon": 1e-07, "backend": "jax", "image_data_format": "channels_last"}, f)
        cmds = {
            "kbackend show": [kb, "show"],
            "python -m pip config list": [sys.executable, "-m", "pip", "config", "list"],
        }
        times: dict[str, list[float]] = {k: [] for k in cmds}
        for name, argv in cmds.items():  # warm the OS caches once
            subprocess.run(argv, env=env, capture_output=True, check=True)
        for _ in range(args.rounds):
            for name, argv in cmds.items():
                t0 = time.perf_counter()
                subprocess.run(argv, env=env, capture_output=True, check=True)
                times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["kbackend show"] / med["python -m pip config list"]
    if args.json:
        print(json.dumps({"median_s": med, "ratio": ratio, "rounds": args.rounds, "target": 0.5}))
    else:
        for k, v in med.items():
            print(f"{k:28s} median {v * 1000:7.1f} ms  (n={args.rounds})")
        print(f"ratio kbackend show / pip config list = {ratio:.2f}  (target <= 0.5: {'met' if ratio <= 0.5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
