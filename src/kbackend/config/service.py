"""The config commands' logic: show, get, set, unset, switch, check, path, reset.

Each function takes a `ConfigContext` (what kbackend knows about the target,
read from disk and metadata only) and returns a frozen result; writing
functions raise `KbackendError` to refuse, leaving the file untouched.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from kbackend import backends as B
from kbackend._record import field, record
from kbackend.config import store
from kbackend.config.judge import (
    EPSILON_RULE, ORIGIN_UNKNOWN, Judgement, epsilon_nonsense, epsilon_nonsense_message, installed_backend, judge, pip_for,
)
from kbackend.config.location import Location, locate
from kbackend.config.records import FileState, Problem, Record, Value
from kbackend.config.rules import DATA_FORMATS, FLOATX_FILE, Rules, rules_for
from kbackend.envs import installed as inst
from kbackend.envs.target import Target
from kbackend.errors import KbackendError

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
    env = dict(os.environ if environ is None else environ)
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


def _judge(ctx: ConfigContext, fs: FileState | None = None) -> tuple[FileState, Judgement]:
    fs = fs or store.read_state(ctx.path)
    j = judge(fs, ctx.rules, ctx.environ, ctx.installed, keras_installed=ctx.keras_version is not None, pin=ctx.pin,
              python_version=ctx.target.version)
    return fs, j


def show(ctx: ConfigContext) -> ShowResult:
    fs, j = _judge(ctx)
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
    )


def get(ctx: ConfigContext, key: str) -> Value:
    fs, j = _judge(ctx)
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


FAILING = ("error", "ignored", "legacy", "too_new", "unknown")


def check(ctx: ConfigContext, *, strict: bool = False) -> CheckResult:
    fs, j = _judge(ctx)
    sev = FAILING + (("warning",) if strict else ())
    failures = [p for p in j.problems if p.severity in sev]
    return CheckResult(
        ok=not failures, config_path=ctx.path, file_status=fs.status, keras_version=ctx.keras_version,
        imports=j.imports, keras_error=j.keras_error, file_used=j.file_used,
        effective=j.effective, problems=j.problems, failures=failures,
    )


@record
class WriteResult(Record):
    config_path: str
    action: str
    changed: bool
    key: str | None = None
    old: Any = None
    new: Any = None
    backup: str | None = None
    forced: bool = False
    warnings: list[str] = field(default_factory=list)
    effective: dict[str, Value] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict)


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


def _write(ctx: ConfigContext, action: str, key: str | None, change: Callable[[dict], Any], *, force: bool,
           extra_warnings: list[str] | None = None) -> WriteResult:
    box: dict[str, Any] = {}

    def mutate(old: FileState) -> dict:
        doc, warns = _base_doc(old, ctx, force)
        before = doc.get(key) if key else None
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
        box.update(old=before, warns=warns, changed=(old.status != "ok" or old.data != doc))
        return doc

    old, doc, bak = store.update(ctx.path, mutate, force=force)
    _, j = _judge(ctx, FileState(path=ctx.path, status="ok", data=doc))
    warns = box["warns"] + (extra_warnings or [])
    kb = ctx.environ.get("KERAS_BACKEND")
    if key == "backend" and kb and kb != doc.get("backend"):
        warns.append(f"KERAS_BACKEND={kb} is set in this environment and still overrides the file's backend")
    return WriteResult(
        config_path=ctx.path, action=action, key=key, old=box["old"], new=doc.get(key) if key else None,
        changed=box["changed"], backup=bak, forced=force, warnings=warns, effective=j.effective, document=doc,
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
    def change(d: dict) -> None:
        d.clear()
        d.update(_keras_default_doc(ctx.rules))

    return _write(ctx, "reset", None, change, force=force)


# ---------------------------------------------------------------------- switch


def refuse_backend(ctx: ConfigContext, name: str) -> str | None:
    """Why this Keras cannot use `name`, or None when it can."""
    rules = ctx.rules
    kv = ctx.keras_version or f"{rules.keras_version or 'newest'}"
    accepted = ", ".join(rules.backends) + (", or a module path (my_package.my_backend)" if rules.external_backends else "")
    if rules.accepts_backend(name):
        b = B.get(name)
        if b is not None and rules.external_backends and ctx.keras_version and not _accepted(b, ctx.keras_version):
            # Keras 2.2-2.3 take any module path: a Keras 3 name would be imported as an external module.
            return (f"Keras {ctx.keras_version} does not accept the `{name}` backend (it needs Keras {b.keras}): it "
                    f"would import `{name}` as an external backend module and fail with `ValueError: Invalid backend. "
                    f"Missing required entry : placeholder`. This Keras accepts: {accepted}")
        return None
    s = name.strip().lower()
    if s != name and rules.accepts_backend(s):
        return (f"Keras does not strip or lower-case backend names: it would fail with "
                f"`ValueError: Unable to import backend : {name}`. Did you mean `kbackend switch {s}`?")
    if not rules.backend_key_used:
        return (f"Keras {kv} is TensorFlow-only and ignores the `backend` key, so `{name}` would have no effect. "
                "To use JAX or PyTorch, install Keras 3: pip install -U keras")
    b = B.get(s)
    if b is not None and b.legacy_note:
        return (
            f"Keras {kv} cannot use the `{s}` backend. {b.legacy_note}. It needs a separate legacy "
            f"environment with {b.needs_text}; then run "
            f"`kbackend --python /path/to/that/env/bin/python switch {s}` (see `kbackend envs`). "
            f"This Keras accepts: {accepted}."
        )
    if b is not None:
        return (f"Keras {kv} does not accept the `{s}` backend (it needs Keras {b.keras}). "
                f"This Keras accepts: {accepted}. Upgrade Keras: pip install -U keras")
    return f"`{name}` is not a backend Keras {kv} accepts. It accepts: {accepted}."


def _accepted(b, keras_version: str) -> bool:
    from packaging.version import InvalidVersion

    try:
        return b.accepted_by(keras_version)
    except InvalidVersion:
        return True


def python_refusal(name: str, python_version: str | None) -> str | None:
    """Why `name`'s package cannot be installed on this Python, or None.

    >>> python_refusal("cntk", "3.6.15") is None
    True
    """
    from packaging.version import InvalidVersion, Version

    b = B.get(name)
    if b is None or not b.python or not python_version:
        return None
    try:
        if Version(python_version) in B.spec(b.python):
            return None
    except InvalidVersion:
        return None
    need = b.needs_text or f"a Python {b.python} environment"
    return (f"the `{name}` backend cannot be installed on Python {python_version} "
            f"({b.legacy_note or 'it needs Python ' + b.python}). Use a separate environment with {need}, "
            f"then: kbackend --python /path/to/that/env/bin/python switch {name}")


def switch(ctx: ConfigContext, name: str, *, force: bool = False,
           external_check: Callable[[ConfigContext, str], list[str]] | None = None) -> WriteResult:
    why = refuse_backend(ctx, name) or python_refusal(name, ctx.target.version)
    warnings: list[str] = []
    if why:
        if not force:
            s = name.strip().lower()
            fix = f"kbackend switch {s}" if ctx.rules.accepts_backend(s) else (
                "kbackend switch " + " | ".join(ctx.rules.backends))
            raise KbackendError(why, fix=fix, data={"backend": name, "accepted": list(ctx.rules.backends)})
        warnings.append("written anyway (--force): " + why)
    elif B.get(name) is None and ctx.rules.external_backends:
        missing = (external_check or check_external_backend)(ctx, name)
        if missing:
            msg = f"External backend `{name}` cannot be used: " + "; ".join(missing)
            if not force:
                raise KbackendError(msg)
            warnings.append("written anyway (--force): " + msg)
    elif ctx.keras_version is not None:
        ok, missing = installed_backend(name, ctx.installed, ctx.rules)
        if not ok:
            cmd = pip_for(missing, name)
            msg = (f"The `{name}` backend is not installed in {ctx.target.python} (missing: {', '.join(missing)}). "
                   f"Install it with: {ctx.target.python} -m {cmd}")
            if not force:
                raise KbackendError(msg, fix=f"{ctx.target.python} -m {cmd}")
            warnings.append("written anyway (--force): " + msg)
    return _write(ctx, "switch", "backend", lambda d: d.__setitem__("backend", name), force=force,
                  extra_warnings=warnings)


def check_external_backend(ctx: ConfigContext, module: str) -> list[str]:
    """Keras 2.2-2.3 external backend: import it in the target and look for the required entries."""
    from kbackend.workers import runner

    res = runner.run_worker(ctx.target.python, "external_backend.py", {"module": module}, timeout=60)
    if res.status != "ok":
        return [f"the check could not run ({res.status}: {res.error or ''})".strip()]
    data = res.data
    if not data.get("imported"):
        return [f"it does not import in {ctx.target.python}: {data.get('error')} (Keras: ValueError: Unable to import backend : {module})"]
    return [f"it lacks `{e}` (Keras: ValueError: Invalid backend. Missing required entry : {e})" for e in data.get("missing", [])]
