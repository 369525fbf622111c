"""One backend name, one answer: switch, pins, run, shell-env and envs judge it alike.

Before services/acceptance.py each command had its own copy of the judgement (and
two wordings of "not installed", two install commands: one that knew Keras 3.0.5's
numpy backend also imports torch, one that did not).
"""

from __future__ import annotations

import json
import os

import pytest

from kbackend.config.location import Location
from kbackend.config.rules import rules_for
from kbackend.envs.target import Target
from kbackend.errors import KbackendError
from kbackend.services import acceptance as A
from kbackend.services import config as S
from kbackend.services import pinning, run


def _ctx(tmp_path, installed, keras="3.15.1"):
    prefix = tmp_path / "env"
    (prefix / "lib" / "python3.11" / "site-packages").mkdir(parents=True, exist_ok=True)
    t = Target(str(prefix / "bin" / "python"), "3.11.7", (str(prefix / "lib" / "python3.11" / "site-packages"),),
               str(prefix), "option", False)
    inst = dict(installed, **({"keras": keras} if keras else {}))
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return S.ConfigContext(t, inst, keras, rules_for(keras), Location(str(home), str(home / "keras.json"), "default"),
                           {})


def _answers(ctx, name):
    """What switch, the env pin, run and shell-env's judgement say about `name` in `ctx`."""
    out = {}
    try:
        S.switch(ctx, name, external_check=lambda c, m: [])
        out["switch"] = None
    except KbackendError as e:
        out["switch"] = e.message
    try:
        out["pin"] = pinning._validate(ctx, name, False) or None
    except KbackendError as e:
        out["pin"] = e.message
    try:
        w = run.plan(ctx, ["true"], backend=name).warnings
        out["run"] = w[0].removesuffix(" (running anyway: the command may use another interpreter)") if w else None
    except KbackendError as e:
        out["run"] = e.message
    return out


@pytest.mark.parametrize("installed,name,needle", [
    ({"numpy": "2.4.6"}, "jax", "The `jax` backend is not installed in"),
    ({"numpy": "2.4.6"}, "numpy", "missing: jax, jaxlib"),
    ({"jax": "0.7.0", "jaxlib": "0.7.0"}, "jaxx", "Did you mean"),
    ({"jax": "0.7.0", "jaxlib": "0.7.0"}, "JAX", "Keras does not strip or lower-case"),
    ({}, "cntk", "separate legacy environment"),
])
def test_every_command_words_a_situation_the_same(tmp_path, installed, name, needle):
    ctx = _ctx(tmp_path, installed)
    answers = _answers(ctx, name)
    assert len(set(answers.values())) == 1, answers
    said = answers["switch"]
    assert needle in said and said == A.resolve(ctx, name).message
    assert not os.path.exists(ctx.path)  # refused: nothing written


def test_keras_3_0_5_numpy_needs_torch_everywhere(tmp_path):
    """The install command knows what this Keras's numpy backend imports besides (it used not to in pins/run)."""
    ctx = _ctx(tmp_path, {"jax": "0.4.30", "jaxlib": "0.4.30", "numpy": "1.26.4"}, keras="3.0.5")
    answers = _answers(ctx, "numpy")
    assert len(set(answers.values())) == 1, answers
    assert "missing: torch" in answers["switch"] and "torch" in A.resolve(ctx, "numpy").install


def test_a_too_old_package_is_a_problem_switch_warns_of(tmp_path):
    ctx = _ctx(tmp_path, {"jax": "0.4.1", "jaxlib": "0.4.1"})
    res = S.switch(ctx, "jax")
    assert res.changed and json.load(open(ctx.path))["backend"] == "jax"
    assert any("jax 0.4.1 is older than 0.4.20" in w for w in res.warnings)
    with pytest.raises(KbackendError, match="older than 0.4.20") as e:
        pinning._validate(ctx, "jax", False)  # a pin that cannot work is refused unless forced
    assert e.value.fix == "pass --force to pin it anyway"
    assert "older than 0.4.20" in run.plan(ctx, ["true"], backend="jax").warnings[0]


def test_refusals_carry_the_fix_for_their_command(run_cli, keras_home):
    """A name Keras does not accept is refused by every command, each with its own command as the fix."""
    fixes = {}
    for args, fix in ((("switch", "jaxx"), "kbackend switch jax"),
                      (("run", "--backend", "jaxx", "--", "true"), "kbackend run --backend jax -- ..."),
                      (("shell-env", "jaxx", "--shell", "bash"), "kbackend shell-env jax")):
        code, out, err = run_cli("--json", *args)
        assert code == 1, (args, out, err)
        doc = json.loads(out)
        fixes[args[0]] = doc["error"]["fix"]
        assert "Did you mean `jax`?" in doc["error"]["message"] or "did you mean" in doc["error"]["message"].lower()
        assert fix == doc["error"]["fix"], doc
    assert len(fixes) == 3
