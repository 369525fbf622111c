"""`bench --model PATH`: a saved model's predict latency per batch size and its train-step time, per backend.

One child per backend (child/model_worker.py, mode "bench"), one after another (never two at
once: they would time each other), threads fixed as bench's are. Each child loads the model,
times the first call (tracing, compilation) apart, then `rounds` calls; the parent keeps
the medians and interquartile ranges (kbackend.bench.stats).
"""

from __future__ import annotations

from typing import Callable

from kbackend._record import field, record
from kbackend.bench import stats
from kbackend.bench.run import thread_env
from kbackend.workers.runner import run_worker

WORKER = "model_worker.py"


@record(frozen=False)
class Timing:
    what: str  # "predict" | "train_step"
    batch: int
    first_s: float | None = None
    median_s: float | None = None
    iqr_s: float | None = None
    samples: int = 0
    error: str | None = None


@record(frozen=False)
class ModelBenchRow:
    backend: str
    status: str = "ok"
    version: str | None = None
    error: str | None = None
    load_s: float | None = None
    trains: bool = False
    timings: list[Timing] = field(default_factory=list)


@record(frozen=False)
class ModelBenchReport:
    python: str
    path: str
    batches: list[int]
    rounds: int
    threads: int | None
    rows: list[ModelBenchRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" and not any(t.error for t in r.timings) for r in self.rows)


def _timing(what: str, d: dict) -> Timing:
    xs = d.get("samples_s") or []
    return Timing(what, int(d.get("batch") or 0), d.get("first_s"), stats.median(xs) if xs else None,
                  stats.iqr(xs) if xs else None, len(xs), d.get("error"))


def run(p, *, batches: list[int], rounds: int = 10, threads: int | None = None, train: bool = True,
        timeout: float = 600, progress: Callable[[str], None] | None = None) -> ModelBenchReport:
    """`p`: a suite.model_verify.ModelPlan (the checked model, backends, custom objects, safe mode)."""
    from kbackend.suite import model_verify as M

    rep = ModelBenchReport(p.python, p.path, list(batches), rounds, threads)
    for b in p.backends:
        env = M._env(p, b, False)
        if threads:
            env.update(thread_env(threads))
        job = {"mode": "bench", "model_path": p.path, "custom_objects_path": p.custom_objects,
               "safe_mode": p.safe_mode, "seed": M.SEED, "batches": list(batches), "rounds": rounds,
               "train": {"loss": p.loss} if train else None}
        c = run_worker(p.python, WORKER, job, timeout=timeout, env=env)
        d = c.data if isinstance(c.data, dict) else {}
        row = ModelBenchRow(b, version=d.get("backend_version"), load_s=d.get("load_s"), trains=bool(d.get("trains")))
        if not c.ok:
            row.status, row.error = c.status, c.error
        elif d.get("load_error"):
            row.status = "load_error"
            row.error = d["load_error"] + (f" Reason: {d['reason']}." if d.get("reason") else "")
        else:
            row.timings = [_timing("predict", x) for x in d.get("predict") or []]
            if isinstance(d.get("train_step"), dict):
                row.timings.append(_timing("train_step", d["train_step"]))
        rep.rows.append(row)
        if progress:
            progress(b)
    for b, fix in p.missing.items():
        rep.rows.append(ModelBenchRow(b, status="not_installed", error=f"not installed: {fix}"))
    return rep
