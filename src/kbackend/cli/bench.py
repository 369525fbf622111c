"""`kbackend bench`: time the op suite on each backend, against the machine's peak and a baseline."""

from __future__ import annotations

import os

import click

from kbackend.backends import KERAS3_ORDER
from kbackend.cli import catalog
from kbackend.cli.main import STATE, json_option
from kbackend.cli.params import multi_option

SIZES = ("small", "medium", "large")
DTYPES = ("float16", "bfloat16", "float32", "float64")
KERAS3 = KERAS3_ORDER


@click.command()
@multi_option("--backend", "-b", "backends", choices=KERAS3, expected=f"one of {list(KERAS3)} (the Keras 3 backends)",
              help="Backend to time (default: every installed one).")
@multi_option("--op", "ops", complete=catalog.OPS, help="Op case to time (default: all).")
@multi_option("--category", "categories", complete=catalog.CATEGORIES[:-1],
              help="Only cases of this category (elementwise, matmul, conv, ...).")
@multi_option("--size", "sizes", choices=SIZES, metavar="SIZE", help="Input size (default: medium).")
@multi_option("--dtype", "dtypes", choices=DTYPES, metavar="DTYPE", help="Float type (default: float32).")
@click.option("--quick", is_flag=True, help="A few common ops, short samples: under a minute per backend (CI).")
@click.option("--threads", type=click.IntRange(1), default=None, metavar="N",
              help="Threads of every library, fixed before import (default: all cores).")
@click.option("--processes", type=click.IntRange(1), default=5, show_default=True, metavar="P",
              help="Independent processes per backend (the gate's repetitions).")
@click.option("--repeat", "rounds", type=click.IntRange(1), default=None, metavar="R",
              help="Interleaved rounds (samples) per process (default 11; 7 with --quick).")
@click.option("--jit", is_flag=True, help="Time the compiled form (jax.jit, XLA tf.function, torch.compile).")
@click.option("--save", metavar="FILE", type=click.Path(dir_okay=False), help="Save this run as a baseline.")
@click.option("--baseline", metavar="FILE", type=click.Path(dir_okay=False),
              help="Compare with a saved baseline; exit 1 on a regression.")
@click.option("--max-regression", type=click.FloatRange(0, min_open=True), default=10.0, show_default=True,
              metavar="PCT", help="Slowdown (in %) a significant change must reach to count as a regression.")
@click.option("--force-compare", is_flag=True, help="Compare even when the machine or versions differ.")
@click.option("--markdown", "markdown_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write a markdown summary (also appended to $GITHUB_STEP_SUMMARY when set).")
@click.option("--html", "html_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write one self-contained HTML report with charts and a roofline.")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False), metavar="PATH",
              help="Time this saved model (predict per --batch, one train step) instead of the op cases.")
@click.option("--batch", "batches", type=click.IntRange(1), multiple=True, metavar="N",
              help="With --model: batch size to time predict at (repeatable; default 1 and 32).")
@json_option
def bench(backends, ops, categories, sizes, dtypes, quick, threads, processes, rounds, jit, save, baseline,
          max_regression, force_compare, markdown_file, html_file, model_path, batches):
    """Time Keras ops on each backend, relative to this machine's measured peak.

    Each backend runs in its own processes with thread counts fixed before
    import; times are medians of interleaved rounds, with the first call
    (compilation) reported apart.

    \b
    Examples:
      kbackend bench --quick
      kbackend bench --backend jax,torch --op matmul --size large --html bench.html
      kbackend bench --quick --save base.json
      kbackend bench --quick --baseline base.json --markdown summary.md
      kbackend bench --model model.keras --batch 1 --batch 64
    """
    if model_path:
        from kbackend.cli.verify_model import bench_model

        return bench_model(model_path, backends=backends, batches=batches, rounds=rounds, threads=threads)
    from kbackend.bench import service
    from kbackend.render import bench_view
    from kbackend.render.progress import progress

    job = service.plan(STATE.target(), backends=backends, ops=ops, categories=categories, sizes=sizes, dtypes=dtypes,
                       quick=quick, threads=threads, processes=processes, rounds=rounds, jit=jit, baseline=baseline,
                       max_regression=max_regression, force_compare=force_compare)
    with progress("bench", job.total_steps) as step:
        report = service.run(job, on_progress=bench_view.steps(step), save=save)
    return bench_view.render(report, saved=save, markdown_file=markdown_file, html_file=html_file,
                             step_summary=os.environ.get("GITHUB_STEP_SUMMARY"))
