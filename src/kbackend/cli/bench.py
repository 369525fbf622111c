"""`kbackend bench`: time the op suite on each backend, against the machine's peak and a baseline."""

from __future__ import annotations

import os
import sys

import click

from kbackend.backends import KERAS3_ORDER
from kbackend.cli import catalog
from kbackend.cli.main import STATE, json_option
from kbackend.cli.params import multi_option

SIZES = ("small", "medium", "large")
DTYPES = ("float16", "bfloat16", "float32", "float64")
KERAS3 = KERAS3_ORDER


@click.group(invoke_without_command=True)
@multi_option("--backend", "-b", "backends", choices=KERAS3, expected=f"one of {list(KERAS3)} (the Keras 3 backends)",
              help="Backend to time (default: every installed one).")
@multi_option("--op", "ops", complete=catalog.OPS, help="Op case to time (default: all).")
@multi_option("--category", "categories", complete=catalog.CATEGORIES[:-1],
              help="Only cases of this category (elementwise, matmul, conv, ...).")
@multi_option("--size", "sizes", choices=SIZES, metavar="SIZE", help="Input size (default: medium).")
@multi_option("--dtype", "dtypes", choices=DTYPES, metavar="DTYPE", help="Float type (default: float32).")
@click.option("--quick", is_flag=True,
              help="A few common ops, 10 processes forked after one import, short samples (CI).")
@click.option("--threads", type=click.IntRange(1), default=None, metavar="N",
              help="Threads of every library, fixed before import (default: all cores).")
@click.option("--processes", type=click.IntRange(1), default=None, metavar="P",
              help="Independent processes per backend, the gate's repetitions (default 5; 10 with --quick).")
@click.option("--repeat", "rounds", type=click.IntRange(1), default=None, metavar="R",
              help="Interleaved rounds (samples) per process (default 11; 5 with --quick).")
@click.option("--jit", is_flag=True, help="Time the compiled form (jax.jit, XLA tf.function, torch.compile).")
@click.option("--save", metavar="FILE", type=click.Path(dir_okay=False), help="Save this run as a baseline.")
@click.option("--baseline", metavar="FILE", type=click.Path(dir_okay=False),
              help="Compare with a saved baseline; exit 1 on a regression.")
@click.option("--max-regression", type=click.FloatRange(0, min_open=True), default=10.0, show_default=True,
              metavar="PCT", help="Slowdown (in %) a significant change must reach to count as a regression.")
@click.option("--strict", is_flag=True,
              help="Inconclusive cases (a change while the machine was noisy) fail the gate too.")
@click.option("--no-confirm", "no_confirm", is_flag=True,
              help="Decide at once: no re-measurement of a suspected change.")
@click.option("--force-compare", is_flag=True, help="Compare even when the machine or versions differ.")
@click.option("--remeasure-peak", is_flag=True,
              help="Measure this machine's peak again (it is measured once per machine and cached).")
@click.option("--ab", is_flag=True, help="A/B: time two environments (--python A --python B) interleaved.")
@click.option("--python", "pythons", multiple=True, metavar="PATH",
              help="With --ab: an environment's interpreter, twice (A, then B).")
@click.option("--markdown", "markdown_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write a markdown summary (also appended to $GITHUB_STEP_SUMMARY when set).")
@click.option("--html", "html_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write one self-contained HTML report with charts and a roofline.")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False), metavar="PATH",
              help="Time this saved model (predict per --batch, one train step) instead of the op cases; "
                   "3 processes per backend.")
@click.option("--batch", "batches", type=click.IntRange(1), multiple=True, metavar="N",
              help="With --model: batch size to time predict at (repeatable; default 1 and 32).")
@click.option("--custom-objects", "custom_objects", type=click.Path(exists=True, dir_okay=False), metavar="FILE.py",
              help="With --model: a Python file defining the model's custom layers and functions.")
