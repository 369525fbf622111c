"""The config commands' logic: show, get, set, unset, switch, check, path, reset.

Each function takes a `ConfigContext` (what kbackend knows about the target,
read from disk and metadata only) and returns a frozen result; writing
functions raise `KbackendError` to refuse, leaving the file untouched.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from kbackend import backends as B
from kbackend._record import field, record, replace
from kbackend.config import store
from kbackend.config.judge import (
    EPSILON_RULE, ORIGIN_UNKNOWN, Judgement, epsilon_nonsense, epsilon_nonsense_message, installed_backend, judge,
)
from kbackend.config.location import Location, locate
from kbackend._record import Record
from kbackend.config.records import FileState, Problem, Value
from kbackend.config.rules import DATA_FORMATS, FLOATX_FILE, Rules, rules_for
from kbackend.envs import installed as inst
from kbackend.envs.target import Target
from kbackend.errors import KbackendError
from kbackend.services.acceptance import PROBLEM, REFUSAL, advise, resolve

#: every key any Keras line reads (for completion and `set`'s choices).
ALL_KEYS = ("backend", "floatx", "epsilon", "image_data_format", "nnx_enabled", "image_dim_ordering")


@record
class ConfigContext:
    target: Target
    installed: dict[str, str]
    keras_version: str | None
    rules: Rules
    location: Location
    environ: Mapping[str, str]
    pin: tuple[str, str] | None = None

    @property
    def path(self) -> str:
        return self.location.path


def make_context(
    target: Target,
    *,
    environ: Mapping[str, str] | None = None,
    keras_home: str | None = None,
    pin_reader: Callable[[Target], tuple[str, str] | None] | None = None,
) -> ConfigContext:
    from kbackend.envs.pin import user_environ

    env = user_environ(os.environ if environ is None else environ)  # a value a pin set is not the user's
    dists = inst.scan(target.sys_path)
    kd = inst.keras_dist(dists)
    rules = rules_for(kd.version if kd else None, dist_name=kd.name if kd else "keras")
    loc = locate(env, keras_home=keras_home, rules=rules)
    pin = pin_reader(target) if pin_reader else None
    return ConfigContext(target, inst.versions(dists), kd.version if kd else None, rules, loc, env, pin)


@record
class ShowResult(Record):
    config_path: str
    config_path_origin: str
    file_status: str
    keras_version: str | None
    keras_rules: str
    rules_assumed: bool
    python: str
    effective: dict[str, Value]
    imports: bool
    keras_error: str | None
    file_used: bool
    problems: list[Problem]
    file: dict[str, Any] | None = None
    #: the environment variables Keras reads (or sets) besides KERAS_HOME and KERAS_BACKEND: name -> Value.
    variables: dict[str, Value] = field(default_factory=dict)
    #: where else the backend is set for this interpreter (conda activation, Jupyter kernels).
    elsewhere: list[Any] = field(default_factory=list)


def _judge(ctx: ConfigContext, fs: FileState | None = None, *, advice: bool = False) -> tuple[FileState, Judgement]:
    """Judge the file; `advice`: word the install commands of its problems (only where they are shown)."""
    fs = fs or store.read_state(ctx.path)
    j = judge(fs, ctx.rules, ctx.environ, ctx.installed, keras_installed=ctx.keras_version is not None, pin=ctx.pin,
              advise=advise(ctx) if advice else None, python_version=ctx.target.version)
    return fs, j


def show(ctx: ConfigContext) -> ShowResult:
    fs, j = _judge(ctx, advice=True)
    notes = [Problem(id="location", severity="info", message=n) for n in ctx.location.notes]
    return ShowResult(
        config_path=ctx.path,
        config_path_origin=ctx.location.origin,
        file_status=fs.status,
        keras_version=ctx.keras_version,
        keras_rules=ctx.rules.line,
        rules_assumed=ctx.rules.assumed,
        python=ctx.target.python,
        effective=j.effective,
        imports=j.imports,
        keras_error=j.keras_error,
        file_used=j.file_used,
        problems=notes + j.problems,
        file=fs.data,
        variables=j.variables,
        elsewhere=elsewhere(ctx),
    )


def elsewhere(ctx: ConfigContext) -> list:
    """Where else KERAS_BACKEND is set for the target: conda activation, conda env vars, Jupyter kernels."""
    from kbackend.envs.elsewhere import find

    try:
        return find(ctx.target.python, ctx.target.prefix, ctx.environ)
    except Exception:  # noqa: BLE001 - reading others' files must never break `show`
        return []


#: file statuses with which `import keras` fails before any value is in effect (IsADirectoryError, ...).
UNREADABLE = ("is_directory", "socket", "unreadable", "not_object")


def get(ctx: ConfigContext, key: str) -> Value:
    fs, j = _judge(ctx)
    if fs.status in UNREADABLE and j.imports is False and j.keras_error:
        raise KbackendError(
            f"Keras has no effective `{key}` here: `import keras` fails with {j.keras_error} while reading "
            f"{ctx.path} ({fs.status}). Received: key={key}",
            fix="kbackend check",
        )
    if key in j.effective:
        v = j.effective[key]
        if v.origin.startswith(ORIGIN_UNKNOWN):
            raise KbackendError(
                f"kbackend cannot tell the effective `{key}`: {v.origin.split(': ', 1)[1]} "
                f"({ctx.path}: {fs.status}; kbackend check says why). Received: key={key}",
                fix="kbackend check",
            )
        return v
    kv = ctx.rules.keras_version or ""
    if fs.data is not None and key in fs.data:
        return Value(value=fs.data[key], origin=f"{ctx.path} (not read by Keras {kv})".replace("  ", " "))
    raise KbackendError(
        f"Keras {kv} does not read `{key}`{_why_not_read(ctx.rules, key)}, and {ctx.path} does not hold it. "
        f"It reads: {', '.join(ctx.rules.keys)}. Received: key={key}".replace("  ", " "),
    )


def _why_not_read(rules: Rules, key: str) -> str:
    if key == "nnx_enabled":
        return " (Keras 3.11 and later read it)"
    if key in rules.legacy_keys:
        return f" ({rules.legacy_keys[key]})"
    return ""


@record
class CheckResult(Record):
    ok: bool
    config_path: str
    file_status: str
    keras_version: str | None
    imports: bool
    keras_error: str | None
    file_used: bool
    effective: dict[str, Value]
    problems: list[Problem]
    #: the problems that make `check` fail.
    failures: list[Problem]
    #: the environment variables Keras reads (or sets) besides KERAS_HOME and KERAS_BACKEND: name -> Value.
    variables: dict[str, Value] = field(default_factory=dict)


FAILING = ("error", "ignored", "legacy", "too_new", "unknown")


def check(ctx: ConfigContext, *, strict: bool = False) -> CheckResult:
    fs, j = _judge(ctx, advice=True)
    sev = FAILING + (("warning",) if strict else ())
    failures = [p for p in j.problems if p.severity in sev]
    return CheckResult(
        ok=not failures, config_path=ctx.path, file_status=fs.status, keras_version=ctx.keras_version,
        imports=j.imports, keras_error=j.keras_error, file_used=j.file_used,
        effective=j.effective, problems=j.problems, failures=failures, variables=j.variables,
    )


@record
class WriteResult(Record):
    config_path: str
    action: str
    #: False for a no-op: nothing was written and the backup was left as it was.
    changed: bool
    key: str | None = None
    #: the key's value before: the file's, or Keras's default where the file did not set it (see old_origin).
    old: Any = None
    new: Any = None
    #: the copy of the file before this change; None when nothing was written or there was no file.
    backup: str | None = None
    forced: bool = False
    warnings: list[str] = field(default_factory=list)
    effective: dict[str, Value] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict)
    #: "file", or "default" with why in old_note ("no keras.json", "not in keras.json", ...).
    old_origin: str | None = None
    old_note: str | None = None
    #: the Keras version of the target (None: Keras is not installed there).
    keras_version: str | None = None
    python: str | None = None


# ---------------------------------------------------------------------- parsing values


def parse_value(key: str, raw: str, rules: Rules, *, force: bool = False) -> Any:
    """Turn a command-line string into the JSON value Keras expects for `key`.

    An epsilon Keras accepts but that is nonsense (NaN, infinite, zero or negative:
    `epsilon_nonsense`, the rule `check` warns by) is refused unless `force`.
    """
    if key == "epsilon":
        try:
            v = float(raw)
        except ValueError:
            raise KbackendError(f"Invalid `epsilon`. Expected a positive float such as 1e-07. Received: epsilon={raw}")
        if epsilon_nonsense(v) and not force:
            raise KbackendError(
                f"Refusing epsilon={raw}. {EPSILON_RULE}. Received: epsilon={raw}",
                fix="kbackend set epsilon 1e-07  # or pass --force to write it anyway",
            )
        return v
    if key == "floatx":
        if raw not in FLOATX_FILE:
            extra = ""
            if raw == "bfloat16":
                extra = (" bfloat16 is accepted by keras.config.set_floatx() in code, but Keras rejects it in "
                         "keras.json; use mixed precision instead: keras.mixed_precision.set_dtype_policy('mixed_bfloat16').")
            elif raw.lower() in FLOATX_FILE:
                extra = f" The file is case-sensitive: did you mean {raw.lower()}?"
            raise KbackendError(f"Invalid `floatx`. Expected one of float16, float32, float64. Received: floatx={raw}.{extra}")
        return raw
    if key in ("image_data_format",):
        if raw not in DATA_FORMATS:
            extra = f" The file is case-sensitive: did you mean {raw.lower()}?" if raw.lower() in DATA_FORMATS else ""
            raise KbackendError(
                f"Invalid `image_data_format`. Expected one of channels_last, channels_first. "
                f"Received: image_data_format={raw}.{extra}"
            )
        return raw
    if key == "image_dim_ordering":
        if raw not in ("th", "tf"):
            raise KbackendError(f"Invalid `image_dim_ordering`. Expected th or tf. Received: image_dim_ordering={raw}")
        return raw
    if key == "nnx_enabled":
        low = raw.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise KbackendError(f"Invalid `nnx_enabled`. Expected true or false. Received: nnx_enabled={raw}")
    return raw


# ---------------------------------------------------------------------- writing


def _validate_doc(doc: dict, ctx: ConfigContext) -> list[str]:
    """Validate a whole document with the pydantic model, then with Keras's own rules."""
    from pydantic import ValidationError

    from kbackend.config.model import KerasConfig, validation_messages

    try:
        KerasConfig.for_rules(ctx.rules).model_validate(doc)
    except ValidationError as e:
        return validation_messages(e)
    fs = FileState(path=ctx.path, status="ok", data=doc)
    j = judge(fs, ctx.rules, {}, ctx.installed, keras_installed=True)
    # What is installed is not the document's fault (switch checks the backend itself).
    return [p.message for p in j.problems
            if p.severity == "error" and p.id not in ("backend_not_installed", "keras_dependency_missing")]


