"""`kbackend bench` as one service: what to time (checked against the target), the run, the gate, the baseline.

The command parses its options, calls `plan` then `run` with a progress callback, and
renders the report (`render.bench_view`); everything between lives here.
"""

from __future__ import annotations

from typing import Callable, Sequence

from kbackend._record import record
from kbackend.bench import baseline as base_io
from kbackend.bench import gate, run as runner
from kbackend.bench.model import BenchReport
from kbackend.errors import KbackendError
from kbackend.install import install_command


@record
class BenchJob:
    """A checked bench request: the interpreter, the plan, the baseline to compare with."""

    python: str
    plan: runner.Plan
    old: BenchReport | None = None
    baseline_path: str | None = None
    threshold: float = 0.1
    force_compare: bool = False

    @property
    def total_steps(self) -> int:
        p = self.plan
        return len(p.items) * (p.rounds + 1) * p.processes * len(p.backends)


def plan(target, *, backends: Sequence[str] = (), ops: Sequence[str] = (), categories: Sequence[str] = (),
         sizes: Sequence[str] = (), dtypes: Sequence[str] = (), quick: bool = False, threads: int | None = None,
         processes: int = 5, rounds: int | None = None, jit: bool = False, baseline: str | None = None,
         max_regression: float = 10.0, force_compare: bool = False) -> BenchJob:
    """Check Keras 3 and the backends in `target`, read the baseline, and plan the run (KbackendError if not)."""
    from kbackend.envs.installed import keras_dist, scan

    dists = scan(target.sys_path)
    keras = keras_dist(dists)
    if keras is None:
        raise KbackendError(f"Keras is not installed in {target.describe()}.", fix=install_command("keras", target.python))
    if not keras.version.split(".")[0].isdigit() or int(keras.version.split(".")[0]) < 3:
        raise KbackendError(f"`kbackend bench` needs Keras 3 (keras.ops). Received: keras={keras.version}",
                            fix=install_command("keras", target.python, upgrade=True))
    installed = {k: d.version for k, d in dists.items()}
    names = list(backends) or runner.installed_backends(installed, keras.version)
    if not names:
        raise KbackendError(f"No Keras backend is installed in {target.describe()}.",
                            fix=install_command("jax", target.python, keras_version=keras.version))
    old = base_io.load(baseline) if baseline else None
    items = runner.select(runner.catalog(target.python), ops=ops, categories=categories, sizes=sizes,
                          dtypes=dtypes, quick=quick)
    p = runner.make_plan(names, items, threads=threads, processes=processes, rounds=rounds, quick=quick, jit=jit)
    return BenchJob(target.python, p, old, baseline, max_regression / 100.0, force_compare)


def run(job: BenchJob, *, on_progress: Callable | None = None, save: str | None = None) -> BenchReport:
    """Time the plan, compare with the baseline when there is one, save this run as a baseline when asked."""
    report = runner.run(job.python, job.plan, on_progress=on_progress)
    if job.old is not None:
        report = report.model_copy(update={"gate": gate.compare(
            report, job.old, threshold=job.threshold, baseline_path=job.baseline_path, force=job.force_compare)})
    if save:
        base_io.save(report, save)
    return report
