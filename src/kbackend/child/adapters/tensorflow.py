"""The tensorflow backend's adapter (child side; protocol: adapters/__init__.py)."""

TRAINS = True
#: keras.backend.result_type keeps float64 for float64 inputs on tensorflow.
RESULT_TYPE_F64 = True
F64_AS_F32 = ("the op computes part of its float64 result in float32 (a float32 constant or cast inside): "
              "the result has float32 precision")


# ------------------------------------------------------------------ version and devices


def probe(mod, out, h):
    tf = mod
    out["devices"] = [d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices()]
    out["gpu_devices"] = [d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices("GPU")]
    try:
        info = dict(tf.sysconfig.get_build_info())
    except Exception as e:  # noqa: BLE001 - old TF without get_build_info
        info = {"error": "%s: %s" % (type(e).__name__, e)}
    out["extra"]["build_info"] = dict((k, h.jsonable(v)) for k, v in info.items())
    out["built_cuda"] = h.str_or_none(info.get("cuda_version"))
    out["built_cudnn"] = h.str_or_none(info.get("cudnn_version"))
    try:  # oneDNN's CPU kernels on (the default on x86 Linux) or off (TF_ENABLE_ONEDNN_OPTS=0, other builds)
        from tensorflow.python.util import _pywrap_util_port

        out["extra"]["onednn"] = bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # noqa: BLE001 - a TF without this private module: unknown
        pass
    caps = info.get("cuda_compute_capabilities") or []
    out["cuda_archs"] = [str(c) for c in caps]
    # Does a channels_first (NCHW) convolution run on the CPU? Stock TensorFlow kernels
    # support NHWC only; oneDNN builds (the default on x86 Linux) also run NCHW.
    try:
        with tf.device("/CPU:0"):
            tf.nn.conv2d(tf.zeros((1, 1, 3, 3)), tf.zeros((1, 1, 1, 1)), 1, "VALID", data_format="NCHW")
        out["extra"]["cpu_nchw_conv"] = True
    except Exception as e:  # noqa: BLE001 - UnimplementedError on stock CPU kernels
        out["extra"]["cpu_nchw_conv"] = False
        out["extra"]["cpu_nchw_conv_error"] = ("%s: %s" % (type(e).__name__, e)).splitlines()[0][:300]


# ------------------------------------------------------------------ bench


def bench_setup(kit):
    import tensorflow as tf

    from_out = kit.flatten
    kit.tf = tf
    kit.version = tf.__version__
    th = tf.config.threading
    if kit.threads:
        try:  # possible until TF's context is initialised (no op has run yet)
            th.set_intra_op_parallelism_threads(int(kit.threads))
            th.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass
    kit.backend_threads["intra_op"] = th.get_intra_op_parallelism_threads()
    kit.backend_threads["inter_op"] = th.get_inter_op_parallelism_threads()
    gpus = tf.config.list_logical_devices("GPU")
    kit.device = "gpu" if gpus else "cpu"
    # Eager TF on the CPU is synchronous; `.numpy()` there is a copy (as long
    # as an elementwise op itself), so it would distort the timing.
    kit.tf_sync = None
    if kit.device == "gpu" or not tf.config.experimental.get_synchronous_execution():
        sync_devices = getattr(getattr(tf.test, "experimental", None), "sync_devices", None)
        kit.tf_sync = sync_devices or (lambda out: [t.numpy() for t in from_out(out) if hasattr(t, "numpy")])
        kit.sync_name = "tf.test.experimental.sync_devices" if sync_devices else ".numpy()"
    else:
        kit.sync_name = "none (eager CPU execution is synchronous)"


def needs_sync(kit):
    return kit.tf_sync is not None


def sync(kit, out):
    if kit.tf_sync is None:
        return
    if kit.sync_name == ".numpy()":
        kit.tf_sync(out)
    else:
        kit.tf_sync()


def jit(kit, f):
    return kit.tf.function(f, jit_compile=True)


# ------------------------------------------------------------------ gradients


def grads(f, xs):
    import tensorflow as tf

    leaves = [tf.identity(x) for x in xs]
    with tf.GradientTape() as tape:
        for x in leaves:
            tape.watch(x)
        y = f(*leaves)[0]
    gs = tape.gradient(y, leaves)
    return [tf.convert_to_tensor(g) if g is not None else tf.zeros_like(leaf) for g, leaf in zip(gs, leaves)]
