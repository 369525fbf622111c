"""The machine's peak, measured once per fingerprint and cached in kbackend's cache folder."""

from __future__ import annotations

import json
import os

from bench_samples import machine
from kbackend.bench import peak


def _fp(**kw):
    base = dict(cpu="Test CPU", cores=2, arch="x86_64", python="3.11.7")
    base.update(kw)
    return peak.fingerprint(2, {"numpy": "2.4.6", "keras": "3.15.1", "jax": "0.10.2", "rich": "13"}, **base)


def test_a_peak_is_kept_per_fingerprint_with_its_spread(isolated_home):
    fp = _fp()
    assert peak.load(fp) is None
    m = machine(peak_spread={"float32": 0.04})
    stored = peak.store(fp, m)
    assert stored.peak_origin == "measured" and stored.fingerprint == fp and stored.peak_measured_at
    assert peak.path().startswith(str(isolated_home))  # the cache folder of the (throwaway) home
    again = peak.load(fp)
    assert again.peak_origin == "cached"
    assert again.peak_gflops == m.peak_gflops and again.peak_spread == {"float32": 0.04}
    assert again.bandwidth == m.bandwidth


def test_another_machine_or_library_version_measures_again(isolated_home):
    peak.store(_fp(), machine())
    assert peak.load(_fp(cpu="Other CPU")) is None
    assert peak.load(peak.fingerprint(1, {"numpy": "2.4.6"}, cpu="Test CPU", cores=2, arch="x86_64")) is None
    other = peak.fingerprint(2, {"numpy": "2.5.0", "keras": "3.15.1", "jax": "0.10.2"}, cpu="Test CPU", cores=2,
                             arch="x86_64", python="3.11.7")
    assert peak.load(other) is None
    # a library that does not change the peak is not part of the fingerprint
    assert "rich" not in _fp()["versions"]


def test_a_damaged_cache_or_a_failed_measurement_is_not_used(isolated_home):
    os.makedirs(os.path.dirname(peak.path()), exist_ok=True)
    with open(peak.path(), "w") as f:
        f.write("{not json")
    assert peak.load(_fp()) is None
    peak.store(_fp(), machine(peak_gflops={}))  # the peak child failed: nothing kept
    assert peak.load(_fp()) is None
    with open(peak.path()) as f:
        assert f.read() == "{not json"  # left as it was
    peak.store(_fp(), machine())  # a good measurement replaces the damaged file
    with open(peak.path()) as f:
        assert list(json.load(f)) == [peak.key(_fp())]
