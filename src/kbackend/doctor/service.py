"""Doctor: gather the facts (probes in children, cached), run the checks, decide the exit code.

`collect` is the only function that starts processes; `run_checks` and
`diagnose` are pure. The GPU probe is injected (`gpu_probe=`) so tests can
hand canned facts to the real code.
"""

from __future__ import annotations

import json
import os
import shutil
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kbackend import _procs
from kbackend._record import Model
from kbackend.services.config import CheckResult, ConfigContext, check as config_check
from kbackend.doctor import probe as P
from kbackend.doctor.cache import ProbeCache, driver_fingerprint, probe_key, sys_path_fingerprint
from kbackend.doctor.check import Check
from kbackend.doctor.checks import CHECKS as BASE_CHECKS
from kbackend.doctor.facts import BackendFacts, Facts, InterpreterFacts, KerasFacts
from kbackend.doctor.model import Finding
from kbackend.doctor.system import system_facts
from kbackend.envs import installed as inst
from kbackend.envs.target import Target
from kbackend.gpu.model import GpuFacts

#: programs on PATH that checks look for.
PROGRAMS = ("dot",)
FAILING = ("error", "crashed")


def all_checks() -> list[Check]:
    """Every doctor check: Keras and backends first, then the GPU ones."""
    from kbackend.doctor.gpu_checks import CHECKS as GPU_CHECKS

    return list(BASE_CHECKS) + list(GPU_CHECKS)


def select(checks: Sequence[Check], ids: Sequence[str] | None) -> list[Check]:
    """The checks named by `--check` (all when none), in their usual order."""
    if not ids:
        return list(checks)
    from kbackend import names

    names.check("--check", list(ids), [c.id for c in checks], fix="kbackend doctor --check {}",
                expected=f"one of the checks: {', '.join(c.id for c in checks)}",
                fallback_fix="kbackend doctor --list-checks")
    return [c for c in checks if c.id in ids]


def _requires_python(kd: inst.Dist | None) -> str | None:
    """Requires-Python from the keras distribution's metadata headers."""
    if kd is None:
        return None
    for name in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(kd.meta, name), encoding="utf-8", errors="replace") as f:
                for line in f:
                    if not line.strip():
                        break  # end of the headers
                    if line.lower().startswith("requires-python:"):
                        return line.split(":", 1)[1].strip() or None
        except OSError:
            continue
    return None


