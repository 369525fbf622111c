"""Worker: load a user's saved Keras model on one backend and run it, in the target interpreter.

Run by `_boot.py` with KERAS_BACKEND set by the parent. Imports only the
standard library, numpy and the target's Keras and backend; never kbackend.
compare.py (the suite's tolerances) is loaded by path in the "compare" mode.

Modes
    "run"      load the model (`model_path`, `custom_objects_path`, `safe_mode`),
               feed the inputs (`inputs_path`, an .npz; else generated from the
               model's input specs with `seed`, the same in every child), time
               predict, optionally the output of every layer (`layers`), one SGD
               train step (`train`: {"loss", "lr"}), and, with `float64`, all of
               it on a float64 copy of the model (same weights, upcast): the
               reference, which instead of a train step takes central differences
               of the loss along seeded directions in weight space. Arrays go to
               `out_path` (.npz); the result says what they are.
    "compare"  (numpy only, no Keras) compare each backend's .npz with the
               reference's: outputs, layer outputs, updated weights.

`bench --model` times a model through child/bench_worker.py (its `ModelSource` loads the
model with this module's `Run.model_at_dtype`, `make_inputs` and `_targets`).

Test hook (for kbackend's own tests only, as suite_worker.py's): if the
environment variable KBACKEND_TEST_PATCH names a Python file, it is executed
after Keras is imported with `keras`, `ops` (keras.ops) and `backend` in its
namespace, so a test can make one layer's op wrong on one backend.
"""

import hashlib
import importlib.util
import json
import os
import sys
import time
import traceback

FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64", "mixed_float16", "mixed_bfloat16")
#: sizes given to unknown (None) dimensions: the batch, a sequence, an image side.
DEFAULT_BATCH = 2
SEQ_LEN = 8
IMAGE_SIDE = 32
#: config fields worth showing for a diverging layer (the ones that change what it computes).
CONFIG_FIELDS = ("units", "filters", "kernel_size", "strides", "padding", "dilation_rate", "data_format",
                 "activation", "use_bias", "groups", "depth_multiplier", "pool_size", "axis", "epsilon",
                 "momentum", "center", "scale", "rate", "num_heads", "key_dim", "value_dim", "input_dim",
                 "output_dim", "mask_zero", "return_sequences", "go_backwards", "recurrent_activation",
                 "reset_after", "unroll", "interpolation", "size", "target_shape", "dims", "begin_norm_axis")
#: a layer whose inputs come straight from a model input and make it an index input.
INDEX_LAYERS = ("Embedding",)


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _adapters():
    mod = sys.modules.get("kbackend_child_adapter")
    if mod is None:
        mod = _load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_adapter.py"), "kbackend_child_adapter")
    return mod


def _err(e):
    msg = ("%s: %s" % (type(e).__name__, e)).strip()
    if " config={" in msg:  # Keras prints the whole model config into some errors
        msg = msg[:msg.index(" config={")] + " (config cut)"
    lines = [ln for ln in msg.splitlines() if ln.strip()]
    return " ".join(lines[:3])[:600] if lines else type(e).__name__


def main(inp):
    mode = inp.get("mode", "run")
    if mode == "compare":
        return compare_all(inp)
    return Run(inp).go()


# --------------------------------------------------------------------------- loading


def load_reason(err, path, backend, safe_mode):
    """(reason, fix) for a load error, where the cause is known; (None, None) otherwise."""
    low = err.lower()
    is_h5 = path.lower().endswith((".h5", ".hdf5"))
    if "safe_mode" in low or "unsafe" in low or ("lambda" in low and "safe" in low):
        return ("Keras's safe mode refuses to deserialize a Lambda layer's Python code (arbitrary code "
                "execution)", "if you trust this file, run again with --unsafe")
    if ("unknown layer" in low or "could not locate" in low or "unknown object" in low
            or "custom_objects" in low or "not a registered" in low or "could not be deserialized" in low):
        return ("the model uses a custom class that is not available to Keras here",
                "pass the file that defines it: --custom-objects FILE.py (register it with "
                "@keras.saving.register_keras_serializable())")
    if "badzipfile" in low or "not a zip file" in low or "truncated" in low or "unable to open file" in low \
            or "unable to synchronously open" in low or "file signature not found" in low \
            or "eof" in low.split(":")[0]:
        return ("the file is damaged or truncated (not a complete .keras archive or HDF5 file)",
                "save the model again with model.save(\"model.keras\")")
    if "file format not supported" in low or "unable to recognize" in low:
        return ("the file is not a Keras model (.keras zip archive or legacy HDF5 .h5)",
                "save the model with model.save(\"model.keras\")")
    if backend == "openvino" and ("notimplemented" in low or "not implemented" in low or "not supported" in low):
        return ("a layer or op of this model is not implemented by Keras's OpenVINO backend",
                "run this model on another backend, or export it (model.export(..., format=\"openvino\"))")
    if is_h5:
        return ("a legacy HDF5 (.h5) file written by Keras 2 / tf.keras: Keras 3 reads only part of that "
                "format (no TF-op layers, different custom-object names)",
                "load it in tf.keras (TF_USE_LEGACY_KERAS=1 with tf_keras) and save it again as .keras")
    if "notimplementederror" in low:
        return ("the %s backend does not implement an op this model uses" % backend, None)
    return None, None


