"""Doctor's checks of Keras, its configuration and the backends (the GPU ones are in gpu_checks.py).

Each check is a small pure function: `Facts` in, one `Finding` out. A check
that does not apply returns `skip` and says why.

>>> [c.id for c in CHECKS][:3]
['python', 'keras', 'config']
"""

from __future__ import annotations

import os
import shlex

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from kbackend import backends as B
from kbackend.config.judge import VARIABLE_PROBLEMS
from kbackend.config.rules import rules_for
from kbackend.doctor.check import Check
from kbackend.doctor.facts import Facts
from kbackend.doctor.model import Finding, Status
from kbackend.install import lower_bound
from kbackend.services.acceptance import not_installed

__all__ = ["CHECKS", "Check", "tf_keras_minimum"]

KERAS_CONFIG_DOC = "https://keras.io/getting_started/#configuring-your-backend"
KERAS_INSTALL_DOC = "https://keras.io/getting_started/#installing-keras-3"
TF_KERAS_DOC = "https://keras.io/getting_started/#tensorflow--keras-2-backwards-compatibility"
PLOT_MODEL_DOC = "https://keras.io/api/utils/model_plotting_utils/"

#: TensorFlow line -> the Keras it needs (FACTS.md §2: the pins of TensorFlow's own requirements).
TF_KERAS_PINS = (
    ("2.21", ">=3.12"), ("2.20", ">=3.10"), ("2.19", ">=3.5"), ("2.18", ">=3.5"),
    ("2.17", ">=3.2"), ("2.16", ">=3.0"), ("2.15", ">=2.15,<2.16"),
)
#: TF_USE_LEGACY_KERAS values TensorFlow counts as true (tensorflow/python/util/lazy_loader.py).
LEGACY_TRUE = ("true", "True", "1")
LEGACY_FALSE = ("false", "False", "0", "")
#: config problems that have a doctor check of their own (reported there, not twice).
OWNED_ELSEWHERE = ("env_overrides_backend", "pin_overrides_backend", "env_backend_empty", "backend_not_installed",
                   "keras_missing") + VARIABLE_PROBLEMS


_KERAS_VARS = ("KERAS_MAX_EPOCHS", "KERAS_MAX_STEPS_PER_EPOCH", "KERAS_NNX_ENABLED", "KERAS_TORCH_DEVICE")


def _f(id: str, status: Status, title: str, evidence: list[str] | None = None, fix: str | None = None,
       link: str | None = None) -> Finding:
    return Finding(id=id, status=status, title=title, evidence=evidence or [], fix=fix, link=link)


def _v(s: str | None) -> Version | None:
    try:
        return Version(s) if s else None
    except InvalidVersion:
        return None


def _pip(facts: Facts, *args: str) -> str:
    from kbackend.install import pip_command

    return pip_command(facts.interpreter.python, *args)


def _install(facts: Facts, what: str, **kw) -> str:
    """The install command for a backend, "keras" or a distribution (kbackend.install), for this GPU."""
    from kbackend.install import gpu_from_facts, install_command

    return install_command(what, facts.interpreter.python, keras_version=facts.keras.version,
                           gpu=gpu_from_facts(facts.gpu) if what in B.REGISTRY else None, **kw)


def _keras3(facts: Facts) -> bool:
    v = _v(facts.keras.version)
    return v is not None and v.major >= 3


def _first_installed(facts: Facts, dists) -> tuple[str | None, str | None]:
    """(distribution, version) of the first of `dists` that is installed."""
    for d in dists:
        if d in facts.installed:
            return d, facts.installed[d]
    return None, None


def _tf_version(facts: Facts) -> tuple[str | None, str | None]:
    return _first_installed(facts, B.REGISTRY["tensorflow"].dists)


def tf_keras_minimum(tf_version: str) -> str | None:
    """The Keras specifier a TensorFlow release requires.

    >>> tf_keras_minimum("2.17.1")
    '>=3.2'
    >>> tf_keras_minimum("2.14.0") is None
    True
    """
    v = _v(tf_version)
    if v is None:
        return None
    line = f"{v.major}.{v.minor}"
    for tf_line, spec in TF_KERAS_PINS:
        if line == tf_line:
            return spec
    if v >= Version(TF_KERAS_PINS[0][0]):
        return TF_KERAS_PINS[0][1]
    return None


# ---------------------------------------------------------------------- interpreter and Keras


