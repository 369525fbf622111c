"""Synthetic bench reports for the bench tests (no child process, no clock)."""

from __future__ import annotations

from kbackend.bench import roofline, run
from kbackend.bench.model import BackendRun, BandwidthPoint, BenchReport, Machine, PeakSource, Result

CURVE = (
    BandwidthPoint(footprint_bytes=1 << 15, copy_gbs=80.0, add_gbs=90.0, gbs=90.0),
    BandwidthPoint(footprint_bytes=1 << 21, copy_gbs=60.0, add_gbs=55.0, gbs=60.0),
    BandwidthPoint(footprint_bytes=1 << 27, copy_gbs=30.0, add_gbs=28.0, gbs=30.0),
)


def machine(**kw) -> Machine:
    base = dict(cpu="Test CPU", cores=2, threads=2, platform="Linux", python="3.11.7", numpy="2.0",
                peak_gflops={"float32": 100.0, "float64": 50.0}, peak_gbs=30.0, bandwidth=CURVE,
                peak_sources=(PeakSource(source="numpy", dtype="float32", gflops=100.0),))
    base.update(kw)
    return Machine(**base)


def backend(name: str = "numpy", **kw) -> BackendRun:
    base = dict(backend=name, status="ok", keras="3.15.1", version="1.0", device="cpu", mode="eager",
                sync="none", processes=3, calibration=(1e-4, 1e-4, 1e-4))
    base.update(kw)
    return BackendRun(**base)


def result(backend: str = "numpy", case: str = "add", medians=(1.0, 1.0, 1.0), *, rounds: int = 3,
           spread: float = 0.01, **kw) -> Result:
    """A result whose processes have these best samples (the per-process values of the estimator);
    each process's other rounds are up to `spread` x (rounds - 1) slower."""
    samples = []
    for m in medians:
        samples += [m * (1 + spread * i) for i in range(rounds)]
    s = sorted(samples)
    base = dict(backend=backend, case=case, category="elementwise", size="medium", dtype="float32",
                mode="eager", status="ok", **run.estimate(list(medians)), min_s=s[0], first_call_s=medians[0] * 5,
                loops=10, samples=tuple(samples),
                process_medians=tuple(sorted(samples[i * rounds:(i + 1) * rounds])[rounds // 2]
                                      for i in range(len(medians))),
                process_mins=tuple(medians),
                flops=1e6, bytes=1.2e7,
                compute_dtype="float32")
    base.update(kw)
    return Result(**base)


def report(results=(), backends=None, **kw) -> BenchReport:
    """A report whose results are placed on the roofline, as `bench.run.merge` does."""
    names = list(dict.fromkeys(r.backend for r in results)) or ["numpy"]
    m = kw.pop("machine", None) or machine()
    return BenchReport(machine=m, backends=tuple(backends or [backend(n) for n in names]),
                       results=tuple(roofline.place(r, m) for r in results), options={"threads": 2}, **kw)
