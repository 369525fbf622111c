"""The numpy backend's adapter (child side; protocol: adapters/__init__.py).

Keras's numpy backend computes on the CPU, eagerly, and cannot train.
"""

TRAINS = False


def probe(mod, out, h):
    out["devices"] = ["cpu"]


def bench_setup(kit):
    kit.version = kit.np.__version__
