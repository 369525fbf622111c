"""The op suite's data (kbackend/child/cases.py): inputs, references, and their honesty.

Pure NumPy: no backend. The honesty tests feed every case's comparison deliberately
wrong results (perturbed, transposed, wrong dtype) and require a fail, so that no
case can pass by construction; the references are checked against independent
formulations (a direct loop for convolutions and pooling, the adjoint identity for
transposed convolutions, central differences for the analytic gradients).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kbackend.child import cases as K
from kbackend.child import compare as C

REQUIRED_CATEGORIES = {"elementwise", "activation", "reduction", "shape", "indexing", "matmul", "linalg", "conv",
                       "pooling", "norm", "softmax", "loss", "sort"}


def _variants(c):
    for dtype in c.dtypes:
        for fmt in (K.DATA_FORMATS if c.layout_dependent else (None,)):
            yield dtype, fmt


def _args(c, dtype="float32", fmt=None, size="small"):
    return K.make_args(c, np.random.default_rng(K.seed_for(c.name)), dtype, size, fmt)


def test_the_suite_is_big_enough_and_names_are_unique():
    assert len(K.CASES) >= 60
    assert len({c.name for c in K.CASES}) == len(K.CASES)
    assert REQUIRED_CATEGORIES <= set(K.CATEGORIES)
    names = {c.name for c in K.CASES}
    for needed in ("conv1d", "conv2d", "depthwise_conv2d", "conv2d_transpose_same", "conv2d_strided_same",
                   "conv2d_dilated", "max_pool2d", "avg_pool2d", "batch_normalization", "layer_normalization",
                   "softmax", "log_softmax", "categorical_crossentropy", "top_k_values", "sort", "einsum",
                   "tensordot", "matmul"):
        assert needed in names


def test_every_case_declares_what_bench_needs():
    for c in K.CASES:
        assert c.tol in C.TOLERANCES, c.name
        assert set(c.dtypes) <= set(K.FLOAT_DTYPES), c.name
        a = _args(c, size="medium")
        assert c.flops(a) > 0 and c.bytes(a) > 0, c.name


def test_inputs_are_seeded_random_and_never_all_zeros():
    for c in K.CASES:
        for dtype, fmt in _variants(c):
            a1, a2 = _args(c, dtype, fmt), _args(c, dtype, fmt)
            for k, v in a1.items():
                if isinstance(v, np.ndarray):
                    assert np.array_equal(v, a2[k], equal_nan=True), (c.name, k)
                    assert v.size == 0 or np.any(v != 0), (c.name, dtype, k)  # an empty dimension is a condition
            other = K.make_args(c, np.random.default_rng(12345), dtype, "small", fmt)
            arrays = [k for k, v in a1.items() if isinstance(v, np.ndarray) and v.size > 1]
            assert any(not np.array_equal(a1[k], other[k], equal_nan=True) for k in arrays) or not arrays, c.name


def test_inputs_are_exactly_representable_in_their_dtype():
    for c in K.CASES:
        for dtype, fmt in _variants(c):
            for k, v in _args(c, dtype, fmt).items():
                if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                    again = K.carrier(v, dtype)
                    assert np.array_equal(again, v, equal_nan=True), (c.name, dtype, k)


def test_edge_values_are_in_the_edge_cases():
    a = _args(K.CASES_BY_NAME["abs_edges"])["x"]
    assert np.isnan(a).any() and np.isinf(a).any() and (np.signbit(a) & (a == 0)).any()
    sub = _args(K.CASES_BY_NAME["sign_subnormal"])["x"]
    assert ((sub != 0) & (np.abs(sub) < np.finfo(np.float32).tiny)).any()


def test_bfloat16_rounding_matches_ml_dtypes():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.random.default_rng(0).standard_normal(10_000).astype(np.float32) * 100
    x = np.concatenate([x, np.float32([0.0, -0.0, np.inf, -np.inf, 1e-40, 3.3e38, np.nan])])
    want = x.astype(ml_dtypes.bfloat16).astype(np.float32)
    assert np.array_equal(K.carrier(x, "bfloat16"), want, equal_nan=True)
    assert K.carrier(np.float32(1.5), "bfloat16").shape == ()


def test_layout_dependent_references_agree_across_formats():
    for c in K.CASES:
        if not c.layout_dependent:
            continue
        last = K.expected(c, _args(c, "float64", "channels_last"))
        first = K.expected(c, _args(c, "float64", "channels_first"))
        assert np.allclose(K.to_last(first), last), c.name


# --------------------------------------------------------------------------- honesty


#: a relative error that is a bug in every op class, per dtype: the tolerances must reject it.
WRONG = {"float64": 1e-6, "float32": 5e-3, "float16": 5e-2, "bfloat16": 0.3}


def _out_dtype(c, ref):
    return "int32" if c.out_dtype in ("int32", "int64") else ("bool" if c.out_dtype == "bool" else "float32")


def _wrong_layout(ref):
    """A transposed (or, when that changes nothing, reversed or rolled) copy of ref; None for a scalar."""
    if ref.size < 2 or np.all(ref == ref.reshape(-1)[0]):
        return None  # a constant reference has no layout to get wrong (its shape is checked apart)
    for cand in ((np.swapaxes(ref, -1, -2) if ref.ndim >= 2 else None), np.flip(ref, axis=-1),
                 np.roll(ref.reshape(-1), 1).reshape(ref.shape)):
        if cand is not None and not (cand.shape == ref.shape and np.array_equal(cand, ref, equal_nan=True)):
            return cand
    return ref  # every rearrangement equals ref: the test below fails on it


@pytest.mark.parametrize("name", [c.name for c in K.CASES])
def test_every_case_fails_a_perturbed_a_transposed_and_a_wrongly_typed_result(name):
    c = K.CASES_BY_NAME[name]
    for dtype, fmt in _variants(c):
        ref = K.expected(c, _args(c, dtype, fmt))
        out_dt = _out_dtype(c, ref)
        tol_dt = dtype if out_dt == "float32" else out_dt
        assert C.compare(ref, ref, tol=c.tol, dtype=tol_dt)["status"] == "pass", (name, dtype)
        finite = np.flatnonzero(np.isfinite(ref))
        assert finite.size, (name, dtype, "no finite reference value")
        i = finite[np.argmax(np.abs(ref.reshape(-1)[finite]))]
        bad = ref.astype(np.float64).copy()
        r = abs(float(bad.reshape(-1)[i]))
        bad.reshape(-1)[i] += 1.0 if out_dt != "float32" else WRONG[dtype] * max(1.0, r)
        v = C.compare(bad, ref, tol=c.tol, dtype=tol_dt)
        assert v["status"] == "fail", (name, dtype, fmt, "perturbed output passed")
        moved = _wrong_layout(ref)
        if moved is not None:
            v = C.compare(moved, ref, tol=c.tol, dtype=tol_dt)
            assert v["status"] == "fail", (name, dtype, fmt, "transposed output passed")
        wrong = {"float32": "float64", "int32": "int64", "bool": "int32"}[out_dt]
        v = C.compare(ref, ref, tol=c.tol, dtype=tol_dt, expected_dtype=out_dt, got_dtype=wrong)
        assert v["status"] == "fail", (name, dtype, "wrong dtype passed")
        # The right values in a shape that broadcasts to the reference's (a [1, 1] for a scalar, a (5,)
        # for (1, 5), an extra trailing 1) fail, naming both shapes.
        for other in _broadcastable_shapes(ref):
            v = C.compare(other, ref, tol=c.tol, dtype=tol_dt)
            assert v["status"] == "fail", (name, dtype, fmt, other.shape, "a broadcastable shape passed")
            assert f"shape {tuple(other.shape)}, expected {tuple(ref.shape)}" in v["message"], v["message"]


def _broadcastable_shapes(ref):
    """The reference's values in other shapes that broadcast against it (a leading or trailing 1, 1s dropped)."""
    out = [ref[None], ref.reshape(ref.shape + (1,))]
    if 1 in ref.shape:
        out.append(np.squeeze(ref))
    if ref.ndim == 0:
        out.append(ref.reshape(1, 1))
    return out


