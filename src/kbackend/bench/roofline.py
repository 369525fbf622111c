"""The roofline: what a case could reach on this machine, and its share of that.

attainable GFLOP/s = min(peak compute, intensity x bandwidth), intensity =
FLOPs / bytes. In time: a case cannot take less than max(flops / peak,
bytes / bandwidth), and its peak fraction is that bound over its median.
The bandwidth is cache-aware: the STREAM-like rate measured at the smallest
working set that holds the case's bytes (a small case runs from cache, and
comparing it with DRAM bandwidth would give fractions far above 1).

>>> bw = (BandwidthPoint(footprint_bytes=1000, copy_gbs=90.0, add_gbs=100.0, gbs=100.0),
...       BandwidthPoint(footprint_bytes=10**8, copy_gbs=30.0, add_gbs=28.0, gbs=30.0))
>>> bandwidth_for(bw, 500), bandwidth_for(bw, 5000), bandwidth_for(bw, 10**9)
(100.0, 30.0, 30.0)
>>> round(bound_seconds(2e9, 1e6, 100.0, 30.0)[0], 4)
0.02
"""

from __future__ import annotations

from typing import Sequence

from kbackend.bench import stats
from kbackend.bench.model import BandwidthPoint, Machine, PeakSource, Result

FLOAT64 = "float64"


def bandwidth_for(curve: Sequence[BandwidthPoint], nbytes: float) -> float | None:
    """Best bandwidth among working sets that hold `nbytes`; the largest set's if none does."""
    if not curve:
        return None
    fits = [p.gbs for p in curve if p.footprint_bytes >= nbytes]
    if fits:
        return max(fits)
    return max(curve, key=lambda p: p.footprint_bytes).gbs


def is_cpu(device: str | None) -> bool:
    return (device or "cpu").lower() == "cpu"


def peak_for(machine: Machine, dtype: str | None, device: str | None = "cpu") -> float | None:
    """Compute peak for a computed dtype (float64's for float64, float32's otherwise) on a device.

    Off the CPU the peak is the best probe on that device (no bandwidth is measured there).
    """
    key = FLOAT64 if dtype == FLOAT64 else "float32"
    if is_cpu(device):
        return machine.peak_gflops.get(key) or None
    probes = [s.gflops for s in machine.peak_sources if s.device == device and s.dtype == key and s.gflops]
    return max(probes) if probes else None


def bound_seconds(flops: float, nbytes: float, peak_gflops: float | None, gbs: float | None) -> tuple[float, str]:
    """(the least time the roofline allows, which roof binds)."""
    t_compute = flops / (peak_gflops * 1e9) if peak_gflops and flops else 0.0
    t_memory = nbytes / (gbs * 1e9) if gbs and nbytes else 0.0
    return (t_compute, "compute") if t_compute >= t_memory else (t_memory, "memory")


def attainable_gflops(intensity: float, peak_gflops: float, gbs: float) -> float:
    """min(peak compute, intensity x bandwidth)."""
    return min(peak_gflops, intensity * gbs)


def place(result: Result, machine: Machine, device: str | None = "cpu") -> Result:
    """`result` with achieved GFLOP/s and GB/s, intensity, peak fraction and binding roof."""
    if result.status != "ok" or not result.median_s:
        return result
    flops, nbytes, t = result.flops or 0.0, result.bytes or 0.0, result.median_s
    gbs = bandwidth_for(machine.bandwidth, nbytes) if nbytes and is_cpu(device) else None
    peak = peak_for(machine, result.compute_dtype or result.dtype, device)
    t_min, bound = bound_seconds(flops, nbytes, peak, gbs)
    return result.model_copy(update=dict(
        gflops=flops / t / 1e9 if flops else None,
        gbs=nbytes / t / 1e9 if nbytes else None,
        intensity=flops / nbytes if nbytes else None,
        peak_fraction=t_min / t if t_min > 0 else None,
        bound=bound if t_min > 0 else None,
    ))


def machine_from(peak: dict, threads: int, probes: Sequence[PeakSource]) -> Machine:
    """The machine from the NumPy peak child and the backends' own matmul probes.

    The compute peak is the best any library reached on the CPU in this run
    (one library's BLAS can be slower than another's: a fraction above 1 would
    only say that the reference was weak).
    """
    sources = [PeakSource(source="numpy", device="cpu", dtype=dt, gflops=g)
               for dt, g in (peak.get("gflops") or {}).items()]
    sources += list(probes)
    best: dict[str, float] = {}
    for s in sources:
        if s.gflops and is_cpu(s.device):
            best[s.dtype] = max(best.get(s.dtype, 0.0), s.gflops)
    curve = tuple(BandwidthPoint(**p) for p in peak.get("bandwidth") or ())
    dram = max(curve, key=lambda p: p.footprint_bytes).gbs if curve else 0.0
    spread = {}
    for dt, trials in (peak.get("gflops_trials") or {}).items():
        if trials and stats.median(trials) > 0:
            spread[dt] = stats.iqr(trials) / stats.median(trials)
    return Machine(
        peak_spread=spread,
        cpu=peak.get("cpu") or "unknown", cores=int(peak.get("cores") or 0), threads=threads,
        platform=peak.get("platform") or "", python=peak.get("python") or "", numpy=peak.get("numpy"),
        peak_gflops=best, peak_gbs=dram, bandwidth=curve, peak_sources=tuple(sources),
    )