def check_python(facts: Facts) -> Finding:
    title = "Python version supported by Keras"
    py = facts.interpreter.version
    ev = [f"{facts.interpreter.python}: Python {py} ({facts.interpreter.origin})"]
    spec = facts.keras.requires_python
    if facts.keras.version is None:
        if _v(py) is not None and _v(py) < Version("3.9"):
            return _f("python", "warn", title, ev + ["Keras 3 needs Python 3.9 or later; this interpreter can run Keras 2.x only"],
                      fix="use Python 3.11 or later (Keras 3.13+ needs it) for Keras 3")
        return _f("python", "ok", title, ev)
    try:
        ok = spec is None or Version(py) in SpecifierSet(spec)
    except (InvalidSpecifier, InvalidVersion):
        return _f("python", "skip", title, ev + [f"cannot compare with Keras's Requires-Python {spec!r}"])
    if not ok:
        return _f("python", "error", title,
                  ev + [f"Keras {facts.keras.version} requires Python {spec}; it was installed for another interpreter "
                        "or with --ignore-requires-python"],
                  fix=_pip(facts, "--force-reinstall", "keras"), link=KERAS_INSTALL_DOC)
    return _f("python", "ok", title, ev + ([f"Keras {facts.keras.version} requires Python {spec}"] if spec else []))


def check_keras(facts: Facts) -> Finding:
    title = "Keras installed"
    k = facts.keras
    if k.version is None:
        return _f("keras", "error", title, [f"no keras distribution in {facts.interpreter.python}"],
                  fix=_install(facts, "keras"), link=KERAS_INSTALL_DOC)
    ev = [f"{k.dist or 'keras'} {k.version} (config rules: Keras {k.rules_line})"]
    if not _keras3(facts):
        ev.append("Keras 2.x: multi-backend Keras 3 (JAX, PyTorch, NumPy, OpenVINO) needs "
                  + _install(facts, "keras", upgrade=True))
    return _f("keras", "ok", title, ev)


def check_config(facts: Facts) -> Finding:
    title = "keras.json valid for the installed Keras"
    c = facts.config
    if facts.keras.version is None:
        return _f("config", "skip", title, [f"Keras is not installed; {c.config_path} is read by Keras only"])
    probs = [p for p in c.problems if p.id not in OWNED_ELSEWHERE]
    ev = [f"{c.config_path}: {c.file_status}"]
    for p in probs:
        line = f"{p.severity}: {p.message}"
        if p.keras_error:
            line += f" (Keras raises {p.keras_error})"
        ev.append(line)
    fails = [p for p in probs if p.severity in ("error", "ignored", "legacy", "too_new", "unknown")]
    if fails:
        return _f("config", "error", title, ev, fix=next((p.fix for p in fails if p.fix), None), link=KERAS_CONFIG_DOC)
    warns = [p for p in probs if p.severity == "warning"]
    if warns:
        return _f("config", "warn", title, ev, fix=next((p.fix for p in warns if p.fix), None), link=KERAS_CONFIG_DOC)
    return _f("config", "ok", title, ev)


def check_keras_backend_env(facts: Facts) -> Finding:
    title = "KERAS_BACKEND override"
    # facts.environ is the user's: a KERAS_BACKEND an environment pin set in kbackend's own process is not
    # in it (envs/pin.py); the pin itself is one of the config's layers.
    kb = facts.environ.get("KERAS_BACKEND")
    pin = [p.message for p in facts.config.problems if p.id == "pin_overrides_backend"]
    eff = facts.config.effective.get("backend")
    pinned = [eff.origin.removeprefix("env-pin:")] if eff is not None and eff.origin.startswith("env-pin:") else []
    if kb is None or kb == "":
        ev = ["KERAS_BACKEND is not set" if kb is None else "KERAS_BACKEND is set but empty: Keras ignores it"]
        if pinned:
            ev[0] += f": the environment pin {pinned[0]} decides (backend {eff.value!r})"
            ev += pin
        elif kb is None:
            ev[0] += ": keras.json decides"
        return _f("keras-backend-env", "ok", title, ev)
    over = [p for p in facts.config.problems if p.id == "env_overrides_backend"]
    if over:
        return _f("keras-backend-env", "warn", title,
                  [over[0].message, "every Keras program in this shell uses it; the file is not changed"],
                  fix=over[0].fix, link=KERAS_CONFIG_DOC)
    # env_overrides_backend names every layer (keras.json, the pin) KERAS_BACKEND differs from.
    return _f("keras-backend-env", "ok", title, [f"KERAS_BACKEND={kb} does not contradict keras.json or a pin"])