def custom_classes(path):
    """The classes a .keras file's config names that are not Keras's own (registered names), or []."""
    import zipfile

    found = []

    def walk(v):
        if isinstance(v, dict):
            reg, mod = v.get("registered_name"), v.get("module")
            if v.get("class_name") and (reg or (mod and not str(mod).startswith("keras"))):
                name = reg or "%s.%s" % (mod, v["class_name"])
                if name not in found and not str(name).startswith("keras"):
                    found.append(name)
            for w in v.values():
                walk(w)
        elif isinstance(v, list):
            for w in v:
                walk(w)

    try:
        with zipfile.ZipFile(path) as z:
            walk(json.loads(z.read("config.json")))
    except Exception:  # noqa: BLE001 - a legacy .h5, or a damaged file: nothing to add
        return []
    return found


def custom_objects(path):
    """The public classes and functions a --custom-objects file defines, by name."""
    if not path:
        return {}
    ns = {"__name__": "kbackend_custom_objects", "__file__": path}
    with open(path) as f:
        code = compile(f.read(), path, "exec")
    exec(code, ns)
    return {k: v for k, v in ns.items() if not k.startswith("_") and (isinstance(v, type) or callable(v))
            and getattr(v, "__module__", None) == "kbackend_custom_objects"}


def _float64_config(v):
    """A serialized model's config with every float dtype policy and float dtype set to float64."""
    if isinstance(v, dict):
        if v.get("class_name") in ("DTypePolicy", "FloatDTypePolicy", "DTypePolicyMap") and isinstance(
                v.get("config"), dict) and v["config"].get("name") in FLOAT_NAMES:
            return dict(v, config=dict(v["config"], name="float64"))
        return {k: ("float64" if k in ("dtype", "compute_dtype") and w in FLOAT_NAMES else _float64_config(w))
                for k, w in v.items()}
    if isinstance(v, list):
        return [_float64_config(w) for w in v]
    return v


def float64_load(keras, path, objs, safe):
    """A .keras file's model built once, straight in float64, its weights read upcast; None if not a .keras.

    The same model float64_copy makes from the loaded float32 one, without building it twice: the
    file's config.json with every float dtype set to float64 (and the global policy float64
    while it builds), then the file's weights assigned (Keras converts each to the variable's
    float64 dtype; float32 -> float64 is exact). The loss comes from the file's compile config.
    """
    import json
    import zipfile

    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as z:
        if "config.json" not in z.namelist():
            return None
        cfg = json.loads(z.read("config.json").decode("utf-8"))
    compile_cfg = cfg.pop("compile_config", None) or {}
    cfg = _float64_config(cfg)
    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        with keras.saving.custom_object_scope(objs):
            m64 = keras.saving.deserialize_keras_object(cfg, custom_objects=objs, safe_mode=safe)
    finally:
        keras.config.set_dtype_policy(old)
    m64.load_weights(path)
    loss = compile_cfg.get("loss")
    if isinstance(loss, dict):
        try:
            with keras.saving.custom_object_scope(objs):
                loss = keras.saving.deserialize_keras_object(loss, custom_objects=objs, safe_mode=safe)
        except Exception:  # noqa: BLE001 - the train reference then says which loss it used
            loss = None
    return m64, (loss if isinstance(loss, str) or callable(loss) else None)


def float64_copy(keras, model, objs):
    """The same model in float64: every dtype policy and float input dtype set to float64, weights upcast."""
    cfg = _float64_config(keras.saving.serialize_keras_object(model))
    cfg.pop("compile_config", None)
    # the global policy too: a Sequential's own policy is not in its config, and it casts the outputs
    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        with keras.saving.custom_object_scope(objs):
            m64 = keras.saving.deserialize_keras_object(cfg, custom_objects=objs, safe_mode=False)
    finally:
        keras.config.set_dtype_policy(old)
    ws = model.get_weights()
    m64.set_weights([w.astype("float64") if w.dtype.kind == "f" else w for w in ws])
    return m64


def true_float64():
    """Let float64 stay float64 in this process: Keras's type promotion maps it to float32 off tensorflow.

    keras.backend.result_type follows JAX without x64 (common/dtypes.py, BIT64_TO_BIT32_DTYPE), so a
    float64 model computes in float32 on numpy, torch and jax; the reference (and the float64
    training reference) must not. The parent also sets JAX_ENABLE_X64 (numpy's convolutions run
    on jax). Returns whether the mapping was there to change.
    """
    try:
        from keras.src.backend.common import dtypes
    except Exception:  # noqa: BLE001 - another Keras layout: the reference says its real dtype
        return False
    table = getattr(dtypes, "BIT64_TO_BIT32_DTYPE", None)
    if not isinstance(table, dict):
        return False
    table["float64"] = "float64"
    _attention_in_float64()
    return True


