"""The regression gate: this run against a baseline.

A case regresses only when both hold (asv and CodSpeed's rule: a minimum
effect, and evidence beyond noise):
- it is slower by at least the threshold (`--max-regression`, 10 %);
- the slowdown is significant across the independent repetitions: a one-sided
  Mann-Whitney test at `alpha` = 0.05.
The repetitions are the processes (3 or more a side; samples of one process
are correlated, FACTS.md section 4), each represented by its best sample:
noise only ever adds time, so a process's minimum is its least disturbed
measure (timeit's advice; Chen and Revels, "Robust benchmarking in noisy
environments", 2016). On this shared 2-core machine, identical runs gave 3
false alarms in 20 decisions with per-process medians and none with
minimums, and a 30 % slowdown went from p = 0.048 to p = 0.004. The ratio is
then of the medians of those minimums. With fewer processes the interleaved
rounds' samples are the repetitions and the ratio is of the medians. The
reported times stay medians and IQRs. Improvements are the mirror image. Results whose machine metadata differ (CPU,
core count, threads, Keras or backend version, device, eager or jit) are not compared
unless forced, and the gate says why.
"""

from __future__ import annotations

from kbackend.bench import stats
from kbackend.bench.model import BackendRun, BenchReport, Comparison, Gate, Refusal, Result

ALPHA = 0.05
MIN_PROCESSES = 3


def key_str(k: tuple[str, ...]) -> str:
    return "/".join(k)


def machine_differences(current: BenchReport, baseline: BenchReport) -> list[str]:
    """Differences of the machines that make timings incomparable."""
    out = []
    a, b = baseline.machine, current.machine
    for field, label in (("cpu", "CPU"), ("cores", "core count"), ("threads", "threads")):
        if getattr(a, field) != getattr(b, field):
            out.append(f"{label}: baseline {getattr(a, field)!r}, now {getattr(b, field)!r}")
    return out


def backend_differences(current: BackendRun, baseline: BackendRun) -> list[str]:
    out = []
    for field, label in (("keras", "Keras version"), ("version", f"{current.backend} version"),
                         ("device", "device"), ("mode", "mode")):
        if getattr(baseline, field) != getattr(current, field):
            out.append(f"{label}: baseline {getattr(baseline, field)!r}, now {getattr(current, field)!r}")
    return out


def decide(current: Result, baseline: Result, threshold: float, alpha: float = ALPHA) -> Comparison:
    """The verdict for one case: regression, improvement, unchanged, or noise (beyond the
    threshold but not significant)."""
    if min(len(current.process_mins), len(baseline.process_mins)) >= MIN_PROCESSES:
        a, b, unit = current.process_mins, baseline.process_mins, "processes"
        ratio = stats.median(a) / stats.median(b)
    else:
        a, b, unit = current.samples, baseline.samples, "rounds"
        ratio = current.median_s / baseline.median_s
    p_slower = stats.mann_whitney_greater(a, b)
    p_faster = stats.mann_whitney_greater(b, a)
    if ratio >= 1 + threshold:
        verdict = "regression" if p_slower <= alpha else "noise"
    elif ratio <= 1 / (1 + threshold):
        verdict = "improvement" if p_faster <= alpha else "noise"
    else:
        verdict = "unchanged"
    return Comparison(
        backend=current.backend, case=current.case, size=current.size, dtype=current.dtype, mode=current.mode,
        baseline_median_s=baseline.median_s, median_s=current.median_s, ratio=ratio,
        p_slower=p_slower, p_faster=p_faster, repetitions=unit, verdict=verdict,
    )


def compare(current: BenchReport, baseline: BenchReport, *, threshold: float, baseline_path: str = "",
            force: bool = False, alpha: float = ALPHA) -> Gate:
    """Compare every case present, ok and comparable in both runs."""
    machine = machine_differences(current, baseline)
    base_runs = {b.backend: b for b in baseline.backends}
    refused: list[Refusal] = []
    differences = list(machine)
    comparable: set[str] = set()
    for run in current.backends:
        old = base_runs.get(run.backend)
        if old is None:
            continue
        reasons = machine + backend_differences(run, old)
        differences += [r for r in reasons if r not in differences]
        if reasons and not force:
            refused.append(Refusal(backend=run.backend, reasons=tuple(reasons)))
        else:
            comparable.add(run.backend)
    base = {r.key: r for r in baseline.results if r.status == "ok"}
    cur = {r.key: r for r in current.results if r.status == "ok"}
    comparisons = [decide(cur[k], base[k], threshold, alpha) for k in cur if k in base and k[0] in comparable]
    return Gate(
        baseline=baseline_path, threshold=threshold, alpha=alpha, forced=force,
        comparisons=tuple(comparisons), refused=tuple(refused),
        missing=tuple(key_str(k) for k in base if k not in cur and k[0] in comparable),
        new=tuple(key_str(k) for k in cur if k not in base and k[0] in comparable),
        differences=tuple(differences),
    )