def check_keras_env(facts: Facts) -> Finding:
    title = "Keras environment variables"
    c = facts.config
    variables = getattr(c, "variables", None) or {}
    if facts.keras.version is None:
        return _f("keras-env", "skip", title, ["Keras is not installed"])
    ev = [f"{k}={v.value if not isinstance(v.value, bool) else str(v.value).lower()} ({v.origin})"
          for k, v in variables.items()]
    probs = [p for p in c.problems if p.id in VARIABLE_PROBLEMS]
    name, _ = facts.configured_backend()
    status: Status = "ok"
    for p in probs:
        line = f"{p.severity}: {p.message}" + (f" (Keras raises {p.keras_error})" if p.keras_error else "")
        ev.append(line)
        if p.severity == "error" or (p.id == "torch_device_invalid" and name == "torch"):
            status = "error"
        elif p.severity == "warning" and status != "error":
            status = "warn"
    dev = variables.get("KERAS_TORCH_DEVICE")
    torch = facts.backend("torch")
    if (dev is not None and isinstance(dev.value, str) and dev.value.split(":")[0] == "cuda" and torch is not None
            and torch.status == "ok"):
        if not torch.built_cuda:
            status = "error" if name == "torch" else ("warn" if status == "ok" else status)
            ev.append(f"KERAS_TORCH_DEVICE={dev.value}, but torch {torch.version or ''} is a CPU build: with the torch "
                      "backend the first tensor raises AssertionError: Torch not compiled with CUDA enabled")
        elif not torch.gpu_devices:
            status = "error" if name == "torch" else ("warn" if status == "ok" else status)
            ev.append(f"KERAS_TORCH_DEVICE={dev.value}, but torch sees no GPU: with the torch backend the first "
                      "tensor fails")
    if not ev:
        return _f("keras-env", "ok", title, [f"none of {', '.join(sorted(_KERAS_VARS))} is set"])
    fix = next((p.fix for p in probs if p.fix and p.severity in ("error", "warning")), None)
    if fix is None and dev is not None and status != "ok":
        fix = "export KERAS_TORCH_DEVICE=cpu  # or: unset KERAS_TORCH_DEVICE"
    return _f("keras-env", status, title, ev, fix=fix if status != "ok" else None,
              link=KERAS_CONFIG_DOC if status != "ok" else None)


def check_backend_elsewhere(facts: Facts) -> Finding:
    title = "KERAS_BACKEND set by conda or a Jupyter kernel"
    sets = [e for e in facts.elsewhere if e.get("name") == "KERAS_BACKEND"]
    if not sets:
        return _f("backend-elsewhere", "ok", title,
                  ["no conda activate.d script, conda env config var or Jupyter kernel of "
                   f"{facts.interpreter.python} sets KERAS_BACKEND"])
    base = facts.base_backend
    ev = [f"KERAS_BACKEND={e['value']} {e['where']}" for e in sets]
    values = {e["value"] for e in sets}
    against = [e for e in sets if base and e["value"] != base[0] and e["value"] != ""]
    shell = facts.environ.get("KERAS_BACKEND")
    if shell and any(e["kind"] != "kernel" and e["value"] == shell for e in sets):
        ev.append(f"this shell's KERAS_BACKEND={shell} matches the conda activation: it comes from there")
    if not against and len(values) == 1:
        return _f("backend-elsewhere", "ok", title,
                  ev + ([f"the same as backend {base[0]!r} from {base[1]}"] if base else []))
    if base:
        ev.append(f"keras.json's choice: backend {base[0]!r} from {base[1]}")
    if len(values) > 1:
        ev.append("they disagree with each other: the backend depends on how Python is started")
    e = (against or sets)[0]
    if e["kind"] == "kernel":
        fix = f"remove KERAS_BACKEND from the \"env\" of {e['path']}"
    elif e["kind"] == "conda_env_vars":
        prefix = os.path.dirname(os.path.dirname(e["path"]))
        fix = f"conda env config vars unset KERAS_BACKEND -p {shlex.quote(prefix)}"
    else:
        fix = f"remove the KERAS_BACKEND line from {e['path']}"
    fix += f"  # or make keras.json agree: kbackend switch {e['value']}"
    return _f("backend-elsewhere", "warn", title,
              ev + ["Keras uses it over keras.json wherever it applies (KERAS_BACKEND wins over the file)"],
              fix=fix, link=KERAS_CONFIG_DOC)


# ---------------------------------------------------------------------- backends


