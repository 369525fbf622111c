"""The torch backend's adapter (child side; protocol: adapters/__init__.py)."""

TRAINS = True


# ------------------------------------------------------------------ version and devices


def probe(mod, out, h):
    torch = mod
    out["built_cuda"] = h.str_or_none(getattr(torch.version, "cuda", None))
    out["extra"]["built_hip"] = h.str_or_none(getattr(torch.version, "hip", None))
    try:
        out["built_cudnn"] = h.version_from_int(torch.backends.cudnn.version(), cudnn=True)
    except Exception as e:  # noqa: BLE001
        out["extra"]["cudnn_error"] = "%s: %s" % (type(e).__name__, e)
    try:  # the instruction set torch's CPU kernels dispatch to (AVX2, AVX512, DEFAULT, ...)
        out["extra"]["cpu_capability"] = h.str_or_none(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - torch < 2.0 has no torch.backends.cpu
        pass
    try:
        out["cuda_archs"] = list(torch.cuda.get_arch_list())
    except Exception:  # noqa: BLE001
        out["cuda_archs"] = []
    devices = ["cpu"]
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            gpus.append("cuda:%d %s" % (i, torch.cuda.get_device_name(i)))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    out["devices"] = devices + [g.split(" ")[0] for g in gpus]
    out["gpu_devices"] = gpus


# ------------------------------------------------------------------ bench


def bench_setup(kit):
    import torch

    kit.torch = torch
    kit.version = torch.__version__
    if kit.threads:
        torch.set_num_threads(int(kit.threads))
    kit.backend_threads["torch.get_num_threads"] = torch.get_num_threads()
    try:
        from keras.src.backend.torch.core import get_device

        kit.device = str(get_device())
    except Exception:  # noqa: BLE001
        kit.device = "cuda" if torch.cuda.is_available() else "cpu"
    kit.sync_name = "torch.cuda.synchronize" if kit.device.startswith("cuda") else "none (CPU ops are synchronous)"


def needs_sync(kit):
    return kit.device.startswith(("cuda", "mps"))


def sync(kit, out):
    if kit.device.startswith("cuda"):
        kit.torch.cuda.synchronize()
    elif kit.device.startswith("mps"):
        kit.torch.mps.synchronize()


def jit(kit, f):
    return kit.torch.compile(f)


# ------------------------------------------------------------------ gradients


def grads(f, xs):
    import torch

    leaves = [x.detach().clone().requires_grad_(True) for x in xs]
    gs = torch.autograd.grad(f(*leaves)[0], leaves, allow_unused=True)
    return [g if g is not None else torch.zeros_like(leaf) for g, leaf in zip(gs, leaves)]