def keras_json_identity(path: str) -> bytes | None:
    """What of keras.json can change a probe: the file without its `backend` (every probe
    child sets KERAS_BACKEND, which wins over it), so `kbackend switch` keeps the cache.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read(1 << 20)
    except FileNotFoundError:
        return b"{}"  # no file: Keras's defaults, as for an empty object
    except OSError:
        return None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return raw  # Keras judges the bytes (BOM, bad JSON): so does the key
    if not isinstance(doc, dict):
        return raw
    doc.pop("backend", None)
    return json.dumps(doc, sort_keys=True).encode()


def _safe_gpu_probe(gpu_probe: Callable[..., GpuFacts], environ: Mapping[str, str], target: Target,
                    timeout: float) -> GpuFacts:
    try:
        return gpu_probe(environ, python=target.python, timeout=timeout, sys_path=list(target.sys_path))
    except Exception as e:  # noqa: BLE001 - its contract is never to raise; doctor must not crash if it does
        return GpuFacts(errors=[f"the GPU probe failed: {type(e).__name__}: {e}"])


def _default_gpu_probe(environ, *, python, timeout, sys_path):
    from kbackend.gpu.libcache import LibVersions
    from kbackend.gpu.probe import probe_gpu

    return probe_gpu(environ, python=python, timeout=timeout, sys_path=sys_path, libcache=LibVersions())


class ProbeInfo(Model):
    """How the facts were gathered (for --json and the footer)."""

    cache_path: str | None = None
    cache_hits: list[str] = []
    probed: list[str] = []
    cache_problem: str | None = None
    backends_probed: bool = True


def probe_scope(checks: Sequence[Check]) -> str:
    """Which backends the selected checks need probed: "all", "configured" or "none"."""
    needs = {n for c in checks for n in c.needs}
    return "all" if "backends" in needs else ("configured" if "backend" in needs else "none")


def collect(
    target: Target,
    ctx: ConfigContext,
    *,
    scope: str = "all",
    all_backends: bool = False,
    refresh: bool = False,
    timeout: float = P.DEFAULT_TIMEOUT,
    gpu_probe: Callable[..., GpuFacts] | None = None,
    cache: ProbeCache | None = None,
    environ: Mapping[str, str] | None = None,
    on_start: Callable[[list[str]], None] | None = None,
    on_done: Callable[[Any], None] | None = None,
    coload: bool = True,
) -> tuple[Facts, ProbeInfo]:
    """Everything doctor knows about `target`: metadata, config, GPU probe, backend probes.

    `scope` says which backends to probe in children: "all" (installed ones, or every
    known one with all_backends), "configured" (the backend Keras will use) or "none".
    """
    from kbackend.envs.pin import user_environ

    env = user_environ(os.environ if environ is None else environ)  # a value a pin set is not the user's
    config = config_check(ctx)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The GPU probe runs beside the backend probes: the cache key reads the driver's
        # identity from a file instead of waiting for it.
        probe_cache = cache if cache is not None else ProbeCache()

        def gpu_then_coload():
            g = _safe_gpu_probe(gpu_probe or _default_gpu_probe, env, target, min(timeout, 30.0))
            return g, (_coload(target, ctx, config, g, timeout, env=env, cache=probe_cache, refresh=refresh)
                       if coload else None)

        gpu_future = pool.submit(gpu_then_coload)
        backends, info = _backends(target, ctx, config, env, scope=scope, all_backends=all_backends, refresh=refresh,
                                   timeout=timeout, cache=probe_cache, on_start=on_start, on_done=on_done)
        gpu, co = gpu_future.result()
    if co is not None and co.status == "ok" and co.needs and not co.cached:
        key, name = _coload_key(target, ctx, env, config)  # stored here, after the backend probes wrote theirs
        probe_cache.put(key, {name: co.model_dump(mode="json")})
    kd = inst.keras_dist(inst.scan(target.sys_path)) if ctx.keras_version else None
    facts = Facts(
        interpreter=InterpreterFacts(python=target.python, version=target.version, origin=target.origin),
        keras=KerasFacts(version=ctx.keras_version, dist=kd.name if kd else None, rules_line=ctx.rules.line,
                         rules_assumed=ctx.rules.assumed, requires_python=_requires_python(kd)),
        config=config,
        backends=backends,
        gpu=gpu,
        installed=dict(ctx.installed),
        environ=P.relevant_environ(env),
        programs={p: shutil.which(p, path=env.get("PATH")) for p in PROGRAMS},
        system=system_facts(),
        elsewhere=[e.as_json() for e in _elsewhere(ctx)],
        base_backend=_base_backend(ctx, config),
        **({"coload": co} if co is not None else {}),
    )
    return facts, ProbeInfo(**info)


def needs_coload(checks: Sequence[Check]) -> bool:
    """Whether a selected check reads the co-loading child's outcome."""
    return any("coload" in c.needs for c in checks)


def _key(target: Target, ctx: ConfigContext, env: Mapping[str, str]) -> str:
    """The probe cache's key: what could change what a child sees (packages, sys.path, variables, driver)."""
    return probe_key(python=target.python, python_version=target.version, installed=dict(ctx.installed),
                     environ={k: v for k, v in P.relevant_environ(env).items() if k != "KERAS_BACKEND"},
                     driver=driver_fingerprint(), keras_json=keras_json_identity(ctx.path),
                     paths=sys_path_fingerprint(target.sys_path, P.shadowable_modules()))


