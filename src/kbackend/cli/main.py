"""The `kbackend` command: a lazy click group, global options and the exit-code contract.

Commands live in their own modules and are imported only when run, so that
`kbackend show` and shell completion stay fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

from kbackend import __version__
from kbackend._record import field, record
from kbackend.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OUTPUT, EXIT_USAGE, KbackendError
from kbackend.result import Result

#: command name -> "module:attribute", in the order `--help` lists them.
COMMANDS = {
    "show": "kbackend.cli.config_cmds:show",
    "get": "kbackend.cli.config_cmds:get",
    "set": "kbackend.cli.config_cmds:set_",
    "unset": "kbackend.cli.config_cmds:unset",
    "switch": "kbackend.cli.config_cmds:switch",
    "check": "kbackend.cli.config_cmds:check",
    "path": "kbackend.cli.config_cmds:path",
    "reset": "kbackend.cli.config_cmds:reset",
    "doctor": "kbackend.cli.doctor:doctor",
    "verify": "kbackend.cli.verify:verify",
    "bench": "kbackend.cli.bench:bench",
    "envs": "kbackend.cli.envs:envs",
    "run": "kbackend.cli.envs:run",
    "shell-env": "kbackend.cli.envs:shell_env",
    "fleet": "kbackend.cli.fleet:fleet",
    "completion": "kbackend.cli.config_cmds:completion",
}


@record(frozen=False)
class AppState:
    keras_home: str | None = None
    python: str | None = None
    json: bool = False
    command: str | None = None
    _target: object = field(default=None, repr=False)

    def target(self):
        if self._target is None:
            from kbackend.envs.target import resolve

            self._target = resolve(self.python)
        return self._target

    def config(self):
        from kbackend.services.config import make_context
        from kbackend.envs.pin import read_pin

        return make_context(self.target(), keras_home=self.keras_home, pin_reader=read_pin)


STATE = AppState()


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [c for c in COMMANDS if _available(c)]

    def get_command(self, ctx, name):
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        mod, attr = spec.split(":")
        try:
            return getattr(importlib.import_module(mod), attr)
        except ModuleNotFoundError as e:
            if e.name == mod:
                return None
            raise


def _available(name: str) -> bool:
    mod = COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(mod) is not None


def complete_backend(ctx, param, incomplete):
    """Backend names the target's Keras accepts (Keras 3: not theano, cntk or mxnet); every name if unknown."""
    from kbackend.backends import REGISTRY, all_names

    names = all_names()
    try:
        version = STATE.config().rules.keras_version
        if version is not None:
            names = tuple(n for n in names if REGISTRY[n].accepted_by(version))
    except Exception:  # noqa: BLE001 - completion never fails
        names = all_names()
    return [b for b in names if b.startswith(incomplete)]


def json_option(f):
    """`--json` on every command: one JSON document on stdout."""

    def cb(ctx, param, value):
        if value:
            STATE.json = True
        return value

    return click.option("--json", "json_", is_flag=True, expose_value=False, callback=cb,
                        help="Print one JSON document on stdout.")(f)


def _set_state(attr):
    def cb(ctx, param, value):
        if value is not None:
            setattr(STATE, attr, value)
        return value

    return cb


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="kbackend")
@click.option("--keras-home", metavar="DIR", callback=_set_state("keras_home"), expose_value=False,
              help="Use DIR/keras.json for this run, as KERAS_HOME=DIR would.")
@click.option("--python", metavar="PATH", callback=_set_state("python"), expose_value=False,
              envvar="KBACKEND_PYTHON",
              help="Describe this interpreter's Keras and backends (default: the active environment).")
@click.option("--json", "json_", is_flag=True, expose_value=False, callback=lambda c, p, v: _set_json(v),
              help="Print one JSON document on stdout.")
@click.pass_context
def cli(ctx):
    """kbackend: which Keras backend am I on, can this machine run it, does it compute right?

    \b
    Examples:
      kbackend show                 effective config, each value with its origin
      kbackend switch jax           use JAX (checked against the installed Keras)
      kbackend set floatx float64
      kbackend check && python train.py
    """
    STATE.command = ctx.invoked_subcommand


def _set_json(v):
    if v:
        STATE.json = True


def _bug_report(exc: BaseException) -> str:
    import platform

    return (
        f"kbackend internal error: {type(exc).__name__}: {exc}\n"
        f"Please report it with this information:\n"
        f"  kbackend {__version__}, Python {platform.python_version()} ({sys.executable}), "
        f"{platform.platform()}"
    )


def _json_wanted(argv: list[str] | None) -> bool:
    """`--json` anywhere among kbackend's own arguments, even when click stopped before it.

    Not after `--`, nor after `run` (its CMD's arguments are not kbackend's: its
    own --json was parsed by click when given before CMD).
    """
    if STATE.json:
        return True
    for a in sys.argv[1:] if argv is None else argv:
        if a in ("--", "run"):
            return False
        if a == "--json":
            return True
    return False


