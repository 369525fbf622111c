"""The comparison of a backend's output with the float64 reference (kbackend/child/compare.py)."""

from __future__ import annotations

import numpy as np
import pytest

from kbackend.child import compare as C


def test_tolerance_rows_cover_every_float_dtype():
    for cls, row in C.TOLERANCES.items():
        for dt in ("float16", "bfloat16", "float32", "float64"):
            assert dt in row, (cls, dt)
    # Keras's own tests: 1e-6 by default, nn/math 1e-5/1e-4, linalg 1e-3 (FACTS.md §5); linalg is tighter here:
    # no float32 class lets a relative error of 1e-3 pass (issue 12; measured spread 8.8e-6, see compare.py).
    assert C.tolerance("elementwise", "float32") == (1e-6, 1e-6)
    assert C.tolerance("linalg", "float32")[1] == 1e-4
    assert C.tolerance("exact", "float16") == (0.0, 0.0)


def test_lower_precision_is_looser():
    for cls in C.TOLERANCES:
        if cls == "exact":
            continue
        t = [C.tolerance(cls, d)[1] for d in ("float64", "float32", "float16", "bfloat16")]
        assert t == sorted(t), (cls, t)


def test_gradient_tolerance_is_wider_and_never_below_central_differences():
    assert C.tolerance("math", "float32", grad=True) == (1e-4, 1e-4)
    assert C.tolerance("elementwise", "float64", grad=True) == (C.GRAD_FLOOR, C.GRAD_FLOOR)
    assert C.tolerance("exact", "float32", grad=True) == C.tolerance("elementwise", "float32", grad=True)


def test_unknown_class_names_what_is_allowed():
    with pytest.raises(ValueError, match=r"Expected one of .*Received: tol=fuzzy"):
        C.tolerance("fuzzy", "float32")


def _ref():
    return np.linspace(-2, 3, 12).reshape(3, 4)


def test_exact_copy_passes_and_reports_zero_error():
    r = _ref()
    v = C.compare(r.astype(np.float32), r, tol="elementwise", dtype="float32")
    assert v["status"] == "pass"
    assert v["max_abs_err"] <= 1e-6 and v["worst"] <= 1


def test_one_perturbed_value_fails_with_its_numbers():
    r = _ref()
    g = r.copy()
    g[1, 2] += 1e-3
    v = C.compare(g, r, tol="elementwise", dtype="float32")
    assert v["status"] == "fail"
    assert v["max_abs_err"] == pytest.approx(1e-3)
    assert "1 of 12 values off" in v["message"]
    assert v["worst"] > 1


def test_transposed_output_fails_on_shape_and_on_values():
    r = _ref()
    assert C.compare(r.T, r, tol="elementwise", dtype="float32")["message"].startswith("shape (4, 3)")
    sq = np.arange(9.0).reshape(3, 3)
    assert C.compare(sq.T, sq, tol="matmul", dtype="float32")["status"] == "fail"


def test_wrong_dtype_fails_before_values():
    r = _ref()
    v = C.compare(r, r, tol="elementwise", dtype="float32", expected_dtype="float32", got_dtype="float64")
    assert v["status"] == "fail"
    assert "dtype float64, expected float32" in v["message"]


def test_nan_must_match_positions():
    r = np.array([1.0, np.nan, 3.0])
    assert C.compare(r, r, tol="exact", dtype="float32")["status"] == "pass"
    v = C.compare(np.array([1.0, 2.0, 3.0]), r, tol="exact", dtype="float32")
    assert v["status"] == "fail" and "where the reference is NaN" in v["message"]
    v = C.compare(np.array([np.nan, np.nan, 3.0]), r, tol="exact", dtype="float32")
    assert "NaN where the reference is a number" in v["message"]


def test_infinities_must_match_sign():
    r = np.array([np.inf, -np.inf, 1.0])
    assert C.compare(r, r, tol="exact", dtype="float32")["status"] == "pass"
    assert C.compare(np.array([np.inf, np.inf, 1.0]), r, tol="math", dtype="float32")["status"] == "fail"
    assert C.compare(np.array([3e38, -np.inf, 1.0]), r, tol="math", dtype="float32")["status"] == "fail"


def test_errors_are_finite_or_none_so_json_can_hold_them():
    v = C.compare(np.array([np.nan]), np.array([1.0]), tol="math", dtype="float32")
    assert v["max_abs_err"] is None and v["max_rel_err"] is None


def test_relative_error_ignores_reference_zeros():
    v = C.compare(np.array([1e-7, 1.0]), np.array([0.0, 1.0]), tol="elementwise", dtype="float32")
    assert v["status"] == "pass" and v["max_rel_err"] == 0.0


def test_non_numeric_output_fails():
    v = C.compare(np.array(["a", "b"]), np.array([1.0, 2.0]), tol="exact", dtype="float32")
    assert v["status"] == "fail" and "not numeric" in v["message"]


@pytest.mark.parametrize("got,ref", [
    (np.ones((1, 1)), np.array(1.0)),            # a [1, 1] is not a scalar 1
    (np.array([1.0]), np.array(1.0)),
    (np.array(1.0), np.ones((1, 1))),
    (np.arange(5.0), np.arange(5.0)[None]),      # a (5,) is not a (1, 5)
    (np.arange(5.0)[None], np.arange(5.0)),
    (np.zeros((3, 0)), np.zeros((0, 3))),         # empty, but not the same empty
])
def test_a_shape_that_broadcasts_still_fails_naming_both_shapes(got, ref):
    v = C.compare(got, ref, tol="exact", dtype="float32", expected_dtype="float32", got_dtype="float32")
    assert v["status"] == "fail"
    assert v["message"] == f"shape {tuple(got.shape)}, expected {tuple(ref.shape)}"


def test_an_integer_or_boolean_result_of_the_wrong_width_fails_even_with_equal_values():
    r = np.array([1, 0, 3])
    for exp, got in (("int32", "int64"), ("int16", "int8"), ("uint8", "int8"), ("bool", "uint8"), ("float16", "float32")):
        v = C.compare(r, r, tol="exact", dtype=exp, expected_dtype=exp, got_dtype=got)
        assert v["status"] == "fail" and f"dtype {got}, expected {exp}" in v["message"]
