"""`kbackend run` and `shell-env`, as real processes: real Keras in the child, real signals, real shells."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_envs_support import KB, kb  # noqa: E402

PY = sys.executable


@pytest.fixture
def user_keras(keras_home) -> Path:
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps(
        {"floatx": "float32", "epsilon": 1e-05, "backend": "tensorflow", "image_data_format": "channels_last",
         "mine": 1}, indent=2))
    (keras_home / "datasets").mkdir()
    (keras_home / "datasets" / "mnist.npz").write_text("cached")
    return keras_home


@pytest.mark.integration
def test_run_is_seen_by_real_keras_in_the_child_and_changes_no_file(user_keras):
    before = (user_keras / "keras.json").read_bytes()
    code = ("import json, os, keras; h = os.environ['KERAS_HOME']; "
            "print(json.dumps([keras.backend.backend(), keras.config.floatx(), keras.config.epsilon(), "
            "keras.config.image_data_format(), h, os.path.realpath(os.path.join(h, 'datasets')), "
            "json.load(open(os.path.join(h, 'keras.json')))]))")
    r = kb("run", "--backend", "jax", "--floatx", "float64", "--image-data-format", "channels_first",
           "--", PY, "-c", code)
    assert r.returncode == 0, r.stderr[-3000:]
    backend, floatx, eps, fmt, home, datasets, doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert (backend, floatx, eps, fmt) == ("jax", "float64", 1e-05, "channels_first")
    assert datasets == str((user_keras / "datasets").resolve())
    assert doc["mine"] == 1 and doc["backend"] == "tensorflow"  # the user's file, with the overrides
    assert not os.path.exists(home)  # removed after the command
    assert (user_keras / "keras.json").read_bytes() == before
    assert (user_keras / "datasets" / "mnist.npz").read_text() == "cached"


def test_exit_status_is_the_commands():
    assert kb("run", "--", PY, "-c", "raise SystemExit(7)").returncode == 7
    assert kb("run", "--backend", "jax", PY, "-c", "import os; assert os.environ['KERAS_BACKEND'] == 'jax'").returncode == 0


def test_command_not_found_is_127_and_not_executable_126(tmp_path):
    r = kb("run", "--", "no-such-command-kbackend")
    assert r.returncode == 127 and "no-such-command-kbackend: command not found" in r.stderr
    f = tmp_path / "script"
    f.write_text("#!/bin/sh\necho hi\n")
    r = kb("run", "--", str(f))
    assert r.returncode == 126 and "Permission denied" in r.stderr


def test_killed_by_a_signal_is_128_plus_n_and_the_temp_home_is_removed(user_keras):
    code = "import os, signal; print(os.environ['KERAS_HOME'], flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    r = kb("run", "--epsilon", "1e-3", "--", PY, "-c", code)
    assert r.returncode == 128 + signal.SIGKILL
    home = r.stdout.strip()
    assert home and not os.path.exists(home)
    assert "killed by SIGKILL" in r.stderr


def test_a_signal_sent_to_kbackend_reaches_the_command_and_cleanup_still_happens(user_keras, tmp_path):
    ready = tmp_path / "ready"
    code = ("import os, pathlib, time; pathlib.Path(%r).write_text(os.environ['KERAS_HOME']); time.sleep(60)"
            % str(ready))
    proc = subprocess.Popen(KB + ["run", "--floatx", "float16", "--", PY, "-c", code],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            if ready.exists() and ready.read_text():
                break
            time.sleep(0.05)
        home = ready.read_text()
        assert os.path.isdir(home)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert not os.path.exists(home)


def test_values_are_validated_before_anything_runs(tmp_path):
    marker = tmp_path / "ran"
    for args in (["--floatx", "bfloat16"], ["--epsilon", "zero"], ["--image-data-format", "Channels_Last"],
                 ["--backend", "cntk"], ["--backend", "JAX"]):
        r = kb("run", *args, "--", "touch", str(marker))
        assert r.returncode == 1, (args, r.stderr)
        assert "error:" in r.stderr
    assert not marker.exists()
    assert kb("run").returncode == 2  # no command: a usage error (issue 11 #17)


def test_run_json_keeps_stdout_for_the_document(user_keras):
    r = kb("run", "--json", "--floatx", "float64", "--", PY, "-c", "print('chatter'); raise SystemExit(3)")
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    assert doc["command"] == "run" and doc["exit_code"] == 3 and doc["overrides"] == {"floatx": "float64"}
    assert "chatter" in r.stderr


def test_shell_env_lines_work_in_a_real_bash():
    script = 'eval "$(%s -m kbackend shell-env jax --shell bash)"; printf %%s "$KERAS_BACKEND"' % PY
    assert subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout == "jax"
    script = 'export KERAS_BACKEND=x; eval "$(%s -m kbackend shell-env --unset --shell bash)"; printf %%s "${KERAS_BACKEND-unset}"' % PY
    assert subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout == "unset"


@pytest.mark.parametrize("shell,argv", [("zsh", ["zsh", "-c"]), ("fish", ["fish", "-c"])])
def test_shell_env_lines_in_other_shells(shell, argv):
    # .ci/run installs zsh and fish (Debian packages), so these run for real in CI.
    assert shutil.which(argv[0]), f"{argv[0]} is not installed: apt-get install {argv[0]}"
    lines = kb("shell-env", "torch", "--shell", shell).stdout
    echo = {"zsh": 'printf %s "$KERAS_BACKEND"', "fish": "printf %s $KERAS_BACKEND"}[shell]
    r = subprocess.run(argv + [lines + "\n" + echo], capture_output=True, text=True, timeout=60)
    assert r.stdout == "torch"


def test_shell_env_powershell_lines():
    # No PowerShell in Debian's archive: check the exact lines PowerShell's syntax needs.
    assert kb("shell-env", "torch", "--shell", "powershell").stdout.strip() == "$Env:KERAS_BACKEND = 'torch'"
    assert kb("shell-env", "--unset", "--shell", "powershell").stdout.strip().startswith("Remove-Item Env:KERAS_BACKEND")