def _attention_in_float64():
    """Keras's numpy backend computes attention's softmax "always in fp32": in float64 for float64 inputs here."""
    try:
        import numpy as np
        from keras.src.backend.numpy import nn
    except Exception:  # noqa: BLE001 - not the numpy backend, or another layout
        return
    orig = getattr(nn, "_dot_product_attention_xla", None)
    masks = getattr(nn, "_apply_masks", None)
    if orig is None or masks is None or getattr(orig, "kbackend_float64", False):
        return

    def attention(query, key, value, bias, mask, is_causal, scale):
        if not all(getattr(t, "dtype", None) == np.float64 for t in (query, key, value)):
            return orig(query, key, value, bias, mask, is_causal, scale)
        logits = np.einsum("BTNH,BSNH->BNTS", query, key) * np.float64(scale)
        if bias is not None:
            logits = logits + bias
        return np.einsum("BNTS,BSNH->BTNH", nn.softmax(masks(logits, mask, is_causal), axis=-1), value)

    attention.kbackend_float64 = True
    nn._dot_product_attention_xla = attention


def model_kind(keras, model):
    if isinstance(model, keras.Sequential):
        return "sequential"
    cls = type(model).__name__
    if cls == "Functional" or getattr(model, "_is_graph_network", False) or (
            hasattr(keras.Model, "__module__") and type(model).__module__.startswith("keras.src.models.functional")):
        return "functional"
    try:
        from keras.src.models.functional import Functional

        if isinstance(model, Functional):
            return "functional"
    except Exception:  # noqa: BLE001
        pass
    return "subclassed"


# --------------------------------------------------------------------------- inputs


def _input_specs(keras, model):
    """[(name, shape with None, dtype)] of the model's inputs."""
    out = []
    ins = getattr(model, "inputs", None)
    if ins:
        for i, t in enumerate(ins):
            name = getattr(t, "name", None) or "input_%d" % i
            out.append((name, tuple(t.shape), keras.backend.standardize_dtype(t.dtype)))
        return out
    shape = getattr(model, "_build_shapes_dict", None) or {}
    for i, (k, s) in enumerate(sorted(shape.items())):
        out.append((k, tuple(s), "float32"))
    if not out:
        raise ValueError("the model has no input specs (a subclassed model never built or called): "
                         "give the inputs with --inputs FILE.npz")
    return out


def _consumers(model, tensor):
    """The layers that read a model input directly (functional and sequential models)."""
    found = []
    for layer in getattr(model, "layers", []):
        for node in getattr(layer, "_inbound_nodes", []) or []:
            for t in getattr(node, "input_tensors", []) or []:
                if t is tensor:
                    found.append(layer)
    return found


def _index_range(model, tensor, all_layers):
    """(input_dim, mask_zero) when an Embedding reads this input (directly, or anywhere for a sequential)."""
    direct = [layer for layer in _consumers(model, tensor) if type(layer).__name__ in INDEX_LAYERS]
    pool = direct or [layer for layer in all_layers if type(layer).__name__ in INDEX_LAYERS]
    if not pool:
        return None
    return min(int(layer.input_dim) for layer in pool), any(getattr(layer, "mask_zero", False) for layer in pool)


def _rescales(model, tensor):
    for layer in _consumers(model, tensor):
        if type(layer).__name__ == "Rescaling":
            try:
                return float(layer.scale) < 0.1
            except Exception:  # noqa: BLE001 - a tensor scale
                return True
    return False


def _flat_layers(model):
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        if hasattr(layer, "layers"):
            out.extend(_flat_layers(layer))
    return out


