"""Verdicts a second adversarial pass over the fixes of the first found false (one test a finding)."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
from test_envs_support import make_venv, py, site_of  # noqa: E402

from kbackend import names  # noqa: E402
from kbackend.envs import pin as pinfile  # noqa: E402


@pytest.mark.parametrize("kind", ["directory", "socket"])
def test_get_gives_no_value_where_keras_fails_to_read_the_file(run_cli, keras_home, kind, tmp_path):
    """A directory or a socket at keras.json: `import keras` fails (IsADirectoryError, OSError ENXIO),
    so no backend is in effect; `get` used to answer Keras's default, exit 0, beside `check`'s error."""
    keras_home.mkdir(parents=True, exist_ok=True)
    target = keras_home / "keras.json"
    s = None
    if kind == "directory":
        target.mkdir()
    else:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(target))
    try:
        code, out, err = run_cli("get", "backend")
        assert code == 1 and out == ""
        assert "`import keras` fails with" in err and "no effective `backend`" in err
        code, out, _ = run_cli("--json", "get", "backend")
        assert code == 1 and "import keras" in json.loads(out)["error"]["message"]
        code, _, _ = run_cli("check")
        assert code == 1
    finally:
        if s is not None:
            s.close()


def test_a_forced_write_that_changes_nothing_says_no_write_happened(run_cli, keras_home):
    code, _, _ = run_cli("set", "epsilon", "-1e-5", "--force")
    assert code == 0
    code, out, err = run_cli("--json", "set", "epsilon", "-1e-5", "--force")
    doc = json.loads(out)
    assert code == 0 and doc["changed"] is False and doc["backup"] is None
    assert not [w for w in doc["warnings"] if "written anyway" in w], doc["warnings"]
    assert any("already holds" in w for w in doc["warnings"])


def test_a_fix_line_with_no_name_to_suggest_is_still_a_command_to_paste(run_cli, keras_home):
    code, _, err = run_cli("switch", "zzzzz")
    assert code == 1
    fix = next(line for line in err.splitlines() if line.startswith("fix: "))
    assert " | " not in fix  # pasted into a shell, "a | b" is a pipeline
    assert fix.startswith("fix: kbackend switch BACKEND  # one of: ") and "jax" in fix


def test_an_empty_pin_is_no_pin(tmp_path, run_cli, keras_home):
    """A pin that sets KERAS_BACKEND='' changes nothing: Keras ignores an empty variable."""
    env = make_venv(tmp_path / "e", see_shared=True)
    (site_of(env) / pinfile.PIN_FILE).write_text(pinfile.pin_line("jax").replace("'jax'", "''"))
    assert pinfile.read_line((site_of(env) / pinfile.PIN_FILE).read_text()) == ""
    keras_home.mkdir(parents=True, exist_ok=True)
    (keras_home / "keras.json").write_text('{"backend": "numpy"}')
    code, out, _ = run_cli("--python", py(env), "--json", "show")
    assert code == 0
    assert json.loads(out)["effective"]["backend"]["origin"] == str(keras_home / "keras.json")


@pytest.mark.parametrize("raw, expected", [
    (["numpy torch"], ["numpy", "torch"]),
    (["jax, torch"], ["jax", "torch"]),
    (["jax,,torch", " numpy "], ["jax", "torch", "numpy"]),
])
def test_a_list_with_spaces_keeps_every_name(raw, expected):
    assert names.split(raw) == expected


def test_verify_with_a_space_separated_list_suggests_no_name_dropped(run_cli):
    code, _, err = run_cli("verify", "--backend", "numpy tourch", "--op", "add")
    assert code == 2
    fix = next(line for line in err.splitlines() if line.startswith("fix: "))
    assert "numpy" in fix and "torch" in fix


def test_main_help_fits_80_columns(run_cli):
    code, out, _ = run_cli("--help", env={"COLUMNS": "80"})
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 80


@pytest.mark.parametrize("width", [50, 60, 80])
def test_a_wrapped_fix_pastes_back_into_a_shell_as_the_same_command(width):
    """A fix wrapped to the width (check and doctor print them) ends its lines in " \\", so pasting
    the lines into a shell runs the one command: the same words, a quoted path with spaces whole."""
    import shlex
    import subprocess

    from kbackend.render.output import wrap_command

    cmd = ("'/home/u/my envs/bin/python' -m pip install 'torch>=2.1.0' --index-url "
           "https://download.pytorch.org/whl/cpu")
    lines = wrap_command(cmd, first="fix: ", rest="     ", width_=width)
    assert len(lines) > 1 and all(len(line) <= width for line in lines[1:])
    pasted = "\n".join(line[5:] for line in lines)
    out = subprocess.run(["bash", "-c", "set -- " + pasted + "\nprintf '%s\\n' \"$@\""], capture_output=True,
                         text=True, timeout=30).stdout.splitlines()
    assert out == shlex.split(cmd)
