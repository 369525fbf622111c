"""Can a backend run in one environment? Judged from metadata: its Keras, Python and packages.

Shared by `envs` (is the effective backend usable there), `switch --scope env`
(refuse a pin that cannot work), `run` and `shell-env`. The order of the checks
is the order of the remedies: a Keras that does not accept the name needs
another Keras; a Python the backend has no wheels for needs another
environment (installing would fail); then a missing or too old package.

>>> python_refusal("cntk", "3.11.7") is not None
True
>>> python_refusal("cntk", "3.6.15") is None
True
>>> too_old("jax", "3.15.1", {"jax": "0.4.1", "jaxlib": "0.4.1"}, "/e/bin/python", gpu=NO_GPU)
"jax 0.4.1 is older than 0.4.20, the oldest Keras 3.15.1 works with (/e/bin/python -m pip install -U 'jax>=0.4.20')"
"""

from __future__ import annotations

from typing import Mapping

from packaging.version import InvalidVersion, Version

from kbackend import backends as B
from kbackend.config.judge import installed_backend
from kbackend.services.config import python_refusal, refuse_backend  # noqa: F401 (re-exported)
from kbackend.install import NO_GPU, GpuHint, install_command  # noqa: F401 (NO_GPU: the doctests)


def too_old(name: str, keras_version: str | None, installed: Mapping[str, str], python: str = "python", *,
            gpu: GpuHint | None = None) -> str | None:
    """Why the installed package is older than this Keras needs (with the upgrade for `python`), or None."""
    b = B.get(name)
    if b is None or keras_version is None:
        return None
    for dist, minimum in b.minimum_for(keras_version).items():
        dists = b.dists if dist == b.dists[0] else (dist,)
        have = next((d for d in dists if d in installed), None)
        if have is None:
            continue
        try:
            old = Version(installed[have]) < Version(minimum)
        except InvalidVersion:
            continue
        if old:
            return (f"{have} {installed[have]} is older than {minimum}, the oldest Keras {keras_version} works with "
                    f"({install_command(name, python, keras_version=keras_version, gpu=gpu, upgrade=True)})")
    return None


def not_installed(name: str, installed: Mapping[str, str], python: str) -> str | None:
    ok, missing = installed_backend(name, installed)
    if ok:
        return None
    return (f"the `{name}` backend is not installed in {python} (missing: {', '.join(missing)}); "
            f"install it with: {install_command(name, python, keras_version=installed.get('keras'))}")


def refusal(ctx, name: str) -> str | None:
    """Why this environment's Keras does not accept the name at all, or None (see services.config)."""
    return refuse_backend(ctx, name)


def backend_problem(ctx, name: str) -> str | None:
    """The first reason `name` cannot work in the context's environment, or None.

    External module paths (Keras 2.2-2.3) are not judged here: they need a child
    (`services.config.check_external_backend`).
    """
    why = refusal(ctx, name)
    if why or B.get(name) is None:
        return why
    if ctx.keras_version is None:
        return f"Keras is not installed in {ctx.target.python}; install it with: {install_command('keras', ctx.target.python)}"
    return (python_refusal(name, ctx.target.version) or not_installed(name, ctx.installed, ctx.target.python)
            or too_old(name, ctx.keras_version, ctx.installed, ctx.target.python))