def make_inputs(keras, np, model, seed, batch):
    """Seeded inputs from the model's input specs: the same arrays in every child, whatever the backend.

    Integer inputs read by an Embedding are indices in [1, input_dim) (0 is padding where
    mask_zero: the last quarter of every other row is padding); inputs a Rescaling layer reads
    (Keras's applications) are pixels in [0, 255]; other image-like inputs (rank 4) in [0, 1);
    other floats standard normal.
    """
    rng = np.random.default_rng(seed)
    specs = _input_specs(keras, model)
    tensors = list(getattr(model, "inputs", None) or [None] * len(specs))
    all_layers = _flat_layers(model)
    arrays, how = [], []
    for (name, shape, dtype), t in zip(specs, tensors):
        dims = []
        for i, d in enumerate(shape):
            if d is not None:
                dims.append(int(d))
            elif i == 0:
                dims.append(batch)
            else:
                dims.append(IMAGE_SIDE if len(shape) == 4 and i in (1, 2) else SEQ_LEN)
        dims = tuple(dims)
        emb = _index_range(model, t, all_layers) if t is not None else None
        if dtype.startswith(("int", "uint")) or (emb and dtype.startswith("float") and t is not None and any(
                type(layer).__name__ in INDEX_LAYERS for layer in _consumers(model, t))):
            hi = emb[0] if emb else 10
            a = rng.integers(1 if emb and emb[1] else 0, max(hi, 2), size=dims)
            desc = "indices in [%d, %d)" % (1 if emb and emb[1] else 0, max(hi, 2))
            if emb and emb[1] and len(dims) >= 2:
                pad = max(1, dims[1] // 4)
                a[::2, dims[1] - pad:] = 0
                desc += "; padding (0) in the last %d steps of every other row" % pad
            a = a.astype(dtype if dtype.startswith(("int", "uint")) else "int32")
        elif dtype == "bool":
            a = rng.random(dims) < 0.5
            desc = "booleans"
        elif t is not None and _rescales(model, t):
            a = rng.uniform(0, 255, dims).astype(dtype)
            desc = "pixels in [0, 255] (a Rescaling layer reads this input)"
        elif len(dims) == 4:
            a = rng.uniform(0, 1, dims).astype(dtype)
            desc = "image-like values in [0, 1)"
        else:
            a = rng.standard_normal(dims).astype(dtype)
            desc = "standard normal"
        arrays.append(a)
        how.append({"name": name, "shape": list(dims), "dtype": str(a.dtype), "values": desc})
    return arrays, how


def inputs_digest(arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def read_npz(np, path, model_specs):
    """The user's --inputs: arrays by input name where the names match, else in the file's order."""
    with np.load(path, allow_pickle=False) as z:
        files = list(z.files)
        names = [n for n, _, _ in model_specs]
        if all(n in files for n in names):
            arrays = [z[n] for n in names]
        else:
            arrays = [z[f] for f in files][:len(names)]
    if len(arrays) != len(model_specs):
        raise ValueError("%s holds %d array(s); the model has %d input(s) (%s)"
                         % (path, len(arrays), len(model_specs), ", ".join(n for n, _, _ in model_specs)))
    return arrays


# --------------------------------------------------------------------------- one backend


def _as_numpy(ops, np, t):
    try:
        a = np.asarray(ops.convert_to_numpy(t))
    except Exception:  # noqa: BLE001 - bfloat16 on some backends
        a = np.asarray(ops.convert_to_numpy(ops.cast(t, "float32")))
    if a.dtype.kind not in "biuf":
        a = a.astype(np.float64)
    return a


def _flatten_outputs(x):
    return _adapters().flatten(x)


def _layer_config(layer):
    try:
        cfg = layer.get_config()
    except Exception:  # noqa: BLE001
        return {}
    out = {}
    for k in CONFIG_FIELDS:
        if k in cfg:
            v = cfg[k]
            if isinstance(v, dict):  # a serialized activation or initializer
                v = v.get("config", {}).get("name") or v.get("class_name")
            out[k] = v if isinstance(v, (str, int, float, bool, type(None))) else _adapters().jsonable(v)
    return out


class Run(object):
    def __init__(self, inp):
        self.inp = inp
        self.arrays = {}
        self.out = {"load_error": None, "reason": None, "fix": None}

    def go(self):
        inp, out = self.inp, self.out
        t = time.time()
        import keras  # noqa: E402 - the backend comes from KERAS_BACKEND
        import numpy as np

        self.keras, self.np, self.ops = keras, np, keras.ops
        backend = keras.backend.backend()
        adapter = _adapters().load(backend)
        out.update(backend=backend, keras_version=keras.__version__, import_s=time.time() - t,
                   trains=bool(getattr(adapter, "TRAINS", False)), floatx=keras.config.floatx())
        try:
            out["backend_version"] = _version(backend, adapter)
        except Exception:  # noqa: BLE001
            out["backend_version"] = None
        _test_patch(keras, backend)
        path = inp["model_path"]
        t = time.time()
        try:
            objs = custom_objects(inp.get("custom_objects_path"))
        except Exception as e:  # noqa: BLE001
            out["load_error"] = "cannot run %s: %s" % (inp.get("custom_objects_path"), _err(e))
            out["fix"] = "fix the error in the --custom-objects file"
            return out
        built = self.model_at_dtype(path, objs, backend, t)
        if built is None:
            return out
        model, compiled_loss = built
        out["kind"] = model_kind(keras, model)
        out["model_class"] = type(model).__name__
        out["params"] = int(sum(int(np.prod(w.shape)) for w in model.weights))
        self.model = model
        xs = self.inputs(model, out)
        if xs is None:
            return out
        self.xs = xs
        feed = xs[0] if len(xs) == 1 else xs
        # predict: the first call (tracing, compiling) apart from the second
        try:
            t = time.time()
            ys = [_as_numpy(self.ops, np, v) for v in _flatten_outputs(model(feed, training=False))]
            out["predict_first_s"] = time.time() - t
            if not inp.get("float64"):  # the reference's time is nobody's concern: one call
                t = time.time()
                ys = [_as_numpy(self.ops, np, v) for v in _flatten_outputs(model(feed, training=False))]
                out["predict_s"] = time.time() - t
        except Exception as e:  # noqa: BLE001
            out["run_error"] = "predict: " + _err(e)
            out["reason"], out["fix"] = load_reason(out["run_error"], path, backend, True) if \
                "notimplemented" in out["run_error"].lower() else (None, None)
            out["traceback"] = traceback.format_exc()[-3000:]
            return out
        names = list(getattr(model, "output_names", None) or []) or ["output_%d" % i for i in range(len(ys))]
        if len(names) != len(ys):
            names = ["output_%d" % i for i in range(len(ys))]
        out["outputs"] = [{"name": n, "shape": list(a.shape), "dtype": str(a.dtype)} for n, a in zip(names, ys)]
        for i, a in enumerate(ys):
            self.arrays["out/%d" % i] = a
        self.checks(model, feed, xs, ys, compiled_loss)
        if inp.get("out_path"):
            self.np.savez(inp["out_path"], **self.arrays)
        return out

    def model_at_dtype(self, path, objs, backend, t):
        """(model, its compiled loss) as the file holds it, or in float64 for the reference; None after an error."""
        keras, inp, out = self.keras, self.inp, self.out
        safe = bool(inp.get("safe_mode", True))
        model = None
        if inp.get("float64"):
            out["true_float64"] = true_float64()
            # floatx too: losses, weak-typed constants and new tensors default to it
            keras.config.set_floatx("float64")
            try:  # one build, straight in float64 (a .keras file); else the float32 load and its copy below
                with _draws_replaced(keras, backend, out):
                    built = float64_load(keras, path, objs, safe)
            except Exception:  # noqa: BLE001 - the float32 load below reports why it does not load
                built = None
            if built is not None:
                model, compiled_loss = built
                out["load_s"] = out["upcast_s"] = time.time() - t
                out["float64_build"] = "config"
        if model is None:
            floatx = keras.config.floatx()
            keras.config.set_floatx(out["floatx"])  # the file's model loads as Keras loads it
            model = self.load(path, objs, safe, backend)
            keras.config.set_floatx(floatx)
            if model is None:
                return None
            out["load_s"] = time.time() - t
            compiled_loss = getattr(model, "loss", None)
            if inp.get("float64"):
                t = time.time()
                model = float64_copy(keras, model, objs)
                out["upcast_s"] = time.time() - t
                out["float64_build"] = "copy"
        return model, compiled_loss

    def checks(self, model, feed, xs, ys, compiled_loss):
        """What runs after predict: every layer's output, the exports, the train step (or the reference's)."""
        inp, out = self.inp, self.out
        if inp.get("layers"):
            self.layer_outputs(model, feed, out)
        if inp.get("export"):
            self.export(model, xs, out)
        if inp.get("train") and inp.get("float64"):
            self.reference_gradient(model, xs, ys, compiled_loss, inp["train"], out)
        elif inp.get("train") and out["trains"]:
            self.train(model, xs, ys, compiled_loss, inp["train"], out)

    def load(self, path, objs, safe, backend):
        """The model, or None with out["load_error"], and the reason and fix where known."""
        keras, out = self.keras, self.out
        try:
            with _draws_replaced(keras, backend, out):
                model = keras.saving.load_model(path, custom_objects=objs or None, compile=True, safe_mode=safe)
        except Exception as e:  # noqa: BLE001 - a model that does not load is the finding
            out["load_error"] = _err(e)
            out["traceback"] = traceback.format_exc()[-3000:]
            model = None
            if "safe_mode" not in out["load_error"]:
                try:  # the model without its training configuration (a legacy .h5's metrics, a custom loss)
                    with _draws_replaced(keras, backend, out):
                        model = keras.saving.load_model(path, custom_objects=objs or None, compile=False,
                                                        safe_mode=safe)
                    out["compile_error"] = out.pop("load_error")
                    out.pop("traceback")
                except Exception:  # noqa: BLE001 - the first error is the one to show
                    model = None
            if model is None:
                out["reason"], out["fix"] = load_reason(out["load_error"], path, backend, safe)
                custom = custom_classes(path)
                if custom and out["reason"] and "custom" in out["reason"]:
                    out["reason"] += " (custom classes in its config: %s)" % ", ".join(custom)
                return None
        return model

    def inputs(self, model, out):
        """The arrays to feed (given or generated) and their digest; None after an error (out says which)."""
        keras, np, inp = self.keras, self.np, self.inp
        try:
            if inp.get("inputs_path"):
                specs = _input_specs(keras, model) if getattr(model, "inputs", None) else [
                    ("input_%d" % i, None, None) for i in range(len(np.load(inp["inputs_path"]).files))]
                xs = read_npz(np, inp["inputs_path"], specs)
                out["inputs"] = [{"name": n, "shape": list(a.shape), "dtype": str(a.dtype), "values": "given"}
                                 for (n, _, _), a in zip(specs, xs)]
            else:
                xs, out["inputs"] = make_inputs(keras, np, model, int(inp.get("seed", 0)),
                                                int(inp.get("batch") or DEFAULT_BATCH))
        except Exception as e:  # noqa: BLE001
            out["run_error"] = "inputs: " + _err(e)
            return None
        if inp.get("float64"):
            xs = [a.astype("float64") if a.dtype.kind == "f" else a for a in xs]
        out["inputs_digest"] = inputs_digest([a.astype("float32") if a.dtype.kind == "f" else a for a in xs])
        return xs

    # -- export -------------------------------------------------------------------------

    def export(self, model, xs, out):
        """model.export in each format into a temporary folder; the exported model run where its runtime is."""
        import tempfile

        np = self.np
        res = {}
        tmp = tempfile.mkdtemp(prefix="kbackend-export-")
        for fmt, ext in EXPORT_FORMATS:
            r = {"status": "ok"}
            path = os.path.join(tmp, fmt + ext)
            t = time.time()
            try:
                model.export(path, format=fmt, verbose=False)
                r["export_s"] = time.time() - t
            except TypeError:  # an older Keras without verbose=
                try:
                    model.export(path, format=fmt)
                    r["export_s"] = time.time() - t
                except Exception as e:  # noqa: BLE001
                    r = {"status": "error", "error": _err(e)}
            except Exception as e:  # noqa: BLE001
                r = {"status": "error", "error": _err(e)}
            if r["status"] == "ok":
                try:
                    ys = _run_exported(np, fmt, path, xs)
                    if isinstance(ys, tuple):
                        ys, r["precision_hint"] = ys
                    if ys is None:
                        r["runtime"] = False
                    else:
                        r["runtime"] = True
                        for i, y in enumerate(ys):
                            self.arrays["export/%s/%d" % (fmt, i)] = y
                except Exception as e:  # noqa: BLE001
                    r["runtime"], r["run_error"] = True, _err(e)
            res[fmt] = r
        out["exports"] = res

    # -- where it diverges -------------------------------------------------------------

    def layer_outputs(self, model, feed, out):
        keras, np = self.keras, self.np
        kind = out.get("kind")
        if kind == "subclassed":
            out["layers_note"] = ("a subclassed model's call() is Python code: Keras keeps no graph of its layers, "
                                  "so only its outputs are compared")
            return
        rows, tensors = [], []
        for layer in model.layers:
            if type(layer).__name__ == "InputLayer":
                continue
            try:
                o = layer.output
            except Exception:  # noqa: BLE001 - a shared layer (several outputs), or one never called
                continue
            flat = _flatten_outputs(o)
            rows.append({"name": layer.name, "class": type(layer).__name__, "config": _layer_config(layer),
                         "n": len(flat)})
            tensors.extend(flat)
        if not tensors:
            return
        try:
            probe = keras.Model(model.inputs, tensors)
            got = _flatten_outputs(probe(feed, training=False))
        except Exception as e:  # noqa: BLE001
            out["layers_note"] = "cannot build a model over every layer's output: " + _err(e)
            return
        i = 0
        for r in rows:
            for k in range(r["n"]):
                self.arrays["layer/%s/%d" % (r["name"], k)] = _as_numpy(self.ops, np, got[i])
                i += 1
        out["layers"] = rows

    # -- one train step ----------------------------------------------------------------

    def _train_setup(self, model, ys, compiled_loss, opts):
        keras, np = self.keras, self.np
        loss = opts.get("loss") or compiled_loss or "mean_squared_error"
        if not isinstance(loss, str):
            loss = getattr(loss, "name", None) or type(loss).__name__
        rng = np.random.default_rng(int(self.inp.get("seed", 0)) + 1)
        targets = [_targets(np, rng, str(loss), y) for y in ys]
        dt = "float64" if self.inp.get("float64") else "float32"
        targets = [t.astype(dt) if t.dtype.kind == "f" else t for t in targets]
        random_off = _random_layers_off(model)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=TRAIN_LR), loss=loss)
        y = targets[0] if len(targets) == 1 else targets
        return str(loss), y, random_off

    def train(self, model, xs, ys, compiled_loss, opts, out):
        """One SGD step (learning rate 1: the update is minus the gradient): the gradient's
        projections on the seeded directions, which the reference gets by central differences."""
        np = self.np
        res = {"status": "ok"}
        try:
            loss, y, random_off = self._train_setup(model, ys, compiled_loss, opts)
            res.update(loss_fn=loss, random_off=random_off)
            feed = xs[0] if len(xs) == 1 else xs
            before = [np.asarray(self.ops.convert_to_numpy(v), dtype="float64") for v in model.trainable_weights]
            t = time.time()
            val = model.train_on_batch(feed, y)
            res["first_s"] = time.time() - t
            res["loss"] = float(np.ravel(np.asarray(val, dtype="float64"))[0]) if val is not None else None
            after = [np.asarray(self.ops.convert_to_numpy(v), dtype="float64") for v in model.trainable_weights]
            grads = [(b - a) / TRAIN_LR for b, a in zip(before, after)]
            dirs = directions(np, [g.shape for g in grads], int(self.inp.get("seed", 0)))
            res["dots"] = [float(sum(np.sum(g * v) for g, v in zip(grads, d))) for d in dirs]
            res["norm"] = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
            res["finite"] = bool(all(np.all(np.isfinite(g)) for g in grads))
            # a second step, timed: the steady state (the first one traced and compiled)
            t = time.time()
            model.train_on_batch(feed, y)
            res["step_s"] = time.time() - t
        except Exception as e:  # noqa: BLE001
            res = {"status": "error", "error": _err(e), "traceback": traceback.format_exc()[-3000:]}
        out["train"] = res

    def reference_gradient(self, model, xs, ys, compiled_loss, opts, out):
        """The loss's derivative along each seeded direction, by float64 central differences (no autodiff)."""
        np, ops = self.np, self.ops
        res = {"status": "ok"}
        try:
            loss, y, random_off = self._train_setup(model, ys, compiled_loss, opts)
            res.update(loss_fn=loss, random_off=random_off)
            feed = xs[0] if len(xs) == 1 else xs
            ws = model.trainable_weights
            w0 = [np.asarray(ops.convert_to_numpy(v), dtype="float64") for v in ws]
            state = [(v, np.asarray(ops.convert_to_numpy(v))) for v in model.non_trainable_weights]

            def loss_at(w):
                for v, a in zip(ws, w):
                    v.assign(a)
                for v, a in state:  # BatchNormalization's moving statistics move with every training call
                    v.assign(a)
                yp = model(feed, training=True)
                return float(np.asarray(ops.convert_to_numpy(model.compute_loss(feed, y, yp, training=True))))

            t = time.time()
            res["loss"] = loss_at(w0)
            def central(d, h):
                return (loss_at([a + h * v for a, v in zip(w0, d)]) - loss_at([a - h * v for a, v in zip(w0, d)])) / (2 * h)

            dirs = directions(np, [a.shape for a in w0], int(self.inp.get("seed", 0)))
            fd = [central(d, FD_STEP) for d in dirs]
            # the same derivative with a 100x larger step: they agree to ~1e-8 when the loss is float64
            # throughout; float32 rounding anywhere in the reference shows as ~1e-7 / FD_STEP noise
            check = central(dirs[0], FD_STEP * 100)
            scale = max([abs(v) for v in fd] + [1e-12])
            res["fd_check"] = abs(check - fd[0]) / scale
            if res["fd_check"] > FD_AGREE:
                res["status"] = "unreliable"
                res["error"] = ("the reference's central differences with steps %g and %g differ by %.2g of the "
                                "gradient: the reference computes part of this model below float64 precision"
                                % (FD_STEP, FD_STEP * 100, res["fd_check"]))
            for v, a in zip(ws, w0):  # the weights as loaded (no forward pass: nothing runs the model after)
                v.assign(a)
            for v, a in state:
                v.assign(a)
            res["fd"] = fd
            res["fd_s"] = time.time() - t
        except Exception as e:  # noqa: BLE001
            res = {"status": "error", "error": _err(e), "traceback": traceback.format_exc()[-3000:]}
        out["train"] = res


