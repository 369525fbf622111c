"""How far the real backends are from the float64 reference, per tolerance class and dtype.

verify's tolerances (kbackend/child/compare.py `TOLERANCES`) must be measured, not guessed: this
script runs `kbackend verify --json` on the installed backends (every case, the asked dtypes,
no tiny model) and collects, per tolerance class and output dtype, the `max_rel_err` of every
value row that was compared (pass or fail; a known difference, a skip, an error or a dtype
mismatch has no error to count). `max_rel_err` is the largest |got - reference| / |reference|
over the elements whose reference is above the class's atol, the reference being the float64
NumPy result rounded to the output dtype (so a float32 output that is the correctly rounded
float64 value has error 0).

It prints, per class and dtype: how many rows, the median, the 90th percentile and the maximum
of their max_rel_err, the backend and case of the maximum, the class's rtol, and the headroom
(rtol / maximum), and the largest error in multiples of the whole bound atol + rtol·|reference|
(`worst`: above 1 a row fails; where it is far below 1 the bound is looser than any backend needs;
a headroom below 1 with `worst` below 1 means atol, not rtol, carried that row).
The figures beside `TOLERANCES` come from this script.

    python benchmarks/tolerances.py [--dtype float32 ...] [--backend NAME ...] [--grad] [--json]
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

from _common import isolated_env


def run_verify(python: str, backends: list[str], dtypes: list[str], grads: bool) -> dict:
    with tempfile.TemporaryDirectory() as home:
        env = isolated_env(home)
        argv = [python, "-m", "kbackend", "verify", "--json", "--no-model"]
        for b in backends:
            argv += ["--backend", b]
        for d in dtypes:
            argv += ["--dtype", d]
        if not grads:
            argv.append("--no-grad")
        p = subprocess.run(argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=home)
    return json.loads(p.stdout)


def spread(doc: dict, check: str = "value") -> list[dict]:
    from kbackend.child import cases as K

    tol_of = {c.name: c.tol for c in K.CASES}
    groups: dict[tuple[str, str], list[tuple[float, str, str]]] = {}
    for r in doc.get("results", []):
        if r["check"] != check or r["status"] not in ("pass", "fail") or r.get("max_rel_err") is None:
            continue
        dt = r.get("got_dtype") or r["dtype"]
        groups.setdefault((tol_of.get(r["case"], "?"), dt), []).append(
            (r["max_rel_err"], r["backend"], r["case"], r.get("worst") or 0.0))
    from kbackend.child.compare import tolerance

    out = []
    for (cls, dt), errs in sorted(groups.items()):
        vals = sorted(e[0] for e in errs)
        worst = max(errs)
        ratio = max(errs, key=lambda e: e[3])
        try:
            rtol = tolerance(cls, dt, grad=check == "grad")[1]
        except ValueError:
            rtol = None
        p90 = vals[min(len(vals) - 1, int(0.9 * len(vals)))]
        out.append({"class": cls, "dtype": dt, "rows": len(vals), "median": statistics.median(vals), "p90": p90,
                    "max": worst[0], "where": f"{worst[1]} {worst[2]}", "rtol": rtol,
                    "headroom": (rtol / worst[0]) if rtol and worst[0] else None,
                    "worst_of_tol": ratio[3], "worst_of_tol_where": f"{ratio[1]} {ratio[2]}"})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", action="append", default=[])
    ap.add_argument("--backend", action="append", default=[])
    ap.add_argument("--grad", action="store_true", help="also the gradient rows (jax, torch, tensorflow)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from kbackend.suite.run import installed_backends

    backends = args.backend or installed_backends(sys.path)[0]
    dtypes = args.dtype or ["float32"]
    t0 = time.perf_counter()
    doc = run_verify(sys.executable, backends, dtypes, args.grad)
    wall = time.perf_counter() - t0
    table = spread(doc) + ([dict(r, check="grad") for r in spread(doc, "grad")] if args.grad else [])
    meta = {"backends": backends, "dtypes": dtypes, "wall_s": wall, "load_avg_1m": os.getloadavg()[0],
            "versions": {b["name"]: b.get("version") for b in doc.get("backends", [])}}
    if args.json:
        print(json.dumps({**meta, "table": table}, indent=2))
        return
    print(f"backends: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}; dtypes {', '.join(dtypes)}; "
          f"{wall:.0f} s, load {meta['load_avg_1m']:.1f}")
    print(f"{'class':<12}{'dtype':<10}{'rows':>5}{'median':>9}{'p90':>9}{'max':>9}{'rtol':>8}{'headroom':>9}"
          f"{'worst':>7}  max at")
    for r in table:
        head = f"{r['headroom']:.2g}x" if r["headroom"] else "-"
        name = r["class"] + (" ∇" if r.get("check") == "grad" else "")
        print(f"{name:<12}{r['dtype']:<10}{r['rows']:>5}{r['median']:>9.2g}{r['p90']:>9.2g}{r['max']:>9.2g}"
              f"{(r['rtol'] or 0):>8.0e}{head:>9}{r['worst_of_tol']:>7.2f}  {r['where']}")


if __name__ == "__main__":
    main()
