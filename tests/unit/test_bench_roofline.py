"""The roofline: cache-aware bandwidth, the binding roof, peak fractions, the machine's peak."""

from __future__ import annotations

import pytest

from bench_samples import CURVE, machine, result
from kbackend.bench import roofline
from kbackend.bench.model import PeakSource


def test_bandwidth_is_the_best_level_that_holds_the_bytes():
    assert roofline.bandwidth_for(CURVE, 1000) == 90.0
    assert roofline.bandwidth_for(CURVE, 1 << 20) == 60.0
    assert roofline.bandwidth_for(CURVE, 1 << 30) == 30.0  # bigger than all: DRAM's
    assert roofline.bandwidth_for((), 10) is None


def test_compute_bound_case():
    # 1 GFLOP over 1 MB (1000 FLOP/byte) at 20 ms: 50 GFLOP/s of a 100 GFLOP/s peak
    r = roofline.place(result(medians=(0.02,) * 3, rounds=1, flops=1e9, bytes=1e6), machine())
    assert r.bound == "compute"
    assert r.gflops == pytest.approx(50.0)
    assert r.peak_fraction == pytest.approx(0.5)
    assert r.intensity == pytest.approx(1000.0)


def test_memory_bound_case_uses_the_bandwidth_of_its_working_set():
    # 12 MB moved: DRAM level (30 GB/s) -> at least 0.4 ms; taking 0.8 ms is half the roofline
    r = roofline.place(result(medians=(0.0008,) * 3, rounds=1, flops=1e6, bytes=1.2e7), machine())
    assert r.bound == "memory"
    assert r.gbs == pytest.approx(15.0)
    assert r.peak_fraction == pytest.approx(0.5)


def test_float64_uses_the_float64_peak_and_computed_dtype_wins():
    m = machine()
    r64 = roofline.place(result(medians=(0.02,) * 3, rounds=1, flops=1e9, bytes=1e6, dtype="float64",
                                compute_dtype="float64"), m)
    assert r64.peak_fraction == pytest.approx(1.0)  # 50 GFLOP/s of the 50 GFLOP/s float64 peak
    r32 = roofline.place(result(medians=(0.02,) * 3, rounds=1, flops=1e9, bytes=1e6, dtype="float64",
                                compute_dtype="float32"), m)
    assert r32.peak_fraction == pytest.approx(0.5)


def test_errors_are_not_placed():
    r = result(status="error", median_s=None)
    assert roofline.place(r, machine()) is r


def test_gpu_results_use_that_devices_probe_and_no_cpu_bandwidth():
    m = machine(peak_sources=(PeakSource(source="torch", device="cuda:0", dtype="float32", gflops=1000.0),))
    r = roofline.place(result(medians=(0.002,) * 3, rounds=1, flops=1e9, bytes=1e6), m, device="cuda:0")
    assert r.peak_fraction == pytest.approx(0.5)
    none = roofline.place(result(medians=(0.002,) * 3, rounds=1, flops=1e9, bytes=1e6), m, device="cuda:1")
    assert none.peak_fraction is None


def test_machine_peak_is_the_best_cpu_measurement():
    peak = {"cpu": "X", "cores": 2, "gflops": {"float32": 80.0, "float64": 40.0},
            "bandwidth": [{"footprint_bytes": 100, "copy_gbs": 50.0, "add_gbs": 60.0, "gbs": 60.0},
                          {"footprint_bytes": 10**8, "copy_gbs": 20.0, "add_gbs": 25.0, "gbs": 25.0}]}
    probes = [PeakSource(source="jax", dtype="float32", gflops=120.0),
              PeakSource(source="torch", device="cuda:0", dtype="float32", gflops=9000.0),
              PeakSource(source="numpy", dtype="float64", gflops=None, note="computed in float32")]
    m = roofline.machine_from(peak, 2, probes)
    assert m.peak_gflops == {"float32": 120.0, "float64": 40.0}
    assert m.peak_gbs == 25.0
    assert len(m.peak_sources) == 5


def test_attainable_is_the_lower_roof():
    assert roofline.attainable_gflops(0.1, 100.0, 30.0) == pytest.approx(3.0)
    assert roofline.attainable_gflops(100.0, 100.0, 30.0) == 100.0


def test_a_case_faster_than_the_peak_raises_it():
    from bench_samples import machine, result

    from kbackend.bench import run

    m = machine(peak_gflops={"float32": 10.0, "float64": 5.0})
    fast = roofline.place(result("jax", "matmul", (1e-3,) * 3, flops=2e7, bytes=1e3), m)  # 20 GFLOP/s
    assert fast.peak_fraction > 1
    raised = run.raise_peak(m, [fast], {"jax": "cpu"})
    assert raised.peak_gflops == {"float32": pytest.approx(20.0), "float64": 5.0}
    assert raised.peak_sources[-1].source == "jax matmul medium"
    assert roofline.place(fast, raised).peak_fraction == pytest.approx(1.0)
    assert run.raise_peak(raised, [fast], {"jax": "cpu"}) is raised  # nothing above it: unchanged
