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
    "sort", "argsort", "top_k_values", "top_k_indices", "top_k_ties_indices", "relu.grad_at_0",
    "abs", "abs.grad_at_0", "leaky_relu.grad_at_0", "clip.grad_at_bound", "maximum.grad_at_tie",
)
CATEGORIES = (
    "elementwise", "activation", "reduction", "shape", "indexing", "matmul", "linalg", "conv",
    "pooling", "norm", "softmax", "loss", "sort", "model",
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

    # an op's variants ("OP.CONDITION") complete after the op's own name (`--op OP` selects them all)
    ops = list(dict.fromkeys(n for c in C.CASES for n in (c.name.split(".")[0], c.name)))
    return (tup("CHECKS", [c.id for c in service.all_checks()]) + tup("OPS", ops)
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