def _base_doc(old: FileState, ctx: ConfigContext, force: bool) -> tuple[dict, list[str]]:
    """The document a change starts from; refuses files that do not parse unless forced."""
    if old.status == "ok":
        return dict(old.data), []
    if old.status in ("missing", "dangling_symlink"):
        return dict(_keras_default_doc(ctx.rules)), []
    reason = {
        "empty": "is empty", "malformed": f"is not valid JSON ({old.detail})", "bom": "starts with a UTF-8 BOM",
        "not_utf8": f"is not UTF-8 ({old.detail})", "not_object": "holds JSON that is not an object",
        "too_large": f"is {old.size} bytes, more than kbackend reads", "is_directory": "is a directory",
        "unreadable": "cannot be read", "too_deep": f"nests arrays and objects {old.depth} levels deep",
    }.get(old.status, old.status)
    if not force:
        raise KbackendError(
            f"{old.path} {reason}; kbackend will not rewrite a file it cannot parse. The file is unchanged.",
            fix="fix it by hand, or run the command again with --force (the file is backed up to "
            f"{store.real_target(old.path)}{store.BACKUP_SUFFIX} first)",
        )
    return dict(_keras_default_doc(ctx.rules)), [f"{old.path} {reason}: replaced, backup kept"]


def _keras_default_doc(rules: Rules) -> dict:
    d = rules.defaults
    d.pop("nnx_enabled", None)
    return d


