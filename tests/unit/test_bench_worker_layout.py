"""Where the bench worker's arrays land: the calibration kernel's operands at fixed page offsets."""

from __future__ import annotations

import importlib.util

import pytest

from kbackend.workers.runner import worker_path

np = pytest.importorskip("numpy")


def _worker():
    spec = importlib.util.spec_from_file_location("bench_worker_layout", worker_path("bench_worker.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_calibration_operands_sit_at_fixed_offsets_within_pages():
    w = _worker()
    a, b, c = w.aligned_arrays(np, w.CALIBRATION_ELEMENTS, 3)
    assert [x.ctypes.data % 4096 for x in (a, b, c)] == [0, 1024, 2048]
    assert [x.shape for x in (a, b, c)] == [(w.CALIBRATION_ELEMENTS,)] * 3
    assert a.ctypes.data + a.nbytes <= b.ctypes.data and b.ctypes.data + b.nbytes <= c.ctypes.data  # no overlap
