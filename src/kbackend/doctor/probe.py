"""Backend probes: one child per backend, in parallel, cached.

Each backend is probed by `child/probe_backend.py` in the target interpreter
with `KERAS_BACKEND` set to it; the child's outcome (ok, import_error, error,
timeout, crashed, bad_output) becomes a `BackendFacts`, never an exception.

>>> [p.name for p in plan({"keras": "3.15.1", "jax": "0.4.30", "jaxlib": "0.4.30", "numpy": "2.0"}, "3.15.1")]
['jax', 'numpy']
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence

from kbackend import backends as B
from kbackend._record import record
from kbackend.config.judge import installed_backend
from kbackend.doctor.cache import CACHEABLE, ProbeCache
from kbackend.doctor.environ import relevant_environ  # noqa: F401 - the facts' and the cache key's variables
from kbackend.doctor.facts import BackendFacts
from kbackend.workers.runner import ChildResult, Job, run_many

DEFAULT_TIMEOUT = 90.0
#: the distributions that may provide the `keras` module.
KERAS_DISTS = ("keras", "keras-nightly", "keras-mxnet")
#: rough probe seconds, to start the slowest first (longest-first scheduling) until the
#: cache has measured them in this interpreter.
COST = {b.name: b.probe_cost for b in B.REGISTRY.values() if b.keras3}
LOG_KEEP = 4000


@record
class Planned:
    name: str
    #: import keras too (False when Keras is missing or does not accept this name).
    import_keras: bool
    installed: bool


def plan(installed: Mapping[str, str], keras_version: str | None, *, all_backends: bool = False,
         only: Sequence[str] | None = None) -> list[Planned]:
    """Which backends to probe: installed ones Keras accepts (every known one with all_backends)."""
    out = []
    for name in only or B.names():
        b = B.get(name)
        if b is None:
            continue
        ok, _ = installed_backend(name, installed)
        accepted = keras_version is not None and _accepts(b, keras_version)
        if ok and (accepted or keras_version is None) or all_backends:
            out.append(Planned(name, import_keras=accepted, installed=ok))
    return out


def _accepts(b: B.Backend, keras_version: str) -> bool:
    try:
        return b.accepted_by(keras_version)
    except Exception:  # noqa: BLE001 - an unparsable version: let the child tell
        return True


def backend_dists(name: str, installed: Mapping[str, str]) -> dict[str, str]:
    """The installed distributions that provide a backend or that it needs."""
    b = B.get(name)
    if b is None:
        return {}
    names = list(b.dists) + list(b.also_needs)
    if b.compiles_through_jax:
        names += [d for d in installed if d.startswith(("jax-cuda", "jax-rocm"))]
    names += list(b.related_dists)
    return {d: installed[d] for d in dict.fromkeys(names) if d in installed}


def origin_modules(name: str) -> dict[str, list[str]]:
    """The modules whose origin a probe child reports (keras and the backend's packages), with
    the distributions that may provide each.

    >>> origin_modules("numpy")
    {'keras': ['keras', 'keras-nightly', 'keras-mxnet'], 'numpy': ['numpy'], 'jax': ['jax'], 'jaxlib': ['jaxlib']}
    """
    b = B.get(name)
    mods = {"keras": list(KERAS_DISTS)}
    if b is not None:
        mods[b.module or name] = list(b.dists)
        for d in b.also_needs:
            mods.setdefault(d.replace("-", "_"), [d])
    return mods


def shadowable_modules() -> set[str]:
    """Every module a probe reports the origin of (keras and every backend's packages)."""
    return {m for name in B.names() for m in origin_modules(name)}


def read_journal(path: str | None) -> tuple[str | None, list[list], dict]:
    """What a probe child's journal holds: the last step it began, every [seconds, step], and
    the origins of the modules it noted when its imports failed."""
    if not path:
        return None, [], {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read(1 << 20).splitlines()
    except OSError:
        return None, [], {}
    steps: list[list] = []
    origins: dict = {}
    for line in lines:
        t, _, step = line.partition("\t")
        if step.startswith("origins "):
            try:
                doc = json.loads(step[len("origins "):])
                origins = doc if isinstance(doc, dict) else origins
            except ValueError:
                pass
            continue
        try:
            steps.append([round(float(t), 3), step.strip()])
        except ValueError:
            continue
    return (steps[-1][1] if steps else None), steps, origins


def backend_version(name: str, installed: Mapping[str, str]) -> str | None:
    b = B.get(name)
    for d in b.dists if b else ():
        if d in installed:
            return installed[d]
    return None


def not_probed(p: Planned, installed: Mapping[str, str]) -> BackendFacts:
    return BackendFacts(name=p.name, installed=p.installed, version=backend_version(p.name, installed),
                        dists=backend_dists(p.name, installed))


def from_child(p: Planned, r: ChildResult, installed: Mapping[str, str], journal: str | None = None) -> BackendFacts:
    """A child's outcome as facts (the status is the runner's, verbatim; a timeout's error
    names the step the child was stuck in, from its journal)."""
    d = r.data if isinstance(r.data, dict) else {}
    phase, steps, noted = (None, [], {}) if r.status == "ok" else read_journal(journal)
    error = r.error
    if r.status == "timeout":
        error = f"stuck {phase or 'starting Python (before the probe began)'}: {r.error}"
    elif r.status == "crashed" and phase and error:
        error = f"{error} ({phase})"
    log = r.log or ""
    if r.traceback:
        log = (log + "\n" if log else "") + r.traceback
    extra = dict(d.get("extra") or {})
    for k in ("module_version", "keras_backend", "backend_import_s", "keras_import_s", "devices_s", "python"):
        if d.get(k) is not None:
            extra[k] = d[k]
    extra["elapsed_s"] = round(r.elapsed_s, 3)
    if r.returncode is not None:
        extra["returncode"] = r.returncode
    if steps:
        extra["steps"] = steps
    origins = d.get("origins") or noted
    return BackendFacts(
        name=p.name, installed=p.installed,
        version=backend_version(p.name, installed) or d.get("module_version"),
        dists=backend_dists(p.name, installed),
        status=r.status, error=error,
        import_s=d.get("import_s") if r.status == "ok" else None,
        keras_version=d.get("keras_version"),
        devices=list(d.get("devices") or []), gpu_devices=list(d.get("gpu_devices") or []),
        built_cuda=d.get("built_cuda"), built_cudnn=d.get("built_cudnn"),
        cuda_archs=list(d.get("cuda_archs") or []),
        log=log[-LOG_KEEP:], extra=extra, origins=origins if isinstance(origins, dict) else {}, phase=phase,
    )


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def probe_backends(
    python: str,
    planned: Sequence[Planned],
    *,
    installed: Mapping[str, str],
    child_env: Mapping[str, str | None] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cache: ProbeCache | None = None,
    key: str | None = None,
    refresh: bool = False,
    on_start: Callable[[list[str]], None] | None = None,
    on_done: Callable[[BackendFacts], None] | None = None,
    max_parallel: int | None = None,
) -> tuple[list[BackendFacts], str | None]:
    """Probe the planned backends (cache first); returns the facts in plan order and a cache problem."""
    results: dict[str, BackendFacts] = {}
    todo: list[Planned] = []
    for p in planned:
        hit = None if refresh or cache is None or key is None else cache.get(key, p.name)
        if hit is not None:
            try:
                results[p.name] = BackendFacts.model_validate({**hit, "cached": True})
                continue
            except ValueError:
                pass  # an entry of another shape: probe again
        todo.append(p)
    problem = cache.problem if cache is not None else None
    def cost(p: Planned) -> float:
        seen = cache.timing(python, p.name) if cache is not None else None
        return seen if seen is not None else COST.get(p.name, 1.0)

    todo.sort(key=cost, reverse=True)
    if on_start:
        on_start([p.name for p in todo])
    def done(job: Job, r: ChildResult) -> None:
        f = from_child(job.key, r, installed, job.input.get("journal"))
        results[job.key.name] = f
        if on_done:
            on_done(f)

    if todo:
        with tempfile.TemporaryDirectory(prefix="kbackend-probe-") as journals:
            jobs = [
                Job(python, "probe_backend.py",
                    {"backend": p.name, "module": (B.get(p.name).module or p.name), "import_keras": p.import_keras,
                     "origins": origin_modules(p.name), "journal": os.path.join(journals, f"{p.name}.steps")},
                    timeout=timeout, env={**(child_env or {}), "KERAS_BACKEND": p.name}, key=p)
                for p in todo
            ]
            run_many(jobs, max_parallel=max_parallel or available_cores(), on_done=done)
    fresh = {p.name: results[p.name].model_dump(mode="json") for p in todo
             if p.name in results and results[p.name].status in CACHEABLE}
    timings = {f"{python}|{p.name}": results[p.name].extra["elapsed_s"] for p in todo if p.name in results}
    if cache is not None and key is not None and (fresh or timings):
        problem = cache.put(key, fresh, timings) or problem
    return [results[p.name] for p in planned if p.name in results], problem
