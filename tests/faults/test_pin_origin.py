"""An environment pin, seen from inside the pinned environment: kbackend itself runs from the venv
whose pin sets KERAS_BACKEND in kbackend's own process. Every command must call that value the pin
it is (`env-pin:PATH`), never the user's `env:KERAS_BACKEND`, and no child may inherit it as the
user's. And a pin must round-trip any backend string exactly, quoting included, and never run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
from test_envs_support import make_venv, py, site_of  # noqa: E402

from kbackend.envs import pin as pinfile  # noqa: E402

PIN_VARS = ("KERAS_BACKEND", pinfile.MARKER)


def _base_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PIN_VARS + ("VIRTUAL_ENV", "CONDA_PREFIX")}
    env.update(extra)
    return env


def kb_in(env_dir: Path, *args, env=None, timeout=300) -> subprocess.CompletedProcess:
    """kbackend run by the environment's own interpreter (so the pin applies to kbackend's process)."""
    return subprocess.run([py(env_dir), "-m", "kbackend", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or _base_env())


def _json(r: subprocess.CompletedProcess) -> dict:
    assert r.stdout, r.stderr
    return json.loads(r.stdout)


def _seen(python: str, env=None) -> dict:
    """KERAS_BACKEND and the marker as `python` sees them once its .pth files have run."""
    code = f"import os, json; print(json.dumps({{k: os.environ.get(k) for k in {PIN_VARS!r}}}))"
    r = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60, env=env or _base_env(),
                       check=True)
    return json.loads(r.stdout)


@pytest.fixture
def pinned(tmp_path, keras_home):
    """A venv that sees the shared packages (kbackend included), pinned to torch, keras.json on numpy."""
    env = make_venv(tmp_path / "pinned", see_shared=True)
    r = kb_in(env, "switch", "torch", "--scope", "env")
    assert r.returncode == 0, r.stderr
    r = kb_in(env, "switch", "numpy")
    assert r.returncode == 0, r.stderr
    assert json.loads((keras_home / "keras.json").read_text())["backend"] == "numpy"
    return env


def test_the_pin_sets_a_marker_only_when_it_sets_the_variable(pinned):
    pin = str(site_of(pinned) / pinfile.PIN_FILE)
    assert _seen(py(pinned)) == {"KERAS_BACKEND": "torch", pinfile.MARKER: "torch"}
    # the user's own value: left alone, no marker
    assert _seen(py(pinned), _base_env(KERAS_BACKEND="jax")) == {"KERAS_BACKEND": "jax", pinfile.MARKER: None}
    # a value another pin set (inherited from a pinned parent process) is replaced by this pin's
    inherited = _base_env(KERAS_BACKEND="jax", **{pinfile.MARKER: "jax"})
    assert _seen(py(pinned), inherited) == {"KERAS_BACKEND": "torch", pinfile.MARKER: "torch"}
    # the user changed it after a pin set it: the user's value wins
    changed = _base_env(KERAS_BACKEND="tensorflow", **{pinfile.MARKER: "jax"})
    assert _seen(py(pinned), changed)["KERAS_BACKEND"] == "tensorflow"
    assert pinfile.read_pin(_target(pinned)) == ("torch", f"env-pin:{pin}")


def _target(env_dir: Path):
    from kbackend.envs.target import query

    return query(py(env_dir), "test", timeout=60)


@pytest.mark.integration
def test_show_get_and_real_keras_agree_on_the_pin(pinned):
    pin = str(site_of(pinned) / pinfile.PIN_FILE)
    doc = _json(kb_in(pinned, "show", "--json"))
    assert doc["effective"]["backend"] == {"value": "torch", "origin": f"env-pin:{pin}"}
    ids = [p["id"] for p in doc["problems"]]
    assert "pin_overrides_backend" in ids and "env_overrides_backend" not in ids
    r = kb_in(pinned, "show", env={**_base_env(), "COLUMNS": "400"})  # one origin a line, unwrapped
    assert f"env-pin:{pin}" in r.stdout and "env:KERAS_BACKEND" not in r.stdout
    assert "sets backend 'torch'" in r.stdout and "over backend='numpy'" in r.stdout
    assert kb_in(pinned, "get", "backend").stdout.strip() == "torch"
    r = subprocess.run([py(pinned), "-c", "import keras; print(keras.backend.backend())"], capture_output=True,
                       text=True, timeout=300, env=_base_env())
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "torch"


def test_switch_in_the_pinned_env_names_the_pin_not_the_variable(pinned):
    r = kb_in(pinned, "switch", "jax")
    assert r.returncode == 0, r.stderr
    assert "unset KERAS_BACKEND" not in r.stderr and "KERAS_BACKEND=" not in r.stderr
    assert "environment pin" in r.stderr and "--scope env --unset" in r.stderr
    assert "Keras will use: torch" in r.stdout and "env-pin:" in r.stdout
    doc = _json(kb_in(pinned, "switch", "numpy", "--json"))
    assert doc["effective"]["backend"]["origin"].startswith("env-pin:")
    assert not any("KERAS_BACKEND" in w for w in doc["warnings"])
    # pinning again to the same backend is a no-op, said so; --scope env sees no user variable either
    r = kb_in(pinned, "switch", "torch", "--scope", "env")
    assert r.returncode == 0 and "unchanged" in r.stdout and "KERAS_BACKEND" not in r.stderr
    # a variable the user sets is still the user's, and is named
    r = kb_in(pinned, "switch", "numpy", env=_base_env(KERAS_BACKEND="jax"))
    assert "KERAS_BACKEND=jax is set" in r.stderr


def test_doctor_in_the_pinned_env_says_the_pin_decides(pinned):
    doc = _json(kb_in(pinned, "doctor", "--check", "keras-backend-env", "--json"))
    (f,) = [c for c in doc["checks"] if c["id"] == "keras-backend-env"]
    text = " ".join(f["evidence"])
    assert "does not contradict" not in text and "KERAS_BACKEND=torch" not in text
    assert "KERAS_BACKEND is not set" in text and "environment pin" in text and "'numpy'" in text
    # the user's own contradicting variable: a warning naming the file and the pin it overrides
    doc = _json(kb_in(pinned, "doctor", "--check", "keras-backend-env", "--json", env=_base_env(KERAS_BACKEND="jax")))
    (f,) = [c for c in doc["checks"] if c["id"] == "keras-backend-env"]
    assert f["status"] == "warn"
    assert "env-pin:" in f["evidence"][0] and "backend='numpy'" in f["evidence"][0]


def test_inherited_pin_value_is_not_the_users_in_another_environment(pinned, tmp_path):
    """A process started by a pinned one inherits KERAS_BACKEND and the marker: for another environment,
    that is not the user's choice (kbackend run from the shared .venv, --python elsewhere)."""
    other = make_venv(tmp_path / "other", see_shared=True)
    inherited = _base_env(KERAS_BACKEND="torch", **{pinfile.MARKER: "torch"})
    doc = _json(kb_in(other, "show", "--json", env=inherited))
    assert doc["effective"]["backend"]["value"] == "numpy"
    assert doc["effective"]["backend"]["origin"].endswith("keras.json")
    doc = _json(kb_in(other, "--python", py(pinned), "show", "--json", env=inherited))
    assert doc["effective"]["backend"]["origin"].startswith("env-pin:")
    # a user value that differs from the marker is the user's
    mine = _base_env(KERAS_BACKEND="jax", **{pinfile.MARKER: "torch"})
    doc = _json(kb_in(other, "show", "--json", env=mine))
    assert doc["effective"]["backend"] == {"value": "jax", "origin": "env:KERAS_BACKEND"}