class _Unchanged(Exception):
    """Raised inside the locked update when the new document equals the file: nothing is written."""

    def __init__(self, doc: dict) -> None:
        super().__init__("unchanged")
        self.doc = doc


def _same_document(a: dict, b: dict) -> bool:
    """Equal as Keras reads them: key order aside, but 1 is not 1.0 nor true (json, not ==)."""
    import json

    try:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    except (TypeError, ValueError):
        return False


_DEFAULT_WHY = {"missing": "no keras.json", "dangling_symlink": "keras.json is a dangling link"}


def _before(old: FileState, key: str | None, ctx: ConfigContext) -> tuple[Any, str | None, str | None]:
    """(value, origin, note) of `key` before a change: the file's value, or Keras's default and why."""
    if key is None:
        return None, None, None
    if old.status == "ok" and key in old.data:
        return old.data[key], "file", None
    if key not in ctx.rules.defaults:
        return None, None, None
    why = "not in keras.json" if old.status == "ok" else _DEFAULT_WHY.get(old.status, "keras.json was not usable")
    return ctx.rules.defaults[key], "default", why


def _write(ctx: ConfigContext, action: str, key: str | None, change: Callable[[dict], Any], *, force: bool,
           extra_warnings: list[str] | None = None) -> WriteResult:
    """Change the document under the lock; a change that leaves it as it is writes nothing."""
    box: dict[str, Any] = {}

    def mutate(old: FileState) -> dict:
        doc, warns = _base_doc(old, ctx, force)
        before = _before(old, key, ctx)
        change(doc)
        errors = _validate_doc(doc, ctx)
        if errors and not force:
            raise KbackendError(
                "Refusing to write a keras.json that Keras would reject:\n  - " + "\n  - ".join(errors)
                + "\nThe file is unchanged.",
                fix="correct the value, or pass --force to write it anyway",
            )
        if errors:
            warns += [f"written anyway (--force): {e}" for e in errors]
        changed = old.status != "ok" or not _same_document(old.data, doc)
        box.update(old=before, warns=warns, changed=changed)
        if not changed:
            raise _Unchanged(doc)  # under the lock: no write, the backup is kept as it is
        return doc

    try:
        _, doc, bak = store.update(ctx.path, mutate, force=force)
    except _Unchanged as u:
        doc, bak = u.doc, None
    _, j = _judge(ctx, FileState(path=ctx.path, status="ok", data=doc))
    warns = box["warns"] + (extra_warnings or [])
    if not box["changed"]:
        # Nothing was written: "written anyway (--force)" would say a write happened. What it
        # warned about is in the file already, so the warning stands without that prefix.
        warns = [w.replace("written anyway (--force): ", "the file already holds this: ", 1) for w in warns]
    kb = ctx.environ.get("KERAS_BACKEND")
    if key in ("backend", None) and kb and kb != doc.get("backend") and ctx.rules.backend_key_used:
        warns.append(f"KERAS_BACKEND={kb} is set in this environment and still overrides the file's backend")
    elif key in ("backend", None) and ctx.pin and ctx.pin[0] != doc.get("backend") and ctx.rules.backend_key_used:
        warns.append(f"the environment pin {ctx.pin[1].removeprefix('env-pin:')} sets backend {ctx.pin[0]} in "
                     f"{ctx.target.python}, over keras.json (kbackend switch --scope env --unset removes it)")
    before, before_origin, before_note = box["old"]
    return WriteResult(
        config_path=ctx.path, action=action, key=key, old=before, new=doc.get(key) if key else None,
        changed=box["changed"], backup=bak, forced=force, warnings=warns, effective=j.effective, document=doc,
        old_origin=before_origin, old_note=before_note, keras_version=ctx.keras_version, python=ctx.target.python,
    )


