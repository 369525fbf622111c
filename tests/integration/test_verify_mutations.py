"""The mutation suite: plausible backend bugs, each wrong only under one condition, that verify must catch.

Each mutation is modelled on a real upstream thread (cited beside it) and injected into ONE backend's
child through the worker's documented test hook (KBACKEND_TEST_PATCH: a Python file executed after
Keras is imported, with `keras`, `ops` and `backend` in its namespace). The wrapper replaces a
`keras.ops` function so that only its condition goes wrong: the op's plain case still passes.

One `kbackend verify --json` run carries every mutation (each backend's child applies its own, on
different ops), restricted with `--op` to the mutated ops and their variants; a separate test shows
that the default selection (no --op) holds every one of those cases, so the default `kbackend verify`
runs them too. For each mutation the tests assert that the run exits 1, that the condition's case
("OP.CONDITION", or the channels_first rows of a layout bug) fails on that backend naming the op, that
the op's plain case still passes there, and that no row of an op not mutated on a backend fails.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass

import pytest

from kbackend.child import cases as K
from kbackend.suite.run import installed_backends
from isolated_run import run_verify

pytestmark = pytest.mark.integration

BACKENDS = installed_backends(sys.path)[0]


@dataclass(frozen=True)
class Mutation:
    backend: str
    op: str              # the keras.ops function the wrapper replaces
    caught: tuple        # cases that must fail on that backend: each names the op and the condition
    clean: tuple         # the op's cases without the condition: they must still pass
    bug: str             # what is wrong, in a line
    cite: str            # the upstream thread it is modelled on
    code: str            # the wrapper (run in the child when the backend matches)
    also: tuple = ()     # other cases of the same op exercising the same condition, allowed to fail
    layout: bool = False  # caught rows are the channels_first rows of `caught`


# Helpers shared by the wrappers (defined in every child before its mutations).
PRELUDE = '''
import numpy as np

def _nd(x):
    return len(x.shape)

def _dt(x):
    return keras.backend.standardize_dtype(x.dtype)

def _same_pads(x, ksize, strides, dilation, data_format, swap=False):
    """TensorFlow's "same" padding per spatial axis (low, high); `swap` puts the larger half first."""
    nd = _nd(x) - 2
    tup = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd
    fmt = data_format or keras.config.image_data_format()
    spatial = x.shape[1:-1] if fmt == "channels_last" else x.shape[2:]
    pads = []
    for n, k, s, d in zip(spatial, tup(ksize), tup(strides), tup(dilation)):
        eff = (k - 1) * d + 1
        out = -(-n // s)
        total = max((out - 1) * s + eff - n, 0)
        lo, hi = total // 2, total - total // 2
        pads.append((hi, lo) if swap else (lo, hi))
    return [(0, 0)] + pads + [(0, 0)] if fmt == "channels_last" else [(0, 0), (0, 0)] + pads
'''

M = Mutation
MUTATIONS: tuple[Mutation, ...] = (
    # ---------------------------------------------------------------- numpy
    M("numpy", "argmax", ("argmax.ties",), ("argmax", "argmax_signed_zero"),
      "argmax returns the last of tied maxima",
      "pytorch/pytorch#93630 (inductor's argmax/argmin returned the last index of equal maxima)", '''
_argmax = ops.argmax
def argmax(x, axis=None, keepdims=False):
    if axis == -1 and not keepdims:
        return ops.subtract(x.shape[-1] - 1, _argmax(ops.flip(x, axis=-1), axis=-1))
    return _argmax(x, axis=axis, keepdims=keepdims)
ops.argmax = argmax
'''),
    M("numpy", "take", ("take.negative_indices",), ("take", "take_flat", "take_2d_indices"),
      "take clamps negative indices to 0 instead of counting from the end",
      "jax-ml/jax#4795 (jnp.take clamped a negative index to 0 instead of wrapping it)", '''
_take = ops.take
ops.take = lambda x, indices, axis=None: _take(x, ops.maximum(indices, 0), axis=axis)
'''),
    M("numpy", "add", ("add.int8_uint8",), ("add", "add.uint8_int16", "add.int8_int8"),
      "int8 + uint8 keeps int8 (Keras's rule: int16)",
      "pytorch/pytorch#58489 (binary ops with uint8 promoted to uint8 instead of the wider signed type)", '''
_add = ops.add
def add(x1, x2):
    y = _add(x1, x2)
    if {_dt(x1), _dt(x2)} == {"int8", "uint8"}:
        y = ops.cast(y, "int8")
    return y
ops.add = add
'''),
    M("numpy", "logsumexp", ("logsumexp.gap_1e4",), ("logsumexp", "logsumexp.axis0", "logsumexp.axes_0_2"),
      "logsumexp computed as log(sum(exp(x))) without taking the maximum out (overflow at a 1e4 gap)",
      "aesara-devs/aesara#1072 (logsumexp called exp, sum and log in turn and overflowed on large inputs)", '''
ops.logsumexp = lambda x, axis=None, keepdims=False: ops.log(ops.sum(ops.exp(x), axis=axis, keepdims=keepdims))
'''),
    M("numpy", "stack", ("stack.axis_neg2",), ("stack", "stack.axis0"),
      "stack normalises a negative axis below -1 against the inputs' rank, not the output's",
      "Tencent/ncnn#6461 (stack's negative axis was normalised with the input rank, missing the +1)", '''
_stack = ops.stack
def stack(x, axis=0):
    if axis < -1:
        axis = axis + _nd(x[0])  # should be + ndim + 1
    return _stack(x, axis=axis)
ops.stack = stack
'''),
    M("numpy", "sum", ("sum.float16_long",), ("sum", "sum.axis_none", "sum.axis0"),
      "a float16 sum accumulates in float16 (stalls at 2048)",
      "ml-explore/mlx#3909 (float16/bfloat16 CPU sums accumulated in the input dtype and saturated)", '''
_sum_np = ops.sum
def sum_(x, axis=None, keepdims=False):
    if axis is None and not keepdims and _dt(x) == "float16":
        return np.asarray(np.cumsum(np.asarray(x).reshape(-1), dtype=np.float16)[-1])
    return _sum_np(x, axis=axis, keepdims=keepdims)
ops.sum = sum_
'''),
    # ---------------------------------------------------------------- jax (values and gradients in one program)
    M("jax", "relu", ("relu.at_zero",), ("relu",),
      "relu written as where(x >= 0, x, 0): its gradient at 0 is 1, where the consensus is 0",
      "jax-ml/jax#12368 (jax.nn.relu's custom JVP keeps relu'(0) = 0; a where(x >= 0) form gives 1)", '''
ops.relu = lambda x: ops.where(ops.greater_equal(x, 0), x, ops.zeros_like(x))
'''),
    M("jax", "softplus", ("softplus.large",), ("softplus",),
      "softplus computed as log(1 + exp(x)) (inf at x = 100)",
      "rushter/MLAlgorithms#30 (softplus as np.log(1 + np.exp(z)) overflowed to inf for large z)", '''
ops.softplus = lambda x: ops.log(ops.add(ops.exp(x), 1.0))
'''),
    M("jax", "matmul", ("matmul.1d_2d", "matmul.1d_1d", "matmul.1d_3d"), ("matmul", "matvec", "matmul.3d_1d"),
      "matmul promotes a 1-D first operand to a row and never removes the added dimension",
      "keras-team/keras#22993 (matmul kept the temporary dimension of a 1-D operand: (1, 5) for (5,))", '''
_matmul = ops.matmul
def matmul(x1, x2):
    if _nd(x1) == 1:
        x1 = ops.expand_dims(x1, 0)
    return _matmul(x1, x2)
ops.matmul = matmul
'''),
    M("jax", "log_softmax", ("log_softmax.axis0", "log_softmax.axis_neg2"), ("log_softmax", "log_softmax.axes_0_2"),
      "log_softmax ignores an integer axis other than the last",
      "apache/tvm#1684 (log_softmax supported only the last axis)", '''
_log_softmax = ops.log_softmax
def log_softmax(x, axis=-1):
    if isinstance(axis, int) and axis not in (-1, _nd(x) - 1):
        axis = -1
    return _log_softmax(x, axis=axis)
ops.log_softmax = log_softmax
'''),
    M("jax", "maximum", ("maximum.nan",), ("maximum", "maximum.ties"),
      "maximum drops NaN (fmax semantics)",
      "openvinotoolkit/openvino#36632 (fmax/fmin-based Maximum and Minimum returned the number, not NaN)", '''
_maximum = ops.maximum
def maximum(x1, x2):
    y = _maximum(x1, x2)
    if "float" in _dt(x1) and "float" in _dt(x2):
        y = ops.where(ops.isnan(x1), x2, ops.where(ops.isnan(x2), x1, y))
    return y
ops.maximum = maximum
'''),
    M("jax", "sum", ("sum.axis_neg2",), ("sum", "sum.axis_neg1", "sum.axis0"),
      "sum normalises a negative non-last axis one off (axis + ndim - 1)",
      "keras-team/keras#8690 (batch_dot with a negative axis always used the second-last dimension)", '''
_sum_jax = ops.sum
def sum_(x, axis=None, keepdims=False):
    if isinstance(axis, int) and axis < -1:
        axis = axis + _nd(x) - 1
    return _sum_jax(x, axis=axis, keepdims=keepdims)
ops.sum = sum_
''', also=("sum.keepdims",)),
    # ---------------------------------------------------------------- torch (eager, gradients by autograd)
    M("torch", "clip", ("clip.at_bound",), ("clip",),
      "clip passes no gradient at the bound itself (the consensus, torch.clamp and tf.clip_by_value, passes 1)",
      "jax-ml/jax#37821 (maximum(x, 0) has gradient 0.5 at the kink where torch and tf differ: at a bound the gradient is a convention backends disagree on)", '''
_clip = ops.clip
def clip(x, x_min, x_max):
    inside = ops.logical_and(ops.greater(x, x_min), ops.less(x, x_max))
    return ops.where(inside, x, ops.stop_gradient(_clip(x, x_min, x_max)))
ops.clip = clip
'''),
    M("torch", "conv", ("conv2d.kernel_even_same", "conv1d.kernel_even_same", "conv2d.kernel_even_strided_same",
                        "conv1d.dilated_even_same"),
      ("conv2d", "conv2d_strided_same", "conv1d_dilated_same"),
      "\"same\" with an even kernel puts the odd padding element first (TensorFlow's rule puts it last)",
      "pytorch/pytorch#45667 (same padding: TensorFlow adds the extra asymmetric padding on the right)", '''
_conv = ops.conv
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    ks = kernel.shape[:_nd(inputs) - 2]
    if padding == "same" and any(k % 2 == 0 for k in ks):
        pads = _same_pads(inputs, ks, strides, dilation_rate, data_format, swap=True)
        return _conv(ops.pad(inputs, pads), kernel, strides=strides, padding="valid", data_format=data_format,
                     dilation_rate=dilation_rate)
    return _conv(inputs, kernel, strides=strides, padding=padding, data_format=data_format,
                 dilation_rate=dilation_rate)
ops.conv = conv
'''),
    M("torch", "depthwise_conv", ("depthwise_conv2d.multiplier3_even_same",), (),
      "depthwise output channels ordered multiplier-major (m*C + c) instead of channel-major (c*M + m)",
      "alibaba/MNN#532 (depthwise conv with channel_multiplier > 1 disagreed with TensorFlow's channel layout)", '''
_dw = ops.depthwise_conv
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    y = _dw(inputs, kernel, strides=strides, padding=padding, data_format=data_format, dilation_rate=dilation_rate)
    c, m = kernel.shape[-2], kernel.shape[-1]
    if m > 1:
        if (data_format or keras.config.image_data_format()) == "channels_last":
            s = tuple(y.shape[:-1])
            y = ops.reshape(ops.swapaxes(ops.reshape(y, s + (c, m)), -1, -2), s + (c * m,))
        else:
            s = tuple(y.shape[2:])
            y = ops.reshape(ops.swapaxes(ops.reshape(y, (y.shape[0], c, m) + s), 1, 2), (y.shape[0], c * m) + s)
    return y
ops.depthwise_conv = depthwise_conv
''', also=("depthwise_conv2d", "depthwise_conv2d_strided")),
    M("torch", "max_pool", ("max_pool2d", "max_pool2d_same", "max_pool1d", "max_pool2d.pool_even_same"), (),
      "max_pool ignores data_format=channels_first (pools over the channel axis)",
      "tensorflow/tensorflow#11638 (max_pooling1d with channels_first expanded and pooled the wrong axes)", '''
_max_pool = ops.max_pool
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    return _max_pool(inputs, pool_size, strides=strides, padding=padding, data_format="channels_last")
ops.max_pool = max_pool
''', layout=True),
    M("torch", "argsort", ("argsort.ties",), ("argsort", "argsort.axis0"),
      "argsort is not stable: equal values come out last index first",
      "numpy/numpy#24064 (np.argsort's default became unstable with the AVX-512 sort)", '''
_argsort = ops.argsort
def argsort(x, axis=-1):
    if axis == -1:
        idx = _argsort(ops.flip(x, axis=-1), axis=-1)
        return ops.cast(ops.subtract(x.shape[-1] - 1, idx), idx.dtype)
    return _argsort(x, axis=axis)
ops.argsort = argsort
'''),
    M("torch", "take_along_axis", ("take_along_axis.negative_indices",), ("take_along_axis",),
      "take_along_axis clamps negative indices to 0",
      "keras-team/keras#19556 (negative indices for take and take_along_axis had to be added on tf and torch)", '''
_tala = ops.take_along_axis
ops.take_along_axis = lambda x, indices, axis=None: _tala(x, ops.maximum(indices, 0), axis=axis)
'''),
    M("torch", "sigmoid", ("sigmoid.large",), ("sigmoid",),
      "sigmoid computed as exp(x) / (1 + exp(x)) (NaN at x = 100)",
      "clab/dynet#1525 (the logistic function returned NaN once exp overflowed)", '''
def sigmoid(x):
    e = ops.exp(x)
    return ops.divide(e, ops.add(e, 1.0))
ops.sigmoid = sigmoid
'''),
    # ---------------------------------------------------------------- tensorflow
    M("tensorflow", "binary_crossentropy", ("binary_crossentropy_logits.large",),
      ("binary_crossentropy_logits", "binary_crossentropy"),
      "binary_crossentropy(from_logits=True) as -t log(sigmoid(x)) - (1-t) log(1 - sigmoid(x)) (inf at |x| = 100)",
      "keras-team/keras#9664 (binary_crossentropy through the sigmoid gave a wrong gradient at a logit of 100)", '''
_bce = ops.binary_crossentropy
def binary_crossentropy(target, output, from_logits=False):
    if not from_logits:
        return _bce(target, output)
    p = ops.sigmoid(output)
    one = ops.ones_like(p)
    return ops.negative(ops.add(ops.multiply(target, ops.log(p)),
                                ops.multiply(ops.subtract(one, target), ops.log(ops.subtract(one, p)))))
ops.binary_crossentropy = binary_crossentropy
'''),
    M("tensorflow", "categorical_crossentropy", ("categorical_crossentropy_logits.large",),
      ("categorical_crossentropy_logits", "categorical_crossentropy"),
      "categorical_crossentropy(from_logits=True) as -sum(t log(softmax(x))) (inf when a softmax underflows)",
      "keras-team/keras#17634 (CategoricalCrossentropy from logits disagreed with the softmax form for large logits)", '''
_cce = ops.categorical_crossentropy
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    if not from_logits:
        return _cce(target, output, axis=axis)
    return ops.negative(ops.sum(ops.multiply(target, ops.log(ops.softmax(output, axis=axis))), axis=axis))
ops.categorical_crossentropy = categorical_crossentropy
'''),
    M("tensorflow", "max", ("max.axes_0_2",), ("max", "max.axis0", "max.axis_neg2"),
      "max with a tuple of axes reduces only the first",
      "numpy/numpy#7915 (reductions over several axes: a list was refused, only a tuple works)", '''
_max = ops.max
def max_(x, axis=None, keepdims=False, initial=None):
    if isinstance(axis, tuple):
        axis = axis[0]
    return _max(x, axis=axis, keepdims=keepdims, initial=initial)
ops.max = max_
'''),
    M("tensorflow", "add", ("add.int32_float16",), ("add", "add.float16_bfloat16", "add.bool_float16"),
      "int32 + float16 gives float32 (Keras's rule: float16)",
      "pytorch/pytorch#36058 (float16 with int32 promoted to a wider float than the half result)", '''
_add_tf = ops.add
def add(x1, x2):
    y = _add_tf(x1, x2)
    if {_dt(x1), _dt(x2)} == {"int32", "float16"}:
        y = ops.cast(y, "float32")
    return y
ops.add = add
'''),
    M("tensorflow", "subtract", ("subtract.uint8_int16",), ("subtract_broadcast", "subtract.int8_uint8"),
      "uint8 - int16 keeps uint8 (wraps the negative results; Keras's rule: int16)",
      "pytorch/pytorch#58489 (uint8 binary ops kept uint8 where the promoted type is signed)", '''
_subtract = ops.subtract
def subtract(x1, x2):
    y = _subtract(x1, x2)
    if (_dt(x1), _dt(x2)) == ("uint8", "int16"):
        y = ops.cast(y, "uint8")
    return y
ops.subtract = subtract
'''),
    M("tensorflow", "mean", ("mean.float16_long",), ("mean_keepdims", "mean.axis_none", "mean.bfloat16_long"),
      "a float16 mean accumulates in float16 (stalls at 2048)",
      "pytorch/executorch#20089 (Half/BFloat16 mean and sum accumulated in the input dtype and saturated)", '''
_mean = ops.mean
def mean(x, axis=None, keepdims=False):
    if axis is None and not keepdims and _dt(x) == "float16":
        a = np.asarray(ops.convert_to_numpy(x)).reshape(-1)
        return ops.convert_to_tensor(np.float16(np.cumsum(a, dtype=np.float16)[-1] / np.float16(a.size)))
    return _mean(x, axis=axis, keepdims=keepdims)
ops.mean = mean
'''),
    M("tensorflow", "abs", ("abs.at_zero",), ("abs_edges",),
      "abs written as where(x >= 0, x, -x): its gradient at 0 is 1, where sign(0) = 0 is the consensus",
      "jax-ml/jax#37820 (grad(abs)(0.0) is 1.0 in jax, inconsistent with sign(0.0) = 0)", '''
_abs = ops.abs
def abs_(x):
    if "float" in _dt(x):
        return ops.where(ops.greater_equal(x, 0), x, ops.negative(x))
    return _abs(x)
ops.abs = abs_
''', also=("abs_subnormal",)),  # under tensorflow's denormals-are-zero, x >= 0 holds for -tiny too
    M("tensorflow", "leaky_relu", ("leaky_relu.at_zero",), ("leaky_relu",),
      "leaky_relu written as where(x >= 0, x, slope * x): gradient 1 at 0 (the consensus: the slope)",
      "uptake/numpynet#35 (relu's and leaky_relu's derivatives at 0 had to be defined explicitly)", '''
ops.leaky_relu = lambda x, negative_slope=0.2: ops.where(ops.greater_equal(x, 0), x, ops.multiply(x, negative_slope))
'''),
    # ---------------------------------------------------------------- openvino (one compiled model)
    M("openvino", "cumsum", ("cumsum.axis_none",), ("cumsum", "cumsum.axis0", "cumsum.axis_neg2"),
      "cumsum with axis=None flattens in column-major order",
      "cupy/cupy#10241 (cumsum with axis=None and a Fortran-ordered output was computed in the wrong order)", '''
_cumsum = ops.cumsum
def cumsum(x, axis=None, dtype=None):
    if axis is None and _nd(x) > 1:
        return _cumsum(ops.reshape(ops.transpose(x), (-1,)), axis=0, dtype=dtype)
    return _cumsum(x, axis=axis, dtype=dtype)
ops.cumsum = cumsum
'''),
    M("openvino", "average_pool", ("avg_pool2d.pool_even_same", "avg_pool1d.strided_same"), ("avg_pool2d",),
      "average_pool with \"same\" counts the padding in the mean",
      "keras-team/keras#18452 (torch average pooling with \"same\" could not exclude the padding from the mean)", '''
_avg = ops.average_pool
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    if padding == "same":
        pads = _same_pads(inputs, pool_size, strides or pool_size, 1, data_format)
        return _avg(ops.pad(inputs, pads), pool_size, strides=strides, padding="valid", data_format=data_format)
    return _avg(inputs, pool_size, strides=strides, padding=padding, data_format=data_format)
ops.average_pool = average_pool
''', also=("avg_pool2d_same",)),
    M("openvino", "argmin", ("argmin.ties",), ("argmin", "argmin.axis0"),
      "argmin returns the last of tied minima",
      "pytorch/xla#2415 (argmax/argmin with equal values returned the last index, not the first)", '''
_argmin = ops.argmin
def argmin(x, axis=None, keepdims=False):
    if axis == -1 and not keepdims:
        return ops.subtract(x.shape[-1] - 1, _argmin(ops.flip(x, axis=-1), axis=-1))
    return _argmin(x, axis=axis, keepdims=keepdims)
ops.argmin = argmin
'''),
    M("openvino", "dot", ("dot.0d_2d",), ("dot.1d_1d", "dot.2d_1d"),
      "dot with a 0-D operand sums the product instead of scaling",
      "tensorflow/tensorflow#9055 (matmul/dot refused or mishandled operands of rank below 2)", '''
_dot = ops.dot
def dot(x1, x2):
    if _nd(x1) == 0:
        return ops.sum(ops.multiply(x1, x2))
    return _dot(x1, x2)
ops.dot = dot
'''),
    M("openvino", "einsum", ("einsum.trace",), ("einsum", "einsum.dot", "einsum.matvec"),
      "einsum(\"ii->\") sums every element instead of the diagonal",
      "tensorflow/tensorflow#24374 (tf.einsum('ii') returned the sum of all elements, not the trace)", '''
_einsum = ops.einsum
def einsum(subscripts, *operands, **kwargs):
    if subscripts.replace(" ", "") == "ii->":
        return ops.sum(operands[0])
    return _einsum(subscripts, *operands, **kwargs)
ops.einsum = einsum
'''),
    M("openvino", "outer", ("outer.2d",), ("outer",),
      "outer does not flatten an operand of rank 2 or more",
      "dpilger26/NumCpp#144 (outer did not flatten its inputs as numpy.outer does)", '''
_outer = ops.outer
def outer(x1, x2):
    if _nd(x1) > 1:
        return ops.multiply(ops.expand_dims(x1, -1), x2)
    return _outer(x1, x2)
ops.outer = outer
'''),
    M("openvino", "softmax", ("softmax.axes_0_2",), ("softmax", "softmax_axis0", "softmax.axis_neg2"),
      "softmax over a tuple of axes normalises over the last axis only",
      "artyom-beilis/pytorch_dlprim#50 (softmax supported only the last dimension)", '''
_softmax = ops.softmax
def softmax(x, axis=-1):
    if isinstance(axis, tuple):
        axis = -1
    return _softmax(x, axis=axis)
ops.softmax = softmax
'''),
)


#: where a case's name spells its op differently (keras.ops.average_pool's cases are avg_pool...).
CASE_PREFIX = {"average_pool": "avg_pool", "binary_crossentropy": "binary_crossentropy",
               "depthwise_conv": "depthwise_conv"}


def _patch_text() -> str:
    parts = [PRELUDE]
    for b in dict.fromkeys(m.backend for m in MUTATIONS):
        body = "\n".join(m.code for m in MUTATIONS if m.backend == b)
        parts.append(f"if backend == {b!r}:\n" + textwrap.indent(body, "    "))
    return "\n".join(parts)


def _op_of(case_name: str) -> str:
    return case_name.split(".")[0]


def _selected() -> list[str]:
    """The cases each mutation names (the condition's, the op's plain ones), in the suite's order."""
    named = {c for m in MUTATIONS for c in m.caught + m.clean + m.also}
    return [c.name for c in K.CASES if c.name in named]


_verify = run_verify


@pytest.fixture(scope="module")
def mutated(tmp_path_factory):
    missing = {m.backend for m in MUTATIONS} - set(BACKENDS)
    if missing:
        pytest.skip(f"needs every backend the mutations go into; missing {sorted(missing)}")
    tmp = tmp_path_factory.mktemp("verify-mutations")
    patch = tmp / "mutations.py"
    patch.write_text(_patch_text())
    args = []
    for b in sorted({m.backend for m in MUTATIONS}):
        args += ["--backend", b]
    code, doc, err = _verify(tmp, *args, "--op", ",".join(_selected()), env_extra={"KBACKEND_TEST_PATCH": str(patch)})
    return code, doc, err


def _bad(doc, backend):
    return [r for r in doc["results"] if r["backend"] == backend and r["status"] in ("fail", "error")]


def test_there_are_enough_mutations_each_cited_and_on_real_cases():
    assert len(MUTATIONS) >= 25
    names = {c.name for c in K.CASES}
    for m in MUTATIONS:
        assert "#" in m.cite and "/" in m.cite.split("#")[0], m
        for c in m.caught + m.clean + m.also:
            assert c in names, (m.op, c)
        for c in m.caught:
            # the case names the op; a condition variant names the condition too ("OP.CONDITION"),
            # a layout bug names it in the rows (data_format).
            assert _op_of(c).startswith(CASE_PREFIX.get(m.op, m.op)), (m.op, c)
            assert m.layout or "." in c, (m.op, c)


def test_the_default_selection_holds_every_case_the_mutation_run_uses(tmp_path):
    code, doc, _ = _verify(tmp_path, "--list")
    assert code == 0
    listed = {c["name"] for c in doc["cases"]}
    assert set(_selected()) <= listed  # no --op: the default run has them all
    assert {c.name for c in K.CASES} == listed


def test_the_mutated_run_fails(mutated):
    code, doc, err = mutated
    assert code == 1 and doc["ok"] is False, err[-2000:]
    assert {b["name"] for b in doc["backends"]} >= {m.backend for m in MUTATIONS}
    for b in doc["backends"]:
        assert b["status"] == "ok", b


@pytest.mark.parametrize("m", MUTATIONS, ids=[f"{m.backend}-{m.op}" for m in MUTATIONS])
def test_each_mutation_is_caught_naming_op_and_condition(mutated, m):
    _, doc, _ = mutated
    bad = _bad(doc, m.backend)
    for case in m.caught:
        rows = [r for r in bad if r["case"] == case]
        if m.layout:
            assert rows and all(r["data_format"] == "channels_first" for r in rows), (m.bug, case, rows)
            ok_last = [r for r in doc["results"] if r["backend"] == m.backend and r["case"] == case
                       and r["data_format"] == "channels_last"]
            assert ok_last and all(r["status"] == "pass" for r in ok_last), (m.bug, case)
        else:
            assert rows, (m.bug, m.cite, case, [r for r in doc["results"]
                                                 if r["backend"] == m.backend and r["case"] == case])
            assert all(r["message"] for r in rows)
    for case in m.clean:  # the op without the condition: the mutation is invisible there
        rows = [r for r in doc["results"] if r["backend"] == m.backend and r["case"] == case]
        assert rows and all(r["status"] in ("pass", "xfail") for r in rows), (m.bug, case, rows)
    for other in set(BACKENDS) - {m.backend}:  # the same cases pass where nothing was injected
        for case in m.caught:
            rows = [r for r in doc["results"] if r["backend"] == other and r["case"] == case]
            assert all(r["status"] in ("pass", "xfail", "skip") for r in rows), (other, case, rows)


def test_no_row_of_an_unmutated_op_fails(mutated):
    _, doc, _ = mutated
    for b in {m.backend for m in MUTATIONS}:
        allowed = {c for m in MUTATIONS if m.backend == b for c in m.caught + m.also}
        stray = [(r["case"], r["check"], r["data_format"], r["message"]) for r in _bad(doc, b)
                 if r["case"] not in allowed]
        assert not stray, (b, stray)
    for b in set(BACKENDS) - {m.backend for m in MUTATIONS}:
        assert not _bad(doc, b), b