def check_backend_importable(facts: Facts) -> Finding:
    title = "Configured backend installed and importable"
    name, origin = facts.configured_backend()
    if facts.keras.version is None:
        return _f("backend-importable", "skip", title, ["Keras is not installed"])
    if not isinstance(name, str):
        return _f("backend-importable", "skip", title, [f"backend {name!r} is not a name (see the config check)"])
    b = B.get(name)
    if b is None:
        return _f("backend-importable", "skip", title,
                  [f"{name!r} (from {origin}) is not a backend kbackend knows; see the config check"])
    where = f"{name} (from {origin})"
    bf = facts.backend(name)
    gap = not_installed(name, facts.installed, rules_for(facts.keras.version), lambda w: _install(facts, w),
                        entry=b)
    if bf is None or gap is not None:
        missing, cmd = gap or ([], None)  # installed, but the probe has no word on it
        return _f("backend-importable", "error", title,
                  [f"backend {where} is not installed in {facts.interpreter.python}: missing {', '.join(missing)}",
                   "`import keras` fails with ModuleNotFoundError"],
                  fix=cmd, link=KERAS_INSTALL_DOC)
    ver = f"{name} {bf.version}" if bf.version else name
    if bf.status == "not_run":
        return _f("backend-importable", "skip", title, [f"{ver} is installed; its import was not probed"])
    strays = _strays(bf)
    if strays:
        said = "imports" if bf.status == "ok" else f"fails ({bf.status}: {bf.error or 'no detail'})"
        return _f("backend-importable", "error", title,
                  [f"backend {name} {said}, but not from its installed distributions:"]
                  + [line for m, o in strays for line in _stray_lines(m, o)] + _origin_lines(bf, only_ok=True)
                  + (_log_tail(bf.log) if bf.status != "ok" else []),
                  fix=_stray_fix(*(o for _, o in strays)))
    if bf.status == "ok":
        ev = [f"{ver} with Keras {bf.keras_version or facts.keras.version} imports in {bf.import_s or 0:.1f} s"
              + (" (cached probe)" if bf.cached else ""),
              "devices: " + (", ".join(bf.devices) or "none")] + _origin_lines(bf)
        return _f("backend-importable", "ok", title, ev)
    return _f("backend-importable", "error", title,
              [f"backend {where}: the probe child said {bf.status}: {bf.error or 'no detail'}"]
              + _phase_lines(bf) + _log_tail(bf.log),
              fix=_fix_for_failure(facts, name, bf.status, phase=bf.phase), link=KERAS_INSTALL_DOC)


#: origin verdicts (child/probe_backend.py) of a module that comes from its installed distribution.
FROM_DIST = ("dist", "editable", "dist_location", "site")


def _strays(bf) -> list[tuple[str, dict]]:
    """(module, origin) of each module the probe imported from elsewhere than its distribution."""
    return [(m, o) for m, o in sorted(bf.origins.items(), key=lambda mo: (mo[0] != "keras", mo[0]))
            if isinstance(o, dict) and o.get("verdict") == "not_from_dist"]


def _origin_lines(bf, *, only_ok: bool = False) -> list[str]:
    """Where each module came from: "keras: /venv/.../site-packages/keras (keras 3.15.1)"."""
    out = []
    for m, o in sorted(bf.origins.items(), key=lambda mo: (mo[0] != "keras", mo[0])):
        if not isinstance(o, dict) or (only_ok and o.get("verdict") not in FROM_DIST):
            continue
        if o.get("verdict") == "not_from_dist":
            continue
        dist = f" ({o['dist']} {o.get('dist_version') or ''})".replace(" )", ")") if o.get("dist") else ""
        out.append(f"{m} from {o.get('thing') or o.get('file') or '?'}{dist}")
    return out


def _stray_lines(m: str, o: dict) -> list[str]:
    """What `import m` loads (and how its directory got on sys.path), instead of what."""
    thing = o.get("thing") or o.get("file") or "?"
    via = o.get("via")
    how = " (on PYTHONPATH)" if via == "PYTHONPATH" else (f" (added by {via})" if via else "")
    said = o.get("version")
    if o.get("dist"):  # where the installed one lives is in the facts (dist_location)
        inst = f"{o['dist']} {o.get('dist_version') or ''}".strip()
        line = f"`import {m}` loads {thing}{how}, instead of the installed {inst}"
        if said and said != o.get("dist_version"):
            line += f" (it says it is {said})"
    else:
        line = f"`import {m}` loads {thing}{how}, which no installed distribution provides"
    return [line]


def _stray_fix(*origins: dict) -> str:
    """Remove or rename each stray; or undo what put its directory on sys.path."""
    things = list(dict.fromkeys(o.get("thing") or o.get("file") or "the stray file" for o in origins))
    vias = list(dict.fromkeys(o.get("via") for o in origins if o.get("via")))
    fix = f"remove or rename {', '.join(things)}"
    if "PYTHONPATH" in vias:
        fix += " / unset PYTHONPATH"
    for via in vias:
        if via != "PYTHONPATH":
            fix += f" / remove its directory from {via}"
    return fix


def _phase_lines(bf) -> list[str]:
    """What a timeout's step says about where the time went."""
    if bf.status != "timeout":
        return []
    if bf.phase is None:
        return ["Python itself never began the probe: its start-up (sitecustomize, .pth files) hangs"]
    if bf.phase.startswith("importing "):
        return [f"it hung {bf.phase}; a first import from a cold or network disk can also take this long "
                "(kbackend doctor --timeout 300)"]
    return [f"the imports had finished: it hung {bf.phase}"]