#: the train step's learning rate: 1, so that the update is exactly minus the gradient.
TRAIN_LR = 1.0
#: seeded unit directions in weight space along which gradients are compared.
N_DIRECTIONS = 3
#: the central differences' step (float64: truncation ~1e-12, rounding ~1e-10 of the loss's scale).
FD_STEP = 1e-6
#: the two steps' estimates must agree to this fraction of the gradient's projections.
FD_AGREE = 1e-5


def directions(np, shapes, seed):
    """N_DIRECTIONS unit vectors over all trainable weights (a list of arrays each), the same in every child."""
    out = []
    for i in range(N_DIRECTIONS):
        rng = np.random.default_rng(seed + 100 + i)
        d = [rng.standard_normal(s) for s in shapes]
        norm = float(np.sqrt(sum(np.sum(a * a) for a in d))) or 1.0
        out.append([a / norm for a in d])
    return out


def _random_layers_off(model):
    """Dropout and noise layers off for the train step (their masks are drawn differently on each backend)."""
    off = []
    for layer in _flat_layers(model):
        cls = type(layer).__name__
        if "Dropout" in cls and getattr(layer, "rate", 0):
            layer.rate = 0.0
            off.append(layer.name)
        elif cls == "GaussianNoise" and getattr(layer, "stddev", 0):
            layer.stddev = 0.0
            off.append(layer.name)
    return off


