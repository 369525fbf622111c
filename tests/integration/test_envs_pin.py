"""`switch --scope env`: a pin written by kbackend, then seen by real Keras in that environment only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_envs_support import PURELIB, fake_dist, kb, make_venv, py, site_of  # noqa: E402

from kbackend.envs.pin import PIN_FILE  # noqa: E402


def _env_var(python: str, **env) -> str:
    """KERAS_BACKEND as the interpreter sees it once site.py has run its .pth files."""
    base = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    r = subprocess.run([python, "-c", "import os; print(os.environ.get('KERAS_BACKEND'))"],
                       capture_output=True, text=True, check=True, env=dict(base, **env), timeout=60)
    return r.stdout.strip()


@pytest.fixture
def two_envs(tmp_path):
    return make_venv(tmp_path / "pinned", see_shared=True), make_venv(tmp_path / "other", see_shared=True)


@pytest.mark.integration
def test_pin_is_seen_by_real_keras_there_and_nowhere_else(two_envs, run_cli, keras_home):
    pinned, other = two_envs
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    code, out, err = run_cli("--python", py(pinned), "switch", "jax", "--scope", "env", "--json")
    assert code == 0, err
    doc = json.loads(out)
    pin = site_of(pinned) / PIN_FILE
    assert doc["pin_path"] == str(pin) and doc["backend"] == "jax" and doc["removed"] is False
    assert pin.exists() and not (Path(PURELIB) / PIN_FILE).exists()

    code, out, _ = run_cli("--python", py(pinned), "show", "--json")
    assert json.loads(out)["effective"]["backend"] == {"value": "jax", "origin": f"env-pin:{pin}"}

    r = subprocess.run([py(pinned), "-c", "import keras; print(keras.backend.backend())"], capture_output=True,
                       text=True, timeout=300, env={k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "jax"

    assert _env_var(py(other)) == "None"  # the other environment keeps the user's keras.json
    assert _env_var(py(pinned), KERAS_BACKEND="torch") == "torch"  # an explicit variable wins
    assert _env_var(py(pinned), KERAS_BACKEND="") == "jax"  # an empty one is ignored, as Keras does
    assert _env_var(py(pinned)) == "jax"

    code, out, err = run_cli("--python", py(pinned), "switch", "--scope", "env", "--unset", "--json")
    assert code == 0 and json.loads(out)["removed"] is True and not pin.exists()
    assert _env_var(py(pinned)) == "None"
    code, out, err = run_cli("--python", py(pinned), "switch", "--scope", "env", "--unset", "--json")
    assert code == 0 and json.loads(out)["removed"] is False and "no pin" in json.loads(out)["warnings"][0]


def test_pin_refused_when_that_environment_lacks_the_backend(tmp_path, run_cli):
    env = make_venv(tmp_path / "bare")
    code, _, err = run_cli("--python", py(env), "switch", "jax", "--scope", "env")
    assert code == 1 and "Keras is not installed" in err
    fake_dist(site_of(env), "keras", "3.15.1")
    code, _, err = run_cli("--python", py(env), "switch", "jax", "--scope", "env")
    assert code == 1 and "not installed" in err and "missing: jax, jaxlib" in err
    assert not (site_of(env) / PIN_FILE).exists()
    code, _, err = run_cli("--python", py(env), "switch", "jax", "--scope", "env", "--force")
    assert code == 0 and "pinned anyway (--force)" in err
    assert (site_of(env) / PIN_FILE).exists()
    code, _, err = run_cli("--python", py(env), "switch", "cntk", "--scope", "env")
    assert code == 1 and "cannot use the `cntk` backend" in err


def test_pin_usage_errors(tmp_path, run_cli):
    env = make_venv(tmp_path / "e", see_shared=True)
    assert run_cli("--python", py(env), "switch", "--scope", "env")[0] == 2
    assert run_cli("--python", py(env), "switch", "jax", "--scope", "env", "--unset")[0] == 2


def _read_only(site: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """Run argv with `site` read-only: a read-only bind mount in a private mount namespace as root,
    chmod otherwise (root ignores permission bits)."""
    if os.geteuid() != 0:
        site.chmod(0o555)
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=120)
        finally:
            site.chmod(0o755)
    if not shutil.which("unshare"):
        pytest.skip("running as root without unshare: cannot make a directory read-only")
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 99; shift; exec "$@"'
    r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(site)] + argv,
                       capture_output=True, text=True, timeout=120)
    if r.returncode == 99 or "unshare:" in r.stderr:
        pytest.skip(f"cannot make a read-only mount here: {r.stderr.strip()[-200:]}")
    return r


def test_pin_in_a_read_only_environment_is_a_clear_error(tmp_path):
    env = make_venv(tmp_path / "ro", see_shared=True)
    site = site_of(env)
    r = _read_only(site, [sys.executable, "-m", "kbackend", "--python", py(env), "switch", "jax", "--scope", "env"])
    assert r.returncode == 1, r.stderr
    assert "Cannot pin this environment" in r.stderr and ("read-only" in r.stderr or "not writable" in r.stderr)
    assert "kbackend run --backend jax" in r.stderr
    assert not (site / PIN_FILE).exists() and not list(site.glob(".kbackend-pin.*"))
    r = kb("--python", py(env), "switch", "jax", "--scope", "env")
    assert r.returncode == 0 and (site / PIN_FILE).exists()
    r = _read_only(site, [sys.executable, "-m", "kbackend", "--python", py(env), "switch", "--scope", "env", "--unset"])
    assert r.returncode == 1 and "Cannot unpin" in r.stderr and (site / PIN_FILE).exists()
