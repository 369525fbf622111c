"""The regression gate: this run against a baseline (or side B against side A).

One estimator everywhere (FACTS.md section 4: the processes are the
independent repetitions): each process's best sample (noise only adds time;
see `run.estimate` for the measurements behind the choice), and for a case
the median of those per-process values. It is the time shown, the ratio is
the shown after / before exactly, and the spread shown is the IQR of the same
per-process values. A case is decided in three steps:

1. a minimum effect and evidence: at least `--max-regression` % (10) slower,
   and significantly so across processes (a one-sided Mann-Whitney test at
   `alpha` = 0.05; with fewer than 3 processes a side, across the rounds);
2. the machine: two fixed calibration kernels are timed in the same
   processes as the cases, a single-threaded one (a NumPy add) and a
   multi-threaded one (a BLAS matmul, the reference of matmul, conv and
   linalg cases, which thread contention hits far harder). When the kernel
   of the case's kind moved between the two runs in the same direction as
   the case by at least half the case's change (in log terms), the change is
   "inconclusive: the machine was noisy" rather than a verdict; it fails the
   gate only under --strict;
3. confirmation (service.py): a suspected change is re-measured, only that
   case, with more processes, and stands only if the re-measurement alone
   shows it too (asv's `continuous` re-runs, Google Benchmark's repetitions).
   The verdict is then on all processes pooled.

Improvements are the mirror image. Results whose machine metadata differ (CPU,
core count, threads, Keras or backend version, device, eager or jit) are not compared
unless forced, and the gate says why.
"""

from __future__ import annotations

from kbackend.bench import stats
import math

from kbackend.bench.model import BackendRun, BenchReport, Comparison, Gate, Noise, Refusal, Result

ALPHA = 0.05
MIN_PROCESSES = 3
#: a change is inconclusive when the machine explains at least this share of it (log scale).
EXPLAINED = 0.5


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


def model_differences(current: BenchReport, baseline: BenchReport) -> list[str]:
    """`bench --model` runs of two different model files: reported (a changed model can be the slowdown
    the gate is there to catch), not refused.

    >>> from kbackend.bench.model import Machine
    >>> m = Machine(cpu="x", cores=2, threads=2)
    >>> a = BenchReport(machine=m, options={"model": {"name": "m.keras", "sha256": "aa"}})
    >>> model_differences(a.model_copy(update={"options": {"model": {"name": "m.keras", "sha256": "bb"}}}), a)
    ['model file: baseline m.keras (sha256 aa), now m.keras (sha256 bb)']
    """
    a, b = baseline.options.get("model"), current.options.get("model")
    if not isinstance(a, dict) or not isinstance(b, dict) or a == b:
        return []
    return [f"model file: baseline {a.get('name')} (sha256 {a.get('sha256')}), "
            f"now {b.get('name')} (sha256 {b.get('sha256')})"]


def backend_differences(current: BackendRun, baseline: BackendRun) -> list[str]:
    out = []
    for field, label in (("keras", "Keras version"), ("version", f"{current.backend} version"),
                         ("device", "device"), ("mode", "mode")):
        if getattr(baseline, field) != getattr(current, field):
            out.append(f"{label}: baseline {getattr(baseline, field)!r}, now {getattr(current, field)!r}")
    return out


def relative_spread(xs) -> float | None:
    """IQR / median, or None with fewer than 2 values."""
    if len(xs) < 2 or stats.median(xs) <= 0:
        return None
    return stats.iqr(xs) / stats.median(xs)


def noise_for(current: BackendRun, baseline: BackendRun, load: tuple = (), baseline_load: tuple = ()) -> Noise:
    """The machine's noise for one backend: its calibration kernel in both runs, and the load averages."""
    a, b = current.calibration, baseline.calibration
    ratio = stats.median(a) / stats.median(b) if a and b and stats.median(b) > 0 else None
    x, y = current.calibration_blas, baseline.calibration_blas
    blas = stats.median(x) / stats.median(y) if x and y and stats.median(y) > 0 else None
    return Noise(backend=current.backend, calibration_ratio=ratio, blas_ratio=blas, spread=relative_spread(a),
                 baseline_spread=relative_spread(b), load=tuple(load), baseline_load=tuple(baseline_load))


#: cases whose work is multi-threaded BLAS: their reference is the matmul calibration kernel.
BLAS_CATEGORIES = ("matmul", "conv", "linalg")


def calibration_ratio(noise: Noise | None, category: str = "") -> float | None:
    """The calibration ratio of the kernel of the case's kind (BLAS for matmul/conv/linalg)."""
    if noise is None:
        return None
    return noise.blas_ratio if category in BLAS_CATEGORIES else noise.calibration_ratio


