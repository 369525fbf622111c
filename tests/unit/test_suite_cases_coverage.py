"""The nn, linalg, image, core/math and random cases (cases.py's coverage section): their references.

Pure NumPy: every case's reference runs on its own inputs in every dtype it declares, and the
references that are not one NumPy call are held to an independent formulation (the definition,
an identity, or a known value). The honesty tests in test_suite_cases.py cover these cases too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kbackend.child import cases as K


def _args(c, dtype="float64", fmt=None):
    return K.make_args(c, np.random.default_rng(K.seed_for(c.name)), dtype, "small", fmt)


@pytest.mark.parametrize("name", K.NN_CASES)
def test_every_reference_runs_on_its_inputs_in_every_dtype(name):
    c = K.CASES_BY_NAME[name]
    for dtype in c.dtypes:
        for fmt in (K.DATA_FORMATS if c.layout_dependent else (None,)):
            ref = K.expected(c, _args(c, dtype, fmt))
            assert ref.size and np.all(np.isfinite(ref)), (name, dtype, fmt)


def test_known_and_skip_tables_name_real_cases_and_backends():
    for table in (K.NN_KNOWN, K.NN_SKIP):
        for name, rules in table.items():
            assert name in K.CASES_BY_NAME, name
            for b, d, reason in rules:
                assert b in ("numpy", "jax", "torch", "tensorflow", "openvino") and d == "*" and len(reason) > 30
    assert all(isinstance(v, str) and len(v) > 20 for v in K.NO_CASE.values())


def test_sparsemax_reference_projects_onto_the_simplex():
    x = np.array([[0.0, 0.5, 1.0], [0.3, 1.2, -0.5]])
    y = K._sparsemax(x)
    assert np.allclose(y[0], [0.0, 0.25, 0.75])  # keras-team/keras#23425's example
    assert np.allclose(y.sum(-1), 1.0) and (y >= 0).all()


def test_ctc_reference_matches_brute_force_over_alignments():
    import itertools

    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((1, 4, 3)), np.array([[1, 1]])
    lp = K.np_log_softmax(logits[0], -1)
    total = 0.0
    for path in itertools.product(range(3), repeat=4):  # every alignment that collapses to [1, 1]
        out, prev = [], None
        for k in path:
            if k != prev and k != 0:
                out.append(k)
            prev = k
        if out == [1, 1]:
            total += math.exp(sum(lp[t, k] for t, k in enumerate(path)))
    got = K._ctc_nll(labels, logits, np.array([2]), np.array([4]))
    assert np.isclose(got[0], -math.log(total))


def test_resize_reference_identities():
    x = np.random.default_rng(1).standard_normal((1, 4, 5, 2))
    for kernel in ("bilinear", "bicubic", "lanczos3", "nearest"):
        assert np.allclose(K.np_resize(x, (4, 5), kernel), x), kernel  # same size: identity
    up = K.np_resize(x, (8, 10), "bilinear")  # 2× bilinear, half-pixel centres: 1/4, 3/4 mixes inside
    assert np.isclose(up[0, 1, 0, 0], 0.75 * x[0, 0, 0, 0] + 0.25 * x[0, 1, 0, 0])
    down = K.np_resize(x[:, :4, :4], (2, 2), "bilinear", antialias=True)  # 2× down, antialiased: tent of width 4
    w = np.array([0.75, 0.75, 0.25, 0.0]) / 1.75  # output 0 centred at 0.5: |j − 0.5|/2 into the tent, normalised
    assert np.isclose(down[0, 0, 0, 0], w @ x[0, :4, :4, 0] @ w)


def test_fold_is_the_adjoint_of_unfold():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 5, 5))
    cols = K._unfold(x, 3, 2, 1)
    z = rng.standard_normal(cols.shape)
    assert np.isclose(np.sum(cols * z), np.sum(x * K._fold(z, (5, 5), 3, 2, 1)))


def test_hsv_references_invert_each_other_and_stft_matches_a_direct_sum():
    x = np.random.default_rng(3).uniform(0.05, 1, (2, 3, 4, 3))
    assert np.allclose(K._hsv_to_rgb(K._rgb_to_hsv(x)), x)
    s = np.random.default_rng(4).standard_normal(16)
    got = K._stft_ref(s[None], 6, 3, 8)[0]
    p = np.pad(s, 4, mode="reflect")
    win = np.r_[0, 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(6) / 6), 0]
    frame = p[3:11] * win
    assert np.isclose(got[1, 2], sum(frame[n] * np.exp(-2j * np.pi * 2 * n / 8) for n in range(8)))


def test_random_bounds_give_a_false_failure_below_one_in_a_million():
    # Normal tail of Z_BOUND, two-sided, per statistic; DKW for the KS statistic.
    assert math.erfc(K.Z_BOUND / math.sqrt(2)) < 1e-7
    assert 2 * math.exp(-2 * K.KS_BOUND**2) < 1e-6
    # The moments a random case expects are the distributions' (numerical integration checked against closed forms).
    mean, var, mu4 = K._num_moments(lambda t: t * (1 - t) ** 2, 0.0, 1.0)  # Beta(2, 3)
    assert np.isclose(mean, 0.4) and np.isclose(var, 0.04)
    assert np.isclose(sum(K._BINOM_P), 1.0)