def _targets(np, rng, loss, y):
    low = loss.lower()
    if "sparse" in low:
        return rng.integers(0, max(int(y.shape[-1]), 1), size=y.shape[:-1]).astype("int32")
    if "binary" in low or "hinge" in low:
        return (rng.random(y.shape) < 0.5).astype("float32")
    if "categorical" in low or "kl" in low:
        return np.eye(int(y.shape[-1]), dtype="float32")[rng.integers(0, int(y.shape[-1]), size=y.shape[:-1])]
    return rng.standard_normal(y.shape).astype("float32")


#: model.export's formats and the extension each wants.
EXPORT_FORMATS = (("tf_saved_model", ""), ("onnx", ".onnx"), ("openvino", ".xml"))


def _run_exported(np, fmt, path, xs):
    """The exported model's outputs on `xs` through its own runtime, or None where that runtime is not installed."""
    import importlib.util

    feeds = [np.asarray(a) for a in xs]
    if fmt == "tf_saved_model":
        if importlib.util.find_spec("tensorflow") is None:
            return None
        import tensorflow as tf

        m = tf.saved_model.load(path)
        y = m.serve(*feeds) if len(feeds) > 1 else m.serve(feeds[0])
        return [np.asarray(v) for v in _adapters().flatten(y)]
    if fmt == "onnx":
        if importlib.util.find_spec("onnxruntime") is None:
            return None
        import onnxruntime as ort

        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        return [np.asarray(v) for v in sess.run(None, dict(zip(names, feeds)))]
    if fmt == "openvino":
        if importlib.util.find_spec("openvino") is None:
            return None
        import openvino as ov

        compiled = ov.Core().compile_model(path, "CPU")  # the runtime's defaults, as a deployment gets them
        res = compiled(feeds)
        ys = [np.asarray(res[o]) for o in compiled.outputs]
        try:
            hint = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        except Exception:  # noqa: BLE001
            hint = None
        return ys, hint
    return None
    return None


