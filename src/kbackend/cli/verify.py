"""`kbackend verify`: run the NumPy-validated op suite on every installed backend. Logic lives in kbackend.suite."""

from __future__ import annotations

import click

from kbackend.backends import KERAS3_ORDER
from kbackend.cli import catalog
from kbackend.cli.main import STATE, json_option
from kbackend.cli.params import multi_option

DTYPES = ("float16", "bfloat16", "float32", "float64")
FORMATS = ("channels_last", "channels_first")


@click.command()
@multi_option("--backend", "-b", "backends", choices=KERAS3_ORDER,
              expected=f"one of {list(KERAS3_ORDER)} (the Keras 3 backends)",
              help="Verify this backend (default: every installed one).")
@multi_option("--op", "ops", complete=catalog.OPS, metavar="CASE", help="Run only this case (see --list).")
@multi_option("--category", "categories", complete=catalog.CATEGORIES,
              help="Run only the cases of this category (see --list).")
@multi_option("--dtype", "dtypes", choices=DTYPES, metavar="DTYPE",
              help="Float dtype to run the cases in (default: the current floatx).")
@multi_option("--data-format", "data_formats", choices=FORMATS, metavar="FORMAT",
              help="image_data_format for the layout-dependent cases (default: both).")
@click.option("--no-grad", is_flag=True, help="Skip the gradient checks.")
@click.option("--no-model", is_flag=True, help="Skip the tiny-model check (forward, one SGD step, a short fit).")
@click.option("--timeout", type=click.FloatRange(min=1), default=600.0, show_default=True, metavar="SECONDS",
              help="Give up on a backend's child after this many seconds.")
@click.option("--no-compile-cache", is_flag=True,
              help="Compile jax's programs afresh instead of reusing those an earlier run cached.")
@click.option("--list", "list_", is_flag=True, help="List the cases and exit.")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False), metavar="PATH",
              help="Verify this saved model (.keras, or a legacy .h5) on every backend instead of the op suite.")
@click.option("--custom-objects", type=click.Path(exists=True, dir_okay=False), metavar="FILE.py",
              help="With --model: a Python file defining the model's custom layers and functions.")
@click.option("--unsafe", is_flag=True, help="With --model: turn Keras's safe mode off (Lambda layers' code runs).")
@click.option("--inputs", "inputs_npz", type=click.Path(exists=True, dir_okay=False), metavar="FILE.npz",
              help="With --model: the inputs to feed (default: seeded, generated from the model's input specs).")
@click.option("--reference", type=click.Choice(KERAS3_ORDER), default=None, metavar="BACKEND",
              help="With --model: the backend run at float64 as the reference (default: numpy).")
@click.option("--loss", default=None, metavar="LOSS",
              help="With --model: the train step's loss (default: the model's compiled loss, else mse).")
@click.option("--no-train", is_flag=True, help="With --model: skip the one-step training check.")
@click.option("--export", "export_", is_flag=True,
              help="With --model: also try model.export (tf_saved_model, onnx, openvino) and run what it wrote.")
@json_option
def verify(backends, ops, categories, dtypes, data_formats, no_grad, no_model, timeout, no_compile_cache, list_,
           model_path, custom_objects, unsafe, inputs_npz, reference, loss, no_train, export_):
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
      kbackend verify --backend torch,jax --category conv
      kbackend verify --dtype float16 --dtype bfloat16 --op matmul
      kbackend verify --list
      kbackend verify --json > verify.json
      kbackend verify --model model.keras
      kbackend verify --model model.keras --custom-objects layers.py --reference jax
    """
    if model_path:
        from kbackend.cli.verify_model import verify_model

        return verify_model(model_path, backends=backends, custom_objects=custom_objects, unsafe=unsafe,
                            inputs=inputs_npz, reference=reference, loss=loss, train=not no_train, export=export_,
                            timeout=timeout,
                            compile_cache=not no_compile_cache, other=dict(ops=ops, categories=categories,
                                                                           dtypes=dtypes, list_=list_))
    for opt, v in (("--custom-objects", custom_objects), ("--unsafe", unsafe), ("--inputs", inputs_npz),
                   ("--reference", reference), ("--loss", loss), ("--no-train", no_train), ("--export", export_)):
        if v:
            from kbackend.errors import UsageError

            raise UsageError(f"{opt} goes with --model PATH (verify a saved model).",
                             fix=f"kbackend verify --model model.keras {opt}" + ("" if v is True else f" {v}"))
    from kbackend.render import verify_view
    from kbackend.render.progress import progress
    from kbackend.suite import service

    target = STATE.target()
    # The suite is read in the target only to list it or check filters; otherwise each child runs it all.
    cases = service.cases(target) if list_ or ops or categories else None
    if list_:
        return verify_view.list_cases(service.select(cases, ops, categories))
    plan = service.plan(target, STATE.config(), cases, backends=backends, ops=ops, categories=categories,
                        dtypes=dtypes, data_formats=data_formats, keras_home=STATE.keras_home,
                        compile_cache=not no_compile_cache)
    for w in plan.warnings:
        verify_view.warn(w)
    with progress("verifying " + ", ".join(plan.backends), enabled=bool(plan.backends)) as step:
        rep = service.run(plan, grads=not no_grad, model=not no_model, timeout=timeout,
                          progress=verify_view.steps(step))
    return verify_view.render(rep)
