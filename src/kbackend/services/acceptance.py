"""Can this environment use a backend? One answer for switch, pins, run, shell-env, envs and doctor.

`resolve(ctx, name)` looks the name up in the registry once; the entry travels in
the `Verdict` from there. The verdict is one of

- ``ok``: Keras accepts the name and the environment has what it needs;
- ``problem``: it would run, or may, but not as it should: an installed package
  older than this Keras needs, Keras itself missing where the backend is there;
- ``refusal``: it cannot work there: a name this Keras does not accept (with the
  name most likely meant), a legacy backend that needs another environment, a
  backend that is not installed (with the one install command of kbackend.install),
  an external backend module that does not import or lacks Keras's entries.

The order of the checks is the order of the remedies: a Keras that does not accept
the name needs another Keras; a Python the backend has no wheels for needs another
environment (installing would fail); then Keras, then a missing or too old package.
Each command decides what it does with the answer: `switch` and pins refuse a refusal
unless forced, `run` and `shell-env` refuse only a name Keras rejects (the command
may run another interpreter) and warn of the rest.

>>> python_refusal("cntk", "3.11.7") is not None
True
>>> python_refusal("cntk", "3.6.15") is None
True
>>> from kbackend.install import NO_GPU
>>> too_old("jax", "3.15.1", {"jax": "0.4.1", "jaxlib": "0.4.1"}, "/e/bin/python", gpu=NO_GPU)
"jax 0.4.1 is older than 0.4.20, the oldest Keras 3.15.1 works with (/e/bin/python -m pip install -U 'jax>=0.4.20')"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from kbackend import backends as B
from kbackend._record import field, record
from kbackend.config.judge import install_commands, install_what, installed_backend

if TYPE_CHECKING:
    from kbackend.install import GpuHint

OK, PROBLEM, REFUSAL = "ok", "problem", "refusal"

#: why a verdict is not ok (Verdict.reason).
NOT_ACCEPTED = "not_accepted"  # this Keras does not accept the name: every command refuses it
PYTHON = "python"  # the backend's package cannot be installed on this Python
EXTERNAL = "external"  # an external backend module (Keras 2.2-2.3) that does not work
EXTERNAL_UNCHECKED = "external_unchecked"  # an external backend module nobody imported (status ok)
KERAS_MISSING = "keras_missing"
NOT_INSTALLED = "not_installed"
TOO_OLD = "too_old"


@record
class Verdict:
    """What `resolve` says about one backend name in one environment."""

    name: str
    status: str
    #: the registry entry the name resolved to (None: an external module path, or not a backend).
    entry: Any = None
    reason: str | None = None
    #: for people, a sentence (a distribution name keeps its case); None when ok.
    message: str | None = None
    #: the one command line that installs what is missing, if that is the remedy.
    install: str | None = None
    #: the accepted backend `name` most likely meant, or all of them joined by " | ".
    suggestion: str | None = None
    #: the machine-readable details a refusal carries in its error's JSON.
    data: dict | None = None
    accepted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def keras_refuses(self) -> bool:
        """This Keras does not accept the name at all (as opposed to this environment lacking something)."""
        return self.reason == NOT_ACCEPTED

    def fix(self, template: str) -> str | None:
        """The command that fixes it: `template` ("kbackend switch {}") with the name meant, or the install."""
        if self.reason in (NOT_ACCEPTED, PYTHON):
            if self.suggestion is None:  # nothing resembles it: a line to paste, the choices in a comment
                accepted = self.data.get("accepted") or []
                return template.format("BACKEND") + (f"  # one of: {', '.join(accepted)}" if accepted else "")
            return template.format(self.suggestion)
        return self.install


def advise(ctx, **kw: Any) -> Callable[[str], str]:
    """The install command for a backend, "keras" or a distribution in the context's target (kbackend.install)."""
    def command(what: str) -> str:
        from kbackend.install import install_command

        return install_command(what, ctx.target.python, keras_version=ctx.keras_version, **kw)

    return command