# --------------------------------------------------------------------------- references vs independent forms


def _conv_direct(x, k, strides, padding, dilation):
    """Convolution by its definition, one output element at a time (2-D, channels_last)."""
    n, h, w, cin = x.shape
    kh, kw, _, cout = k.shape
    sh, sw = strides
    dh, dw = dilation
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        ph, pw = max((oh - 1) * sh + eh - h, 0), max((ow - 1) * sw + ew - w, 0)
        top, left = ph // 2, pw // 2
    else:
        oh, ow = (h - eh) // sh + 1, (w - ew) // sw + 1
        top = left = 0
    y = np.zeros((n, oh, ow, cout))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for a in range(kh):
                    for bb in range(kw):
                        r, s = i * sh + a * dh - top, j * sw + bb * dw - left
                        if 0 <= r < h and 0 <= s < w:
                            y[b, i, j] += x[b, r, s] @ k[a, bb]
    return y


@pytest.mark.parametrize("strides,padding,dilation", [((1, 1), "valid", (1, 1)), ((2, 2), "same", (1, 1)),
                                                      ((2, 1), "valid", (1, 1)), ((1, 1), "same", (2, 2)),
                                                      ((3, 2), "same", (1, 2))])
def test_conv_reference_matches_the_definition(strides, padding, dilation):
    rng = np.random.default_rng(1)
    x, k = rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 2, 3, 4))
    got = K.np_conv(x, k, strides, padding, dilation)
    assert np.allclose(got, _conv_direct(x, k, strides, padding, dilation))


