"""The openvino backend's adapter (child side; protocol: adapters/__init__.py).

Keras's openvino backend is inference-only: it builds each op's graph lazily and
compiles an OpenVINO model to compute it, in float32 on the CPU plugin.
"""

import time

TRAINS = False
F64_AS_F32 = "OpenVINO's CPU plugin computes float64 models in float32: the float64 result has float32 precision"


# ------------------------------------------------------------------ version and devices


def probe(mod, out, h):
    core_cls = getattr(mod, "Core", None)
    if core_cls is None:
        from openvino.runtime import Core as core_cls  # older OpenVINO
    out["devices"] = list(core_cls().available_devices)
    out["gpu_devices"] = [d for d in out["devices"] if d.startswith("GPU")]


def version(module, h):
    from openvino import get_version

    return str(get_version()).split("-")[0]


# ------------------------------------------------------------------ bench


def bench_setup(kit):
    import openvino as ov

    kit.ov = ov
    kit.version = ov.__version__ if hasattr(ov, "__version__") else kit.h.dist_version("openvino")
    kit.device = "CPU"
    kit.sync_name = "compiled model inference (synchronous)"
    if kit.threads:
        kit.backend_threads["INFERENCE_NUM_THREADS"] = int(kit.threads)


def bench_callable(kit, call, args, dtype, cases):
    """Keras's OpenVINO graph with parameters for the arrays, compiled once; steady state = inference."""
    from keras.src.backend.openvino import core as ovcore

    np = kit.np
    ov_opset = ovcore.ov_opset
    params, feeds, a = [], [], {}
    for k, v in args.items():
        if isinstance(v, np.ndarray):
            kd = dtype if v.dtype.kind == "f" else str(v.dtype)
            feed = v.astype(np.float32) if kd == "bfloat16" else v.astype(kd)
            p = ov_opset.parameter(list(v.shape), ovcore.OPENVINO_DTYPES[kd])
            params.append(p)
            feeds.append(feed)
            a[k] = ovcore.OpenVINOKerasTensor(p.output(0))
        else:
            a[k] = v
    t0 = time.perf_counter()
    outs = kit.flatten(call(kit.ops, a))
    results = [o.output for o in outs]
    model = kit.ov.Model(results=results, parameters=params)
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    if kit.threads:
        config["INFERENCE_NUM_THREADS"] = int(kit.threads)
    compiled = kit.ov.compile_model(model, ovcore.get_device(), config=config)
    request = compiled.create_infer_request()
    return (lambda: request.infer(feeds)), "compiled", time.perf_counter() - t0


def compute_dtype(kit, spec_dtype, out):
    # Keras compiles with INFERENCE_PRECISION_HINT=f32: every float is computed in float32.
    return "float32" if spec_dtype in ("float16", "bfloat16", "float32", "float64") else spec_dtype


# ------------------------------------------------------------------ the one-program step


class Fetched(object):
    """An output already read back as NumPy (the one-model step), with the backend tensor's dtype."""

    def __init__(self, data, dtype):
        self.data, self.dtype = data, dtype


def fetched(t):
    return t.data if isinstance(t, Fetched) else None


def one_program(w, todo, dtype):
    """Compute the values of `todo` as the outputs of one OpenVINO model, compiled once.

    Keras's openvino backend builds each op's graph lazily and compiles a model for it in
    `convert_to_numpy`; here the graphs of all cases become one model, compiled with the options
    `convert_to_numpy` uses, and each output is read back as `convert_to_numpy` reads it.
    A case whose graph cannot be built, or whose output is already a constant, runs alone;
    when the model fails to compile, every case runs alone.
    """
    try:  # Keras's own openvino module: where it differs, every case runs alone
        import openvino as ov
        from keras.src.backend.openvino import core

        tensor_type, opset, bf16 = core.OpenVINOKerasTensor, core.ov_opset, core.ml_dtypes.bfloat16
        compile_model, device = core.compile_model, core.get_device()
    except Exception:  # noqa: BLE001
        return
    ops = w.ops
    items = []
    for c, fmt in w.batch_units(todo, dtype):
        try:
            out = c.call(ops, w.cases.to_tensors(ops, w.args(c, dtype, fmt), dtype))
            if not isinstance(out, tensor_type) or out.output.get_node().get_type_name() == "Constant":
                continue
            o = out.output
            is_bool = o.get_element_type() == ov.Type.boolean
            if is_bool:  # as convert_to_numpy does
                o = opset.convert(o, ov.Type.i32).output(0)
            items.append(((dtype, c.name, fmt), out, o, is_bool))
        except Exception:  # noqa: BLE001 - left to the case alone, which reports the error
            continue
    if not items:
        return
    try:
        model = ov.Model(results=[o for _, _, o, _ in items], parameters=[])
        compiled = compile_model(model, device, config={"INFERENCE_PRECISION_HINT": "f32"})
        results = compiled({})
    except Exception:  # noqa: BLE001 - every case runs alone
        return
    for i, (key, out, _, is_bool) in enumerate(items):
        data = w.np.array(results[i])
        if is_bool:
            data = data.astype(bool)
        if out.dtype == "bfloat16" and data.dtype != bf16:
            data = data.view(bf16)
        w.batched[key] = (Fetched(data, out.dtype), None)
    w.batched_count += len(items)
