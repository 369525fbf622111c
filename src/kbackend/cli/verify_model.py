"""`kbackend verify --model PATH`: the CLI half (parse, call kbackend.suite.model_verify, render)."""

from __future__ import annotations

from kbackend.cli.main import STATE
from kbackend.errors import UsageError


def verify_model(path, *, backends, custom_objects, unsafe, inputs, reference, loss, train, timeout,
                 compile_cache, other, export=False):
    from kbackend.render import model_view
    from kbackend.render.progress import progress
    from kbackend.suite import model_verify as M

    for opt, v in (("--op", other.get("ops")), ("--category", other.get("categories")),
                   ("--dtype", other.get("dtypes")), ("--list", other.get("list_")),
                   ("--coverage", other.get("coverage")), ("--repro", other.get("repro")),
                   ("--strict", other.get("strict")), ("--rounds", other.get("rounds")), ("--seed", other.get("seed"))):
        if v:
            raise UsageError(f"{opt} selects op cases; it does not go with --model (which runs a saved model).",
                             fix=f"kbackend verify --model {path}")
    p = M.plan(STATE.target(), path=path, backends=backends, custom_objects=custom_objects, unsafe=unsafe,
               inputs=inputs, reference=reference, loss=loss, train=train, keras_home=STATE.keras_home,
               compile_cache=compile_cache, export=export)
    total = len(p.backends) + 1
    with progress("verifying the model on " + ", ".join(p.backends), total) as step:
        rep = M.run(p, timeout=timeout, progress=lambda what: step(what))
    return model_view.render(rep)