def set_value(ctx: ConfigContext, key: str, raw: str, *, force: bool = False) -> WriteResult:
    if key == "backend":
        return switch(ctx, raw, force=force)
    if key not in ctx.rules.keys and not force:
        where = _why_not_read(ctx.rules, key)
        raise KbackendError(
            f"Keras {ctx.rules.keras_version or ''} does not read `{key}`{where}. It reads: "
            f"{', '.join(ctx.rules.keys)}. Received: key={key}",
        )
    value = parse_value(key, raw, ctx.rules, force=force)
    warns = []
    if key == "epsilon" and epsilon_nonsense(value):
        warns.append("written anyway (--force): " + epsilon_nonsense_message(raw))
    return _write(ctx, "set", key, lambda d: d.__setitem__(key, value), force=force, extra_warnings=warns)


def unset(ctx: ConfigContext, key: str) -> WriteResult:
    fs = store.read_state(ctx.path)
    if fs.status == "ok" and key not in fs.data:
        return WriteResult(config_path=ctx.path, action="unset", key=key, changed=False,
                           warnings=[f"`{key}` is not in {ctx.path}; nothing to do"],
                           effective=_judge(ctx, fs)[1].effective, document=fs.data)
    if fs.status in ("missing", "dangling_symlink"):
        return WriteResult(config_path=ctx.path, action="unset", key=key, changed=False,
                           warnings=[f"{ctx.path} does not exist; nothing to do"],
                           effective=_judge(ctx, fs)[1].effective)
    return _write(ctx, "unset", key, lambda d: d.pop(key, None), force=False)


