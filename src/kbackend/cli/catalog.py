"""Static lists for shell completion of `--op`, `--category` and `--check`.

Completion must stay fast: it cannot import the op suite (numpy) or the doctor
checks on every keystroke, so their names are generated into this file. A test
fails when it drifts; regenerate it with `python -m kbackend.cli.catalog`.
"""

from __future__ import annotations

# --- generated: begin
CHECKS = (
    "python", "keras", "config", "keras-backend-env", "backend-importable", "other-backends",
    "versions", "numpy-needs-jax", "tf-legacy-keras", "tf-import-backend", "channels-first-cpu",
    "h5py", "plot-model", "gpu-driver", "gpu-driver-cuda", "gpu-compute-capability", "gpu-cudnn",
    "gpu-libraries", "gpu-ld-library-path", "gpu-visible-devices", "gpu-jax-preallocate",
    "gpu-version-mismatch", "gpu-stub-libcuda",
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
    "sort", "argsort", "top_k_values", "top_k_indices", "top_k_ties_indices", "celu", "glu",
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
    "pooling", "norm", "softmax", "loss", "sort", "complex", "image", "core", "fft", "control",
    "random", "model",
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
