"""Completion scripts in completions/ stay in sync, and completion itself works without Keras."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kbackend.cli.completion import FILES, script

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("shell", sorted(FILES))
def test_completion_files_in_sync(shell):
    path = REPO / "completions" / FILES[shell]
    assert path.read_text() == script(shell), (
        f"{path} drifted from `kbackend completion {shell}`; regenerate it: kbackend completion {shell} > {path}"
    )


@pytest.mark.parametrize("shell", sorted(FILES))
def test_completion_command_prints_script(run_cli, shell):
    code, out, _ = run_cli("completion", shell)
    assert code == 0 and out == script(shell)


def _complete(words: str, cword: int) -> list[str]:
    env = dict(os.environ, _KBACKEND_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(cword))
    # -X importtime shows which modules completion imported: neither Keras nor a backend.
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "kbackend"], env=env, capture_output=True,
                       text=True, timeout=60)
    imported = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if "|" in line}
    assert not imported & {"keras", "jax", "torch", "tensorflow", "openvino", "pydantic"}, imported
    return [line.split(",", 1)[1] for line in p.stdout.splitlines()]


def test_completes_backend_names():
    assert _complete("kbackend switch j", 2) == ["jax"]
    assert "openvino" in _complete("kbackend switch ", 2)


def test_switch_completes_only_what_the_installed_keras_accepts():
    # Keras 3 (installed here) accepts five backends; theano, cntk and mxnet are Keras 2 names
    # that `switch` would refuse, so completion does not offer them.
    offered = _complete("kbackend switch ", 2)
    assert offered == ["tensorflow", "jax", "torch", "numpy", "openvino"]
    assert _complete("kbackend run --backend ", 3) == offered


def test_completes_keys_and_values():
    assert _complete("kbackend set flo", 2) == ["floatx"]
    assert _complete("kbackend set image_data_format channels_", 3) == ["channels_last", "channels_first"]


def test_python_dash_m_works(tmp_path):
    p = subprocess.run([sys.executable, "-m", "kbackend", "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and "kbackend" in p.stdout


def test_config_commands_import_neither_keras_nor_pydantic(tmp_path):
    env = dict(os.environ, KERAS_HOME=str(tmp_path))
    (tmp_path / "keras.json").write_text('{"backend": "jax"}')
    for args in (["show"], ["get", "backend"], ["check"], ["path"]):
        p = subprocess.run([sys.executable, "-X", "importtime", "-m", "kbackend", *args], env=env,
                           capture_output=True, text=True, timeout=60)
        imported = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if "|" in line}
        assert "kbackend.services.config" in imported  # the probe saw the command run
        assert not imported & {"keras", "jax", "torch", "tensorflow", "openvino", "pydantic", "rich"}, args


def test_colour_follows_no_color_and_force_color(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text('{"backend": "cntk"}')
    _, out, _ = run_cli("check", env={"FORCE_COLOR": "1"})
    assert "\x1b[" in out
    _, out, _ = run_cli("check", env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[" not in out
    _, out, _ = run_cli("check")  # not a terminal
    assert "\x1b[" not in out


def test_completion_json(run_cli):
    import json

    code, out, _ = run_cli("completion", "fish", "--json")
    assert code == 0 and json.loads(out)["script"] == script("fish")
