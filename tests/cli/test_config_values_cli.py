"""Values and keys on the command line: negative numbers, the usage line, one list of keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kbackend.cli.config_cmds import KEYS


@pytest.mark.parametrize("args", [
    ("set", "epsilon", "-1e-5"),
    ("set", "epsilon", "-1e-5", "--force"),
    ("set", "--force", "epsilon", "-1e-5"),
    ("set", "epsilon", "-inf", "--json"),
    ("set", "epsilon", "-.5"),
    ("set", "epsilon", "-0"),
])
def test_negative_number_is_a_value_not_an_option(run_cli, keras_home, args):
    code, out, err = run_cli(*args)
    assert "No such option" not in err
    forced = "--force" in args
    assert code == (0 if forced else 1), err
    if forced:
        assert json.loads((keras_home / "keras.json").read_text())["epsilon"] == float(args[args.index("epsilon") + 1])
    else:
        assert "Keras accepts any float" in (err + out) and not (keras_home / "keras.json").exists()


def test_unknown_options_are_still_refused(run_cli, keras_home):
    code, _, err = run_cli("set", "epsilon", "-1e-5", "--forse")
    assert code == 2 and "--forse" in err
    code, _, err = run_cli("set", "epsilon", "1e-5", "-x")
    assert code == 2 and "-x" in err


@pytest.mark.parametrize("command", ["get", "set"])
def test_usage_names_key_whole_within_80_columns(run_cli, command):
    code, out, err = run_cli(command, "--help", env={"COLUMNS": "80"})
    assert code == 0
    assert out.splitlines()[0].startswith(f"Usage: kbackend {command} [OPTIONS] KEY")
    assert all(len(line) <= 80 for line in out.splitlines()), out
    for key in KEYS:  # every key is named whole in the help, never split over lines
        assert key in out.replace("\n  ", " ")
        assert any(key in line for line in out.splitlines()), key
    code, _, err = run_cli(command, "colour", "x")
    assert code == 2 and all(len(line) <= 80 for line in err.splitlines()[:2]), err
    assert "nnx_en\n" not in err


def _complete(*words: str) -> list[str]:
    env = dict(os.environ, _KBACKEND_COMPLETE="bash_complete", COMP_WORDS=" ".join(("kbackend",) + words),
               COMP_CWORD=str(len(words)))
    p = subprocess.run([sys.executable, "-m", "kbackend"], env=env, capture_output=True, text=True, timeout=60)
    return [line.split(",", 1)[1] for line in p.stdout.splitlines() if "," in line]


def test_get_offers_exactly_the_keys_it_answers(run_cli, keras_home):
    offered = _complete("get", "")
    assert offered and "image_dim_ordering" not in offered  # Keras 3 does not read it
    for key in offered:
        code, out, err = run_cli("get", key)
        assert code == 0 and out.strip(), (key, err)
    for key in set(KEYS) - set(offered):
        code, _, err = run_cli("get", key)
        assert code == 1 and "does not read" in err and "Unknown key" not in err, key
    assert _complete("set", "") == offered


def test_get_a_key_this_keras_ignores_but_the_file_holds(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text('{"image_dim_ordering": "th"}')
    code, out, _ = run_cli("get", "image_dim_ordering", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["value"] == "th" and "not read by Keras" in doc["origin"]
