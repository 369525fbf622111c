"""`doctor --fix`: the fixes of failing checks that kbackend can carry out itself, as a plan of steps.

A step is one command of a finding's fix: `kbackend switch NAME` (keras.json), `kbackend switch
--scope env --unset` (remove the environment pin), or `PYTHON -m pip install|uninstall ...` with the
target's own interpreter (install the right wheel into the target environment). Anything else (a
driver, a shell variable, a file to edit) stays in the plan as a step for the user. Nothing is
applied without `--yes`; each step is printed with its command before it runs.

>>> [(s.kind, s.command) for s in plan_steps("backend-importable", "/env/bin/python -m pip install 'jax>=0.4.20'", "/env/bin/python")]
[('pip', "/env/bin/python -m pip install 'jax>=0.4.20'")]
>>> [s.kind for s in plan_steps("x", "kbackend switch tensorflow  # or: unset KERAS_BACKEND", "/p")]
['switch']
>>> [s.kind for s in plan_steps("x", "unset KERAS_BACKEND", "/p")]
['manual']
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence

from kbackend._record import Model

#: the kinds of step kbackend applies itself.
APPLIED = ("switch", "unpin", "pip")


class FixStep(Model):
    check: str
    #: switch, unpin, pip (applied with --yes) or manual (shown only).
    kind: str
    command: str
    #: after --yes: ok, failed (with the exit status or error), or None (not applied).
    outcome: str | None = None
    detail: str | None = None


def _words(cmd: str) -> list[str] | None:
    try:
        return shlex.split(cmd, comments=True)
    except ValueError:
        return None


def plan_steps(check: str, fix: str, python: str) -> list[FixStep]:
    """The steps of one finding's fix (its `&&`-joined commands; `; ` separates alternatives: the first)."""
    first = fix.split("; ")[0]
    out = []
    for part in first.split(" && "):
        cmd = part.split("  #", 1)[0].strip()
        w = _words(cmd)
        kind = "manual"
        if w and w[:2] == ["kbackend", "switch"]:
            kind = "unpin" if "--unset" in w else ("switch" if len(w) == 3 else "manual")
        elif w and len(w) >= 4 and w[0] == python and w[1:3] == ["-m", "pip"] and w[3] in ("install", "uninstall"):
            kind = "pip"
        out.append(FixStep(check=check, kind=kind, command=cmd if kind != "manual" else part.strip()))
    return out


def plan(findings: Sequence, python: str) -> list[FixStep]:
    """The steps for every failing finding (errors first), each command once."""
    seen: set[str] = set()
    steps: list[FixStep] = []
    order = {"error": 0, "crashed": 0, "warn": 1}
    for f in sorted((f for f in findings if f.status in order and f.fix), key=lambda f: order[f.status]):
        for s in plan_steps(f.id, f.fix, python):
            if s.command not in seen:
                seen.add(s.command)
                steps.append(s)
    return steps


def apply(steps: Sequence[FixStep], ctx, *, echo=None) -> list[FixStep]:
    """Carry out the steps kbackend can (in order; a failed step stops the ones after it)."""
    done: list[FixStep] = []
    stopped = False
    for s in steps:
        if s.kind not in APPLIED or stopped:
            done.append(s)
            continue
        if echo:
            echo(s)
        try:
            if s.kind == "switch":
                from kbackend.services.config import switch

                switch(ctx, _words(s.command)[2])
            elif s.kind == "unpin":
                from kbackend.services.pinning import switch_env

                switch_env(ctx, None, unset=True)
            else:
                from kbackend import _procs

                p = _procs.run(_words(s.command), timeout=3600, stdin=subprocess.DEVNULL, merge_stderr=True)
                if p.returncode != 0:
                    tail = (p.stdout or b"").decode("utf-8", "replace").strip().splitlines()[-3:]
                    raise RuntimeError(f"exit status {p.returncode}" + (": " + " / ".join(tail) if tail else ""))
            done.append(s.model_copy(update={"outcome": "ok"}))
        except Exception as e:  # noqa: BLE001 - a failed step is reported, the plan stops there
            msg = getattr(e, "message", None) or str(e)
            done.append(s.model_copy(update={"outcome": "failed", "detail": f"{type(e).__name__}: {msg}"}))
            stopped = True
    return done