def _log_tail(log: str, n: int = 4) -> list[str]:
    lines = [ln.rstrip() for ln in log.strip().splitlines() if ln.strip()]
    return [f"log: {ln}" for ln in lines[-n:]]


def _fix_for_failure(facts: Facts, name: str, status: str, *, phase: str | None = None) -> str:
    if status == "timeout":
        return _timeout_fix(facts, name, phase)
    return _install(facts, name, force=True)


def _not_installed_hints(facts: Facts, name) -> list[str]:
    """With `doctor --all`: how to install each Keras 3 backend this Keras accepts that is not installed."""
    kv = _v(facts.keras.version)
    if kv is None or kv.major < 3:
        return []
    return [f"{b.name} is not installed: {_install(facts, b.name)}" for b in facts.backends
            if b.name != name and not b.installed and b.name in B.KERAS3_ORDER and B.REGISTRY[b.name].accepted_by(kv)]


def _timeout_fix(facts: Facts, name: str, phase: str | None) -> str:
    """The command that shows where a probe that timed out hangs, for the step it hung in."""
    py = facts.interpreter.python
    if phase is None:  # the child never began the probe: Python's own start-up hangs
        return f"{py} -X importtime -c pass  # a sitecustomize or .pth file that hangs at start-up?"
    if phase == "importing keras":
        return f"KERAS_BACKEND={name} {py} -X importtime -c 'import keras'  # the last lines show where it hangs"
    if phase.startswith("importing "):
        module = phase.split(" ", 1)[1]
        return f"{py} -X importtime -c 'import {module}'  # the last lines show where it hangs"
    if phase == "listing devices":
        return "CUDA_VISIBLE_DEVICES= kbackend doctor --refresh  # passes? then a GPU or its driver hangs"
    return "kbackend doctor --refresh --timeout 300  # a slow machine, or one that hangs?"


def check_other_backends(facts: Facts) -> Finding:
    title = "Other installed backends importable"
    name, _ = facts.configured_backend()
    others = [b for b in facts.backends if b.name != name and b.installed]
    hints = _not_installed_hints(facts, name)
    if not others:
        return _f("other-backends", "skip", title, ["no other backend is installed"] + hints)
    probed = [b for b in others if b.status != "not_run"]
    if not probed:
        return _f("other-backends", "skip", title, ["not probed"] + hints)
    bad = [b for b in probed if b.status != "ok"]
    ev = ["; ".join(f"{b.name} {b.version or ''} {b.status}" + (f" in {b.import_s:.1f} s" if b.import_s is not None else "")
                    for b in probed)]
    # Keras's own origin is the configured backend's check, unless that backend was not probed.
    configured = facts.backend(name) if isinstance(name, str) else None
    keras_here = configured is None or configured.status == "not_run"
    strays: dict[tuple, tuple[str, dict]] = {}
    for b in probed:
        for m, o in _strays(b):
            if m != "keras" or keras_here:
                strays.setdefault((m, o.get("thing")), (m, o))
    if bad or strays:
        lines = [f"{b.name}: {b.status}: {b.error or 'no detail'}" for b in bad]
        lines += [line for m, o in strays.values() for line in _stray_lines(m, o)]
        first = bad[0] if bad else None
        fix = (_stray_fix(*(o for _, o in strays.values())) if strays
               else _fix_for_failure(facts, first.name, first.status, phase=first.phase))
        return _f("other-backends", "warn", title,
                  ev + lines + (_log_tail(first.log, 3) if first else []) + hints, fix=fix)
    return _f("other-backends", "ok", title, ev + hints)


def _minimum_problems(facts: Facts) -> list[tuple[str, str]]:
    """(backend name, sentence) for each installed backend older than this Keras needs."""
    kv = facts.keras.version
    out = []
    for name in B.KERAS3_ORDER:
        b = B.REGISTRY[name]
        for dist, minimum in b.minimum_for(kv).items():
            # a minimum on the backend's main distribution holds for any of its providers (tensorflow-cpu)
            have, version = _first_installed(facts, b.dists if dist in b.dists else (dist,))
            hv, mv = _v(version), _v(minimum)
            if hv is not None and mv is not None and hv < mv:
                out.append((name, f"{have} {version} is older than {minimum}, the minimum for Keras {kv}"))
    return out


