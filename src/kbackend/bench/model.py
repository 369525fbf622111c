"""Bench's frozen result models: the machine, each backend's run, each timed case, the gate.

`BenchReport.model_dump(mode="json")` is both the `bench --json` data and,
with the format keys of `baseline.py`, the baseline file.
"""

from __future__ import annotations

from typing import Literal

from kbackend._record import Checked

#: timeout / crashed: the case hung past the item time limit or killed its process, and was left out.
ResultStatus = Literal["ok", "error", "skipped", "timeout", "crashed", "not_run"]
#: noise: beyond the threshold but not significant, or not confirmed by the re-measurement;
#: inconclusive: significant, but the machine's own calibration kernel moved as much (a noisy machine).
Verdict = Literal["regression", "improvement", "unchanged", "noise", "inconclusive"]


class BandwidthPoint(Checked):
    """STREAM-like bandwidth at one working-set size (bytes the kernel touches)."""

    footprint_bytes: int
    copy_gbs: float
    add_gbs: float
    #: a read-only kernel (a dot product): the roof of reductions.
    read_gbs: float | None = None
    #: the best of the kernels.
    gbs: float


class PeakSource(Checked):
    """One measurement of the compute peak: NumPy's BLAS or a backend's own large matmul."""

    source: str
    device: str = "cpu"
    dtype: str
    gflops: float | None = None
    note: str | None = None


class Machine(Checked):
    cpu: str
    cores: int
    threads: int
    platform: str = ""
    python: str = ""
    numpy: str | None = None
    #: best float32 / float64 matmul GFLOP/s seen in this run (NumPy and the backends).
    peak_gflops: dict[str, float] = {}
    #: STREAM-like bandwidth of the largest (DRAM-sized) working set, GB/s.
    peak_gbs: float = 0.0
    bandwidth: tuple[BandwidthPoint, ...] = ()
    peak_sources: tuple[PeakSource, ...] = ()
    #: relative spread (IQR / median) of the peak's repeated trials, per dtype.
    peak_spread: dict[str, float] = {}
    #: where the peak comes from: "measured" in this run, or "cached" (measured once for this fingerprint).
    peak_origin: str = "measured"
    peak_measured_at: str | None = None
    #: the fingerprint the peak was measured for (CPU, cores, threads, library versions).
    fingerprint: dict[str, object] = {}


class BackendRun(Checked):
    """One backend: its versions, device, threads and how its processes went."""

    backend: str
    status: str
    error: str | None = None
    keras: str | None = None
    version: str | None = None
    device: str | None = None
    mode: str = "eager"
    sync: str | None = None
    thread_env: dict[str, str] = {}
    affinity: int | None = None
    backend_threads: dict[str, object] = {}
    processes: int = 0
    import_s: float | None = None
    log: str | None = None
    #: per-process best samples of the calibration kernel (a fixed NumPy matmul timed beside the cases).
    calibration: tuple[float, ...] = ()
    #: the same for the multi-threaded calibration kernel (a BLAS matmul).
    calibration_blas: tuple[float, ...] = ()
    #: the interpreter that ran it (A/B runs have two).
    python: str | None = None


class Result(Checked):
    """One case timed on one backend (all processes and rounds together)."""

    backend: str
    case: str
    category: str = ""
    size: str
    dtype: str
    mode: str = "eager"
    status: ResultStatus = "ok"
    error: str | None = None
    #: dtype the backend computed in (Keras computes float64 in float32 except on TensorFlow).
    compute_dtype: str | None = None
    #: the one estimator: the median over processes of each process's best sample (`process_mins`);
    #: iqr_s, q1_s, q3_s are its spread (quartiles of those values; None with a single process).
    median_s: float | None = None
    iqr_s: float | None = None
    q1_s: float | None = None
    q3_s: float | None = None
    min_s: float | None = None
    #: the first call, compilation included (median over processes).
    first_call_s: float | None = None
    loops: int | None = None
    #: every sample, seconds per call (one per round per process).
    samples: tuple[float, ...] = ()
    #: the median and the best (minimum) sample of each process: the independent repetitions.
    process_medians: tuple[float, ...] = ()
    process_mins: tuple[float, ...] = ()
    flops: float | None = None
    bytes: float | None = None
    intensity: float | None = None
    gflops: float | None = None
    gbs: float | None = None
    #: achieved / attainable, attainable = min(peak compute, intensity x bandwidth).
    peak_fraction: float | None = None
    bound: Literal["compute", "memory"] | None = None

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.backend, self.case, self.size, self.dtype, self.mode)


