"""`kbackend envs`: every environment found, what it holds, and whether its backend works there.

Metadata only, in parallel: each environment's layout is read from its files
(`discover.read_layout`); an interpreter is started only when the layout is not
one kbackend knows. Then the same judgement as `kbackend show` gives the
effective backend (keras.json < environment pin < KERAS_BACKEND) and
`services.acceptance` says whether it can run there. `probe=True` adds the import probe
(`child/probe_backend.py`) of each usable effective backend, in a child of
that environment's interpreter, with a temporary copy of the user's keras.json
so that Keras writes nothing into the user's home.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Mapping

from kbackend import backends as B
from kbackend._record import Record, field, record, replace
from kbackend.config.records import Value
from kbackend.envs import discover as D
from kbackend.envs.target import Target, TargetError, query

PROBE_TIMEOUT = 180.0


@record
class BackendInstall(Record):
    name: str
    dist: str
    version: str
    #: does this environment's Keras accept the name?
    accepted: bool


@record
class BackendChoice(Record):
    """The effective backend of an environment and whether it can run there."""

    value: Any
    origin: str
    #: None when kbackend cannot tell without a child (an external backend module).
    usable: bool | None
    reason: str | None = None


@record
class ProbeOutcome(Record):
    backend: str
    #: the runner's statuses (ok, import_error, error, timeout, crashed, bad_output) or not_run.
    status: str
    error: str | None = None
    keras_backend: str | None = None
    import_s: float | None = None
    module_version: str | None = None


@record
class EnvInfo(Record):
    prefix: str
    python: str | None
    python_version: str | None
    #: how it was found: target, active, .venv, conda, pyenv, virtualenvwrapper, path.
    kinds: list[str]
    sources: list[str]
    #: ok or broken.
    status: str
    problem: str | None = None
    #: layout (read from files) or interpreter (asked the interpreter itself).
    facts_from: str = "layout"
    keras_version: str | None = None
    keras_rules: str | None = None
    backends: list[BackendInstall] = field(default_factory=list)
    pin: Value | None = None
    backend: BackendChoice | None = None
    config_path: str | None = None
    probe: ProbeOutcome | None = None


@record
class EnvsResult(Record):
    environments: list[EnvInfo]
    notes: list[str] = field(default_factory=list)
    #: off, done, or unavailable (the probe worker is not installed).
    probe: str = "off"

    @property
    def explicit_broken(self) -> list[EnvInfo]:
        """Broken environments the user pointed at (--path) or is working in (the active one)."""
        return [e for e in self.environments if e.status != "ok" and {"path", "active"} & set(e.kinds)]

    @property
    def ok(self) -> bool:
        """No environment the user named is broken and no probe failed (`envs` exits 1 otherwise)."""
        return not self.explicit_broken and not any(
            e.probe is not None and e.probe.status not in ("ok", "not_run") for e in self.environments)


@record(frozen=False)
class _Entry:
    path: str
    is_file: bool
    kinds: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    target: Target | None = None


def _env_root(exe: str) -> str | None:
    """The environment directory an interpreter file belongs to, when its layout is recognisable."""
    d = os.path.dirname(os.path.abspath(exe))
    root = os.path.dirname(d) if os.path.basename(d) in ("bin", "Scripts") else d
    if os.path.exists(os.path.join(root, "pyvenv.cfg")) or os.path.isdir(os.path.join(root, "conda-meta")):
        return root
    return root if D.lib_versions(root) else None


def _group(cands: list[D.Candidate], target: Target | None) -> list[_Entry]:
    entries: dict[str, _Entry] = {}

    def add(key: str, path: str, is_file: bool, kind: str, source: str, t: Target | None = None) -> None:
        e = entries.setdefault(key, _Entry(path, is_file))
        if kind not in e.kinds:
            e.kinds.append(kind)
        if source not in e.sources:
            e.sources.append(source)
        if t is not None:
            e.target = t

    if target is not None:
        add(os.path.realpath(target.prefix), target.prefix, False, "target", target.origin, target)
    for c in cands:
        if os.path.isdir(c.path):
            add(os.path.realpath(c.path), c.path, False, c.kind, c.source)
        elif os.path.isfile(c.path) and (root := _env_root(c.path)) is not None:
            add(os.path.realpath(root), root, False, c.kind, c.source)
        elif os.path.lexists(c.path) or c.kind in ("path", "active"):
            add("file:" + c.path, c.path, True, c.kind, c.source)
    return list(entries.values())


def _broken(e: _Entry, problem: str, **kw) -> EnvInfo:
    return EnvInfo(prefix=e.path, python=kw.pop("python", None), python_version=kw.pop("version", None),
                   kinds=e.kinds, sources=e.sources, status="broken", problem=problem, **kw)


class _NeedsQuery(Exception):
    """The entry's layout is unknown: only starting its interpreter tells (done in parallel)."""