def test_depthwise_reference_is_a_grouped_conv():
    rng = np.random.default_rng(2)
    x, k = rng.standard_normal((1, 5, 5, 3)), rng.standard_normal((3, 3, 3, 2))
    got = K.np_conv(x, k, 1, "same", depthwise=True)
    for ch in range(3):
        for m in range(2):
            one = K.np_conv(x[..., ch:ch + 1], k[:, :, ch:ch + 1, m:m + 1], 1, "same")
            assert np.allclose(got[..., ch * 2 + m], one[..., 0])


@pytest.mark.parametrize("strides,padding,spatial", [(2, "same", (3, 3)), (2, "valid", (3, 4)), (1, "valid", (4, 4)),
                                                     (3, "same", (2, 3)), (3, "valid", (2, 2))])
def test_conv_transpose_reference_is_the_adjoint_of_conv(strides, padding, spatial):
    """<conv(z), x> == <z, conv_transpose(x)> for the forward conv that maps the output back to the input."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, *spatial, 2))
    k = rng.standard_normal((3, 2, 4, 2))  # (*K, out_channels, in_channels) as keras.ops.conv_transpose takes it
    y = K.np_conv_transpose(x, k, strides, padding)
    z = rng.standard_normal(y.shape)
    fwd = K.np_conv(z, k, strides, padding)
    assert fwd.shape == x.shape
    assert np.isclose(np.sum(fwd * x), np.sum(z * y))


def test_pooling_reference_matches_a_direct_loop():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 5, 5, 2))
    mx = K.np_pool(x, 3, 2, "same", "max")
    av = K.np_pool(x, 3, 2, "same", "avg")
    # same with pool 3, stride 2 on 5: 3 outputs, total padding 2 → one each side.
    for i in range(3):
        for j in range(3):
            win = x[0, max(0, 2 * i - 1):2 * i + 2, max(0, 2 * j - 1):2 * j + 2]
            assert np.allclose(mx[0, i, j], win.max(axis=(0, 1)))
            assert np.allclose(av[0, i, j], win.mean(axis=(0, 1)))


def test_analytic_gradients_match_central_differences():
    checked = 0
    for c in K.CASES:
        if (c.grad_reference is None or not c.differentiable or "kink" in c.conditions
                or c.extra.get("declared_gradient")):
            # at a kink the analytic gradient is the convention, where differences have no answer; a declared
            # gradient (stop_gradient's, custom_gradient's) is not the derivative
            continue
        for fmt in (K.DATA_FORMATS if c.layout_dependent else (None,)):
            a = _args(c, "float64", fmt)
            names = [k for k, v in a.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
            cot = np.random.default_rng(5).uniform(0.5, 1.5, K.expected(c, a).shape)
            analytic = K.reference_grads(c, a, cot, names)
            numeric = K.reference_grads(dataclasses.replace(c, grad_reference=None), a, cot, names)
            for n in names:
                assert np.allclose(analytic[n], numeric[n], rtol=1e-6, atol=1e-6), (c.name, fmt, n)
        checked += 1
    assert checked >= 20


def test_argmax_reference_orders_negative_zero_below_positive_zero():
    c = K.CASES_BY_NAME["argmax_signed_zero"]
    x = np.array([[-0.0, 0.0, -1.0], [0.0, -0.0, -1.0]])
    assert K.expected(c, {"x": x}).tolist() == [1, 0]


def test_xfail_rules_name_a_reason():
    for c in K.CASES:
        for b, d, reason in c.xfail + c.skip:
            assert b in ("numpy", "jax", "torch", "tensorflow", "openvino", "*"), c.name
            assert d in K.FLOAT_DTYPES + ("*",), c.name
            assert len(reason) > 20, c.name


def test_to_tensors_converts_float_arrays_to_the_dtype_and_keeps_the_rest():
    class FakeOps:
        @staticmethod
        def convert_to_tensor(x, dtype=None):
            return ("tensor", x.dtype.name, dtype)

    out = K.to_tensors(FakeOps, {"x": np.ones(2, np.float32), "i": np.ones(2, np.int32), "axis": 1}, "bfloat16")
    assert out == {"x": ("tensor", "float32", "bfloat16"), "i": ("tensor", "int32", None), "axis": 1}


def test_a_known_error_is_told_by_backend_layout_and_message():
    # TensorFlow's CPU Conv2D without oneDNN (AVX2-only CPUs): channels_first raises; the same text on
    # another backend or layout, or another error, stays an error.
    msg = ("UnimplementedError: {{function_node __wrapped__Conv2D_device_/job:localhost/replica:0/task:0/device:CPU:0}}"
           " The Conv2D op currently only supports the NHWC tensor format on the CPU. The op was given the format: NCHW")
    key = K.known_error("tensorflow", "channels_first", msg)
    assert key == "tf_nchw_cpu" and "channels_last (NHWC)" in K.KNOWN_DEFECTS[key]["reason"]
    back = "InvalidArgumentError: Conv2DCustomBackpropInputOp only supports NHWC. [Op:Conv2DBackpropInput]"
    assert K.known_error("tensorflow", "channels_first", back)
    assert K.known_error("tensorflow", "channels_last", msg) is None
    assert K.known_error("torch", "channels_first", msg) is None
    assert K.known_error("tensorflow", "channels_first", "ValueError: shapes do not match") is None
    assert K.known_error("tensorflow", None, msg) is None


# --------------------------------------------------------------------------- condition variants


def test_a_variant_is_named_op_dot_condition_and_declares_its_conditions():
    variants = [c for c in K.CASES if "." in c.name]
    assert len(variants) >= 100
    for c in variants:
        op, cond = c.name.split(".", 1)
        assert op and cond and c.conditions, c.name
    names = {c.name for c in K.CASES}
    assert set(K.COND_KNOWN) <= names  # every known difference this part declares names a case that exists
    for name, rules in K.COND_KNOWN.items():
        assert all(r in K.CASES_BY_NAME[name].xfail for r in rules), name


@pytest.mark.parametrize("padding,spatial,ksize,opad", [("valid", (3, 3), (3, 3), 1), ("same", (3, 3), (4, 4), 1),
                                                        ("same", (2, 3), (3, 2), 1), ("valid", (2, 2), (2, 3), 0)])
def test_conv_transpose_with_output_padding_is_the_adjoint_of_the_conv_it_inverts(padding, spatial, ksize, opad):
    """<conv(z), x> == <z, conv_transpose(x)>, z of Keras's output size for that output_padding."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, *spatial, 2))
    k = rng.standard_normal((*ksize, 3, 2))
    y = K._np_conv_transpose_op(x, k, 2, padding, opad)
    for s, kk, o in zip(spatial, ksize, y.shape[1:-1]):  # Keras's output size
        assert o == ((s - 1) * 2 + kk + opad if padding == "valid" else (s - 1) * 2 + kk % 2 + opad)
    z = rng.standard_normal(y.shape)
    fwd = K.np_conv(z, k, 2, padding)
    assert fwd.shape == x.shape
    assert np.isclose(np.sum(fwd * x), np.sum(z * y))


