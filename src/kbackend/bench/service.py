"""`kbackend bench` as one service: what to time (checked against the target), the run, the gate, the baseline.

The command parses its options, calls `plan` then `run` with a progress callback, and
renders the report (`render.bench_view`); everything between lives here:
the cached peak (`peak.py`), the automatic confirmation of a suspected change,
A/B runs of two environments, and `compare` of two saved runs.
"""

from __future__ import annotations

from typing import Callable, Sequence

from kbackend._record import record, replace
from kbackend.bench import baseline as base_io
from kbackend.bench import gate, peak, roofline
from kbackend.bench import run as runner
from kbackend.bench.model import BackendRun, BenchReport, Comparison, Gate, Machine, Result
from kbackend.errors import KbackendError, UsageError
from kbackend.install import install_command

#: a suspected change is re-measured with at least this many processes (each side, in A/B).
CONFIRM_PROCESSES = 5


@record
class BenchJob:
    """A checked bench request: the interpreter(s), the plan, the baseline to compare with."""

    python: str
    plan: runner.Plan
    old: BenchReport | None = None
    baseline_path: str | None = None
    threshold: float = 0.1
    force_compare: bool = False
    strict: bool = False
    confirm: bool = True
    #: the cached peak, or None to measure it (and cache it under `fingerprint`).
    machine: Machine | None = None
    fingerprint: dict | None = None
    #: A/B: side A's interpreter (`python` is side B).
    python_a: str | None = None

    @property
    def total_steps(self) -> int:
        p = self.plan
        return (len(p.items) + 2) * (p.rounds + 1) * p.processes * len(p.backends) * (2 if self.python_a else 1)

    @property
    def total_processes(self) -> int:
        return self.plan.processes * len(self.plan.backends) * (2 if self.python_a else 1)


def _check_keras(target) -> tuple[dict[str, str], str]:
    from kbackend.envs.installed import keras_dist, scan

    dists = scan(target.sys_path)
    keras = keras_dist(dists)
    if keras is None:
        raise KbackendError(f"Keras is not installed in {target.describe()}.", fix=install_command("keras", target.python))
    if not keras.version.split(".")[0].isdigit() or int(keras.version.split(".")[0]) < 3:
        raise KbackendError(f"`kbackend bench` needs Keras 3 (keras.ops). Received: keras={keras.version}",
                            fix=install_command("keras", target.python, upgrade=True))
    return {k: d.version for k, d in dists.items()}, keras.version