def _coload_key(target: Target, ctx: ConfigContext, env: Mapping[str, str], config: CheckResult) -> tuple[str, str]:
    eff = config.effective.get("backend")
    return _key(target, ctx, env), f"coload:{eff.value if eff is not None else None}"


def _coload(target: Target, ctx: ConfigContext, config: CheckResult, gpu: GpuFacts, timeout: float, *,
            env: Mapping[str, str] | None = None, cache: ProbeCache | None = None, refresh: bool = False):
    """The co-loading child, only where two or more CUDA builds of frameworks are installed and a driver works
    (cached with the backend probes: the same key, the configured backend in the name)."""
    from kbackend.gpu import compat as C
    from kbackend.gpu.coload import needs_of, run_coload, steps
    from kbackend.gpu.model import CoLoad, MappedLib

    builds = C.builds(gpu.wheels)
    if len(builds) < 2:
        return CoLoad(why_not=f"{len(builds)} CUDA build(s) of a GPU framework installed: nothing shares a process")
    if not gpu.has_driver:
        return CoLoad(why_not="no working NVIDIA driver: no CUDA library is loaded")
    eff = config.effective.get("backend")
    configured = eff.value if eff is not None else None
    if cache is not None and env is not None and not refresh:
        key, name = _coload_key(target, ctx, env, config)
        hit = cache.get(key, name)
        if hit is not None:
            try:
                mapped = [MappedLib(**m) for m in hit.get("mapped") or []]
                return CoLoad(**{**hit, "mapped": mapped, "cached": True})
            except (TypeError, ValueError):
                pass  # another shape: run it again
    child = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "KERAS_BACKEND": str(configured)}
    with _procs.temp_dir("keras-home-") as spare_home:
        if ctx.rules.keras_home_env:
            child["KERAS_HOME"] = spare_home  # Keras must not write a keras.json as a side effect
        try:
            return run_coload(target.python, steps([b.framework for b in builds], configured),
                              needs_of(builds, configured), env=child, timeout=timeout)
        except Exception as e:  # noqa: BLE001 - a failed co-load is a finding, never a crash of doctor
            return CoLoad(status="error", error=f"{type(e).__name__}: {e}")


def _elsewhere(ctx: ConfigContext) -> list:
    from kbackend.services.config import elsewhere

    return elsewhere(ctx)


def _base_backend(ctx: ConfigContext, config: CheckResult) -> list:
    """[value, origin] of the backend without this shell's KERAS_BACKEND (keras.json, a pin or the default)."""
    eff = config.effective.get("backend")
    if eff is None:
        return []
    if eff.origin != "env:KERAS_BACKEND":
        return [eff.value, eff.origin]
    from kbackend._record import replace

    env = {k: v for k, v in ctx.environ.items() if k != "KERAS_BACKEND"}
    base = config_check(replace(ctx, environ=env)).effective.get("backend")
    return [base.value, base.origin] if base is not None else []