#: backends where Keras's random initializers cost a compilation each (jax: one XLA threefry program per shape).
COSTLY_DRAWS = ("jax",)


class _draws_replaced(object):
    """While a model loads on jax, its initializers draw zeros instead of random numbers.

    load_model builds every layer, which initializes every weight, and then overwrites them all
    from the file. On jax each random initializer compiles its own XLA program: loading
    MobileNetV3Small spent 166 s of 183 s compiling them on a busy 2-core machine. The weights the
    model runs with are the file's either way; `load_s` is this cheaper load (out["load_note"]).
    """

    def __init__(self, keras, backend, out):
        self.keras, self.on, self.out, self.saved = keras, backend in COSTLY_DRAWS, out, {}

    def __enter__(self):
        if not self.on:
            return self
        try:
            from keras.src.backend import random as brandom
        except Exception:  # noqa: BLE001 - another Keras layout: load as Keras does
            return self
        keras = self.keras

        def zeros(shape, *args, **kwargs):
            return keras.ops.zeros(shape, dtype=kwargs.get("dtype") or keras.config.floatx())

        self.mod = brandom
        for name in ("uniform", "normal", "truncated_normal"):
            if hasattr(brandom, name):
                self.saved[name] = getattr(brandom, name)
                setattr(brandom, name, zeros)
        self.out["load_note"] = ("random initializers drew zeros while the model loaded (every weight is then "
                                 "read from the file; on jax each would compile its own program)")
        return self

    def __exit__(self, *exc):
        for name, f in self.saved.items():
            setattr(self.mod, name, f)
        return False