def check_versions(facts: Facts) -> Finding:
    title = "Keras and backend versions compatible"
    kv = facts.keras.version
    if kv is None:
        return _f("versions", "skip", title, ["Keras is not installed"])
    if not _keras3(facts):
        return _f("versions", "skip", title, [f"Keras {kv} is a TensorFlow-only 2.x line"])
    name, _ = facts.configured_backend()
    probs = _minimum_problems(facts)
    tf_dist, tf_ver = _tf_version(facts)
    if tf_ver:
        spec = tf_keras_minimum(tf_ver)
        if spec and _v(kv) is not None and _v(kv) not in SpecifierSet(spec):
            probs.append(("tensorflow", f"{tf_dist} {tf_ver} requires keras{spec}; Keras {kv} is installed"))
    # installed Keras 3 backends this Keras is too old for
    too_old = [b for b in B.REGISTRY.values()
               if b.keras3 and any(d in facts.installed for d in b.dists) and not b.accepted_by(kv)]
    for b in too_old:
        probs.append((b.name, f"Keras {kv} has no {b.name} backend (it needs Keras {b.since} or later)"))
    too_old_names = {b.name for b in too_old}
    if not probs:
        ev = [f"Keras {kv}"] + [f"{b.name} {b.version}" for b in facts.backends if b.installed and b.version]
        return _f("versions", "ok", title, [", ".join(ev)])
    status: Status = "error" if any(n == name for n, _ in probs) else "warn"
    keras_needs = [spec for n, s in probs if "requires keras" in s] + \
        [lower_bound(B.REGISTRY[n].keras) for n, s in probs if n in too_old_names]
    whats = dict.fromkeys("keras" if "requires keras" in s or n in too_old_names else n for n, s in probs)
    # one command per package: torch's wheel index must not become the index of the others
    fix = " && ".join(_install(facts, w, upgrade=True, **({"at_least": keras_needs[0]} if w == "keras" else {}))
                      for w in whats)
    return _f("versions", status, title, [s for _, s in probs], fix=fix, link=KERAS_INSTALL_DOC)


def check_backend_trains(facts: Facts) -> Finding:
    title = "Configured backend: training or inference only"
    name, origin = facts.configured_backend()
    if not isinstance(name, str) or B.get(name) is None:
        return _f("backend-trains", "skip", title, [f"backend {name!r} is not one kbackend knows"])
    note = B.inference_only(name)
    if note:
        return _f("backend-trains", "ok", title, [f"{note} (backend {name} from {origin})"])
    return _f("backend-trains", "ok", title, [f"{B.get(name).name} trains (model.fit) and runs inference"])


def check_numpy_needs_jax(facts: Facts) -> Finding:
    title = "The numpy backend's need for jax"
    name, origin = facts.configured_backend()
    if name != "numpy":
        return _f("numpy-needs-jax", "skip", title, [f"the backend is {name}, not numpy"])
    missing = [d for d in B.REGISTRY["numpy"].also_needs if d not in facts.installed]
    if missing:
        return _f("numpy-needs-jax", "error", title,
                  [f"backend numpy (from {origin}): Keras's numpy backend imports jax, and {', '.join(missing)} "
                   "is not installed", "`import keras` fails with ModuleNotFoundError: No module named 'jax'"],
                  fix=_install(facts, "numpy"))
    return _f("numpy-needs-jax", "ok", title,
              [f"jax {facts.installed['jax']} and jaxlib {facts.installed['jaxlib']} are installed",
               "the numpy backend is inference only: model.fit raises NotImplementedError"])


# ---------------------------------------------------------------------- TensorFlow


def _legacy_on(facts: Facts) -> bool:
    return facts.environ.get("TF_USE_LEGACY_KERAS") in LEGACY_TRUE


def check_tf_legacy_keras(facts: Facts) -> Finding:
    title = "TF_USE_LEGACY_KERAS and tf_keras"
    val = facts.environ.get("TF_USE_LEGACY_KERAS")
    tf_dist, tf_ver = _tf_version(facts)
    if val is None:
        return _f("tf-legacy-keras", "skip", title, ["TF_USE_LEGACY_KERAS is not set"])
    if tf_ver is None:
        return _f("tf-legacy-keras", "skip", title, [f"TF_USE_LEGACY_KERAS={val} is set but TensorFlow is not installed"])
    if val not in LEGACY_TRUE:
        if val in LEGACY_FALSE:
            return _f("tf-legacy-keras", "ok", title, [f"TF_USE_LEGACY_KERAS={val!r}: off, tf.keras is Keras 3"])
        return _f("tf-legacy-keras", "warn", title,
                  [f"TF_USE_LEGACY_KERAS={val!r} does not count: TensorFlow accepts only true, True or 1, "
                   "so tf.keras is still Keras 3"],
                  fix="export TF_USE_LEGACY_KERAS=1", link=TF_KERAS_DOC)
    tk = facts.installed.get("tf-keras")
    tv = _v(tf_ver)
    want = f"tf-keras~={tv.major}.{tv.minor}.0" if tv else "tf-keras"
    if tk is None:
        return _f("tf-legacy-keras", "error", title,
                  [f"TF_USE_LEGACY_KERAS={val} makes tf.keras load tf_keras, which is not installed",
                   "`tf.keras.layers` raises ImportError: Keras cannot be imported. Check that it is installed."],
                  fix=_pip(facts, want), link=TF_KERAS_DOC)
    kv = _v(tk)
    ev = [f"TF_USE_LEGACY_KERAS={val}: tf.keras is tf_keras {tk} (Keras 2); `import keras` is still "
          f"Keras {facts.keras.version or 'not installed'}"]
    if tv and kv and (kv.major, kv.minor) != (tv.major, tv.minor):
        return _f("tf-legacy-keras", "warn", title,
                  ev + [f"tf_keras {tk} does not match {tf_dist} {tf_ver}: install the same minor version"],
                  fix=_pip(facts, want), link=TF_KERAS_DOC)
    return _f("tf-legacy-keras", "ok", title, ev)