def resolve(ctx, name: str, *, external: bool = False,
            external_check: Callable[[Any, str], list[str]] | None = None) -> Verdict:
    """Judge backend `name` for the context's environment (a `services.config.ConfigContext`).

    `external`: import an external backend module (Keras 2.2-2.3) in a child of the target
    (`external_check`, by default `check_external_backend`); otherwise it is `ok` with the
    reason EXTERNAL_UNCHECKED.
    """
    entry = B.get(name)
    accepted = list(ctx.rules.backends)
    common = dict(name=name, entry=entry, accepted=accepted)
    why = _not_accepted(ctx, name, entry)
    reason = NOT_ACCEPTED
    if why is None:
        why, reason = python_refusal(name, ctx.target.version, entry), PYTHON
    if why is not None:
        return Verdict(status=REFUSAL, reason=reason, message=_cap(why), suggestion=_meant(ctx, name),
                       data={"backend": name, "accepted": accepted}, **common)
    if entry is None:
        if not ctx.rules.external_backends:
            return Verdict(status=OK, **common)
        if not external:
            return Verdict(status=OK, reason=EXTERNAL_UNCHECKED, **common)
        missing = (external_check or check_external_backend)(ctx, name)
        if not missing:
            return Verdict(status=OK, **common)
        return Verdict(status=REFUSAL, reason=EXTERNAL, **common,
                       message=f"External backend `{name}` cannot be used: " + "; ".join(missing))
    if ctx.keras_version is None:
        return _without_keras(ctx, name, entry, common)
    gap = not_installed(name, ctx.installed, ctx.rules, advise(ctx), entry=entry)
    if gap is not None:
        missing, cmd = gap
        return Verdict(status=REFUSAL, reason=NOT_INSTALLED, install=cmd, **common,
                       message=f"The `{name}` backend is not installed in {ctx.target.python} "
                               f"(missing: {', '.join(missing)}). Install it with: {cmd}")
    old = too_old(name, ctx.keras_version, ctx.installed, ctx.target.python, entry=entry)
    if old:
        return Verdict(status=PROBLEM, reason=TOO_OLD, message=old, **common)  # it starts with a distribution name
    return Verdict(status=OK, **common)


def not_installed(name: str, installed: Mapping[str, str], rules, install: Callable[[str], str | None], *,
                  entry: Any = None) -> tuple[list[str], str | None] | None:
    """(the distributions missing, the one command installing them) when backend `name` is not installed
    for this Keras (`rules`), else None. `install` words one item (`advise`, or doctor's for its GPU)."""
    ok, missing = installed_backend(name, installed, rules, entry=entry)
    if ok:
        return None
    return missing, install_commands(install_what(name, missing, installed, entry=entry), install)


def _without_keras(ctx, name: str, entry, common: dict) -> Verdict:
    """No Keras in the target: the rules assumed are the newest Keras's, and the backend is judged the same."""
    where = ctx.target.describe()
    ok, missing = installed_backend(name, ctx.installed, entry=entry)
    if not ok:
        cmd = f"{advise(ctx)('keras')} && {advise(ctx)(name)}"
        return Verdict(status=REFUSAL, reason=KERAS_MISSING, install=cmd, **common,
                       data={"backend": name, "keras_installed": False},
                       message=f"Keras is not installed in {where}, and neither is the `{name}` backend "
                               f"(missing: {', '.join(missing)}). Install both with: {cmd}")
    cmd = advise(ctx)("keras")
    return Verdict(status=PROBLEM, reason=KERAS_MISSING, install=cmd, **common,
                   message=f"Keras is not installed in {where}: nothing there reads keras.json until it is ({cmd})")


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _meant(ctx, name: str) -> str | None:
    from kbackend.names import closest

    return closest(name, ctx.rules.backends)


