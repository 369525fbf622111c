"""`kbackend verify`: run the NumPy-validated op suite on every installed backend. Logic lives in kbackend.suite."""

from __future__ import annotations

import click

from kbackend.backends import KERAS3_ORDER
from kbackend.cli import catalog
from kbackend.cli.main import STATE, json_option
from kbackend.cli.params import multi_option

DTYPES = ("float16", "bfloat16", "float32", "float64")


def _complete_case(ctx, param, incomplete):
    from click.shell_completion import CompletionItem

    return [CompletionItem(n) for n in catalog.OPS if n.startswith(incomplete)]
FORMATS = ("channels_last", "channels_first")


@click.command()
@multi_option("--backend", "-b", "backends", choices=KERAS3_ORDER,
              expected=f"one of {list(KERAS3_ORDER)} (the Keras 3 backends)",
              help="Verify this backend (default: every installed one).")
@multi_option("--op", "ops", complete=catalog.OPS, metavar="CASE",
              help="Run only this case and its variants (OP selects OP and every OP.CONDITION; see --list).")
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
@click.option("--strict", is_flag=True, help="Fail on known upstream defects too (status known).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Draw the cases' random inputs from seed N (0: the suite's fixed inputs).")
@click.option("--rounds", type=click.IntRange(min=1, max=1000), default=1, show_default=True, metavar="K",
              help="Run each case on K draws (seeds N..N+K-1); a row shows its worst draw and that draw's seed.")
@click.option("--repro", metavar="CASE", shell_complete=_complete_case,
              help="Write CASE's inputs (.npz) and a plain keras.ops script that shows its error, run it, and exit.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="kbackend-repro", show_default=True,
              metavar="DIR", help="Where --repro writes its files.")
@click.option("--list", "list_", is_flag=True, help="List the cases (variants under their op) and exit.")
@click.option("--coverage", is_flag=True,
              help="List every keras.ops function with the cases that call it (recorded in a child), then those "
                   "with none, and exit.")
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
def verify(backends, ops, categories, dtypes, data_formats, no_grad, no_model, timeout, no_compile_cache, strict, seed,
           rounds, repro, out_dir, list_, coverage, model_path, custom_objects, unsafe, inputs_npz, reference, loss,
           no_train, export_):
    """Prove each backend computes what Keras promises: every op case against a float64 NumPy reference.

    Each backend runs the suite in its own child process (in parallel). Values are
    compared with tolerances chosen by output dtype and op class, output dtypes with
    keras.backend.result_type; on jax, torch and tensorflow the gradients too, and a
    tiny model's forward pass, one SGD step and a short fit; at kinks (relu and abs
    at 0, ties, bounds) against the consensus of those three. Known cross-backend
    differences are reported as xfail with the reason, known upstream defects
    (in their version range) as known with the upstream thread. Exit 0 when
    nothing fails (known included, unless --strict), 1 otherwise. The XLA programs jax compiles (jax, and the numpy backend's
    convolutions) are kept in kbackend's cache folder for the next run.

    \b
    Examples:
      kbackend verify
      kbackend verify --backend torch,jax --category conv
      kbackend verify --dtype float16 --dtype bfloat16 --op matmul
      kbackend verify --op argmax --rounds 5
      kbackend verify --repro exp --backend torch --dtype float32 --out /tmp/exp
      kbackend verify --list
      kbackend verify --coverage
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
    cases = service.cases(target) if list_ or ops or categories or repro else None
    if list_:
        return verify_view.list_cases(service.select(cases, ops, categories))
    if coverage:
        from kbackend.suite import coverage as cov

        names = [c.name for c in service.select(cases, ops, categories)] if cases is not None else None
        env = {"KERAS_HOME": STATE.keras_home} if STATE.keras_home else None
        with progress("recording which keras.ops functions the cases call"):
            rep = cov.coverage(target, names=names, backends=backends, env=env, timeout=timeout)
        return verify_view.coverage(rep)
    if repro:
        rep = service.repro(target, cases, repro, backend=backends[0] if backends else None,
                            dtype=dtypes[0] if dtypes else None, data_format=data_formats[0] if data_formats else None,
                            seed=seed, out_dir=out_dir, ctx=STATE.config(),
                            env={"KERAS_HOME": STATE.keras_home} if STATE.keras_home else None, run_it=True,
                            timeout=timeout)
        return verify_view.repro(rep)
    plan = service.plan(target, STATE.config(), cases, backends=backends, ops=ops, categories=categories,
                        dtypes=dtypes, data_formats=data_formats, keras_home=STATE.keras_home,
                        compile_cache=not no_compile_cache)
    for w in plan.warnings:
        verify_view.warn(w)
    with progress("verifying " + ", ".join(plan.backends), enabled=bool(plan.backends)) as step:
        rep = service.run(plan, grads=not no_grad, model=not no_model, timeout=timeout,
                          progress=verify_view.steps(step), seed=seed, rounds=rounds, strict=strict)
    return verify_view.render(rep)