def check_tf_import_backend(facts: Facts) -> Finding:
    title = "`import tensorflow` survives the configured backend"
    tf_dist, tf_ver = _tf_version(facts)
    if tf_ver is None:
        return _f("tf-import-backend", "skip", title, ["TensorFlow is not installed"])
    tv = _v(tf_ver)
    if tv is None or tv < Version("2.16"):
        return _f("tf-import-backend", "skip", title, [f"{tf_dist} {tf_ver} does not import Keras 3"])
    if not _keras3(facts):
        return _f("tf-import-backend", "skip", title, ["Keras 3 is not installed"])
    if _legacy_on(facts):
        return _f("tf-import-backend", "skip", title,
                  [f"TF_USE_LEGACY_KERAS={facts.environ['TF_USE_LEGACY_KERAS']}: TensorFlow loads tf_keras, not Keras 3"])
    name, origin = facts.configured_backend()
    ev = [f"{tf_dist} {tf_ver} imports Keras {facts.keras.version} at `import tensorflow`, "
          f"so Keras's backend {name!r} (from {origin}) is imported too"]
    why = None
    if not isinstance(name, str) or name not in B.KERAS3_ORDER:
        why = f"ValueError: Unable to import backend : {name}"
    else:
        bf = facts.backend(name)
        if bf is None or not bf.installed:
            why = f"ModuleNotFoundError: the {name} backend is not installed"
        elif bf.status == "timeout":
            return _tf_import_timeout(facts, name, bf, ev)
        elif bf.status not in ("ok", "not_run"):
            why = f"{bf.status}: {bf.error}"
    if why:
        fix = "kbackend switch tensorflow" if origin != "env:KERAS_BACKEND" else "unset KERAS_BACKEND"
        return _f("tf-import-backend", "error", title,
                  ev + [f"`import tensorflow` fails: {why}",
                        "even programs that never use Keras break; TF_USE_LEGACY_KERAS=1 avoids it"],
                  fix=fix, link=KERAS_CONFIG_DOC)
    return _f("tf-import-backend", "ok", title, ev)


def _tf_import_timeout(facts: Facts, name: str, bf, ev: list[str]) -> Finding:
    """The configured backend's probe timed out: say what hung, never that `import tensorflow` fails."""
    title = "`import tensorflow` survives the configured backend"
    step = bf.phase
    if step is not None and not step.startswith("importing "):
        return _f("tf-import-backend", "ok", title,
                  ev + [f"the probe of {name} imported it and Keras, then hung {step}: "
                        "`import tensorflow` does not do that"])
    what = f"hung {step}" if step else "never began (Python's start-up hung)"
    return _f("tf-import-backend", "warn", title,
              ev + [f"the probe of {name} timed out: it {what}; `import tensorflow` imports the same "
                    "modules and may hang there too (not tested apart)"],
              fix=_timeout_fix(facts, name, step))


