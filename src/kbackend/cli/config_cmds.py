"""Config commands: parse, call one function of services.config, render.

Heavy modules are imported inside the commands so that completion stays fast.
"""

from __future__ import annotations

import re

import click

from kbackend.backends import KERAS3_ORDER, all_names
from kbackend.cli.main import STATE, complete_backend, json_option

BACKEND_NAMES = all_names()
KEYS = ("backend", "floatx", "epsilon", "image_data_format", "nnx_enabled", "image_dim_ordering")
VALUES = {
    "backend": KERAS3_ORDER,
    "floatx": ("float16", "float32", "float64"),
    "epsilon": ("1e-07",),
    "image_data_format": ("channels_last", "channels_first"),
    "nnx_enabled": ("true", "false"),
    "image_dim_ordering": ("tf", "th"),
}


_complete_backend = complete_backend


def _complete_key(ctx, param, incomplete):
    """The keys the target's Keras reads: what `get` and `set` then accept (KEYS if unknown)."""
    try:
        keys = STATE.config().rules.keys
    except Exception:  # noqa: BLE001 - completion never fails
        keys = KEYS
    return [k for k in keys if k.startswith(incomplete)]


def _complete_value(ctx, param, incomplete):
    key = ctx.params.get("key")
    return [v for v in VALUES.get(key, ()) if v.startswith(incomplete)]


_NEGATIVE_NUMBER = re.compile(r"-(\d|\.\d|inf|nan)", re.I)


class ValueCommand(click.Command):
    """A command whose VALUE may be a negative number (`set epsilon -1e-5`), not an option.

    Its options are flags only, so every token that is not an option goes after `--`.
    """

    def parse_args(self, ctx, args):
        if "--" not in args and any(_NEGATIVE_NUMBER.match(a) for a in args):
            options = [a for a in args if a.startswith("-") and not _NEGATIVE_NUMBER.match(a)]
            args = options + ["--"] + [a for a in args if a not in options]
        return super().parse_args(ctx, args)


KEY_HELP = ("KEY is one of: backend, floatx, epsilon, image_data_format, nnx_enabled (Keras 3.11 and later), "
            "image_dim_ordering (Keras 1.x); `kbackend check` names the keys the installed Keras reads.")


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
    from kbackend.services import config as service

    res = service.show(STATE.config())
    return _r().show(res)


@click.command(epilog=KEY_HELP)
@click.argument("key", type=click.Choice(KEYS), metavar="KEY", shell_complete=_complete_key)
@json_option
def get(key):
    """Print the effective value of KEY.

    \b
    Example:
      kbackend get backend
    """
    from kbackend.services import config as service

    v = service.get(STATE.config(), key)
    return _r().get(key, v)


@click.command("set", cls=ValueCommand, epilog=KEY_HELP)
@click.argument("key", type=click.Choice(KEYS), metavar="KEY", shell_complete=_complete_key)
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

    An epsilon Keras accepts but that guards no division (NaN, infinite, zero,
    negative) is refused unless --force.
    """
    from kbackend.services import config as service

    res = service.set_value(STATE.config(), key, value, force=force)
    return _r().write(res, "set")


@click.command()
@click.argument("key", shell_complete=lambda c, p, i: [k for k in KEYS if k.startswith(i)])
@json_option
def unset(key):
    """Remove KEY from keras.json (Keras then uses its default).

    \b
    Example:
      kbackend unset image_dim_ordering
    """
    from kbackend.services import config as service

    res = service.unset(STATE.config(), key)
    return _r().write(res, "unset")


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
    from kbackend.services import config as service

    if scope == "env":
        from kbackend.services import pinning

        res = pinning.switch_env(STATE.config(), backend, unset=unset_pin, force=force)
        return _r().pin(res)
    if unset_pin:
        raise click.UsageError("--unset goes with --scope env")
    if not backend:
        raise click.UsageError("Missing argument 'BACKEND'.")
    res = service.switch(STATE.config(), backend, force=force)
    return _r().write(res, "switch")


@click.command()
@click.option("--strict", is_flag=True, help="Warnings fail the check too.")
@json_option
def check(strict):
    """Exit 0 when the installed Keras will import and use keras.json as written.

    Exit 1 when Keras will fail to import (and with which error) or never return,
    silently ignore the file, find the backend missing, when the file holds keys
    this Keras does not read (keys that no longer have an effect, or that only a
    later Keras reads), or when kbackend cannot tell (a file it did not read).

    \b
    Example:
      kbackend check && python train.py
    """
    from kbackend.services import config as service

    res = service.check(STATE.config(), strict=strict)
    return _r().check(res)


@click.command()
@json_option
def path():
    """Print the path of keras.json, as the installed Keras computes it.

    \b
    Example:
      cat "$(kbackend path)"
    """
    ctx = STATE.config()
    return _r().path(ctx)


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
    from kbackend.services import config as service

    res = service.reset(STATE.config(), force=force)
    return _r().write(res, "reset")


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

    from kbackend.result import Result

    text = script(shell)
    return Result("completion", 0, {"shell": shell, "script": text, "file": f"completions/{FILES[shell]}"},
                  lambda: click.echo(text, nl=False))