def reset(ctx: ConfigContext, *, force: bool = False) -> WriteResult:
    """Keras's defaults; where Keras's default backend is not installed, the file's backend is kept
    when it is installed, else refused (a reset file would make `import keras` fail) unless forced."""
    warnings: list[str] = []

    def change(d: dict) -> None:
        current = d.get("backend")
        d.clear()
        d.update(_keras_default_doc(ctx.rules))
        default = d.get("backend")
        if not ctx.rules.backend_key_used or not isinstance(default, str):
            return
        missing = _backend_missing(ctx, default)
        if missing is None:
            return
        py = ctx.target.python
        if isinstance(current, str) and current != default and not force and _usable(ctx, current):
            d["backend"] = current
            warnings.append(f"kept backend {current}: Keras's default backend {default} is not installed in {py} "
                            f"(`kbackend reset --force` writes {default} anyway)")
            return
        msg = (f"Keras's default backend `{default}` is not installed in {py} ({missing}): a keras.json reset to "
               f"Keras's defaults would make `import keras` fail with ModuleNotFoundError")
        if ctx.keras_version is None:
            msg = (f"Keras is not installed in {ctx.target.describe()}, and neither is its default backend "
                   f"`{default}` ({missing}): a keras.json reset to Keras's defaults would make `import keras` fail "
                   "there even once Keras is installed")
        if force:
            warnings.append("written anyway (--force): " + msg)
            return
        others = [b for b in ctx.rules.backends if b != default and _usable(ctx, b)]
        fix = advise(ctx)(default) + (
            f", or: kbackend reset --force && kbackend switch {others[0]}" if others else "")
        raise KbackendError(msg + ". The file is unchanged.", fix=fix,
                            data={"backend": default, "installed_backends": others})

    res = _write(ctx, "reset", None, change, force=force, extra_warnings=warnings)
    if ctx.keras_version is None:
        res = replace(res, warnings=res.warnings + [
            f"Keras is not installed in {ctx.target.describe()}: nothing there reads keras.json until it is "
            f"({advise(ctx)('keras')})"])
    return res


def _backend_missing(ctx: ConfigContext, name: str) -> str | None:
    """What is missing for the known backend `name` in the target ("missing: ..."), or None."""
    if B.get(name) is None:
        return None
    ok, missing = installed_backend(name, ctx.installed)
    return None if ok else "missing: " + ", ".join(missing)


def _usable(ctx: ConfigContext, name: str) -> bool:
    """A known backend this Keras accepts, installable on this Python, and installed in the target."""
    v = resolve(ctx, name)
    return v.entry is not None and v.status != REFUSAL


# ---------------------------------------------------------------------- switch


def switch(ctx: ConfigContext, name: str, *, force: bool = False,
           external_check: Callable[[ConfigContext, str], list[str]] | None = None) -> WriteResult:
    v = resolve(ctx, name, external=True, external_check=external_check)
    warnings: list[str] = []
    if v.status == REFUSAL:
        if not force:
            raise KbackendError(v.message, fix=v.fix("kbackend switch {}"), data=v.data)
        warnings.append("written anyway (--force): " + v.message)
    elif v.status == PROBLEM:
        warnings.append(v.message)
    note = B.inference_only(v.entry.name) if v.entry is not None else None
    if note:
        warnings.append(note)
    return _write(ctx, "switch", "backend", lambda d: d.__setitem__("backend", name), force=force,
                  extra_warnings=warnings)
