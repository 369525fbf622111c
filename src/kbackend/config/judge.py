"""Judge a keras.json as the installed Keras would, and resolve effective values.

Pure functions: a `FileState` (what is on disk), the `Rules` of the installed
Keras line, the environment variables and the installed distributions go in;
the effective configuration (value and origin per key) and the problems come out.

>>> from kbackend.config.rules import rules_for
>>> fs = FileState(path="/h/.keras/keras.json", status="ok", data={"backend": "jax"})
>>> j = judge(fs, rules_for("3.15.1"), {}, {"keras": "3.15.1", "jax": "0.10.2", "jaxlib": "0.10.2"})
>>> j.effective["backend"].value, j.effective["backend"].origin
('jax', '/h/.keras/keras.json')
>>> j.imports
True
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from kbackend import backends as B
from kbackend._record import record
from kbackend.config.records import FileState, Problem, Record, Value
from kbackend.config.rules import DATA_FORMATS, FLOATX_FILE, Rules

ORIGIN_DEFAULT = "default"


@record
class Judgement(Record):
    effective: dict[str, Value]
    problems: list[Problem]
    #: will `import keras` succeed with this file and environment?
    imports: bool
    #: the exception Keras raises at import, when it does not.
    keras_error: str | None
    #: does Keras use the file's contents (False: missing or silently ignored).
    file_used: bool


def _hashable(v: Any) -> bool:
    try:
        hash(v)
        return True
    except TypeError:
        return False


def _type_name(v: Any) -> str:
    return type(v).__name__


def _membership_error(rules: Rules, field: str, allowed: tuple[str, ...], value: Any) -> str:
    if not _hashable(value):
        return f"TypeError: unhashable type: '{_type_name(value)}'"
    if rules.check_style == "raise":
        return (
            f"ValueError: Invalid `{field}` configuration. Expected one of "
            "{" + ", ".join(repr(a) for a in allowed) + "}. "
            f"Received: {field}={value}"
        )
    return "AssertionError"


def installed_backend(name: str, installed: Mapping[str, str]) -> tuple[bool, list[str]]:
    """Is the backend's package installed? Returns (ok, missing distributions)."""
    b = B.get(name)
    if b is None:
        return False, [name]
    missing = []
    if not any(d in installed for d in b.dists):
        missing.append(b.dists[0])
    missing += [d for d in b.also_needs if d not in installed]
    return not missing, missing


