"""`kbackend run`: run a command under a chosen backend and config, changing no file.

The backend travels in `KERAS_BACKEND`. floatx, epsilon and image_data_format
travel in a temporary `KERAS_HOME` whose keras.json is the user's with the
overrides, and whose `datasets` and `models` are symlinks to the user's caches so
that nothing is downloaded twice. The exit status is the command's, as a shell
reports it: 127 when it is not found, 126 when it cannot be executed, 128+N when
a signal N killed it. The temporary directory is removed however the command ends.

The command runs in a process group of its own that gets the terminal, as a shell
runs a job: Ctrl-C, Ctrl-Z and reading the terminal work as usual (in a pipeline the
terminal stays with the pipeline and kbackend passes them on); SIGTERM, SIGHUP
(and SIGINT, SIGQUIT, SIGUSR1/2) sent to kbackend are passed on to that group; what
the command leaves running in it is ended when it ends (SIGTERM, SIGKILL 1 s later).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from typing import Any, Iterator, Mapping

from kbackend import _procs
from kbackend._record import Record, field, record
from kbackend.config import store
from kbackend.errors import KbackendError, UsageError

#: keras.json keys `run` can override, in Keras's file order.
FILE_KEYS = ("floatx", "epsilon", "image_data_format")
#: the user's cache folders a temporary KERAS_HOME links to.
CACHES = ("datasets", "models")
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126


@record
class RunPlan(Record):
    argv: list[str]
    backend: str | None
    #: keras.json overrides (parsed values).
    overrides: dict[str, Any]
    #: the user's keras.json the temporary one starts from.
    base_config: str
    warnings: list[str] = field(default_factory=list)


@record
class RunResult(Record):
    argv: list[str]
    exit_code: int
    backend: str | None
    overrides: dict[str, Any]
    #: the signal that killed the command (its name), if one did.
    signal: str | None = None
    #: why the command did not start (127/126).
    error: str | None = None
    #: the temporary KERAS_HOME the command saw (already removed), if any.
    keras_home: str | None = None
    warnings: list[str] = field(default_factory=list)


def plan(ctx, argv: list[str], *, backend: str | None = None, raw: Mapping[str, str | None] | None = None) -> RunPlan:
    """Validate everything before anything runs; raises KbackendError (exit 1), UsageError (2) with no command."""
    from kbackend.services.acceptance import resolve
    from kbackend.services.config import parse_value

    if not argv:
        raise UsageError("Missing command. Usage: kbackend run [OPTIONS] -- CMD [ARGS]...",
                            fix="kbackend run --backend jax -- python train.py")
    warnings: list[str] = []
    overrides: dict[str, Any] = {}
    for key, value in (raw or {}).items():
        if value is None:
            continue
        if key not in ctx.rules.keys:
            raise KbackendError(f"Keras {ctx.keras_version or ''} does not read `{key}`. It reads: "
                                f"{', '.join(ctx.rules.keys)}. Received: {key}={value}".replace("  ", " "))
        overrides[key] = parse_value(key, value, ctx.rules)
    if overrides and not ctx.rules.keras_home_env:
        raise KbackendError(
            f"Keras {ctx.keras_version} does not read KERAS_HOME, so `kbackend run` cannot change "
            f"{', '.join(overrides)} without touching ~/.keras/keras.json. Received: "
            + ", ".join(f"{k}={v}" for k, v in overrides.items()),
            fix="kbackend set KEY VALUE (changes the file), or use --backend only",
        )
    if backend is not None:
        v = resolve(ctx, backend)
        if v.keras_refuses:
            raise KbackendError(v.message, fix=v.fix("kbackend run --backend {} -- ..."), data=v.data)
        if v.status != "ok":
            warnings.append(v.message + " (running anyway: the command may use another interpreter)")
    return RunPlan(argv=list(argv), backend=backend, overrides=overrides, base_config=ctx.path, warnings=warnings)


def base_document(path: str, rules) -> tuple[dict, str | None]:
    """The user's keras.json as Keras would read it, and a warning when Keras would not use it."""
    fs = store.read_state(path)
    if fs.status == "ok":
        return dict(fs.data), None
    d = rules.defaults
    d.pop("nnx_enabled", None)  # Keras's own default file does not hold it
    if fs.status in ("missing", "dangling_symlink"):
        return d, None
    return d, f"{path} is not usable as it is ({fs.status}); the temporary keras.json starts from Keras's defaults"


@contextlib.contextmanager
def temp_keras_home(path: str, rules, overrides: Mapping[str, Any], *,
                    link_caches: bool = True) -> Iterator[tuple[str, list[str]]]:
    """A temporary KERAS_HOME: the keras.json at `path` plus `overrides`, its caches linked. Removed on exit.

    Linking creates the user's `datasets` and `models` folders when they are missing, so that what
    the command downloads lands there."""
    doc, warning = base_document(path, rules)
    doc.update(overrides)
    warnings = [warning] if warning else []
    tmp = _procs.mkdtemp("run-")
    try:
        with open(os.path.join(tmp, "keras.json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent=4))
        user_dir = os.path.dirname(path)
        for sub in CACHES if link_caches else ():
            src = os.path.join(user_dir, sub)
            try:
                os.makedirs(src, exist_ok=True)
                os.symlink(src, os.path.join(tmp, sub), target_is_directory=True)
            except OSError as e:
                warnings.append(f"cannot link {sub} to {src} ({e.strerror or e}): Keras will download into a "
                                "temporary folder")
        yield tmp, warnings
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _signame(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def execute(p: RunPlan, ctx, *, stdout=None, environ: Mapping[str, str] | None = None) -> RunResult:
    """Run the planned command in the foreground and wait for it; never raises for what it does."""
    from kbackend.envs.pin import user_environ

    # A value kbackend's own pin set is not passed on: the command's interpreter applies its own pin.
    env = user_environ(os.environ if environ is None else environ)
    if p.backend is not None:
        env["KERAS_BACKEND"] = p.backend
    warnings = list(p.warnings)
    with contextlib.ExitStack() as stack:
        home = None
        if p.overrides:
            home, w = stack.enter_context(temp_keras_home(p.base_config, ctx.rules, p.overrides))
            warnings += w
            env["KERAS_HOME"] = home
        common = dict(argv=p.argv, backend=p.backend, overrides=p.overrides, keras_home=home)
        try:
            fg = _procs.Foreground(p.argv, env=env, stdout=stdout)
        except FileNotFoundError:
            return RunResult(exit_code=EXIT_NOT_FOUND, error=f"{p.argv[0]}: command not found", warnings=warnings,
                             **common)
        except OSError as e:
            return RunResult(exit_code=EXIT_NOT_EXECUTABLE, error=f"{p.argv[0]}: {e.strerror or e}",
                             warnings=warnings, **common)
        rc = fg.wait()
    if rc < 0:
        return RunResult(exit_code=128 - rc, signal=_signame(-rc), warnings=warnings, **common)
    return RunResult(exit_code=rc, warnings=warnings, **common)