def _test_patch(keras, backend):
    """KBACKEND_TEST_PATCH (kbackend's own tests): a Python file run after Keras is imported."""
    patch = os.environ.get("KBACKEND_TEST_PATCH")
    if patch:
        with open(patch) as f:
            code = compile(f.read(), patch, "exec")
        exec(code, {"keras": keras, "ops": keras.ops, "backend": backend, "__name__": "kbackend_test_patch"})


def _version(backend, adapter):
    v = getattr(adapter, "version", None)
    if v is not None:
        return v(backend, _adapters())
    return str(getattr(__import__(backend), "__version__", "")) or None


# --------------------------------------------------------------------------- comparison (numpy only)


def _verdict(cmp, np, got, ref, tol, dtype):
    v = cmp.compare(got, ref, tol=tol, dtype=dtype)
    return {k: v[k] for k in ("status", "max_abs_err", "max_rel_err", "worst", "atol", "rtol", "message")}


def compare_all(inp):
    """Each backend's arrays against the reference's: {backend: {outputs, layers, train}}."""
    import numpy as np

    cmp = _load(inp["compare_path"], "kbackend_model_compare")
    tol = inp.get("tol", "linalg")
    with np.load(inp["reference_path"]) as z:
        ref = {k: z[k] for k in z.files}
    result = {}
    for b, spec in inp["backends"].items():
        with np.load(spec["path"]) as z:
            got = {k: z[k] for k in z.files}
        dtype = spec.get("floatx", "float32")
        outs = []
        for k in sorted((k for k in got if k.startswith("out/")), key=lambda k: int(k.split("/")[1])):
            if k in ref:
                outs.append(_verdict(cmp, np, got[k], ref[k], tol, dtype))
        layers = []
        for layer in spec.get("layers") or []:
            vs = []
            for i in range(layer["n"]):
                k = "layer/%s/%d" % (layer["name"], i)
                if k in got and k in ref:
                    vs.append(_verdict(cmp, np, got[k], ref[k], tol, dtype))
            if vs:
                worst = max(vs, key=lambda v: (v["status"] != "pass", v["worst"] or 0.0))
                layers.append(dict(worst, name=layer["name"]))
        train = []
        fd, dots = inp.get("fd"), spec.get("dots")
        if fd and dots and len(fd) == len(dots):
            # the gradient's projections, in units of its norm (a projection's error is the gradient's)
            norm = spec.get("norm") or 1.0
            train.append(_verdict(cmp, np, np.array(dots) / norm, np.array(fd) / norm, tol, dtype))
        exports = {}
        for k in sorted(k for k in got if k.startswith("export/")):
            _, fmt, i = k.split("/")
            if "out/" + i in ref:
                v = _verdict(cmp, np, got[k], ref["out/" + i], tol, dtype)
                prev = exports.get(fmt)
                if prev is None or (v["status"] != "pass" and prev["status"] == "pass"):
                    exports[fmt] = v
        result[b] = {"outputs": outs, "layers": layers, "train": train, "exports": exports}
    return {"backends": result}


if __name__ == "__main__":  # pragma: no cover - run by _boot.py
    print(json.dumps(main(json.load(open(sys.argv[1])))))