def judge(
    fs: FileState,
    rules: Rules,
    environ: Mapping[str, str],
    installed: Mapping[str, str],
    *,
    keras_installed: bool = True,
    pin: tuple[str, str] | None = None,
    advise: Callable[[str], str] | None = None,
) -> Judgement:
    """What the installed Keras does with this file and environment.

    `pin` is an environment pin `(backend, origin)` (precedence: file < pin < env).
    `advise` words the command that installs a backend, "keras" or a distribution
    (`config.service.advise`); None: problems carry no install command (nothing shows them).
    """
    def install(what: str) -> str | None:
        return advise(what) if advise else None

    problems: list[Problem] = []
    first_error: str | None = None
    defaults = rules.defaults
    eff: dict[str, Value] = {k: Value(value=v, origin=ORIGIN_DEFAULT) for k, v in defaults.items()}
    file_used = False
    src = fs.path

    def fail(err: str) -> None:
        nonlocal first_error
        if first_error is None:
            first_error = err

    st = fs.status
    if st == "missing":
        problems.append(Problem(
            id="file_missing", severity="info",
            message=f"{src} does not exist: Keras creates it with its defaults (backend tensorflow) on first import",
            fix="kbackend reset",
        ))
    elif st == "dangling_symlink":
        problems.append(Problem(
            id="dangling_symlink", severity="warning",
            message=f"{src} is a symlink to a missing file: Keras treats it as absent and writes its defaults through the link",
            fix=f"rm {src} && kbackend reset",
        ))
    elif st in ("empty", "malformed", "bom", "not_utf8"):
        what = {
            "empty": "is empty",
            "malformed": f"is not valid JSON ({fs.detail})",
            "bom": "starts with a UTF-8 byte order mark, which Python's json module rejects",
            "not_utf8": f"is not UTF-8 text ({fs.detail})",
        }[st]
        problems.append(Problem(
            id=f"file_{st}", severity="ignored",
            message=f"{src} {what}: Keras silently ignores the whole file and uses its defaults (backend tensorflow)",
            fix="kbackend reset --force",
        ))
    elif st == "not_object":
        err = f"AttributeError: '{_type_name(fs.other)}' object has no attribute 'get'"
        fail(err)
        problems.append(Problem(
            id="file_not_object", severity="error",
            message=f"{src} holds a JSON {_type_name(fs.other)}, not an object: `import keras` fails",
            keras_error=err, fix="kbackend reset --force",
        ))
    elif st == "is_directory":
        err = f"IsADirectoryError: [Errno 21] Is a directory: '{src}'"
        fail(err)
        problems.append(Problem(
            id="file_is_directory", severity="error",
            message=f"{src} is a directory: `import keras` fails", keras_error=err,
            fix=f"rmdir {src}  # or move it away, then: kbackend reset",
        ))
    elif st == "unreadable":
        err = f"PermissionError: [Errno 13] Permission denied: '{src}'"
        fail(err)
        problems.append(Problem(
            id="file_unreadable", severity="error",
            message=f"{src} cannot be read ({fs.detail}): `import keras` fails", keras_error=err,
            fix=f"chmod u+r {src}",
        ))
    elif st == "too_large":
        problems.append(Problem(
            id="file_too_large", severity="warning",
            message=f"{src} is {fs.size} bytes, more than kbackend inspects; Keras parses all of it on every import",
            fix="kbackend reset --force",
        ))

    data = fs.data if st == "ok" and fs.data is not None else None
    if data is not None:
        file_used = True
        _judge_values(data, rules, src, eff, problems, fail, environ, installed)

    # The backend: file < env pin < KERAS_BACKEND (non-empty).
    if not rules.backend_key_used:
        eff["backend"] = Value(value="tensorflow", origin=ORIGIN_DEFAULT)
    if pin is not None and rules.backend_key_used:
        eff["backend"] = Value(value=pin[0], origin=pin[1])
    kb = environ.get("KERAS_BACKEND")
    if kb is not None and kb != "" and rules.backend_key_used:
        fb = eff["backend"]
        eff["backend"] = Value(value=kb, origin="env:KERAS_BACKEND")
        if fb.origin != ORIGIN_DEFAULT and fb.value != kb:
            problems.append(Problem(
                id="env_overrides_backend", severity="warning", key="backend",
                message=f"KERAS_BACKEND={kb} overrides backend={fb.value!r} from {fb.origin}",
                fix="unset KERAS_BACKEND  # or: kbackend switch " + kb,
            ))
    elif kb == "":
        problems.append(Problem(
            id="env_backend_empty", severity="info", key="backend",
            message="KERAS_BACKEND is set but empty: Keras ignores it",
        ))

    # Keras's order: file values, KERAS_MAX_* parsing, then nnx, then the backend import.
    for var in ("KERAS_MAX_EPOCHS", "KERAS_MAX_STEPS_PER_EPOCH"):
        if var in rules.env_vars and var in environ:
            try:
                int(environ[var])
            except ValueError:
                err = f"ValueError: invalid literal for int() with base 10: {environ[var]!r}"
                fail(err)
                problems.append(Problem(
                    id="bad_" + var.lower(), severity="error",
                    message=f"{var}={environ[var]!r} is not an integer: `import keras` fails", keras_error=err,
                    fix=f"unset {var}",
                ))

    # nnx: KERAS_NNX_ENABLED wins over the file.
    if rules.nnx:
        nv = environ.get("KERAS_NNX_ENABLED")
        if nv is not None:
            eff["nnx_enabled"] = Value(value=nv.lower() in ("true", "1"), origin="env:KERAS_NNX_ENABLED")
        if eff["nnx_enabled"].value and "flax" not in installed:
            err = "ImportError: To use NNX with the JAX backend, you must install `flax`."
            fail(err)
            problems.append(Problem(
                id="nnx_needs_flax", severity="error", key="nnx_enabled",
                message=f"nnx_enabled is true (from {eff['nnx_enabled'].origin}) but flax is not installed: `import keras` fails",
                keras_error=err, fix=install("flax"),
            ))

    _judge_backend(eff["backend"], rules, installed, problems, fail, keras_installed, install)

    if not keras_installed:
        problems.insert(0, Problem(
            id="keras_missing", severity="error",
            message=f"Keras is not installed; the rules of {rules.describe()} are applied",
            fix=install("keras"),
        ))

    return Judgement(
        effective=eff, problems=problems, imports=first_error is None and keras_installed,
        keras_error=first_error, file_used=file_used,
    )