def _resolve(e: _Entry, environ: Mapping[str, str], allow_query: bool = True) -> tuple[Target | None, EnvInfo | None, str]:
    """(target, broken-info, facts_from) for one entry."""
    if e.target is not None:
        return e.target, None, "interpreter"
    if not e.is_file:
        lay = D.read_layout(e.path, environ)
        if lay is not None and lay.problem:
            return None, _broken(e, lay.problem, python=lay.python, version=lay.version), "layout"
        if lay is not None:
            t = Target(lay.python, lay.version or "", lay.sys_path, lay.prefix, "discovered", False)
            return t, None, "layout"
        exe, problem = D.interpreter_of(e.path)
        if exe is None:
            return None, _broken(e, problem), "layout"
    else:
        exe = e.path
        if not os.path.exists(exe):
            return None, _broken(e, f"{exe} does not exist"), "layout"
    if not allow_query:
        raise _NeedsQuery
    try:
        return query(exe, "discovered", timeout=20), None, "interpreter"
    except TargetError as err:
        return None, _broken(e, err.message, python=exe, facts_from="interpreter"), "interpreter"


def _inspect(e: _Entry, environ: Mapping[str, str], keras_home: str | None, states: dict,
             allow_query: bool = True) -> EnvInfo:
    from kbackend.config import store
    from kbackend.config.judge import judge
    from kbackend.services.config import make_context
    from kbackend.services.acceptance import EXTERNAL_UNCHECKED, resolve
    from kbackend.envs.pin import read_pin

    t, broken, facts_from = _resolve(e, environ, allow_query)
    if broken is not None:
        return broken
    ctx = make_context(t, environ=environ, keras_home=keras_home, pin_reader=read_pin)
    backends = []
    for b in B.REGISTRY.values():
        dist = next((d for d in b.dists if d in ctx.installed), None)
        if dist is not None and all(d in ctx.installed for d in b.also_needs):
            backends.append(BackendInstall(b.name, dist, ctx.installed[dist], ctx.rules.accepts_backend(b.name)))
    fs = states.get(ctx.path)
    if fs is None:
        fs = states[ctx.path] = store.read_state(ctx.path)
    j = judge(fs, ctx.rules, ctx.environ, ctx.installed, keras_installed=ctx.keras_version is not None, pin=ctx.pin,
              python_version=ctx.target.version)
    eff = j.effective.get("backend")
    choice = None
    if eff is not None:
        name = eff.value
        if name is None and eff.origin.startswith("unknown"):
            choice = BackendChoice(name, eff.origin, None, f"{ctx.path}: {fs.status} (kbackend check says why)")
        elif not isinstance(name, str):
            choice = BackendChoice(name, eff.origin, False, f"backend {name!r} is not a name")
        else:
            v = resolve(ctx, name)
            unknown = v.reason == EXTERNAL_UNCHECKED
            reason = "an external backend module: `kbackend --python ... switch` checks it" if unknown else v.message
            choice = BackendChoice(name, eff.origin, None if unknown else v.ok, reason)
    return EnvInfo(
        prefix=t.prefix, python=t.python, python_version=t.version or None, kinds=e.kinds, sources=e.sources,
        status="ok", facts_from=facts_from, keras_version=ctx.keras_version,
        keras_rules=None if ctx.keras_version is None else ctx.rules.line, backends=backends,
        pin=Value(ctx.pin[0], ctx.pin[1]) if ctx.pin else None, backend=choice, config_path=ctx.path,
    )


