"""Judge a keras.json as the installed Keras would, and resolve effective values.

Pure functions: a `FileState` (what is on disk), the `Rules` of the installed
Keras line, the environment variables and the installed distributions go in;
the effective configuration (value and origin per key) and the problems come out.

>>> from kbackend.config.rules import rules_for
>>> fs = FileState(path="/h/.keras/keras.json", status="ok", data={"backend": "jax"})
>>> j = judge(fs, rules_for("3.15.1"), {}, {"keras": "3.15.1", "jax": "0.10.2", "jaxlib": "0.10.2", "packaging": "25.0"})
>>> j.effective["backend"].value, j.effective["backend"].origin
('jax', '/h/.keras/keras.json')
>>> j.imports
True
"""

from __future__ import annotations

import errno
import math
import os
import re
from typing import Any, Callable, Mapping

from kbackend import backends as B
from kbackend._record import field, record
from kbackend.config.records import FileState, Problem, Record, Value
from kbackend.config.rules import DATA_FORMATS, FLOATX_FILE, Rules

ORIGIN_DEFAULT = "default"
#: the origin of a value kbackend cannot know because it did not (or could not) read the file.
ORIGIN_UNKNOWN = "unknown"

#: CPython up to 3.11 shares one recursion limit (1000) between Python frames and json's
#: nesting: `python -c "import keras"` gets through 900 levels and fails from about 950.
JSON_DEPTH_FAILS_311 = 1000


def epsilon_nonsense(v: float) -> bool:
    """Keras accepts any JSON float as epsilon (NaN, Infinity, 0, negatives included);
    kbackend calls those nonsense: epsilon guards divisions, so it must be small and positive.

    >>> epsilon_nonsense(float("nan")), epsilon_nonsense(1e-7)
    (True, False)
    """
    return not math.isfinite(v) or v <= 0


@record
class Judgement(Record):
    effective: dict[str, Value]
    problems: list[Problem]
    #: will `import keras` succeed with this file and environment? None: kbackend cannot tell
    #: (it did not read the file, or the answer depends on the interpreter's stack).
    imports: bool | None
    #: the exception Keras raises at import, when it does not.
    keras_error: str | None
    #: does Keras use the file's contents (False: missing or silently ignored).
    file_used: bool
    #: the environment variables Keras reads besides KERAS_HOME/KERAS_BACKEND, and the one it sets
    #: (TF_FORCE_GPU_ALLOW_GROWTH): name -> value and origin (`keras_variables`).
    variables: dict[str, Value] = field(default_factory=dict)


#: the one rule for epsilon, worded once for `check`, `set` and `run`.
EPSILON_RULE = ("Keras accepts any float as epsilon (nan and infinities too) and uses it as written, but "
                "epsilon guards divisions: it must be a finite, small positive number such as 1e-07")


def epsilon_nonsense_message(received: str) -> str:
    return f"epsilon={received}: {EPSILON_RULE}"


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


def installed_backend(name: str, installed: Mapping[str, str], rules: Rules | None = None, *,
                      entry: B.Backend | None = None) -> tuple[bool, list[str]]:
    """Is the backend's package installed? Returns (ok, missing distributions).

    `rules` adds what the backend needs on that Keras version only (3.0.5's numpy needs torch).
    `entry`: the registry entry `name` already resolved to (not looked up again).
    """
    b = entry if entry is not None else B.get(name)
    if b is None:
        return False, [name]
    missing = []
    if not any(d in installed for d in b.dists):
        missing.append(b.dists[0])
    missing += [d for d in b.also_needs if d not in installed]
    if rules is not None:
        missing += [d for d in rules.backend_needs.get(name, ()) if d not in installed and d not in missing]
    return not missing, missing


def install_what(name: str, missing: list[str], installed: Mapping[str, str], *,
                 entry: B.Backend | None = None) -> list[str]:
    """What to install for backend `name`: the backend itself and what this Keras version's backend imports besides.

    >>> install_what("numpy", ["torch"], {"jax": "0.7", "jaxlib": "0.7", "numpy": "2.1"})
    ['torch']
    >>> install_what("numpy", ["jax", "jaxlib", "torch"], {})
    ['numpy', 'torch']
    >>> install_what("torch", ["torch"], {})
    ['torch']
    """
    b = entry if entry is not None else B.get(name)
    base_ok, base_missing = installed_backend(name, installed, entry=b)
    extra = [m for m in missing if m not in base_missing and (b is None or m not in b.dists)]
    return extra if base_ok else [name] + extra