def _judge_values(data, rules, src, eff, problems, fail, environ, installed) -> None:
    if "floatx" in data:
        v = data["floatx"]
        if not _hashable(v) or v not in FLOATX_FILE:
            err = _membership_error(rules, "floatx", FLOATX_FILE, v)
            fail(err)
            extra = " (`keras.config.set_floatx('bfloat16')` accepts it in code, the file does not)" if v == "bfloat16" else ""
            problems.append(Problem(
                id="invalid_floatx", severity="error", key="floatx",
                message=f"Invalid `floatx`. Expected one of float16, float32, float64{extra}. Received: floatx={v!r}",
                keras_error=err, fix="kbackend set floatx float32",
            ))
        else:
            eff["floatx"] = Value(value=v, origin=src)
    if "epsilon" in data:
        v = data["epsilon"]
        if not isinstance(v, float):
            err = (f"ValueError: Invalid `epsilon` configuration. Expected a float. Received: epsilon={v}"
                   if rules.check_style == "raise" else "AssertionError")
            fail(err)
            hint = " (write 1.0, not 1)" if isinstance(v, int) and not isinstance(v, bool) else ""
            problems.append(Problem(
                id="invalid_epsilon", severity="error", key="epsilon",
                message=f"Invalid `epsilon`. Expected a JSON float{hint}. Received: epsilon={v!r}",
                keras_error=err, fix="kbackend set epsilon 1e-07",
            ))
        else:
            eff["epsilon"] = Value(value=v, origin=src)
            if not math.isfinite(v) or v <= 0:
                problems.append(Problem(
                    id="epsilon_nonsense", severity="warning", key="epsilon",
                    message=f"epsilon={v!r} is accepted by Keras but must be a small positive number to guard divisions",
                    fix="kbackend set epsilon 1e-07",
                ))
    if "backend" in data:
        if rules.backend_key_used:
            eff["backend"] = Value(value=data["backend"], origin=src)
        else:
            problems.append(Problem(
                id="legacy_key_backend", severity="legacy", key="backend",
                message=f"Keras {rules.keras_version} is TensorFlow-only and ignores `backend` "
                f"(backend={data['backend']!r} has no effect)",
                fix="kbackend unset backend",
            ))
    ik = rules.image_key
    if ik in data:
        v = data[ik]
        allowed = DATA_FORMATS if ik == "image_data_format" else ("th", "tf")
        if not _hashable(v) or v not in allowed:
            err = _membership_error(rules, ik, allowed, v)
            fail(err)
            hint = ""
            if isinstance(v, str) and v.lower() in allowed:
                hint = f" (the file is case-sensitive: write {v.lower()!r})"
            problems.append(Problem(
                id="invalid_image_data_format", severity="error", key=ik,
                message=f"Invalid `{ik}`. Expected one of {', '.join(allowed)}{hint}. Received: {ik}={v!r}",
                keras_error=err, fix=f"kbackend set {ik} {allowed[0]}",
            ))
        else:
            eff[ik] = Value(value=v, origin=src)
    if rules.nnx and "nnx_enabled" in data:
        v = data["nnx_enabled"]
        eff["nnx_enabled"] = Value(value=bool(v), origin=src)
        if not isinstance(v, bool):
            problems.append(Problem(
                id="nnx_enabled_not_bool", severity="warning", key="nnx_enabled",
                message=f"nnx_enabled={v!r} is read with bool(), so Keras takes it as {bool(v)}",
                fix=f"kbackend set nnx_enabled {'true' if bool(v) else 'false'}",
            ))
    for k in data:
        if k in rules.keys:
            continue
        if k in rules.legacy_keys:
            problems.append(Problem(
                id="legacy_key", severity="legacy", key=k,
                message=f"`{k}` has no effect: {rules.legacy_keys[k]}", fix=f"kbackend unset {k}",
            ))
        elif k == "nnx_enabled":
            problems.append(Problem(
                id="legacy_key", severity="legacy", key=k,
                message=f"`nnx_enabled` is read by Keras 3.11 and later; Keras {rules.keras_version} ignores it",
                fix="kbackend unset nnx_enabled",
            ))
        elif k != "backend":
            problems.append(Problem(
                id="unknown_key", severity="info", key=k,
                message=f"`{k}` is not read by Keras {rules.keras_version or ''}; kbackend keeps it".replace("  ", " "),
            ))


def _judge_backend(val: Value, rules: Rules, installed, problems, fail, keras_installed, install) -> None:
    name = val.value
    where = "KERAS_BACKEND" if val.origin == "env:KERAS_BACKEND" else val.origin
    if not rules.backend_key_used:
        return
    if not isinstance(name, str) or not rules.accepts_backend(name):
        if rules.line.startswith("3"):
            err = f"ValueError: Unable to import backend : {name}"
        elif rules.backend_checked_at_load:
            err = "AssertionError"
        elif rules.external_backends:
            err = f"ValueError: Unable to import backend : {name}"
        else:
            err = f"ValueError: Unknown backend: {name}"
        fail(err)
        hint = ""
        if isinstance(name, str):
            s = name.strip().lower()
            if s != name and rules.accepts_backend(s):
                hint = f" (Keras does not strip or lower-case names: write {s!r})"
            elif B.get(s) and B.get(s).legacy_note:
                hint = f". {B.get(s).legacy_note}"
        problems.append(Problem(
            id="invalid_backend", severity="error", key="backend",
            message=f"Invalid backend {name!r} from {where}: Keras {rules.keras_version or ''} accepts "
            f"{', '.join(rules.backends)}{hint}",
            keras_error=err,
            fix="kbackend switch " + (rules.backends[0] if rules.backends else "tensorflow"),
        ))
        return
    if not keras_installed:
        return
    if B.get(name) is None:
        problems.append(Problem(
            id="external_backend_unverified", severity="info", key="backend",
            message=f"{name!r} is an external backend module; kbackend checks it with `kbackend switch {name}`",
        ))
        return
    ok, missing = installed_backend(name, installed)
    if not ok:
        err = f"ModuleNotFoundError: No module named '{B.get(name).module if name != 'numpy' else 'jax'}'"
        fail(err)
        problems.append(Problem(
            id="backend_not_installed", severity="error", key="backend",
            message=f"backend {name!r} (from {where}) is not installed: missing {', '.join(missing)}",
            keras_error=err, fix=install(name),
        ))
