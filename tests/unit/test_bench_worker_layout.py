"""Where the bench worker's arrays land: the calibration kernel's operands at fixed page offsets, and each
forked measurement process on a heap layout of its own (real forks of this interpreter)."""

from __future__ import annotations

import importlib.util
import os

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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_each_forked_process_allocates_on_a_layout_of_its_own():
    w = _worker()
    offsets = []
    for _ in range(6):
        r, wr = os.pipe()
        pid = os.fork()
        if pid == 0:  # as serve() does before it measures: the block first, then the arrays
            try:
                keep = w.new_layout()  # noqa: F841
                x = np.empty(16384, dtype="float32")  # 64 KiB: from the heap, after the block
                os.write(wr, str(x.ctypes.data % 4096).encode())
            finally:
                os._exit(0)
        os.close(wr)
        os.waitpid(pid, 0)
        offsets.append(int(os.read(r, 64)))
        os.close(r)
    assert len(set(offsets)) >= 2, offsets