def test_envs_lists_each_environment_with_its_own_backend(pinned, tmp_path):
    other = make_venv(tmp_path / "other", see_shared=True)
    doc = _json(kb_in(pinned, "envs", "--path", str(other), "--json",
                      env=_base_env(WORKON_HOME=str(tmp_path / "none"), PYENV_ROOT=str(tmp_path / "none"))))
    by_prefix = {e["prefix"]: e for e in doc["environments"]}
    mine, theirs = by_prefix[str(pinned)], by_prefix[str(other)]
    assert mine["backend"]["value"] == "torch" and mine["backend"]["origin"].startswith("env-pin:")
    assert theirs["backend"]["value"] == "numpy" and theirs["backend"]["origin"].endswith("keras.json")
    assert theirs["pin"] is None


def test_run_children_get_the_users_environment_and_their_own_pin(pinned, tmp_path):
    other = make_venv(tmp_path / "other")
    # another interpreter started by `run` does not inherit the pin's value as if the user had set it
    r = kb_in(pinned, "run", "--", py(other), "-c",
              "import os; print(os.environ.get('KERAS_BACKEND'), os.environ.get('KBACKEND_PIN_SET'))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["None", "None"]
    # the pinned interpreter applies its pin again, itself
    assert _json_line(kb_in(pinned, "run", "--", py(pinned), "-c", _PRINT)) == ["torch", "torch"]
    # `run --backend` is an explicit value: the pin leaves it alone
    assert _json_line(kb_in(pinned, "run", "--backend", "numpy", "--", py(pinned), "-c", _PRINT)) == ["numpy", None]


_PRINT = "import os, json; print(json.dumps([os.environ.get('KERAS_BACKEND'), os.environ.get('KBACKEND_PIN_SET')]))"


def _json_line(r: subprocess.CompletedProcess):
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_shell_env_unset_says_the_pin_then_decides(pinned):
    doc = _json(kb_in(pinned, "shell-env", "--unset", "--shell", "bash", "--json"))
    assert doc["lines"] == ["unset KERAS_BACKEND"]
    assert any("pinned to torch" in w for w in doc["warnings"])


# ---------------------------------------------------------------------- any string round-trips

NAMES = [
    "it's", 'say "hi"', "back\\slash", "trailing\\", "new\nline", "tab\there", "ünïcødé", "emoji 🙂",
    "$(touch pwned)", "'); import os; os.system('touch pwned'); ('", "a=b", " spaced ", "\\x41", "\\u00e9",
    "\udcff",  # what a non-UTF-8 byte on the command line becomes
]


@pytest.mark.parametrize("name", NAMES)
def test_pin_text_round_trips(name):
    line = pinfile.pin_line(name)
    assert line.isascii() and line.count("\n") == 1 and line.startswith("import ")
    assert pinfile.read_line(line) == name


def test_refused_names_are_refused_before_writing():
    for bad in ("nul\0byte", "\ud800"):
        assert pinfile.name_problem(bad)
        with pytest.raises(ValueError):
            pinfile.pin_line(bad)


def test_older_pins_are_still_read():
    old = ("import os; os.environ.get('KERAS_BACKEND') or os.environ.__setitem__('KERAS_BACKEND', 'jax')"
           "  # kbackend pin: remove with `kbackend switch --scope env --unset`\n")
    assert pinfile.read_line(old) == "jax"
    assert pinfile.read_line(old.replace("'jax'", '"it\'s"')) == "it's"
    assert pinfile.read_line("import os  # not a pin\n") is None


def test_forced_odd_names_round_trip_through_python_and_kbackend(tmp_path):
    env = make_venv(tmp_path / "odd", see_shared=True)
    names = ["it's", "a\\b\"c", "new\nline", "ünï 🙂", "'); import os; os.system('touch pwned'); ('"]
    for name in names:
        r = kb_in(env, "--python", py(env), "switch", name, "--scope", "env", "--force", "--json",
                  env=_base_env(), timeout=120)
        assert r.returncode == 0, r.stderr
        assert _seen(py(env))["KERAS_BACKEND"] == name  # what Python applies ...
        doc = _json(kb_in(env, "get", "backend", "--json"))
        assert doc["value"] == name and doc["origin"].startswith("env-pin:")  # ... is what kbackend reports
        assert not (Path.cwd() / "pwned").exists() and not (tmp_path / "pwned").exists()
    # a byte that is not UTF-8, from the command line
    r = subprocess.run([os.fsencode(py(env)), b"-m", b"kbackend", b"switch", b"x\xff", b"--scope", b"env",
                        b"--force"], capture_output=True, timeout=120, env=_base_env())
    assert r.returncode == 0, r.stderr
    code = "import os; print(os.environb[b'KERAS_BACKEND'].hex())"
    out = subprocess.run([py(env), "-c", code], capture_output=True, text=True, timeout=60, env=_base_env())
    assert out.stdout.strip() == b"x\xff".hex()
    # and no Python start-up prints an error about the pin
    r = subprocess.run([py(env), "-c", "pass"], capture_output=True, text=True, timeout=60, env=_base_env())
    assert r.stderr == ""


def test_repinning_rewrites_a_pin_of_the_older_format(tmp_path, run_cli):
    env = make_venv(tmp_path / "old", see_shared=True)
    pin = site_of(env) / pinfile.PIN_FILE
    pin.write_text("import os; os.environ.get('KERAS_BACKEND') or os.environ.__setitem__('KERAS_BACKEND', 'jax')"
                   "  # kbackend pin: remove with `kbackend switch --scope env --unset`\n")
    code, out, err = run_cli("--python", py(env), "switch", "jax", "--scope", "env", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["changed"] is True and doc["previous"] == "jax"
    assert pin.read_text() == pinfile.pin_line("jax")
    assert _seen(py(env)) == {"KERAS_BACKEND": "jax", pinfile.MARKER: "jax"}
    code, out, _ = run_cli("--python", py(env), "switch", "jax", "--scope", "env", "--json")
    assert json.loads(out)["changed"] is False


def test_judge_names_every_layer_a_users_variable_overrides():
    from kbackend.config.judge import judge
    from kbackend.config.records import FileState
    from kbackend.config.rules import rules_for

    fs = FileState(path="/h/keras.json", status="ok", data={"backend": "numpy"})
    inst = {"keras": "3.15.1", "torch": "2.5.0", "jax": "0.10.2", "jaxlib": "0.10.2"}
    pin = ("torch", "env-pin:/e/kbackend-pin.pth")
    # the user's value equals the pin but not the file: the file is overridden, and said so
    j = judge(fs, rules_for("3.15.1"), {"KERAS_BACKEND": "torch"}, inst, pin=pin)
    (p,) = [p for p in j.problems if p.id == "env_overrides_backend"]
    assert "backend='numpy' from /h/keras.json" in p.message and "env-pin" not in p.message
    # no user value: the pin is the layer that decides, over the file
    j = judge(fs, rules_for("3.15.1"), {}, inst, pin=pin)
    assert j.effective["backend"].origin == pin[1]
    assert [p.id for p in j.problems if p.key == "backend"] == ["pin_overrides_backend"]
    # the marker of a pin in kbackend's own process is not the user's value
    j = judge(fs, rules_for("3.15.1"), pinfile.user_environ({"KERAS_BACKEND": "torch", pinfile.MARKER: "torch"}),
              inst, pin=pin)
    assert j.effective["backend"].origin == pin[1]
