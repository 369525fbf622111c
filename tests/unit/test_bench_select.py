"""Choosing what to time: option validation, --quick, thread variables, merging children's rows."""

from __future__ import annotations

import pytest

from kbackend.bench import run
from kbackend.errors import UsageError
from kbackend.workers.runner import ChildResult

CASES = [
    {"name": "add", "category": "elementwise", "dtypes": ["float16", "bfloat16", "float32", "float64"]},
    {"name": "exp", "category": "elementwise", "dtypes": ["float32", "float64"]},
    {"name": "relu", "category": "activation", "dtypes": ["float32"]},
    {"name": "matmul", "category": "matmul", "dtypes": ["float32", "float64"]},
    {"name": "sort", "category": "sort", "dtypes": ["float32"]},
]


def test_defaults_are_every_case_medium_float32():
    items = run.select(CASES)
    assert [i.case for i in items] == ["add", "exp", "relu", "matmul", "sort"]
    assert {(i.size, i.dtype) for i in items} == {("medium", "float32")}


def test_filters_combine_and_dtypes_a_case_lacks_are_left_out():
    items = run.select(CASES, categories=["elementwise", "matmul"], sizes=["small", "large"], dtypes=["float64", "float16"])
    assert [(i.case, i.size, i.dtype) for i in items] == [
        ("add", "small", "float64"), ("add", "small", "float16"), ("add", "large", "float64"),
        ("add", "large", "float16"), ("exp", "small", "float64"), ("exp", "large", "float64"),
        ("matmul", "small", "float64"), ("matmul", "large", "float64")]


def test_quick_takes_the_quick_cases():
    assert [i.case for i in run.select(CASES, quick=True)] == ["add", "relu", "matmul"]
    assert [i.case for i in run.select(CASES, quick=True, ops=["sort"])] == ["sort"]


@pytest.mark.parametrize("kw,msg", [
    (dict(ops=["nope"]), "Invalid `--op`. Expected case names of the suite (see `kbackend verify --list`). "
                         "Received: op=nope."),
    (dict(ops=["matmull"]), "Received: op=matmull. Did you mean `matmul`?"),
    (dict(categories=["conv"]), "Received: category=conv"),
    (dict(sizes=["huge"]), "Received: size=huge"),
    (dict(dtypes=["int8"]), "Received: dtype=int8"),
])
def test_invalid_choices_name_the_option_and_what_is_allowed(kw, msg):
    with pytest.raises(UsageError) as e:
        run.select(CASES, **kw)
    assert msg in e.value.message and e.value.exit_code == 2


def test_nothing_selected_is_a_usage_error():
    with pytest.raises(UsageError, match="No op case matches"):
        run.select(CASES, ops=["relu"], dtypes=["float64"])


def test_thread_env_fixes_every_pool():
    env = run.thread_env(2, {})
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        assert env[var] == "2"
    assert env["TF_NUM_INTEROP_THREADS"] == "1" and "XLA_FLAGS" not in env
    one = run.thread_env(1, {"XLA_FLAGS": "--xla_dump_to=/tmp/x"})
    assert one["XLA_FLAGS"].startswith("--xla_dump_to=/tmp/x ") and "--xla_cpu_multi_thread_eigen=false" in one["XLA_FLAGS"]


def test_make_plan_quick_and_overrides():
    items = run.select(CASES)
    assert run.make_plan(["numpy"], items, threads=1).rounds == 11
    q = run.make_plan(["numpy"], items, threads=1, quick=True, processes=2)
    assert (q.rounds, q.processes, q.min_time) == (5, 2, 0.001)
    assert run.make_plan(["numpy"], items, threads=1, quick=True).processes == 10
    assert run.make_plan(["numpy"], items, threads=None).threads == run.cores()


def test_installed_backends_follow_the_registry_and_keras():
    inst = {"keras": "3.15.1", "jax": "0.4.30", "jaxlib": "0.4.30", "numpy": "2.0", "torch": "2.5", "openvino": "2026.2"}
    assert run.installed_backends(inst, "3.15.1") == ["jax", "torch", "numpy", "openvino"]
    assert "openvino" not in run.installed_backends(inst, "3.7.0")


def _child(backend, samples, **kw):
    row = {"case": "add", "size": "medium", "dtype": "float32", "status": "ok", "mode": "eager", "flops": 1e5,
           "bytes": 1e6, "first_call_s": 0.5, "loops": 10, "samples": samples, "out_dtype": "float32"}
    row.update(kw)
    return ChildResult("ok", data={"backend": backend, "keras": "3.15.1", "version": "1", "device": "cpu",
                                   "sync": "none", "threads": {"env": {"OMP_NUM_THREADS": "1"}, "affinity": 1},
                                   "import_s": 1.0, "items": [row],
                                   "peak_probe": [{"dtype": "float32", "gflops": 200.0}]})


def test_merge_pools_processes_and_keeps_their_medians():
    plan = run.make_plan(["numpy", "torch"], run.select(CASES, ops=["add"]), threads=1)
    peak = ChildResult("ok", data={"cpu": "X", "cores": 2, "gflops": {"float32": 100.0, "float64": 50.0},
                                   "bandwidth": [{"footprint_bytes": 1 << 27, "copy_gbs": 20.0, "add_gbs": 20.0,
                                                  "gbs": 20.0}]})
    per = {"numpy": [_child("numpy", [1e-4, 1.1e-4]), _child("numpy", [2e-4, 2e-4])],
           "torch": [ChildResult("import_error", error="ModuleNotFoundError: No module named 'torch'")]}
    rep = run.merge(plan, peak, per)
    numpy, torch = rep.results
    assert numpy.process_medians == pytest.approx((1.05e-4, 2e-4))
    assert numpy.process_mins == pytest.approx((1e-4, 2e-4))
    # the one estimator: the median of the per-process best samples, its spread their IQR
    assert numpy.median_s == pytest.approx(1.5e-4) and len(numpy.samples) == 4
    assert numpy.iqr_s == pytest.approx(0.5 * (2e-4 - 1e-4))
    assert numpy.peak_fraction == pytest.approx(1e6 / 20e9 / 1.5e-4)
    assert torch.status == "not_run"
    assert [b.status for b in rep.backends] == ["ok", "import_error"]
    assert rep.machine.peak_gflops["float32"] == 200.0  # the numpy backend's probe beat NumPy's BLAS
    assert rep.exit_code == 1


def test_merge_reports_skipped_and_errors():
    plan = run.make_plan(["numpy"], run.select(CASES, ops=["add"]), threads=1)
    per = {"numpy": [_child("numpy", [], status="skipped", error="not on numpy")]}
    rep = run.merge(plan, ChildResult("crashed", error="killed"), per)
    assert rep.results[0].status == "skipped" and rep.results[0].error == "not on numpy"
    assert rep.machine.peak_gflops == {"float32": 200.0}
    assert any("crashed" in (s.note or "") for s in rep.machine.peak_sources)