def _usage_error_json(e: click.ClickException, code: int) -> None:
    """A click usage error as the JSON envelope: the command it was for, the message, where help is."""
    from kbackend.render import output

    ctx = getattr(e, "ctx", None)
    # the command's path without "kbackend": "show", "fleet merge"
    command = (" ".join(ctx.command_path.split()[1:]) or ctx.info_name) if ctx is not None and ctx.parent is not None \
        else (STATE.command or "kbackend")
    if isinstance(e, click.exceptions.NoArgsIsHelpError):
        message = "Missing command."
    else:
        message = e.format_message()
    if ctx is not None and ctx.parent is not None:
        where = ctx.command_path
    else:  # raised while the group handed over (run's CMD options): the command is known all the same
        where = f"kbackend {STATE.command}" if STATE.command else "kbackend"
    output.render(Result(command, code, {"error": {"message": message, "fix": f"{where} --help", "kind": "usage"}}),
                  as_json=True)


def _stdout_closed() -> None:
    from kbackend.render import output

    try:
        output.err("kbackend: standard output is closed, so no answer can be printed. Open it "
                   "(`>/dev/null` discards the output).")
    except OSError:  # stderr is gone too: the exit code says it
        pass
    sys.exit(EXIT_OUTPUT)


def main(argv: list[str] | None = None) -> None:
    """Entry point: maps outcomes to the exit codes of DESIGN.md (README: Exit codes); SIGTERM/SIGHUP/SIGINT
    exit 128 + the signal's number, children killed and temporary folders removed (kbackend._signals)."""
    from kbackend import _signals
    from kbackend.render import output

    if sys.stdout is None:  # started with fd 1 closed (`>&-`): refuse before doing anything
        _stdout_closed()
    guard = output.GuardedStream(sys.stdout)
    sys.stdout = guard
    eguard = None
    if sys.stderr is not None:  # a stderr whose reader left (`2>&1 | true`) is silence too
        eguard = sys.stderr = output.GuardedStream(sys.stderr)
    try:
        code = _signals.guarded(_main, argv)
        guard.flush()
        if guard.error is not None and code in (0, 1, 2):
            e = guard.error
            output.err(f"kbackend: cannot write to standard output: {e.strerror or e}. The command ran; "
                       "its output is lost.")
            code = EXIT_OUTPUT
        if eguard is not None:
            eguard.flush()
    finally:
        if sys.stdout is guard:
            sys.stdout = guard._stream
        if eguard is not None and sys.stderr is eguard:
            sys.stderr = eguard._stream
    sys.exit(code)


def _main(argv: list[str] | None) -> int:
    from kbackend.render import output

    if "KBACKEND_PIN_SET" in os.environ:
        # kbackend runs in a pinned environment: the pin set KERAS_BACKEND in this process, not the
        # user. Forget it, so that it is reported as the pin it is and no child inherits it.
        from kbackend.envs.pin import strip_pin_environ

        strip_pin_environ(os.environ)
    try:
        rv = cli.main(args=argv, prog_name="kbackend", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0 if rv is None else output.render(rv, as_json=STATE.json)
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        code = EXIT_USAGE if isinstance(e, click.UsageError) else e.exit_code
        if _json_wanted(argv):
            _usage_error_json(e, code)
        else:
            e.show()
    except click.exceptions.Abort:
        output.err("Aborted.")
        code = EXIT_INTERRUPTED
    except KbackendError as e:
        # --json also when raised while parsing, before --json's callback ran
        code = output.render(_error_result(e), as_json=_json_wanted(argv))
    except KeyboardInterrupt:
        output.err("Interrupted.")
        code = EXIT_INTERRUPTED
    except BrokenPipeError:  # written around sys.stdout (its guard handles the rest): the reader left
        output.GuardedStream(sys.__stdout__)._fail(BrokenPipeError())
        code = 0
    except Exception as e:  # noqa: BLE001 - the contract: exit 3 with a bug report
        if os.environ.get("KBACKEND_DEBUG"):
            raise
        report = _bug_report(e)
        error = {"message": report, "kind": "internal",
                 "fix": "report it with the information above (KBACKEND_DEBUG=1 shows the traceback)"}
        code = output.render(Result(STATE.command or "kbackend", EXIT_INTERNAL, {"error": error},
                                    lambda: output.err(report)), as_json=_json_wanted(argv))
    return code


def _error_result(e: KbackendError) -> Result:
    """A problem the user can act on, as every command's result: its message and its fix."""
    from kbackend.render import output

    def text() -> None:
        # On a terminal the message wraps to its width; in a log or a pipe it stays one line to grep.
        # The fix is a command line, kept whole so it can be pasted.
        label = output.style("error: ", fg="red", bold=True, stream=sys.stderr)
        if output.isatty(sys.stderr):
            output.err_wrapped(e.message, first=label, rest="  ")
        else:
            output.err(label + e.message)
        if e.fix:
            output.err(output.style("fix: ", bold=True, stream=sys.stderr) + e.fix)

    return Result(STATE.command or "kbackend", e.exit_code, {"error": {"message": e.message, "fix": e.fix, **e.data}},
                  text)