def _backends(target: Target, ctx: ConfigContext, config: CheckResult, env: dict[str, str], *, scope: str,
              all_backends: bool, refresh: bool, timeout: float, cache: ProbeCache | None, on_start,
              on_done) -> tuple[list[BackendFacts], dict[str, Any]]:
    """The backend facts (probed per `scope`, cache first) and how they were gathered."""
    installed = dict(ctx.installed)
    planned = P.plan(installed, ctx.keras_version, all_backends=all_backends)
    to_probe = planned
    if scope == "configured":
        eff = config.effective.get("backend")
        to_probe = [p for p in planned if eff is not None and p.name == eff.value]
    elif scope == "none":
        to_probe = []
    cache = cache if cache is not None else ProbeCache()
    info: dict[str, Any] = {"cache_path": cache.path, "backends_probed": bool(to_probe)}
    if to_probe:
        key = _key(target, ctx, env)
        child_env: dict[str, str | None] = {}
        if "XLA_PYTHON_CLIENT_PREALLOCATE" not in env:
            child_env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # probing must not grab 75 % of a GPU
        with _procs.temp_dir("keras-home-") as spare_home:
            if ctx.rules.keras_home_env:
                # The child reads the same keras.json as kbackend; when there is none, Keras would
                # write one as a side effect: give it a scratch directory instead.
                missing = config.file_status in ("missing", "dangling_symlink")
                child_env["KERAS_HOME"] = spare_home if missing else os.path.dirname(ctx.path)
            probed, problem = P.probe_backends(
                target.python, to_probe, installed=installed, child_env=child_env, timeout=timeout,
                cache=cache, key=key, refresh=refresh, on_start=on_start, on_done=on_done,
            )
        info["cache_hits"] = [b.name for b in probed if b.cached]
        info["probed"] = [b.name for b in probed if not b.cached]
        info["cache_problem"] = problem
        by_name = {b.name: b for b in probed}
        backends = [by_name.get(p.name) or P.not_probed(p, installed) for p in planned]
    else:
        backends = [P.not_probed(p, installed) for p in planned]
    return backends, info


def run_check(check: Check, facts: Facts) -> Finding:
    """One check; an exception becomes a `crashed` finding, never an exception of doctor."""
    try:
        f = check.func(facts)
        if not isinstance(f, Finding):
            raise TypeError(f"returned {type(f).__name__}, not a Finding")
        return f
    except Exception as e:  # noqa: BLE001 - the contract: a check never takes doctor down
        tb = traceback.format_exc().strip().splitlines()
        return Finding(id=check.id, status="crashed", title=check.title,
                       evidence=[f"{type(e).__name__}: {e}"] + tb[-3:-1],
                       fix="this is a kbackend bug: please report it with `kbackend doctor --report`")


def run_checks(checks: Sequence[Check], facts: Facts) -> list[Finding]:
    return [run_check(c, facts) for c in checks]


class DoctorResult(Model):
    checks: list[Finding]
    facts: Facts
    probe: ProbeInfo
    strict: bool = False
    summary: dict[str, int]
    exit_code: int
    #: `--fix`: the plan (kbackend.doctor.fix.FixStep), applied when `fixes_applied`; None without --fix.
    fixes: list | None = None
    fixes_applied: bool = False


def with_fixes(res: DoctorResult, ctx: ConfigContext, *, apply: bool = False, echo=None) -> DoctorResult:
    """The plan of the fixes kbackend can carry out for `res`'s findings; carried out with `apply`.
    A step that fails makes the exit code 1."""
    from kbackend.doctor import fix as F

    steps = F.plan(res.checks, res.facts.interpreter.python)
    if apply:
        steps = F.apply(steps, ctx, echo=echo)
    failed = any(s.outcome == "failed" for s in steps)
    return res.model_copy(update={"fixes": steps, "fixes_applied": apply,
                                  "exit_code": 1 if failed else res.exit_code})


def exit_code(findings: Sequence[Finding], *, strict: bool = False) -> int:
    """0 when no check is an error (or a warning, with strict), 1 otherwise.

    >>> exit_code([Finding(id="a", status="warn", title="t")]), exit_code([Finding(id="a", status="warn", title="t")], strict=True)
    (0, 1)
    """
    bad = FAILING + (("warn",) if strict else ())
    return 1 if any(f.status in bad for f in findings) else 0


def diagnose(facts: Facts, checks: Sequence[Check], probe: ProbeInfo, *, strict: bool = False) -> DoctorResult:
    findings = run_checks(checks, facts)
    summary = {s: sum(1 for f in findings if f.status == s) for s in ("ok", "warn", "error", "skip", "crashed")}
    return DoctorResult(checks=findings, facts=facts, probe=probe, strict=strict, summary=summary,
                        exit_code=exit_code(findings, strict=strict))