def _backends(target, target_a, backends: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """(the packages installed in `target`, the backends to time): those asked for, else every installed
    one (in both environments for A/B); KbackendError when there is none or Keras 3 is missing."""
    installed, keras_version = _check_keras(target)
    names = list(backends) or runner.installed_backends(installed, keras_version)
    if target_a is not None:
        installed_a, keras_a = _check_keras(target_a)
        if not backends:
            there = set(runner.installed_backends(installed_a, keras_a))
            names = [b for b in names if b in there]
    if not names:
        raise KbackendError(f"No Keras backend is installed in {target.describe()}"
                            + (f" and {target_a.describe()}" if target_a is not None else "") + ".",
                            fix=install_command("jax", target.python, keras_version=keras_version))
    return installed, names


def plan(target, *, backends: Sequence[str] = (), ops: Sequence[str] = (), categories: Sequence[str] = (),
         sizes: Sequence[str] = (), dtypes: Sequence[str] = (), quick: bool = False, threads: int | None = None,
         processes: int | None = None, rounds: int | None = None, jit: bool = False, baseline: str | None = None,
         max_regression: float = 10.0, force_compare: bool = False, strict: bool = False, confirm: bool = True,
         remeasure_peak: bool = False, target_a=None, save: bool = False) -> BenchJob:
    """Check Keras 3 and the backends in `target` (and `target_a` for A/B), read the baseline, and plan
    the run (KbackendError if not)."""
    installed, names = _backends(target, target_a, backends)
    old = base_io.load(baseline) if baseline else None
    items = runner.select(runner.catalog(target.python), ops=ops, categories=categories, sizes=sizes,
                          dtypes=dtypes, quick=quick)
    p = runner.make_plan(names, items, threads=threads, processes=processes, rounds=rounds, quick=quick, jit=jit,
                         saving=save and target_a is None)
    fp = peak.fingerprint(p.threads, installed, python=target.version)
    machine = None if remeasure_peak else peak.load(fp)
    return BenchJob(target.python, p, old, baseline, max_regression / 100.0, force_compare, strict, confirm,
                    machine, fp, target_a.python if target_a is not None else None)


def plan_model(target, *, path: str, backends: Sequence[str] = (), batches: Sequence[int] = (),
               custom_objects: str | None = None, unsafe: bool = False, loss: str | None = None, train: bool = True,
               quick: bool = False, threads: int | None = None, processes: int | None = None,
               rounds: int | None = None, baseline: str | None = None, max_regression: float = 10.0,
               force_compare: bool = False, strict: bool = False, confirm: bool = True,
               remeasure_peak: bool = False, target_a=None, save: bool = False) -> BenchJob:
    """`bench --model PATH`: the same job as the op cases', its items a saved model's predict per batch size
    and one train step, so that baselines, the gate, confirmation, A/B and the reports are bench's own."""
    import hashlib
    import os

    from kbackend.suite import model_verify as M

    M.sniff(path)  # a truncated or non-model file: a clear error before any child starts
    if custom_objects and not os.path.isfile(custom_objects):
        raise UsageError(f"--custom-objects must be a Python file. Received: {custom_objects}",
                         fix="kbackend bench --model model.keras --custom-objects layers.py")
    installed, names = _backends(target, target_a, backends)
    old = base_io.load(baseline) if baseline else None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    sizes = list(batches) or [1, 32]
    model = {"path": os.path.abspath(path), "name": os.path.basename(path), "sha256": digest.hexdigest()[:16],
             "custom_objects_path": os.path.abspath(custom_objects) if custom_objects else None,
             "safe_mode": not unsafe, "seed": 0, "loss": loss, "train_batch": sizes[-1] if train else None}
    items = runner.model_items(sizes, "-", train=train)
    p = runner.make_plan(names, items, threads=threads, processes=processes, rounds=rounds, quick=quick, model=model,
                         saving=save and target_a is None)
    fp = peak.fingerprint(p.threads, installed, python=target.version)
    machine = None if remeasure_peak else peak.load(fp)
    # a model run measures NumPy's peak only (no backend probes): it is shown, never cached for the op runs
    return BenchJob(target.python, p, old, baseline, max_regression / 100.0, force_compare, strict, confirm,
                    machine, fp if machine is not None else None, target_a.python if target_a is not None else None)


def run(job: BenchJob, *, on_progress: Callable | None = None, save: str | None = None) -> BenchReport:
    """Time the plan, compare with the baseline (or side A) when there is one, re-measure suspected
    changes, and save this run as a baseline when asked."""
    if job.python_a:
        a_plan, b_plan = replace(job.plan, label="A"), replace(job.plan, label="B")
        side_a, report = runner.run_interleaved([job.python_a, job.python], [a_plan, b_plan],
                                                on_progress=on_progress, machine=job.machine)
        report, machine = _keep_peak(job, report)
        side_a = side_a.model_copy(update={"machine": machine})
        g = gate.compare(report, side_a, threshold=job.threshold, baseline_path=job.python_a, force=True,
                         strict=job.strict, kind="ab")
        report = _confirm(job, report, side_a, g, on_progress)
    else:
        report = runner.run(job.python, job.plan, on_progress=on_progress, machine=job.machine)
        report, _ = _keep_peak(job, report)
        if job.old is not None:
            g = gate.compare(report, job.old, threshold=job.threshold, baseline_path=job.baseline_path or "",
                             force=job.force_compare, strict=job.strict)
            report = _confirm(job, report, job.old, g, on_progress)
    if save:
        base_io.save(report, save)
    return report


def _keep_peak(job: BenchJob, report: BenchReport) -> tuple[BenchReport, Machine]:
    """Cache a freshly measured peak under the job's fingerprint."""
    m = report.machine
    raised = job.machine is not None and m.peak_gflops != job.machine.peak_gflops  # a case beat the cached peak
    if (job.machine is None or raised) and job.fingerprint is not None:
        m = peak.store(job.fingerprint, m)
        if raised:
            m = m.model_copy(update={"peak_origin": "cached"})
        report = report.model_copy(update={"machine": m})
    return report, m


def compare_files(old_path: str, new_path: str, *, max_regression: float = 10.0, strict: bool = False,
                  force_compare: bool = False) -> BenchReport:
    """NEW's report with the gate against OLD: two saved runs decided without measuring anything."""
    old, new = base_io.load(old_path), base_io.load(new_path)
    g = gate.compare(new, old, threshold=max_regression / 100.0, baseline_path=old_path, force=force_compare,
                     strict=strict, kind="compare")
    return new.model_copy(update={"gate": g})


# --------------------------------------------------------------------------- confirmation


def _pool_run(a: BackendRun, b: BackendRun | None) -> BackendRun:
    return a if b is None else a.model_copy(update={"calibration": a.calibration + b.calibration,
                                                    "calibration_blas": a.calibration_blas + b.calibration_blas})


def _pool(a: Result, b: Result | None) -> Result:
    if b is None or b.status != "ok" or a.status != "ok":
        return a
    best = a.process_mins + b.process_mins
    return a.model_copy(update=dict(
        **runner.estimate(best), samples=a.samples + b.samples, process_medians=a.process_medians + b.process_medians,
        process_mins=best, min_s=min(a.min_s or b.min_s, b.min_s or a.min_s)))


def _confirm(job: BenchJob, report: BenchReport, base: BenchReport, g: Gate, on_progress) -> BenchReport:
    """Re-measure only the suspected cases, with more processes, and decide on what that shows."""
    suspects = [c for c in g.comparisons if gate.suspected(c)]
    if not suspects or not job.confirm:
        return report.model_copy(update={"gate": g})
    keys = {(c.case, c.size, c.dtype) for c in suspects}
    n = max(CONFIRM_PROCESSES, job.plan.processes)
    plan2 = replace(job.plan, backends=tuple(b for b in job.plan.backends if any(c.backend == b for c in suspects)),
                    items=tuple(i for i in job.plan.items if (i.case, i.size, i.dtype) in keys), processes=n,
                    peak_probe=False, label="confirm")
    if on_progress is not None:
        sides = 2 if job.python_a else 1
        on_progress(runner.Progress("", 0, "phase", label="confirm", items=len(suspects),
                                    processes=n, total=n * len(plan2.backends) * sides,
                                    done=(len(plan2.items) + 2) * (plan2.rounds + 1) * n * len(plan2.backends) * sides))
    if job.python_a:
        again_base, again = runner.run_interleaved(
            [job.python_a, job.python], [replace(plan2, label="confirm A"), replace(plan2, label="confirm B")],
            on_progress=on_progress, machine=report.machine)
    else:
        again, again_base = runner.run(job.python, plan2, on_progress=on_progress, machine=report.machine), None
    cur = {r.key: r for r in report.results}
    old = {r.key: r for r in base.results}
    cur2 = {r.key: r for r in again.results if r.status == "ok"}
    old2 = {r.key: r for r in again_base.results if r.status == "ok"} if again_base else {}
    runs = {b.backend: b for b in report.backends}
    runs_old = {b.backend: b for b in base.backends}
    runs2 = {b.backend: b for b in again.backends}
    runs2_old = {b.backend: b for b in again_base.backends} if again_base else {}
    decided: dict[tuple, Comparison] = {}
    pooled_results: dict[tuple, Result] = {}
    for c in suspects:
        k = (c.backend, c.case, c.size, c.dtype, c.mode)
        if k not in cur2 or (again_base is not None and k not in old2):
            decided[k] = c.model_copy(update={"confirmation": "not re-measured",
                                              "note": "the re-measurement did not time this case"})
            continue
        b = c.backend
        base2 = old2.get(k, old[k])
        second = gate.decide(cur2[k], base2, g.threshold, g.alpha,
                             gate.noise_for(runs2[b], runs2_old.get(b, runs_old[b]), again.load, base.load))
        pooled_cur, pooled_base = _pool(cur[k], cur2[k]), _pool(old[k], old2.get(k))
        noise = gate.noise_for(_pool_run(runs[b], runs2[b]), _pool_run(runs_old[b], runs2_old.get(b)),
                               report.load + again.load, base.load + (again_base.load if again_base else ()))
        pooled = gate.decide(pooled_cur, pooled_base, g.threshold, g.alpha, noise)
        decided[k] = gate.confirm(c, second, pooled)
        device = runs[b].device
        pooled_results[k] = roofline.place(pooled_cur, report.machine, device)
    comparisons = tuple(decided.get((c.backend, c.case, c.size, c.dtype, c.mode), c) for c in g.comparisons)
    g = g.model_copy(update={"comparisons": comparisons, "confirmed_cases": len(suspects), "confirm_processes": n})
    results = tuple(pooled_results.get(r.key, r) for r in report.results)
    return report.model_copy(update={"gate": g, "results": results, "elapsed_s": report.elapsed_s + again.elapsed_s})


def check_model_options(model: str | None, batches: Sequence[int] = (), **given) -> None:
    """`--model` times a saved model: the op suite's choices (--op, --size...) have no meaning there, and
    the model's own options (--batch, --custom-objects...) none without it."""
    if model:
        used = [k for k, v in given.items() if v and k in ("ops", "categories", "sizes", "dtypes", "jit")]
        if used:
            names = ", ".join("--" + {"ops": "op", "categories": "category", "sizes": "size",
                                      "dtypes": "dtype"}.get(k, k) for k in used)
            raise UsageError(f"`--model` times a saved model's predict and train step, not op cases. "
                             f"Received: --model with {names}",
                             fix="kbackend bench --model model.keras --batch 1 --batch 32")
        return
    used = (["batch"] if batches else []) + [k for k, v in given.items()
                                              if v and k in ("custom_objects", "unsafe", "loss", "no_train")]
    if used:
        names = ", ".join("--" + k.replace("_", "-") for k in used)
        raise UsageError(f"{names} {'is an option' if len(used) == 1 else 'are options'} of `--model`. "
                         f"Received: {names} without --model",
                         fix="kbackend bench --model model.keras --batch 1 --batch 32")


def check_ab(pythons: Sequence[str], ab: bool, baseline: str | None = None) -> None:
    """--ab needs exactly two --python; --python without --ab is the global option's job."""
    if ab and baseline:
        raise UsageError(f"`--ab` compares side B with side A, not with a baseline. Received: --ab and "
                         f"--baseline {baseline}", fix="drop --baseline, or drop --ab and the two --python")
    if ab and len(pythons) != 2:
        raise UsageError(f"`--ab` compares two environments: pass `--python` twice. Received: {len(pythons)} "
                         f"--python{' ' + ', '.join(pythons) if pythons else ''}",
                         fix="kbackend bench --ab --python .venv-old/bin/python --python .venv/bin/python --quick")
    if pythons and not ab:
        raise UsageError("`kbackend bench --python` is for A/B runs. Received: --python without --ab",
                         fix="kbackend --python PATH bench ...  (one environment), or add --ab with two --python")
