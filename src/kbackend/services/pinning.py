"""`kbackend switch BACKEND --scope env [--unset]`: write or remove an environment's pin.

The pin is `kbackend-pin.pth` in the environment's own site-packages (see
`pin.py`): that interpreter starts with a default `KERAS_BACKEND`, other
environments keep the user's keras.json, and an explicit variable still wins.
The backend is validated against THAT environment: its Keras version's rules,
its Python version and its installed packages; an external backend module
(Keras 2.2-2.3) is imported in a child of that interpreter.
"""

from __future__ import annotations

import errno
import os

from kbackend import _fs
from kbackend._record import Record, field, record
from kbackend.envs import pin as pinfile
from kbackend.errors import KbackendError, UsageError


@record
class PinResult(Record):
    python: str
    #: the pinned backend; None after --unset.
    backend: str | None
    pin_path: str | None
    removed: bool
    #: the backend the environment was pinned to before, if any.
    previous: str | None = None
    changed: bool = True
    warnings: list[str] = field(default_factory=list)


def _is_shared_interpreter(prefix: str) -> bool:
    return not (os.path.exists(os.path.join(prefix, "pyvenv.cfg")) or os.path.isdir(os.path.join(prefix, "conda-meta")))


def _write_error(path: str, e: OSError, backend: str | None) -> KbackendError:
    d = os.path.dirname(path)
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = "is on a read-only file system" if e.errno == errno.EROFS else "is not writable by you"
        alt = (f"kbackend run --backend {backend} -- CMD, or eval \"$(kbackend shell-env {backend})\" in your shell"
               if backend else "ask the environment's owner to remove " + path)
        return KbackendError(
            f"Cannot {'pin' if backend else 'unpin'} this environment: {d} {why} ({e.strerror}). Nothing was changed.",
            fix=alt,
        )
    return KbackendError(f"Cannot write {path}: {e.strerror or e}. Nothing was changed.")


def _validate(ctx, name: str, force: bool) -> list[str]:
    from kbackend.services.acceptance import resolve

    v = resolve(ctx, name, external=True)
    if v.ok:
        return []
    if not force:
        raise KbackendError(v.message, data={"backend": name, "accepted": list(ctx.rules.backends)},
                            fix=None if v.keras_refuses else "pass --force to pin it anyway")
    return ["pinned anyway (--force): " + v.message]


def switch_env(ctx, backend: str | None, *, unset: bool = False, force: bool = False) -> PinResult:
    """Pin `backend` to the context's target environment, or remove its pin."""
    target = ctx.target
    path = pinfile.pin_path(target)
    old = pinfile.read_pin(target)
    previous = old[0] if old else None
    if unset:
        if backend:
            raise UsageError("--unset takes no BACKEND. Received: BACKEND=" + backend, fix="kbackend switch --scope env --unset")
        return _remove(target, previous)
    if not backend:
        raise UsageError("Missing argument 'BACKEND'.", fix="kbackend switch jax --scope env")
    bad = pinfile.name_problem(backend)
    if bad:
        raise UsageError(f"Cannot pin {backend!r}: {bad}. Received: BACKEND={backend!r}",
                         fix="kbackend switch jax --scope env")
    if path is None:
        raise KbackendError(
            f"{target.python} has no site-packages directory inside its prefix {target.prefix}, so it cannot be pinned.",
            fix=f"kbackend run --backend {backend} -- CMD",
        )
    warnings = _validate(ctx, backend, force)
    kb = ctx.environ.get("KERAS_BACKEND")
    if kb and kb != backend:
        warnings.append(f"KERAS_BACKEND={kb} is set in this shell and wins over the pin (unset KERAS_BACKEND)")
    if _is_shared_interpreter(target.prefix):
        warnings.append(f"{target.prefix} is not a virtual or conda environment: the pin applies to every program "
                        "this interpreter runs, and to environments created from it with --system-site-packages")
    if old and old[1] != "env-pin:" + path:
        warnings.append(f"another pin is already read first: {old[1].removeprefix('env-pin:')}")
    line = pinfile.pin_line(backend)
    changed = _current_text(path) != line  # a pin of an older format is rewritten
    if changed:
        try:
            _write_atomic(path, line)
        except OSError as e:
            raise _write_error(path, e, backend) from None
    return PinResult(python=target.python, backend=backend, pin_path=path, removed=False, previous=previous,
                     changed=changed, warnings=warnings)


def _remove(target, previous: str | None) -> PinResult:
    removed = []
    for sp in pinfile.site_packages(target):
        p = os.path.join(sp, pinfile.PIN_FILE)
        if os.path.lexists(p):
            try:
                os.unlink(p)
            except OSError as e:
                raise _write_error(p, e, None) from None
            removed.append(p)
    path = removed[0] if removed else pinfile.pin_path(target)
    warnings = [] if removed else [f"{target.python} has no pin; nothing to remove"]
    return PinResult(python=target.python, backend=None, pin_path=path, removed=bool(removed), previous=previous,
                     changed=bool(removed), warnings=warnings)


def _current_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError:
        return None


def _write_atomic(path: str, text: str) -> None:
    _fs.atomic_write(path, text, mode=0o644, prefix=".kbackend-pin.", suffix=".tmp")