def check_channels_first_cpu(facts: Facts) -> Finding:
    title = "channels_first with TensorFlow on a CPU-only machine"
    fmt = facts.config.effective.get("image_data_format")
    name, _ = facts.configured_backend()
    if fmt is None or fmt.value != "channels_first":
        return _f("channels-first-cpu", "ok", title,
                  [f"image_data_format is {fmt.value if fmt else 'channels_last'}"])
    if name != "tensorflow":
        return _f("channels-first-cpu", "skip", title, [f"the backend is {name}, which runs channels_first on CPU"])
    tf = facts.backend("tensorflow")
    gpus = list(facts.gpu.gpus) + (tf.gpu_devices if tf else [])
    if tf is not None and tf.gpu_devices:
        return _f("channels-first-cpu", "ok", title,
                  [f"channels_first (from {fmt.origin}) with TensorFlow on GPU: {', '.join(tf.gpu_devices)}"])
    ev = [f"image_data_format=channels_first (from {fmt.origin}) with the tensorflow backend and "
          + ("no GPU visible to TensorFlow" if gpus else "no GPU")]
    nchw = (tf.extra.get("cpu_nchw_conv") if tf is not None else None)
    onednn_off = facts.environ.get("TF_ENABLE_ONEDNN_OPTS") in ("0", "false", "False")
    fix = "kbackend set image_data_format channels_last"
    if nchw is False or (nchw is None and onednn_off):
        detail = tf.extra.get("cpu_nchw_conv_error") if tf is not None else None
        return _f("channels-first-cpu", "error", title,
                  ev + ["TensorFlow's stock CPU kernels support only NHWC: Conv2D and MaxPooling2D fail with "
                        "'The Conv2D op currently only supports the NHWC tensor format on the CPU'"]
                  + ([f"probe: {detail}"] if detail else [])
                  + (["TF_ENABLE_ONEDNN_OPTS=0 turns off the oneDNN kernels that run NCHW"] if onednn_off else []),
                  fix=fix)
    return _f("channels-first-cpu", "warn", title,
              ev + ["NCHW convolutions run on CPU only through TensorFlow's oneDNN kernels (probe: "
                    + ("a channels_first Conv2D ran" if nchw else "not probed") + "); they are slower than "
                    "channels_last and fail with TF_ENABLE_ONEDNN_OPTS=0 or on builds without oneDNN"],
              fix=fix)


# ---------------------------------------------------------------------- optional extras


def check_h5py(facts: Facts) -> Finding:
    title = "h5py for .h5 model files"
    if facts.keras.version is None:
        return _f("h5py", "skip", title, ["Keras is not installed"])
    if "h5py" in facts.installed:
        return _f("h5py", "ok", title, [f"h5py {facts.installed['h5py']}"])
    return _f("h5py", "warn", title,
              ["h5py is not installed: saving or loading .h5 / .weights.h5 files fails with ImportError "
               "(Keras 3 lists h5py as a requirement: the install is incomplete)"],
              fix=_install(facts, "h5py"))


def check_plot_model(facts: Facts) -> Finding:
    title = "pydot and graphviz for keras.utils.plot_model"
    if facts.keras.version is None:
        return _f("plot-model", "skip", title, ["Keras is not installed"])
    pydot = facts.installed.get("pydot") or facts.installed.get("pydotplus")
    dot = facts.programs.get("dot")
    if not pydot and not dot:
        return _f("plot-model", "skip", title,
                  ["neither pydot nor graphviz is installed (optional: only keras.utils.plot_model needs them)"])
    ev = [f"pydot: {pydot or 'not installed'}", f"graphviz dot: {dot or 'not on PATH'}"]
    if not pydot:
        return _f("plot-model", "warn", title, ev + ["plot_model raises ImportError without pydot"],
                  fix=_install(facts, "pydot"), link=PLOT_MODEL_DOC)
    if not dot:
        return _f("plot-model", "warn", title,
                  ev + ["plot_model raises ImportError: You must install pydot and graphviz (the `dot` program)"],
                  fix="sudo apt-get install graphviz  # macOS: brew install graphviz; conda: conda install graphviz",
                  link=PLOT_MODEL_DOC)
    return _f("plot-model", "ok", title, ev)


CHECKS: list[Check] = [
    Check("python", "Python version supported by Keras", check_python),
    Check("keras", "Keras installed", check_keras),
    Check("config", "keras.json valid for the installed Keras", check_config),
    Check("keras-backend-env", "KERAS_BACKEND override", check_keras_backend_env),
    Check("keras-env", "Keras environment variables", check_keras_env),
    Check("backend-elsewhere", "KERAS_BACKEND set by conda or a Jupyter kernel", check_backend_elsewhere),
    Check("backend-importable", "Configured backend installed and importable", check_backend_importable, ("backend",)),
    Check("other-backends", "Other installed backends importable", check_other_backends, ("backends",)),
    Check("versions", "Keras and backend versions compatible", check_versions),
    Check("backend-trains", "Configured backend: training or inference only", check_backend_trains),
    Check("numpy-needs-jax", "The numpy backend's need for jax", check_numpy_needs_jax),
    Check("tf-legacy-keras", "TF_USE_LEGACY_KERAS and tf_keras", check_tf_legacy_keras),
    Check("tf-import-backend", "`import tensorflow` survives the configured backend", check_tf_import_backend,
          ("backend",)),
    Check("channels-first-cpu", "channels_first with TensorFlow on a CPU-only machine", check_channels_first_cpu,
          ("backend", "gpu")),
    Check("h5py", "h5py for .h5 model files", check_h5py),
    Check("plot-model", "pydot and graphviz for keras.utils.plot_model", check_plot_model),
]