def survey(target: Target | None, *, environ: Mapping[str, str] | None = None, cwd: str | None = None,
           paths: tuple[str, ...] = (), keras_home: str | None = None) -> EnvsResult:
    """Discover and inspect every environment (metadata only, in parallel)."""
    from kbackend.envs.pin import user_environ

    env = user_environ(os.environ if environ is None else environ)  # each environment's own pin is read below
    cands, notes = D.discover(env, cwd or os.getcwd(), tuple(paths))
    entries = _group(cands, target)
    states: dict = {}
    # Reading a known layout is a few file reads: threads would only add their start-up and GIL
    # hand-offs (measured 2.5x slower for 13 environments). Only interpreters that must be started
    # run in parallel.
    infos: list[EnvInfo | None] = []
    slow: list[int] = []
    for i, e in enumerate(entries):
        try:
            infos.append(_inspect(e, env, keras_home, states, allow_query=False))
        except _NeedsQuery:
            infos.append(None)
            slow.append(i)
    if slow:
        from kbackend.workers.runner import run_parallel  # threads only when an interpreter must start

        def one(i: int) -> None:
            infos[i] = _inspect(entries[i], env, keras_home, states)

        run_parallel(one, slow, max_parallel=min(16, len(slow)))
    return EnvsResult(environments=[i for i in infos if i is not None], notes=notes)


def probe_available() -> bool:
    from kbackend.workers import runner

    return os.path.exists(runner.worker_path("probe_backend.py"))


def probe(res: EnvsResult, *, on_done: Callable[[EnvInfo, ProbeOutcome], None] | None = None) -> EnvsResult:
    """Import each usable effective backend in its environment's interpreter."""
    if not probe_available():
        return replace(res, probe="unavailable", notes=res.notes + [
            "--probe needs src/kbackend/child/probe_backend.py, which this kbackend does not have"])
    from kbackend.workers import runner

    out = list(res.environments)
    jobs = []
    with contextlib.ExitStack() as stack:
        for i, info in enumerate(out):
            ch = info.backend
            if info.status != "ok" or ch is None:
                continue
            if not ch.usable or B.get(ch.value) is None:
                out[i] = replace(info, probe=ProbeOutcome(str(ch.value), "not_run", ch.reason))
                continue
            home = stack.enter_context(_probe_home(info))
            jobs.append(runner.Job(info.python, "probe_backend.py",
                                   {"backend": ch.value, "module": B.get(ch.value).module or ch.value,
                                    "import_keras": True},
                                   timeout=PROBE_TIMEOUT, env={"KERAS_BACKEND": ch.value, "KERAS_HOME": home}, key=i))

        def done(job, r):
            if on_done:
                on_done(out[job.key], _outcome(job.input["backend"], r))

        results = runner.run_many(jobs, on_done=done)
    for job, r in zip(jobs, results):
        out[job.key] = replace(out[job.key], probe=_outcome(job.input["backend"], r))
    return replace(res, environments=out, probe="done")


def _outcome(name: str, r) -> ProbeOutcome:
    data = r.data if isinstance(r.data, dict) else {}
    err = r.error
    if r.status == "ok" and data.get("keras_backend") not in (None, name):
        err = f"Keras reports backend {data.get('keras_backend')!r}, not {name!r}"
    return ProbeOutcome(name, r.status, err, data.get("keras_backend"), data.get("import_s"),
                        data.get("module_version"))


@contextlib.contextmanager
def _probe_home(info: EnvInfo):
    """A temporary KERAS_HOME holding the user's keras.json, so importing Keras writes nothing."""
    from kbackend.config.rules import rules_for
    from kbackend.services.run import temp_keras_home

    with temp_keras_home(info.config_path, rules_for(info.keras_version), {}, link_caches=False) as (home, _w):
        yield home
