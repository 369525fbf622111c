"""Static lists for shell completion of `--op`, `--category` and `--check`.

Completion must stay fast: it cannot import the op suite (numpy) or the doctor
checks on every keystroke, so their names are generated into this file. A test
fails when it drifts; regenerate it with `python -m kbackend.cli.catalog`.
"""

from __future__ import annotations

# --- generated: begin
CHECKS = (
    "python", "keras", "config", "keras-backend-env", "keras-env", "backend-elsewhere",
    "backend-importable", "other-backends", "versions", "backend-trains", "numpy-needs-jax",
    "tf-legacy-keras", "tf-import-backend", "channels-first-cpu", "h5py", "plot-model",
    "gpu-driver", "gpu-driver-cuda", "gpu-compute-capability", "gpu-cudnn", "gpu-libraries",
    "gpu-ld-library-path", "gpu-visible-devices", "gpu-jax-preallocate", "gpu-version-mismatch",
    "gpu-stub-libcuda", "gpu-backend-on-cpu", "gpu-coload", "gpu-wheel-pins", "gpu-ptxas",
)
OPS = (
    "add", "subtract_broadcast", "multiply", "divide", "power", "maximum", "arctan2", "logaddexp",
    "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "square", "reciprocal", "tanh", "sin", "cos",
    "erf", "clip", "where", "floor", "round_half_even", "abs_edges", "negative_edges",
    "abs_subnormal", "sign_edges", "sign_subnormal", "isfinite_edges", "log_subnormal", "relu",
    "relu6", "leaky_relu", "elu", "selu", "gelu_tanh", "gelu_erf", "sigmoid", "silu", "softplus",
    "softsign", "log_sigmoid", "hard_sigmoid", "hard_silu", "sum", "mean_keepdims", "max",
    "min_all", "prod", "var", "std", "logsumexp", "cumsum", "cumprod", "norm", "argmax", "argmin",
    "argmax_signed_zero", "mean_int", "reshape", "transpose", "swapaxes", "expand_dims", "tile",
    "repeat", "pad", "flip", "roll", "broadcast_to", "split", "tril", "concatenate", "stack",
    "take", "take_2d_indices", "take_flat", "take_along_axis", "slice", "scatter_update", "one_hot",
    "matmul", "matmul_batched", "matmul_broadcast", "matvec", "einsum", "tensordot", "outer",
    "solve", "inv", "det", "logdet", "cholesky", "solve_triangular", "eigh_values", "svd_values",
    "qr_r_abs", "conv1d", "conv1d_dilated_same", "conv2d", "conv2d_strided_same",
    "conv2d_strided_valid", "conv2d_dilated", "conv3d", "depthwise_conv2d",
    "depthwise_conv2d_strided", "conv2d_transpose_same", "conv2d_transpose_valid",
    "conv1d_transpose", "max_pool2d", "max_pool2d_same", "max_pool1d", "avg_pool2d",
    "avg_pool2d_same", "batch_normalization", "layer_normalization", "rms_normalization",
    "l2_normalize", "softmax", "softmax_axis0", "log_softmax", "softmax_large_logits",
    "categorical_crossentropy", "categorical_crossentropy_logits",
    "sparse_categorical_crossentropy_logits", "binary_crossentropy", "binary_crossentropy_logits",
    "sort", "argsort", "top_k_values", "top_k_indices", "top_k_ties_indices", "sum.axis_none",
    "sum.axis0", "sum.axis_neg1", "sum.axis_neg2", "sum.axes_0_2", "sum.keepdims",
    "sum.keepdims_axis_none", "mean.axis_none", "mean.axis0", "mean.axis_neg2", "mean.keepdims",
    "mean.keepdims_axis_none", "max.axis_none", "max.axis0", "max.axis_neg2", "max.axes_0_2",
    "max.keepdims", "min.axis0", "min.axis_neg2", "min.axes_0_2", "prod.axis_neg2", "prod.axes_0_2",
    "var.axis_none", "var.axis_neg2", "var.axes_0_2", "std.axis0", "std.axis_neg2", "std.axes_0_2",
    "logsumexp.axis_none", "logsumexp.axis0", "logsumexp.axis_neg2", "logsumexp.axes_0_2",
    "logsumexp.keepdims", "argmax.axis_none", "argmax.axis0", "argmax.axis_neg2", "argmax.keepdims",
    "argmin.axis_none", "argmin.axis0", "argmin.axis_neg2", "cumsum.axis_none", "cumsum.axis0",
    "cumsum.axis_neg1", "cumsum.axis_neg2", "cumprod.axis_none", "cumprod.axis0",
    "cumprod.axis_neg2", "norm.axis0", "norm.axis_neg2", "norm.axes_0_2", "norm.keepdims",
    "norm.axis_none", "softmax.axis_neg2", "softmax.axes_0_2", "log_softmax.axis0",
    "log_softmax.axis_neg2", "log_softmax.axes_0_2", "sort.axis0", "sort.axis_neg2",
    "argsort.axis0", "argsort.axis_neg2", "concatenate.axis0", "concatenate.axis_neg1",
    "concatenate.axis_neg2", "stack.axis0", "stack.axis_neg2", "matmul.1d_2d", "matmul.1d_1d",
    "matmul.3d_1d", "matmul.1d_3d", "matmul.empty_k", "dot.1d_1d", "dot.2d_1d", "dot.0d_2d",
    "dot.3d_2d", "tensordot.axes0", "tensordot.1d_axes1", "tensordot.axes2", "einsum.dot",
    "einsum.matvec", "einsum.outer", "einsum.ellipsis", "einsum.trace", "inner.1d", "inner.2d",
    "outer.2d", "add.bcast_3d_2d", "multiply.bcast_0d", "subtract.bcast_size1", "sum.size1_axis",
    "sum.empty_axis", "concatenate.empty", "add.int8_uint8", "add.uint8_int16", "add.int32_float16",
    "add.bool_int32", "add.float16_bfloat16", "add.int16_bfloat16", "add.int8_int8",
    "add.uint8_uint8", "add.bool_float16", "subtract.int8_uint8", "subtract.uint8_int16",
    "subtract.int32_float16", "subtract.float16_bfloat16", "subtract.int8_int8",
    "multiply.int8_uint8", "multiply.bool_int32", "multiply.int32_float16",
    "multiply.float16_bfloat16", "multiply.int16_bfloat16", "maximum.int8_uint8",
    "maximum.int32_float16", "relu.at_zero", "abs.at_zero", "leaky_relu.at_zero", "clip.at_bound",
    "maximum.ties", "argmax.ties", "argmin.ties", "argsort.ties", "sort.ties", "logsumexp.gap_1e4",
    "log_softmax.gap_1e4", "softmax.gap_1e4", "softplus.large", "sigmoid.large",
    "log_sigmoid.large", "binary_crossentropy_logits.large",
    "categorical_crossentropy_logits.large", "take.negative_indices",
    "take_along_axis.negative_indices", "maximum.nan", "minimum.nan", "sort.nan", "add.subnormal",
    "conv2d.kernel_even_same", "conv1d.kernel_even_same", "conv2d.kernel_even_strided_same",
    "conv1d.dilated_even_same", "depthwise_conv2d.multiplier3_even_same",
    "conv_transpose.output_padding_valid", "conv_transpose.output_padding_same_even",
    "max_pool2d.pool_even_same", "avg_pool2d.pool_even_same", "avg_pool1d.strided_same",
    "sum.float16_long", "mean.float16_long", "sum.bfloat16_long", "mean.bfloat16_long", "absolute",
    "fabs", "arccos", "arcsin", "arctan", "arccosh", "arcsinh", "arctanh", "cosh", "sinh", "tan",
    "cbrt", "exp2", "log10", "log2", "sinc", "i0", "deg2rad", "rad2deg", "ceil", "trunc", "real",
    "imag", "conj", "conjugate", "angle", "nan_to_num", "minimum", "fmax", "fmin", "hypot",
    "logaddexp2", "true_divide", "divide_no_nan", "floor_divide", "mod", "fmod", "heaviside",
    "ldexp", "nextafter", "vectorize", "equal", "not_equal", "greater", "greater_equal", "less",
    "less_equal", "logical_and", "logical_or", "logical_xor", "logical_not", "isnan", "isinf",
    "isneginf", "isposinf", "signbit", "isreal", "all", "any", "isin", "isclose", "allclose",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_invert", "bitwise_not", "left_shift",
    "bitwise_left_shift", "right_shift", "bitwise_right_shift", "gcd", "lcm", "count_nonzero",
    "bincount", "bincount_weights", "digitize", "searchsorted", "histogram", "histogram_edges",
    "amax", "amin", "ptp", "median", "percentile", "quantile", "trace", "trapezoid", "diff",
    "average", "corrcoef", "nansum", "nanmean", "nanprod", "nanmax", "nanmin", "nanstd", "nanvar",
    "nanmedian", "nanpercentile", "nanquantile", "nancumsum", "nancumprod", "nanargmax",
    "nanargmin", "argpartition", "arange", "linspace", "logspace", "geomspace", "eye", "identity",
    "tri", "zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like", "empty_like",
    "bartlett", "blackman", "hamming", "hanning", "kaiser", "vander", "meshgrid", "ravel",
    "squeeze", "moveaxis", "copy", "array", "rot90", "fliplr", "flipud", "triu", "diag",
    "diag.rank=1", "diagonal", "diagflat", "get_item", "array_split", "hsplit", "vsplit", "dsplit",
    "hstack", "vstack", "dstack", "append", "view", "size", "ndim", "select", "nonzero", "unique",
    "unravel_index", "dot", "inner", "vdot", "cross", "kron", "correlate", "slogdet", "celu", "glu",
    "glu.axis=0", "hard_shrink", "soft_shrink", "tanh_shrink", "hard_tanh", "hard_swish", "swish",
    "squareplus", "sparse_plus", "sparse_sigmoid", "threshold", "sparsemax", "moments",
    "moments.keepdims", "multi_hot", "psnr", "dot_product_attention",
    "dot_product_attention.causal", "dot_product_attention.bias", "polar", "ctc_loss", "ctc_decode",
    "separable_conv2d", "separable_conv2d.strided", "conv3d_same_even", "depthwise_conv1d",
    "conv1d_transpose_strided_same", "avg_pool1d", "max_pool3d", "avg_pool3d_same",
    "adaptive_average_pool2d", "adaptive_max_pool2d", "space_to_depth",
    "space_to_depth.channels_first", "depth_to_space", "depth_to_space.channels_first", "unfold",
    "unfold.strided_padded", "fold", "cholesky_inverse", "cholesky_inverse.upper", "eig_values",
    "eigh_reconstruct", "lstsq", "lu_factor_rows", "lu_factor_det", "matrix_rank", "pinv",
    "svd_reconstruct", "qr_reconstruct", "norm.fro", "norm.ord1", "norm.nuc", "jvp",
    "resize.bilinear_up", "resize.bilinear_down", "resize.bilinear_antialias", "resize.nearest",
    "resize.bicubic", "resize.bicubic_antialias", "resize.lanczos3", "resize.lanczos5_antialias",
    "scale_and_translate", "affine_transform", "affine_transform.projective",
    "perspective_transform", "crop_images", "pad_images", "rgb_to_grayscale", "rgb_to_hsv",
    "hsv_to_rgb", "extract_patches", "extract_patches.same", "extract_patches_3d",
    "map_coordinates", "gaussian_blur", "sobel_edges", "sobel_edges.interior", "ssim",
    "ssim.channels_first", "erfc", "erfinv", "cast", "saturate_cast", "convert_to_numpy",
    "is_tensor", "shape", "stop_gradient", "custom_gradient", "unstack", "rearrange",
    "extract_sequences", "cdist", "in_top_k", "scatter", "slice_update", "segment_sum",
    "segment_max", "segment_min", "segment_prod", "fft", "fft2", "ifft2", "rfft", "rfft.fft_length",
    "irfft", "stft", "istft", "view_as_complex", "cond", "cond.false", "switch", "while_loop",
    "while_loop.maximum_iterations", "fori_loop", "scan", "scan.reverse", "associative_scan",
    "associative_scan.reverse_max", "map", "vectorized_map", "random_normal", "random_uniform",
    "random_truncated_normal", "random_gamma", "random_beta", "random_randint", "random_binomial",
    "random_categorical", "random_dropout", "random_shuffle", "random_normal.seed",
    "random_uniform.seed", "random_truncated_normal.seed", "random_gamma.seed", "random_beta.seed",
    "random_randint.seed", "random_binomial.seed", "random_categorical.seed", "random_dropout.seed",
    "random_shuffle.seed", "elastic_transform",
)
CATEGORIES = (
    "elementwise", "activation", "reduction", "shape", "indexing", "matmul", "linalg", "conv",
    "pooling", "norm", "softmax", "loss", "sort", "logic", "integer", "creation", "complex",
    "image", "core", "fft", "control", "random", "model",
)
# --- generated: end


def render() -> str:
    """This file's generated block, from the doctor checks and the op suite as they are now."""
    from kbackend.doctor import service
    from kbackend.child import cases as C
    from kbackend.suite.run import MODEL_CATEGORY

    def tup(name: str, items) -> str:
        lines, line = [], "   "
        for it in items:
            piece = f' "{it}",'
            if len(line) + len(piece) > 100:
                lines.append(line)
                line = "   "
            line += piece
        lines.append(line)
        return f"{name} = (\n" + "\n".join(lines) + "\n)\n"

    return (tup("CHECKS", [c.id for c in service.all_checks()]) + tup("OPS", [c.name for c in C.CASES])
            + tup("CATEGORIES", [*C.CATEGORIES, MODEL_CATEGORY]))


def _regenerate() -> None:
    import re

    path = __file__
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"(# --- generated: begin\n).*?(# --- generated: end)",
                  lambda m: m.group(1) + render() + m.group(2), text, flags=re.S)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    _regenerate()