def test_mixed_dtype_operands_keep_their_dtype_in_any_run():
    c = K.CASES_BY_NAME["add.int8_uint8"]
    a = _args(c, "float32")
    assert a["x"].dtype == np.int8 and a["y"].dtype == np.uint8 and a["_dtypes"] == {"x": "int8", "y": "uint8"}
    a = _args(K.CASES_BY_NAME["add.float16_bfloat16"], "float32")
    assert a["_dtypes"] == {"x": "float16", "y": "bfloat16"}
    assert np.array_equal(K.carrier(a["y"], "bfloat16"), a["y"])  # bfloat16 values, carried as float32
    long = _args(K.CASES_BY_NAME["sum.float16_long"], "float32")["x"]
    assert long.dtype == np.float16 and long.size == 10_000 and float(long.astype(np.float64).sum()) > 4096


def test_the_long_half_sums_defeat_a_half_precision_accumulator():
    """A float16 running sum stops growing long before the exact sum: the case can tell the two apart."""
    x = _args(K.CASES_BY_NAME["sum.float16_long"], "float32")["x"]
    exact = float(np.sum(x.astype(np.float64)))
    stalled = float(np.cumsum(x, dtype=np.float16)[-1])
    tol = C.tolerance("reduction", "float16")
    assert abs(stalled - exact) > tol[0] + tol[1] * exact