def _not_accepted(ctx, name: str, entry) -> str | None:
    """Why this Keras cannot use `name`, or None when it can."""
    rules = ctx.rules
    kv = ctx.keras_version or f"{rules.keras_version or 'newest'}"
    accepted = ", ".join(rules.backends) + (", or a module path (my_package.my_backend)" if rules.external_backends else "")
    if rules.accepts_backend(name):
        if entry is not None and rules.external_backends and ctx.keras_version and not _accepted(entry, ctx.keras_version):
            # Keras 2.2-2.3 take any module path: a Keras 3 name would be imported as an external module.
            return (f"Keras {ctx.keras_version} does not accept the `{name}` backend (it needs Keras {entry.keras}): it "
                    f"would import `{name}` as an external backend module and fail with `ValueError: Invalid backend. "
                    f"Missing required entry : placeholder`. This Keras accepts: {accepted}")
        return None
    s = name.strip().lower()
    if s != name and rules.accepts_backend(s):
        return (f"Keras does not strip or lower-case backend names: it would fail with "
                f"`ValueError: Unable to import backend : {name}`. Did you mean `{s}`?")
    if not rules.backend_key_used:
        return (f"Keras {kv} is TensorFlow-only and ignores the `backend` key, so `{name}` would have no effect. "
                f"To use JAX or PyTorch, install Keras 3: {advise(ctx, upgrade=True)('keras')}")
    b = entry if s == name else B.get(s)
    if b is not None and b.legacy_note:
        return (
            f"Keras {kv} cannot use the `{s}` backend. {b.legacy_note}. It needs a separate legacy "
            f"environment with {b.needs_text}; then run "
            f"`kbackend --python /path/to/that/env/bin/python switch {s}` (see `kbackend envs`). "
            f"This Keras accepts: {accepted}."
        )
    if b is not None:
        from kbackend.install import lower_bound

        return (f"Keras {kv} does not accept the `{s}` backend (it needs Keras {b.keras}). "
                f"This Keras accepts: {accepted}. Upgrade Keras: "
                f"{advise(ctx, upgrade=True, at_least=lower_bound(b.keras))('keras')}")
    from kbackend.names import did_you_mean

    return f"`{name}` is not a backend Keras {kv} accepts. It accepts: {accepted}.{did_you_mean(name, rules.backends)}"


def _accepted(b, keras_version: str) -> bool:
    from packaging.version import InvalidVersion

    try:
        return b.accepted_by(keras_version)
    except InvalidVersion:
        return True


def python_refusal(name: str, python_version: str | None, entry: Any = False) -> str | None:
    """Why `name`'s package cannot be installed on this Python, or None (`entry`: its registry entry, if resolved).

    >>> python_refusal("cntk", "3.6.15") is None
    True
    """
    from packaging.version import InvalidVersion, Version

    b = B.get(name) if entry is False else entry
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


def too_old(name: str, keras_version: str | None, installed: Mapping[str, str], python: str = "python", *,
            gpu: GpuHint | None = None, entry: Any = False) -> str | None:
    """Why the installed package is older than this Keras needs (with the upgrade for `python`), or None."""
    from packaging.version import InvalidVersion, Version

    b = B.get(name) if entry is False else entry
    if b is None or keras_version is None:
        return None
    for dist, minimum in b.minimum_for(keras_version).items():
        dists = b.dists if dist == b.dists[0] else (dist,)
        have = next((d for d in dists if d in installed), None)
        if have is None:
            continue
        try:
            old = Version(installed[have]) < Version(minimum)
        except InvalidVersion:
            continue
        if old:
            from kbackend.install import install_command

            return (f"{have} {installed[have]} is older than {minimum}, the oldest Keras {keras_version} works with "
                    f"({install_command(name, python, keras_version=keras_version, gpu=gpu, upgrade=True)})")
    return None


def check_external_backend(ctx, module: str) -> list[str]:
    """Keras 2.2-2.3 external backend: import it in the target and look for the required entries."""
    from kbackend.workers import runner

    res = runner.run_worker(ctx.target.python, "external_backend.py", {"module": module}, timeout=60)
    if res.status != "ok":
        return [f"the check could not run ({res.status}: {res.error or ''})".strip()]
    data = res.data
    if not data.get("imported"):
        return [f"it does not import in {ctx.target.python}: {data.get('error')} (Keras: ValueError: Unable to import backend : {module})"]
    return [f"it lacks `{e}` (Keras: ValueError: Invalid backend. Missing required entry : {e})" for e in data.get("missing", [])]
