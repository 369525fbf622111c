"""Environment commands: envs, run, shell-env. Parse, call one function of kbackend.envs, render.

Heavy modules are imported inside the commands so that completion stays fast.
"""

from __future__ import annotations

import click

from kbackend.backends import all_names
from kbackend.cli.main import STATE, complete_backend, json_option

SHELL_NAMES = ("bash", "zsh", "fish", "powershell")
BACKEND_NAMES = all_names()


_complete_backend = complete_backend


def _view():
    from kbackend.render import envs_view

    return envs_view


@click.command()
@click.option("--path", "paths", multiple=True, metavar="PATH",
              help="Also inspect this environment directory or interpreter (repeatable).")
@click.option("--probe", is_flag=True,
              help="Also import each environment's effective backend in a child of its interpreter (slow).")
@json_option
def envs(paths, probe):
    """List Python environments: their Python, Keras, installed backends, and the backend each would use.

    Finds the active environment, .venv/venv in this directory and its parents,
    conda environments, pyenv versions and virtualenvwrapper's WORKON_HOME,
    from their files only (nothing is imported) unless --probe is given.

    \b
    Examples:
      kbackend envs
      kbackend envs --path ~/legacy-env --probe
      kbackend envs --json | jq '.environments[] | {prefix, backend}'
    """
    from kbackend.services import survey
    from kbackend.envs.target import TargetError

    try:
        target = STATE.target()
    except TargetError:
        if STATE.python:
            raise
        target = None  # a broken active environment: listed as broken below
    res = survey.survey(target, paths=tuple(paths), keras_home=STATE.keras_home)
    if probe:
        n = sum(1 for e in res.environments if e.backend is not None and e.backend.usable)
        from kbackend.render.progress import progress

        with progress("probing backends", n, enabled=n > 0) as step:
            res = survey.probe(res, on_done=lambda *a: step())
    return _view().envs(res)


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--backend", metavar="NAME", shell_complete=_complete_backend,
              help="KERAS_BACKEND for the command.")
@click.option("--floatx", metavar="DTYPE", help="floatx for the command: float16, float32 or float64.")
@click.option("--epsilon", metavar="FLOAT", help="epsilon for the command, e.g. 1e-5.")
@click.option("--image-data-format", metavar="FORMAT", help="channels_last or channels_first for the command.")
@json_option
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED)
def run(backend, floatx, epsilon, image_data_format, cmd):
    """Run CMD with a backend and config of its own, changing no file.

    The backend goes through KERAS_BACKEND; the other values through a
    temporary KERAS_HOME holding your keras.json with them changed (its
    datasets and models folders are links to yours). Exits with CMD's status
    (127 when CMD is not found, 128+N when signal N killed it). With --json,
    CMD's output goes to stderr and the result document to stdout.

    \b
    Examples:
      kbackend run --backend jax -- python train.py
      kbackend run --backend torch --floatx float64 -- pytest tests/
    """
    from kbackend.services import run as runcmd

    if not cmd:  # before the target is resolved: a usage error, whatever the environment
        from kbackend.errors import UsageError

        raise UsageError("Missing command. Usage: kbackend run [OPTIONS] -- CMD [ARGS]...",
                         fix="kbackend run --backend jax -- python train.py")
    ctx = STATE.config()
    raw = {"floatx": floatx, "epsilon": epsilon, "image_data_format": image_data_format}
    p = runcmd.plan(ctx, list(cmd), backend=backend, raw=raw)
    res = runcmd.execute(p, ctx, stdout=2 if STATE.json else None)
    return _view().run_result(res)


@click.command("shell-env")
@click.argument("backend", required=False, shell_complete=_complete_backend)
@click.option("--shell", type=click.Choice(SHELL_NAMES), help="The shell to print for (default: from $SHELL).")
@click.option("--unset", is_flag=True, help="Print the lines that unset KERAS_BACKEND instead.")
@json_option
def shell_env(backend, shell, unset):
    """Print the lines that make this shell use BACKEND (eval them), like `pyenv shell`.

    \b
    Examples:
      eval "$(kbackend shell-env jax)"
      kbackend shell-env torch --shell fish | source
      kbackend shell-env --unset --shell powershell | Invoke-Expression
    """
    import os

    from kbackend.envs import shellenv
    from kbackend.errors import KbackendError

    if unset == bool(backend):
        raise click.UsageError("Give a BACKEND, or --unset (not both).")
    sh = shell or shellenv.detect_shell(os.environ)
    warnings = []
    if backend:
        from kbackend.services.acceptance import resolve

        v = resolve(STATE.config(), backend)
        if v.keras_refuses:
            raise KbackendError(v.message, fix=v.fix("kbackend shell-env {}"), data=v.data)
        if not v.ok:
            warnings.append(v.message)
    else:
        try:
            ctx = STATE.config()
        except KbackendError:
            ctx = None  # unsetting needs no target; a broken one is reported by the commands that do
        if ctx is not None and ctx.pin is not None:
            warnings.append(f"{ctx.target.python} is pinned to {ctx.pin[0]} "
                            f"({ctx.pin[1].removeprefix('env-pin:')}): without KERAS_BACKEND, the pin decides there")
    lines = shellenv.lines(sh, backend if not unset else None)
    return _view().shell_env(sh, backend, lines, shellenv.usage_hint(sh, backend), warnings)