def explained(noise: Noise | None, ratio: float, category: str = "") -> float:
    """How much of a change of `ratio` the machine itself shows (log scale): the shift between the two
    runs, in the same direction, of the calibration kernel of the case's kind (an elementwise add
    for single-threaded work, a BLAS matmul for matmul, conv and linalg cases).

    Its scatter between processes is reported, not used: it is the scatter of a multi-threaded BLAS
    kernel (huge while another process holds a core), which single-threaded cases do not share, and
    the rank test already weighs each case's own scatter.

    >>> n = Noise(backend="x", calibration_ratio=1.2, spread=0.02, baseline_spread=0.01)
    >>> round(explained(n, 1.3), 3), round(explained(n, 0.7), 3)
    (0.182, 0.0)
    """
    cal = calibration_ratio(noise, category)
    if not cal:
        return 0.0
    sign = 1.0 if ratio >= 1 else -1.0
    return max(0.0, sign * math.log(cal))


def decide(current: Result, baseline: Result, threshold: float, alpha: float = ALPHA,
           noise: Noise | None = None) -> Comparison:
    """The verdict for one case: regression, improvement, unchanged, noise (beyond the threshold but
    not significant) or inconclusive (significant, but the machine moved as much)."""
    if min(len(current.process_mins), len(baseline.process_mins)) >= MIN_PROCESSES:
        a, b, unit = current.process_mins, baseline.process_mins, "processes"
    else:
        a, b, unit = current.samples, baseline.samples, "rounds"
    ratio = current.median_s / baseline.median_s
    p_slower = stats.mann_whitney_greater(a, b)
    p_faster = stats.mann_whitney_greater(b, a)
    note = None
    if ratio >= 1 + threshold:
        verdict = "regression" if p_slower <= alpha else "noise"
    elif ratio <= 1 / (1 + threshold):
        verdict = "improvement" if p_faster <= alpha else "noise"
    else:
        verdict = "unchanged"
    m = explained(noise, ratio, current.category)
    if verdict in ("regression", "improvement") and m >= EXPLAINED * abs(math.log(ratio)):
        verdict = "inconclusive"
        kind = "BLAS " if current.category in BLAS_CATEGORIES else ""
        note = (f"the machine was noisy: its {kind}calibration kernel moved "
                f"×{calibration_ratio(noise, current.category):.2f} between the runs")
    return Comparison(
        backend=current.backend, case=current.case, size=current.size, dtype=current.dtype, mode=current.mode,
        baseline_median_s=baseline.median_s, median_s=current.median_s, ratio=ratio,
        baseline_iqr_s=baseline.iqr_s, iqr_s=current.iqr_s,
        p_slower=p_slower, p_faster=p_faster, repetitions=unit, verdict=verdict,
        processes=len(current.process_mins), baseline_processes=len(baseline.process_mins),
        machine_noise=m if noise is not None else None, note=note,
    )


def suspected(c: Comparison) -> bool:
    """A change worth re-measuring before deciding."""
    return c.verdict in ("regression", "improvement", "inconclusive")


def confirm(first: Comparison, second: Comparison, pooled: Comparison) -> Comparison:
    """The verdict after a re-measurement: `second` (the re-measured processes alone) must show the same
    change as `first`; the verdict and the numbers are then those of all processes `pooled`."""
    same = suspected(second) and (second.ratio > 1) == (first.ratio > 1)
    if same and suspected(pooled):
        return pooled.model_copy(update={"confirmation": "confirmed"})
    verdict = "unchanged" if pooled.verdict == "unchanged" else "noise"
    why = (f"not confirmed: re-measured ×{second.ratio:.2f} ({second.verdict})" if not same
           else f"not confirmed: all processes together {pooled.verdict}")
    return pooled.model_copy(update={"verdict": verdict, "confirmation": "not confirmed", "note": why})


def compare(current: BenchReport, baseline: BenchReport, *, threshold: float, baseline_path: str = "",
            force: bool = False, alpha: float = ALPHA, strict: bool = False, kind: str = "baseline") -> Gate:
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
    differences += model_differences(current, baseline)
    base = {r.key: r for r in baseline.results if r.status == "ok"}
    cur = {r.key: r for r in current.results if r.status == "ok"}
    cur_runs = {b.backend: b for b in current.backends}
    noise = {b: noise_for(cur_runs[b], base_runs[b], current.load, baseline.load) for b in comparable}
    comparisons = [decide(cur[k], base[k], threshold, alpha, noise[k[0]]) for k in cur
                   if k in base and k[0] in comparable]
    return Gate(
        baseline=baseline_path, threshold=threshold, alpha=alpha, forced=force, strict=strict, kind=kind,
        noise=tuple(noise[b] for b in cur_runs if b in noise),
        comparisons=tuple(comparisons), refused=tuple(refused),
        missing=tuple(key_str(k) for k in base if k not in cur and k[0] in comparable),
        new=tuple(key_str(k) for k in cur if k not in base and k[0] in comparable),
        differences=tuple(differences),
    )