class Comparison(Checked):
    backend: str
    case: str
    size: str
    dtype: str
    mode: str = "eager"
    baseline_median_s: float
    median_s: float
    #: spreads of the same estimator (IQR of the per-process bests), None with one process.
    baseline_iqr_s: float | None = None
    iqr_s: float | None = None
    #: median_s / baseline_median_s, exactly (> 1: slower).
    ratio: float
    #: one-sided rank-test p-values across the independent repetitions.
    p_slower: float
    p_faster: float
    repetitions: Literal["processes", "rounds"]
    verdict: Verdict
    #: processes behind each side (after a confirmation, the pooled count).
    processes: int = 0
    baseline_processes: int = 0
    #: "confirmed" / "not confirmed" after the automatic re-measurement, None when none was needed.
    confirmation: str | None = None
    #: how much of the change the machine's calibration kernel explains (log scale), and why.
    machine_noise: float | None = None
    note: str | None = None


class Refusal(Checked):
    """A backend whose baseline was not compared, and why."""

    backend: str
    reasons: tuple[str, ...]


class Noise(Checked):
    """The machine's noise in one comparison, measured in the same processes as the cases."""

    backend: str
    #: median calibration now / in the baseline (> 1: the machine was slower now).
    calibration_ratio: float | None = None
    #: the multi-threaded kernel's ratio: the reference of the matmul, conv and linalg cases.
    blas_ratio: float | None = None
    #: IQR / median of the per-process calibration values, each side.
    spread: float | None = None
    baseline_spread: float | None = None
    #: 1-minute load averages at the start and end of each run.
    load: tuple[float, ...] = ()
    baseline_load: tuple[float, ...] = ()


class Gate(Checked):
    baseline: str
    threshold: float
    alpha: float
    forced: bool = False
    #: inconclusive cases fail the gate too.
    strict: bool = False
    noise: tuple[Noise, ...] = ()
    #: cases re-measured to confirm a suspected change, and the processes used.
    confirmed_cases: int = 0
    confirm_processes: int = 0
    #: "baseline" (a saved run), "compare" (two saved runs), "ab" (two environments in one run).
    kind: str = "baseline"
    comparisons: tuple[Comparison, ...] = ()
    refused: tuple[Refusal, ...] = ()
    #: keys "backend/case/size/dtype/mode" only in the baseline, or only in this run.
    missing: tuple[str, ...] = ()
    new: tuple[str, ...] = ()
    #: differences found between the machines, reported even when --force-compare is on.
    differences: tuple[str, ...] = ()

    @property
    def regressions(self) -> tuple[Comparison, ...]:
        return tuple(c for c in self.comparisons if c.verdict == "regression")

    @property
    def improvements(self) -> tuple[Comparison, ...]:
        return tuple(c for c in self.comparisons if c.verdict == "improvement")

    @property
    def inconclusive(self) -> tuple[Comparison, ...]:
        return tuple(c for c in self.comparisons if c.verdict == "inconclusive")

    @property
    def failed(self) -> bool:
        return bool(self.regressions or (self.strict and self.inconclusive))


class BenchReport(Checked):
    machine: Machine
    options: dict[str, object] = {}
    backends: tuple[BackendRun, ...] = ()
    results: tuple[Result, ...] = ()
    gate: Gate | None = None
    elapsed_s: float = 0.0
    #: 1-minute load average at the start and the end of the run.
    load: tuple[float, ...] = ()

    @property
    def exit_code(self) -> int:
        """1 on a regression (an inconclusive case too under --strict) or a backend that did not run, else 0."""
        if self.gate is not None and self.gate.failed:
            return 1
        return 1 if any(b.status != "ok" for b in self.backends) else 0
