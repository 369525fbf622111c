"""`kbackend envs` over 10 environments against starting their 10 interpreters once each, in parallel.

Generates 10 venvs (no pip) that see this interpreter's keras and backends
through a .pth line, then measures, interleaved round by round so that drift in
machine load hits both alike:

- baseline: `ENV/bin/python -c pass` for the 10 environments, started together, until the last exits;
- kbackend: `kbackend envs --json --path ENV ...` listing the same 10 (plus its own interpreter).

Prints the medians and their ratio. Target: <= 1.5.

    python benchmarks/envs.py [--rounds 21] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import kbackend_exe, precompile  # noqa: E402

N_ENVS = 10
TARGET = 1.5


def make_envs(root: str) -> list[str]:
    purelib = sysconfig.get_paths()["purelib"]
    envs = []
    for i in range(N_ENVS):
        d = os.path.join(root, f"env{i}")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", d], check=True)
        site = next(os.path.join(dp, "site-packages") for dp, dirs, _ in os.walk(os.path.join(d, "lib"))
                    if "site-packages" in dirs)
        with open(os.path.join(site, "shared.pth"), "w") as f:
            f.write(purelib + "\n")
        envs.append(d)
    return envs


def start_all(envs: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    procs = [subprocess.Popen([os.path.join(e, "bin", "python"), "-c", "pass"], env=env) for e in envs]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"{p.args[0]} failed")
    return time.perf_counter() - t0


def kbackend_envs(argv: list[str], env: dict, cwd: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"kbackend envs failed ({r.returncode}): {r.stderr[-2000:]}")
    return dt, json.loads(r.stdout)


def main() -> int:
    precompile()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    kb = kbackend_exe()
    with tempfile.TemporaryDirectory(prefix="kbackend-bench-envs-") as root:
        envs = make_envs(root)
        home = os.path.join(root, "home")
        os.mkdir(home)
        # Only the generated environments: no pyenv, conda, WORKON_HOME or active environment.
        env = {k: v for k, v in os.environ.items()
               if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_EXE", "PYTHONPATH", "KBACKEND_PYTHON")}
        env.update(HOME=home, KERAS_HOME=os.path.join(home, ".keras"), PYENV_ROOT=os.path.join(root, "none"),
                   WORKON_HOME=os.path.join(root, "none"))
        argv = [kb, "envs", "--json"] + [a for e in envs for a in ("--path", e)]
        _, doc = kbackend_envs(argv, env, root)  # warm the OS caches once, and check the answer
        found = {e["prefix"]: e for e in doc["environments"]}
        bad = [e for e in envs if found.get(e, {}).get("status") != "ok" or not found[e].get("keras_version")]
        if bad:
            raise SystemExit(f"kbackend envs did not describe {bad}")
        start_all(envs, env)
        base, kbt = [], []
        for _ in range(args.rounds):
            base.append(start_all(envs, env))
            kbt.append(kbackend_envs(argv, env, root)[0])
    med = {"start 10 interpreters in parallel": statistics.median(base),
           "kbackend envs (10 environments)": statistics.median(kbt)}
    ratio = med["kbackend envs (10 environments)"] / med["start 10 interpreters in parallel"]
    if args.json:
        print(json.dumps({"median_s": med, "ratio": ratio, "rounds": args.rounds, "target": TARGET,
                          "cpus": os.cpu_count()}))
    else:
        for k, v in med.items():
            print(f"{k:36s} median {v * 1000:7.1f} ms  (n={args.rounds})")
        print(f"ratio kbackend envs / parallel interpreter starts = {ratio:.2f}  "
              f"(target <= {TARGET}: {'met' if ratio <= TARGET else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
