"""Config commands: parse, call one function of config.service, render.

Heavy modules are imported inside the commands so that completion stays fast.
"""

from __future__ import annotations

import click

from kbackend.cli.main import STATE, json_option

BACKEND_NAMES = ("tensorflow", "jax", "torch", "numpy", "openvino", "theano", "cntk", "mxnet")
KEYS = ("backend", "floatx", "epsilon", "image_data_format", "nnx_enabled", "image_dim_ordering")
VALUES = {
    "backend": ("tensorflow", "jax", "torch", "numpy", "openvino"),
    "floatx": ("float16", "float32", "float64"),
    "epsilon": ("1e-07",),
    "image_data_format": ("channels_last", "channels_first"),
    "nnx_enabled": ("true", "false"),
    "image_dim_ordering": ("tf", "th"),
}


def _complete_backend(ctx, param, incomplete):
    return [b for b in BACKEND_NAMES if b.startswith(incomplete)]


def _complete_value(ctx, param, incomplete):
    key = ctx.params.get("key")
    return [v for v in VALUES.get(key, ()) if v.startswith(incomplete)]


def _r():
    from kbackend.render import config_view

    return config_view


@click.command()
@json_option
def show():
    """Show the effective Keras configuration and where each value comes from.

    \b
    Examples:
      kbackend show
      KERAS_BACKEND=torch kbackend show --json
    """
    from kbackend.config import service

    res = service.show(STATE.config())
    return _r().show(res, as_json=STATE.json)


@click.command()
@click.argument("key", type=click.Choice(KEYS))
@json_option
def get(key):
    """Print the effective value of KEY.

    \b
    Example:
      kbackend get backend
    """
    from kbackend.config import service

    v = service.get(STATE.config(), key)
    return _r().get(key, v, as_json=STATE.json)


@click.command("set")
@click.argument("key", type=click.Choice(KEYS))
@click.argument("value", shell_complete=_complete_value)
@click.option("--force", is_flag=True, help="Write even what the installed Keras would reject (a warning is printed).")
@json_option
def set_(key, value, force):
    """Set KEY to VALUE in keras.json, validated for the installed Keras.

    \b
    Examples:
      kbackend set floatx float64
      kbackend set epsilon 1e-5
      kbackend set image_data_format channels_first
    """
    from kbackend.config import service

    res = service.set_value(STATE.config(), key, value, force=force)
    return _r().write(res, "set", as_json=STATE.json)


@click.command()
@click.argument("key", shell_complete=lambda c, p, i: [k for k in KEYS if k.startswith(i)])
@json_option
def unset(key):
    """Remove KEY from keras.json (Keras then uses its default).

    \b
    Example:
      kbackend unset image_dim_ordering
    """
    from kbackend.config import service

    res = service.unset(STATE.config(), key)
    return _r().write(res, "unset", as_json=STATE.json)


@click.command()
@click.argument("backend", shell_complete=_complete_backend, required=False)
@click.option("--force", is_flag=True, help="Write even a backend this Keras cannot use or that is not installed.")
@click.option("--scope", type=click.Choice(["user", "env"]), default="user", show_default=True,
              help="user: keras.json; env: pin the backend to the target environment only.")
@click.option("--unset", "unset_pin", is_flag=True, help="With --scope env: remove the environment's pin.")
@json_option
def switch(backend, force, scope, unset_pin):
    """Switch Keras to BACKEND, after checking the installed Keras can use it.

    \b
    Examples:
      kbackend switch jax
      kbackend switch torch --scope env     # only this environment
      kbackend --python ~/legacy/bin/python switch cntk
    """
    from kbackend.config import service

    if scope == "env":
        from kbackend.envs import pinning

        res = pinning.switch_env(STATE.config(), backend, unset=unset_pin, force=force)
        return _r().pin(res, as_json=STATE.json)
    if unset_pin:
        raise click.UsageError("--unset goes with --scope env")
    if not backend:
        raise click.UsageError("Missing argument 'BACKEND'.")
    res = service.switch(STATE.config(), backend, force=force)
    return _r().write(res, "switch", as_json=STATE.json)


@click.command()
@click.option("--strict", is_flag=True, help="Warnings fail the check too.")
@json_option
def check(strict):
    """Exit 0 when the installed Keras will import and use keras.json as written.

    Exit 1 when Keras will fail to import (and with which error), silently ignore
    the file, find the backend missing, or when the file holds keys that no longer
    have any effect.

    \b
    Example:
      kbackend check && python train.py
    """
    from kbackend.config import service

    res = service.check(STATE.config(), strict=strict)
    return _r().check(res, as_json=STATE.json)


@click.command()
@json_option
def path():
    """Print the path of keras.json, as the installed Keras computes it.

    \b
    Example:
      cat "$(kbackend path)"
    """
    ctx = STATE.config()
    return _r().path(ctx, as_json=STATE.json)


@click.command()
@click.option("--force", is_flag=True, help="Also replace a file that does not parse (it is backed up first), "
              "and write Keras's default backend even where it is not installed.")
@json_option
def reset(force):
    """Write Keras's defaults to keras.json (the previous file is backed up).

    Where Keras's default backend (tensorflow) is not installed, the file's
    backend is kept when it is installed; otherwise the reset is refused.

    \b
    Example:
      kbackend reset
    """
    from kbackend.config import service

    res = service.reset(STATE.config(), force=force)
    return _r().write(res, "reset", as_json=STATE.json)


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@json_option
def completion(shell):
    """Print the shell completion script for SHELL.

    \b
    Examples:
      eval "$(kbackend completion bash)"
      kbackend completion fish > ~/.config/fish/completions/kbackend.fish
    """
    from kbackend.cli.completion import FILES, script

    if STATE.json:
        from kbackend.render.output import emit_json

        emit_json("completion", 0, {"shell": shell, "script": script(shell), "file": f"completions/{FILES[shell]}"})
    else:
        click.echo(script(shell), nl=False)
    return 0
