"""`kbackend verify`: run the NumPy-validated op suite on every installed backend. Logic lives in kbackend.suite."""

from __future__ import annotations

import click

from kbackend.cli.main import STATE, json_option

DTYPES = ("float16", "bfloat16", "float32", "float64")
FORMATS = ("channels_last", "channels_first")


@click.command()
@click.option("--backend", "-b", "backends", multiple=True, metavar="NAME",
              help="Verify this backend (repeatable; default: every installed one).")
@click.option("--op", "ops", multiple=True, metavar="CASE", help="Run only this case (repeatable; see --list).")
@click.option("--category", "categories", multiple=True, metavar="NAME",
              help="Run only the cases of this category (repeatable; see --list).")
@click.option("--dtype", "dtypes", multiple=True, type=click.Choice(DTYPES),
              help="Float dtype to run the cases in (repeatable; default: the current floatx).")
@click.option("--data-format", "data_formats", multiple=True, type=click.Choice(FORMATS),
              help="image_data_format for the layout-dependent cases (default: both).")
@click.option("--no-grad", is_flag=True, help="Skip the gradient checks.")
@click.option("--no-model", is_flag=True, help="Skip the tiny-model check (forward, one SGD step, a short fit).")
@click.option("--timeout", type=click.FloatRange(min=1), default=600.0, show_default=True, metavar="SECONDS",
              help="Give up on a backend's child after this many seconds.")
@click.option("--no-compile-cache", is_flag=True,
              help="Compile jax's programs afresh instead of reusing those an earlier run cached.")
@click.option("--list", "list_", is_flag=True, help="List the cases and exit.")
@json_option
def verify(backends, ops, categories, dtypes, data_formats, no_grad, no_model, timeout, no_compile_cache, list_):
    """Prove each backend computes what Keras promises: every op case against a float64 NumPy reference.

    Each backend runs the suite in its own child process (in parallel). Values are
    compared with tolerances chosen by output dtype and op class, output dtypes with
    keras.backend.result_type; on jax, torch and tensorflow the gradients too, and a
    tiny model's forward pass, one SGD step and a short fit. Known cross-backend
    differences are reported as xfail with the reason. Exit 0 when nothing fails,
    1 otherwise. The XLA programs jax compiles (jax, and the numpy backend's
    convolutions) are kept in kbackend's cache folder for the next run.

    \b
    Examples:
      kbackend verify
      kbackend verify --backend torch --backend jax --category conv
      kbackend verify --dtype float16 --dtype bfloat16 --op matmul
      kbackend verify --list
      kbackend verify --json > verify.json
    """
    from kbackend.render import verify_view
    from kbackend.suite import service

    target = STATE.target()
    # The suite is read in the target only to list it or check filters; otherwise each child runs it all.
    cases = service.cases(target) if list_ or ops or categories else None
    if list_:
        return verify_view.list_cases(service.select(cases, ops, categories), as_json=STATE.json)
    plan = service.plan(target, STATE.config(), cases, backends=backends, ops=ops, categories=categories,
                        dtypes=dtypes, data_formats=data_formats, keras_home=STATE.keras_home,
                        compile_cache=not no_compile_cache)
    for w in plan.warnings:
        verify_view.warn(w)
    with verify_view.progress(plan.backends) as on_progress:
        rep = service.run(plan, grads=not no_grad, model=not no_model, timeout=timeout, progress=on_progress)
    return verify_view.render(rep, as_json=STATE.json)