@click.option("--unsafe", is_flag=True, help="With --model: turn Keras's safe mode off (Lambda layers' code).")
@click.option("--loss", metavar="NAME", help="With --model: the train step's loss (default: the model's own).")
@click.option("--no-train", "no_train", is_flag=True, help="With --model: time predict only.")
@json_option
@click.pass_context
def bench(ctx, backends, ops, categories, sizes, dtypes, quick, threads, processes, rounds, jit, save, baseline,
          max_regression, strict, no_confirm, force_compare, remeasure_peak, ab, pythons, markdown_file, html_file,
          model_path, batches, custom_objects, unsafe, loss, no_train):
    """Time Keras ops on each backend, relative to this machine's measured peak.

    Each backend runs in its own processes with thread counts fixed before
    import; a time is the median over processes of each process's best sample
    (its spread, their IQR), with the first call (compilation) reported apart.
    Against a baseline,
    a suspected change is re-measured before it is called a regression.

    \b
    Examples:
      kbackend bench --quick
      kbackend bench --backend jax,torch --op matmul --size large --html bench.html
      kbackend bench --quick --save base.json
      kbackend bench --quick --baseline base.json --markdown summary.md
      kbackend bench --quick --ab --python old/bin/python --python new/bin/python
      kbackend bench compare base.json new.json
      kbackend bench --model model.keras --batch 1 --batch 64 --save model.json
      kbackend bench --model model.keras --baseline model.json
    """
    if ctx.invoked_subcommand is not None:
        return None
    from kbackend.bench import service
    from kbackend.envs.target import resolve
    from kbackend.render import bench_view
    from kbackend.render.output import isatty
    from kbackend.render.progress import progress

    service.check_model_options(model_path, batches, ops=ops, categories=categories, sizes=sizes, dtypes=dtypes,
                                jit=jit, custom_objects=custom_objects, unsafe=unsafe, loss=loss, no_train=no_train)
    service.check_ab(pythons, ab, baseline)
    target, target_a = STATE.target(), None
    if ab:
        target_a, target = resolve(pythons[0]), resolve(pythons[1])
    gate_options = dict(backends=backends, quick=quick, threads=threads, processes=processes, rounds=rounds,
                        baseline=baseline, max_regression=max_regression, force_compare=force_compare, strict=strict,
                        confirm=not no_confirm, remeasure_peak=remeasure_peak, target_a=target_a, save=bool(save))
    if model_path:
        job = service.plan_model(target, path=model_path, batches=batches, custom_objects=custom_objects,
                                 unsafe=unsafe, loss=loss, train=not no_train, **gate_options)
    else:
        job = service.plan(target, ops=ops, categories=categories, sizes=sizes, dtypes=dtypes, jit=jit,
                           **gate_options)
    lines = not isatty(sys.stderr)
    total = job.total_processes if lines else job.total_steps
    with progress("bench", total) as step:
        report = service.run(job, on_progress=bench_view.steps(step, lines=lines, total=total), save=save)
    return bench_view.render(report, saved=save, markdown_file=markdown_file, html_file=html_file,
                             step_summary=os.environ.get("GITHUB_STEP_SUMMARY"))


@bench.command("compare")
@click.argument("old", metavar="OLD.json", type=click.Path(dir_okay=False))
@click.argument("new", metavar="NEW.json", type=click.Path(dir_okay=False))
@click.option("--max-regression", type=click.FloatRange(0, min_open=True), default=10.0, show_default=True,
              metavar="PCT", help="Slowdown (in %) a significant change must reach to count as a regression.")
@click.option("--strict", is_flag=True, help="Inconclusive cases fail the gate too.")
@click.option("--force-compare", is_flag=True, help="Compare even when the machine or versions differ.")
@click.option("--markdown", "markdown_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write a markdown summary (also appended to $GITHUB_STEP_SUMMARY when set).")
@click.option("--html", "html_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write one self-contained HTML report.")
@json_option
def compare(old, new, max_regression, strict, force_compare, markdown_file, html_file):
    """Decide between two saved runs (--save files or --json output), without measuring.

    Exit 1 when NEW regressed against OLD. No case is re-measured: the
    decision is on the processes the two files hold.

    \b
    Examples:
      kbackend bench compare base.json new.json
      kbackend bench compare base.json new.json --markdown summary.md --html report.html
    """
    from kbackend.bench import service
    from kbackend.render import bench_view

    report = service.compare_files(old, new, max_regression=max_regression, strict=strict,
                                   force_compare=force_compare)
    return bench_view.render(report, markdown_file=markdown_file, html_file=html_file,
                             step_summary=os.environ.get("GITHUB_STEP_SUMMARY"))