def install_commands(what: list[str], install: Callable[[str], str | None]) -> str | None:
    """One command line installing every item of `what` (`install` words each)."""
    cmds = [install(w) for w in what]
    return None if any(c is None for c in cmds) else " && ".join(cmds)


def judge(  # noqa: C901 - Keras's own load order, step by step (config.py): kept as one readable sequence
    fs: FileState,
    rules: Rules,
    environ: Mapping[str, str],
    installed: Mapping[str, str],
    *,
    keras_installed: bool = True,
    pin: tuple[str, str] | None = None,
    advise: Callable[[str], str] | None = None,
    python_version: str | None = None,
) -> Judgement:
    """What the installed Keras does with this file and environment.

    `pin` is an environment pin `(backend, origin)` (precedence: file < pin < env).
    `advise` words the command that installs a backend, "keras" or a distribution
    (`services.config.advise`); None: problems carry no install command (nothing shows them).
    `python_version` is the target interpreter's (how deep a JSON document it parses).
    """
    def install(what: str) -> str | None:
        return advise(what) if advise else None

    problems: list[Problem] = []
    first_error: str | None = None
    #: `import keras` never returns (it waits on a FIFO, reads an endless device).
    blocks = False
    #: kbackend cannot tell what Keras does with the file.
    unknown = False
    #: kbackend did not read what Keras would read from the file (its values are unknown).
    st_unread = fs.status in ("too_large", "fifo", "char_device", "block_device") and fs.detail != "null"
    defaults = rules.defaults
    eff: dict[str, Value] = {k: Value(value=v, origin=ORIGIN_DEFAULT) for k, v in defaults.items()}
    file_used = False
    src = fs.path

    def fail(err: str) -> None:
        nonlocal first_error
        if first_error is None:
            first_error = err

    st = fs.status
    if st == "missing" and fs.detail:
        problems.append(Problem(
            id="file_missing", severity="warning",
            message=f"{src} cannot be reached ({fs.detail}): Keras finds no file, uses its defaults "
            "(backend tensorflow) and cannot create one either",
            fix=f"check the directories on the way to {src}",
        ))
    elif st == "missing":
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
        unknown = True
        problems.append(Problem(
            id="file_too_large", severity="unknown",
            message=f"{src} is {fs.size} bytes, more than kbackend reads: kbackend did not read it and cannot "
            "say what Keras does with it; Keras reads and parses all of it on every import",
            fix="shrink it (a keras.json is a few hundred bytes), or: kbackend reset --force",
        ))
    elif st == "symlink_loop":
        problems.append(Problem(
            id="symlink_loop", severity="ignored",
            message=f"{src} is a symlink loop ({fs.detail}): Keras finds no file there, uses its defaults "
            "(backend tensorflow) and cannot write one either",
            fix=f"rm {src} && kbackend reset",
        ))
    elif st == "fifo":
        blocks = True
        problems.append(Problem(
            id="file_fifo", severity="error",
            message=f"{src} is a FIFO (named pipe): `import keras` blocks in open() until another process "
            "opens it for writing, then parses what that process writes; kbackend does not read it",
            fix=f"rm {src} && kbackend reset",
        ))
    elif st == "socket":
        err = f"OSError: [Errno {errno.ENXIO}] {os.strerror(errno.ENXIO)}: '{src}'"
        fail(err)
        problems.append(Problem(
            id="file_socket", severity="error",
            message=f"{src} is a socket, which open() refuses: `import keras` fails", keras_error=err,
            fix=f"rm {src} && kbackend reset",
        ))
    elif st == "char_device":
        dev = fs.detail or "other"
        if dev == "null":
            problems.append(Problem(
                id="file_devnull", severity="ignored",
                message=f"{src} is /dev/null, which reads as empty: Keras silently ignores it and uses its "
                "defaults (backend tensorflow)",
                fix=f"rm {src} && kbackend reset",
            ))
        elif dev in ("zero", "full", "random", "urandom"):
            blocks = True
            problems.append(Problem(
                id="file_endless_device", severity="error",
                message=f"{src} is /dev/{dev}, which never ends: `import keras` reads it to end of file and "
                "never returns (its memory grows until it is killed or raises MemoryError)",
                fix=f"rm {src} && kbackend reset",
            ))
        else:
            unknown = True
            problems.append(Problem(
                id="file_device", severity="unknown",
                message=f"{src} is a character device: Keras opens it and parses what it reads until end of "
                "file (a terminal waits for input); kbackend does not read devices",
                fix=f"rm {src} && kbackend reset",
            ))
    elif st == "block_device":
        unknown = True
        problems.append(Problem(
            id="file_device", severity="unknown",
            message=f"{src} is a block device: Keras reads and parses all of it on every import; "
            "kbackend does not read devices",
            fix=f"rm {src} && kbackend reset",
        ))
    elif st == "too_deep" and fs.other:
        unknown = True
        problems.append(Problem(
            id="file_too_deep", severity="unknown",
            message=f"{src} nests arrays and objects {fs.depth} levels deep and is {fs.other}: Keras silently "
            "ignores it if its json parser meets the error first, and fails with RecursionError if it meets its "
            "recursion limit first; kbackend cannot tell which",
            fix="kbackend reset --force",
        ))
    elif st == "too_deep":
        fails, why = _depth_verdict(fs, python_version)
        if fails:
            err = f"RecursionError: maximum recursion depth exceeded while decoding a JSON {fs.detail} " \
                  "from a unicode string"
            fail(err)
            problems.append(Problem(
                id="file_too_deep", severity="error",
                message=f"{src} nests arrays and objects {fs.depth} levels deep: {why}, so `import keras` fails",
                keras_error=err, fix="kbackend reset --force",
            ))
        else:
            unknown = True
            problems.append(Problem(
                id="file_too_deep", severity="unknown",
                message=f"{src} nests arrays and objects {fs.depth} levels deep: {why}",
                fix="kbackend reset --force",
            ))

    data = fs.data if st == "ok" and fs.data is not None else None
    if st == "too_deep" and unknown and fs.data is not None:
        data = fs.data  # what Keras uses if its parser gets through
    if data is not None:
        file_used = True
        _judge_values(data, rules, src, eff, problems, fail, environ, installed)

    if (st_unread or unknown) and data is None:
        for k in eff:
            eff[k] = Value(value=None, origin=f"{ORIGIN_UNKNOWN}: kbackend did not read the file" if st_unread
                           else f"{ORIGIN_UNKNOWN}: kbackend's parser could not read the file")

    # The backend: file < env pin < KERAS_BACKEND (non-empty).
    if not rules.backend_key_used:
        eff["backend"] = Value(value="tensorflow", origin=ORIGIN_DEFAULT)
    from_file = eff["backend"]
    if pin is not None and rules.backend_key_used:
        eff["backend"] = Value(value=pin[0], origin=pin[1])
        if from_file.origin != ORIGIN_DEFAULT and from_file.value != pin[0]:
            problems.append(Problem(
                id="pin_overrides_backend", severity="info", key="backend",
                message=f"the environment pin {pin[1].removeprefix('env-pin:')} sets backend {pin[0]!r} in "
                f"this environment, over backend={from_file.value!r} from {from_file.origin}",
                fix="kbackend switch --scope env --unset  # to let keras.json decide here",
            ))
    kb = environ.get("KERAS_BACKEND")
    if kb is not None and kb != "" and rules.backend_key_used:
        layers = [eff["backend"]] + ([from_file] if from_file is not eff["backend"] else [])
        below = [v for v in layers if v.origin != ORIGIN_DEFAULT and v.value != kb]
        eff["backend"] = Value(value=kb, origin="env:KERAS_BACKEND")
        if below:
            problems.append(Problem(
                id="env_overrides_backend", severity="warning", key="backend",
                message=f"KERAS_BACKEND={kb} overrides "
                + " and ".join(f"backend={v.value!r} from {v.origin}" for v in below),
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

    if not eff["backend"].origin.startswith(ORIGIN_UNKNOWN):
        _judge_backend(eff["backend"], rules, installed, problems, fail, keras_installed, install)
    if keras_installed:
        for dist in rules.import_needs:
            if dist not in installed:
                err = f"ModuleNotFoundError: No module named '{dist}'"
                fail(err)
                undeclared = dist in rules.undeclared_needs
                problems.append(Problem(
                    id="keras_dependency_missing", severity="error",
                    message=f"`import keras` needs `{dist}`, which is not installed"
                    + (f" (Keras {rules.keras_version} needs it but does not declare it, so pip did not "
                       "install it)" if undeclared else ""),
                    keras_error=err, fix=install(dist),
                ))

    if not keras_installed:
        problems.insert(0, Problem(
            id="keras_missing", severity="error",
            message=f"Keras is not installed; the rules of {rules.describe()} are applied",
            fix=install("keras"),
        ))

    variables = keras_variables(rules, environ, eff["backend"], problems, keras_installed=keras_installed)
    imports: bool | None = first_error is None and keras_installed and not blocks
    if unknown and imports:
        imports = None
    return Judgement(
        effective=eff, problems=problems, imports=imports,
        keras_error=first_error, file_used=file_used, variables=variables,
    )


#: the variables Keras 3 reads at import or in a backend besides KERAS_HOME and KERAS_BACKEND, and the
#: first release that reads each (keras/src/backend/config.py and backend/torch/core.py at the tags).
KERAS_VARIABLES = {"KERAS_MAX_EPOCHS": "3.10", "KERAS_MAX_STEPS_PER_EPOCH": "3.10", "KERAS_NNX_ENABLED": "3.11",
                   "KERAS_TORCH_DEVICE": "3.14"}
#: the variable Keras 3 sets itself at import when the backend is not tensorflow.
ALLOW_GROWTH = "TF_FORCE_GPU_ALLOW_GROWTH"
#: KERAS_VARIABLE problems: judged by doctor's keras-env check (`bad_keras_max_*` are errors of the import).
VARIABLE_PROBLEMS = ("bad_keras_max_epochs", "bad_keras_max_steps_per_epoch", "env_var_not_read",
                     "nnx_env_unrecognised", "torch_device_invalid", "torch_device_other_backend",
                     "allow_growth_overridden")
_TORCH_DEVICE = re.compile(r"^[a-z_]+(:[0-9]+)?$")
#: the device types torch.device() accepts at the start of a device string (torch 2.x's message).
TORCH_DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga",
                      "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")


def keras_variables(rules: Rules, environ: Mapping[str, str], backend: Value, problems: list[Problem], *,
                    keras_installed: bool = True) -> dict[str, Value]:
    """The Keras variables with their values and origins as this Keras line reads them; adds their problems.

    >>> from kbackend.config.rules import rules_for
    >>> probs = []
    >>> v = keras_variables(rules_for("3.15.1"), {"KERAS_MAX_EPOCHS": "2"}, Value("jax", "default"), probs)
    >>> v["KERAS_MAX_EPOCHS"].value, v["TF_FORCE_GPU_ALLOW_GROWTH"].origin
    (2, 'set by Keras at import (the backend is jax, not tensorflow)')
    >>> keras_variables(rules_for("3.9.0"), {"KERAS_MAX_EPOCHS": "2"}, Value("jax", "default"), probs)["KERAS_MAX_EPOCHS"].origin
    'env:KERAS_MAX_EPOCHS (not read by Keras 3.9.0: 3.10 and later read it)'
    """
    out: dict[str, Value] = {}
    keras3 = rules.line.startswith("3")
    kv = rules.keras_version or "(not installed)"
    for var, since in KERAS_VARIABLES.items():
        if var not in environ:
            continue
        raw = environ[var]
        if var not in rules.env_vars:
            out[var] = Value(value=raw, origin=f"env:{var} (not read by Keras {kv}: {since} and later read it)")
            if keras_installed:
                problems.append(Problem(
                    id="env_var_not_read", severity="warning", key=var,
                    message=f"{var}={raw!r} is set, but Keras {kv} does not read it ({since} and later do): "
                    "it has no effect", fix=f"unset {var}"))
            continue
        if var in ("KERAS_MAX_EPOCHS", "KERAS_MAX_STEPS_PER_EPOCH"):
            try:
                out[var] = Value(value=int(raw), origin=f"env:{var}")
            except ValueError:
                out[var] = Value(value=raw, origin=f"env:{var} (not an integer: `import keras` fails)")
        elif var == "KERAS_NNX_ENABLED":
            on = raw.lower() in ("true", "1")
            out[var] = Value(value=on, origin=f"env:{var}")
            if raw.lower() not in ("true", "1", "false", "0"):
                problems.append(Problem(
                    id="nnx_env_unrecognised", severity="warning", key=var,
                    message=f"KERAS_NNX_ENABLED={raw!r} is read as false: Keras turns NNX on for true or 1 only "
                    "(any case)", fix="export KERAS_NNX_ENABLED=true  # or: unset KERAS_NNX_ENABLED"))
        elif var == "KERAS_TORCH_DEVICE":
            out[var] = Value(value=raw, origin=f"env:{var}")
            m = _TORCH_DEVICE.match(raw)
            if m is None or raw.split(":")[0] not in TORCH_DEVICE_TYPES:
                problems.append(Problem(
                    id="torch_device_invalid", severity="warning", key=var,
                    message=f"KERAS_TORCH_DEVICE={raw!r} is not a torch device: `import keras` works, but with the "
                    "torch backend its first tensor raises RuntimeError: Expected one of cpu, cuda, ... device "
                    f"type at start of device string: {raw}",
                    fix="export KERAS_TORCH_DEVICE=cpu  # or cuda, cuda:1, mps, xpu; or: unset KERAS_TORCH_DEVICE"))
            elif backend.value != "torch":
                problems.append(Problem(
                    id="torch_device_other_backend", severity="info", key=var,
                    message=f"KERAS_TORCH_DEVICE={raw} is set; only the torch backend reads it "
                    f"(the backend is {backend.value!r})"))
    if keras3 and keras_installed:
        _allow_growth(environ, backend, out, problems)
    return out


def _allow_growth(environ: Mapping[str, str], backend: Value, out: dict[str, Value], problems: list[Problem]) -> None:
    """TF_FORCE_GPU_ALLOW_GROWTH: Keras 3 sets it to true at import when the backend is not tensorflow."""
    if not isinstance(backend.value, str) or backend.origin.startswith(ORIGIN_UNKNOWN):
        return
    user = environ.get(ALLOW_GROWTH)
    if backend.value != "tensorflow":
        out[ALLOW_GROWTH] = Value(value="true", origin=f"set by Keras at import (the backend is {backend.value}, "
                                  "not tensorflow)")
        if user is not None and user != "true":
            problems.append(Problem(
                id="allow_growth_overridden", severity="info", key=ALLOW_GROWTH,
                message=f"{ALLOW_GROWTH}={user!r} is replaced by 'true' when Keras is imported with the "
                f"{backend.value} backend: TensorFlow in the same process then allocates GPU memory as needed"))
    elif user is not None:
        out[ALLOW_GROWTH] = Value(value=user, origin=f"env:{ALLOW_GROWTH}")


def _depth_verdict(fs: FileState, python_version: str | None) -> tuple[bool, str]:
    """Does Keras's json parser fail on this nesting (True), or can kbackend not tell (False)?"""
    from packaging.version import InvalidVersion, Version

    py = None
    try:
        py = Version(python_version) if python_version else None
    except InvalidVersion:
        pass
    if py is not None and py < Version("3.12"):
        if fs.depth >= JSON_DEPTH_FAILS_311:
            return True, (f"Python {python_version}'s json parser recurses once per level and stops at the "
                          "recursion limit (1000 levels, fewer below the importing code's frames)")
        return False, (f"Python {python_version}'s json parser stops at 1000 levels less the frames of the code "
                       "that imports Keras (`python -c 'import keras'` fails from about 950 levels), so "
                       "whether `import keras` fails depends on where it is imported; kbackend cannot tell")
    return False, (f"whether Python {python_version or '(version unknown)'}'s json parser gets through depends "
                   "on its C recursion limit and stack size; kbackend cannot tell, and Keras fails with "
                   "RecursionError where it does not")


def _judge_values(data, rules, src, eff, problems, fail, environ, installed) -> None:  # noqa: C901 - one branch per key Keras checks
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
            if epsilon_nonsense(v):
                problems.append(Problem(
                    id="epsilon_nonsense", severity="warning", key="epsilon",
                    message=epsilon_nonsense_message(repr(v)),
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
                id="key_too_new", severity="too_new", key=k,
                message=f"`nnx_enabled` is not read yet by Keras {rules.keras_version or ''}: Keras 3.11 and "
                "later read it; this version ignores it".replace("  ", " "),
                fix="pip install -U 'keras>=3.11'  # or: kbackend unset nnx_enabled",
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
    ok, missing = installed_backend(name, installed, rules)
    if not ok:
        base_ok, _ = installed_backend(name, installed)
        extra = rules.backend_needs.get(name, ())
        module = B.get(B.get(name).install_name).module  # numpy: jax, the backend that carries it
        if base_ok:  # the registry's needs are there: what this Keras version imports besides is not
            module = next(d for d in extra if d in missing)
        err = f"ModuleNotFoundError: No module named '{module}'"
        fail(err)
        why = ""
        if any(d in missing for d in extra):
            why = f" (Keras {rules.keras_version}'s {name} backend also imports {', '.join(extra)})"
        problems.append(Problem(
            id="backend_not_installed", severity="error", key="backend",
            message=f"backend {name!r} (from {where}) is not installed: missing {', '.join(missing)}{why}",
            keras_error=err, fix=install_commands(install_what(name, missing, installed), install),
        ))
