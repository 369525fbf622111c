"""Shared fixtures. No test touches the real home directory or ~/.keras.

The autouse `isolated_home` fixture points HOME, KERAS_HOME and XDG_* at
tmp_path and fails any test that wrote into the real home (pre-commit's model).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REAL_HOME = os.path.expanduser("~")
REPO = Path(__file__).resolve().parent.parent


def _snapshot(home: str) -> dict[str, float]:
    out = {}
    for sub in (".keras", ".config/kbackend", ".cache/kbackend", ".local/share/kbackend", ".local/state/kbackend"):
        p = os.path.join(home, sub)
        if os.path.exists(p):
            for root, _dirs, files in os.walk(p):
                for f in files:
                    fp = os.path.join(root, f)
                    try:
                        out[fp] = os.stat(fp).st_mtime
                    except OSError:
                        pass
            out[p] = os.stat(p).st_mtime
    return out


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    before = _snapshot(REAL_HOME)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KERAS_HOME", str(home / ".keras"))
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(home / ("." + var.split("_")[1].lower())))
    for var in ("KERAS_BACKEND", "KBACKEND_PYTHON", "KERAS_NNX_ENABLED", "KERAS_MAX_EPOCHS",
                "KERAS_MAX_STEPS_PER_EPOCH", "NO_COLOR", "FORCE_COLOR", "CUDA_VISIBLE_DEVICES", "KERAS_TORCH_DEVICE",
                "TF_FORCE_GPU_ALLOW_GROWTH", "JUPYTER_PATH", "JUPYTER_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    # kbackend's own target: this interpreter, not an outer active environment.
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    from kbackend.cli import main as climain

    monkeypatch.setattr(climain, "STATE", climain.AppState())
    for mod in list(sys.modules):
        if mod.startswith("kbackend.cli.") and hasattr(sys.modules[mod], "STATE"):
            monkeypatch.setattr(sys.modules[mod], "STATE", climain.STATE)
    yield home
    after = _snapshot(REAL_HOME)
    assert after == before, f"a test wrote into the real home directory: {set(after) ^ set(before) or 'mtime changed'}"


@pytest.fixture
def keras_home(isolated_home) -> Path:
    return Path(os.environ["KERAS_HOME"])


@pytest.fixture
def run_cli():
    """Run `kbackend ARGS` in-process through the real entry point (exit-code mapping included).

    Returns (exit_code, stdout, stderr).
    """
    from click.testing import CliRunner

    from kbackend.cli import main as climain

    def run(*args, env=None, input=None):
        climain.STATE.__init__()
        runner = CliRunner()
        code = 0
        try:
            with runner.isolation(input=input, env=env) as (out, err, _mixed):
                try:
                    climain.main(list(args))
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                return code, out.getvalue().decode(), err.getvalue().decode()
        finally:
            climain.STATE.__init__()

    return run
