"""Writes that must not happen, and writes that must say what they did.

- A change that changes nothing writes nothing and keeps the backup (the state before the last change).
- `reset` where Keras's default backend (tensorflow) is not installed: keep an installed backend,
  else refuse unless --force; real Keras proves what each file does.
- A target with no Keras: say so, and refuse a backend that is not installed there either.
- The first switch says the old value was Keras's default, not that a file held it.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
from test_envs_support import fake_dist, make_venv, py, require_pyenv_python, site_of  # noqa: E402


def _json(out: str) -> dict:
    return json.loads(out)


def _snap(keras_home: Path) -> dict[str, tuple]:
    """Bytes, inode and mtime of every file in keras_home: what a no-op must not touch."""
    out = {}
    for p in sorted(keras_home.iterdir()):
        st = p.stat()
        out[p.name] = (p.read_bytes(), st.st_ino, st.st_mtime_ns)
    return out


# ---------------------------------------------------------------------- item 2: no-op writes


NOOPS = [
    ("switch", "jax"),
    ("set", "floatx", "float64"),
    ("set", "epsilon", "1e-05"),
    ("set", "image_data_format", "channels_first"),
    ("set", "nnx_enabled", "false"),
    ("unset", "floatx"),
    ("reset",),
]


@pytest.mark.parametrize("argv", NOOPS, ids=lambda a: " ".join(a))
def test_a_write_that_changes_nothing_keeps_file_and_backup(run_cli, keras_home, argv):
    keras_home.mkdir()
    before = {"backend": "tensorflow", "floatx": "float32", "marker": "first"}
    (keras_home / "keras.json").write_text(json.dumps(before))
    code, _, err = run_cli(*argv)  # the first run changes the file ...
    assert code == 0, err
    assert json.loads((keras_home / "keras.json.bak").read_text()) == before
    snap = _snap(keras_home)
    code, out, err = run_cli(*argv)  # ... the second changes nothing
    assert code == 0, err
    assert "unchanged" in out and "backup" not in out
    assert _snap(keras_home) == snap  # not rewritten, backup not rotated: still the state before the change
    code, out, err = run_cli(*argv, "--json")
    doc = _json(out)
    assert doc["changed"] is False and doc["backup"] is None
    assert _snap(keras_home) == snap


def test_a_no_op_is_judged_as_keras_reads_json_not_by_python_equality(run_cli, keras_home):
    keras_home.mkdir()
    # 1 == 1.0 == True in Python, not in Keras: epsilon 1 is an int Keras rejects; rewriting it is a change.
    (keras_home / "keras.json").write_text('{"epsilon": 1}')
    code, out, err = run_cli("set", "epsilon", "1.0", "--json", "--force")
    assert code == 0, err
    assert _json(out)["changed"] is True and json.loads((keras_home / "keras.json").read_text())["epsilon"] == 1.0
    (keras_home / "keras.json").write_text('{"nnx_enabled": 0}')
    code, out, err = run_cli("set", "nnx_enabled", "false", "--json")
    assert code == 0, err
    assert _json(out)["changed"] is True and json.loads((keras_home / "keras.json").read_text())["nnx_enabled"] is False


def test_key_order_and_layout_alone_are_not_a_change(run_cli, keras_home):
    keras_home.mkdir()
    raw = '{"floatx":"float32",  "backend":"jax"}\n'
    (keras_home / "keras.json").write_text(raw)
    code, out, _ = run_cli("switch", "jax", "--json")
    assert code == 0 and _json(out)["changed"] is False
    assert (keras_home / "keras.json").read_text() == raw and not (keras_home / "keras.json.bak").exists()


def test_the_backup_is_the_state_before_the_last_change(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text('{"backend": "tensorflow"}')
    for b in ("jax", "jax", "torch", "torch", "torch"):
        assert run_cli("switch", b)[0] == 0
    assert json.loads((keras_home / "keras.json.bak").read_text())["backend"] == "jax"
    assert json.loads((keras_home / "keras.json").read_text())["backend"] == "torch"


def test_a_no_op_switch_still_refuses_what_it_would_refuse(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text('{"backend": "theano"}')
    code, _, err = run_cli("switch", "theano")
    assert code == 1 and "theano" in err


# ---------------------------------------------------------------------- item 8: "(was ...)" is true


def test_first_switch_says_the_old_value_was_keras_default(run_cli, keras_home):
    code, out, _ = run_cli("switch", "jax", env={"COLUMNS": "300"})  # one line: the phrase is not wrapped
    assert code == 0
    assert "(was tensorflow, Keras's default; no keras.json)" in out
    assert "backup" not in out
    (keras_home / "keras.json").write_text('{"backend": "jax"}')
    code, out, _ = run_cli("set", "floatx", "float64", env={"COLUMNS": "300"})  # the file does not set floatx
    assert "(was float32, Keras's default; not in keras.json)" in out
    code, out, _ = run_cli("set", "floatx", "float16", "--json")
    doc = _json(out)
    assert doc["old"] == "float64" and doc["old_origin"] == "file" and doc["old_note"] is None


def test_old_value_through_a_dangling_link(run_cli, keras_home, tmp_path):
    keras_home.mkdir()
    os.symlink(tmp_path / "elsewhere.json", keras_home / "keras.json")
    code, out, _ = run_cli("switch", "jax", "--json")
    doc = _json(out)
    assert code == 0 and doc["old"] == "tensorflow" and doc["old_origin"] == "default"
    assert "dangling" in doc["old_note"]


# ---------------------------------------------------------------------- item 3: reset without tensorflow


def _keras_site() -> str:
    spec = importlib.util.find_spec("keras")
    return os.path.dirname(os.path.dirname(spec.origin))


@pytest.fixture
def no_tf_env(tmp_path):
    """A real venv that sees Keras, jax and every shared package except TensorFlow."""
    env = make_venv(tmp_path / "no-tf")
    shared = tmp_path / "shared-no-tf"
    shared.mkdir()
    for entry in os.listdir(_keras_site()):
        low = entry.lower()
        if low.startswith(("tensorflow", "tf_keras", "tensorboard")) or low.endswith(".pth"):
            continue
        os.symlink(os.path.join(_keras_site(), entry), shared / entry)
    (site_of(env) / "zz-shared.pth").write_text(str(shared) + "\n")
    return env


def _keras_backend_in(python: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_")}
    env.update(KERAS_HOME=str(home), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([python, "-c", "import keras; print(keras.backend.backend())"], capture_output=True,
                          text=True, timeout=300, env=env, cwd=str(home))


@pytest.mark.integration
def test_reset_without_tensorflow_keeps_an_installed_backend(run_cli, keras_home, no_tf_env):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax", "floatx": "float16", "custom": 1}))
    code, out, err = run_cli("--python", py(no_tf_env), "reset", "--json")
    assert code == 0, err
    doc = _json(out)
    assert doc["document"]["backend"] == "jax" and doc["document"]["floatx"] == "float32"
    assert any("kept backend jax" in w and "tensorflow is not installed" in w for w in doc["warnings"])
    r = _keras_backend_in(py(no_tf_env), keras_home)  # real Keras there: the reset file imports
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "jax"


@pytest.mark.integration
def test_reset_without_tensorflow_and_no_usable_backend_refuses(run_cli, keras_home, no_tf_env):
    keras_home.mkdir()
    raw = json.dumps({"backend": "torch_typo", "floatx": "float16"})
    (keras_home / "keras.json").write_text(raw)
    code, out, err = run_cli("--python", py(no_tf_env), "reset")
    assert code == 1
    assert "default backend `tensorflow` is not installed" in err and "unchanged" in err
    assert "-m pip install 'tensorflow" in err and "kbackend switch" in err
    assert (keras_home / "keras.json").read_text() == raw and not (keras_home / "keras.json.bak").exists()
    code, out, err = run_cli("--python", py(no_tf_env), "reset", "--json")
    assert code == 1 and _json(out)["error"]["backend"] == "tensorflow"
    # --force writes Keras's defaults anyway, saying so; real Keras then fails as predicted
    code, out, err = run_cli("--python", py(no_tf_env), "reset", "--force")
    assert code == 0 and "written anyway (--force)" in err
    assert json.loads((keras_home / "keras.json").read_text())["backend"] == "tensorflow"
    r = _keras_backend_in(py(no_tf_env), keras_home)
    assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr


def test_reset_with_tensorflow_installed_writes_the_defaults(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    code, out, err = run_cli("reset", "--json")
    assert code == 0 and _json(out)["document"]["backend"] == "tensorflow" and _json(out)["warnings"] == []


def test_reset_metadata_only_target_without_tensorflow(run_cli, keras_home, tmp_path):
    env = make_venv(tmp_path / "meta")
    fake_dist(site_of(env), "keras", "3.15.1")
    fake_dist(site_of(env), "torch", "2.5.0")
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "torch"}))
    code, out, err = run_cli("--python", py(env), "reset", "--json")
    assert code == 0 and _json(out)["document"]["backend"] == "torch"
    (keras_home / "keras.json").write_text("{not json")  # a file Keras ignores: no backend to keep
    code, out, err = run_cli("--python", py(env), "reset", "--force", "--json")
    assert code == 0 and any("written anyway" in w for w in _json(out)["warnings"])


# ---------------------------------------------------------------------- item 4: no Keras in the target


def test_switch_where_keras_is_not_installed(run_cli, keras_home, tmp_path):
    bare = make_venv(tmp_path / "bare")
    code, out, err = run_cli("--python", py(bare), "switch", "torch")
    assert code == 1, out
    assert "Keras is not installed in" in err and "neither is the `torch` backend" in err
    assert "-m pip install 'keras>=3'" in err and "-m pip install 'torch>=" in err
    assert not (keras_home / "keras.json").exists()
    code, out, err = run_cli("--python", py(bare), "switch", "torch", "--json")
    assert code == 1 and _json(out)["error"]["keras_installed"] is False
    # forced: written, and the output does not claim that Keras will use it
    code, out, err = run_cli("--python", py(bare), "switch", "torch", "--force")
    assert code == 0 and "written anyway (--force)" in err
    assert "Keras will use" not in out and "Keras is not installed in" in out
    # the backend is there but Keras is not: written, said plainly
    fake_dist(site_of(bare), "torch", "2.5.0")
    code, out, err = run_cli("--python", py(bare), "switch", "jax", "--force")
    code, out, err = run_cli("--python", py(bare), "switch", "torch")
    assert code == 0, err
    assert "Keras is not installed in" in err and "Keras will use" not in out
    # reset there: Keras's default backend is not installed either
    code, out, err = run_cli("--python", py(bare), "reset")
    assert code == 0 and "kept backend torch" in err and "Keras is not installed" in err


def test_switch_on_python_27_without_keras(run_cli, keras_home):
    python = require_pyenv_python("2.7")
    for b in ("torch", "jax", "tensorflow"):
        code, out, err = run_cli("--python", python, "switch", b)
        assert code == 1, (b, out)
        assert "Keras is not installed in" in err and "Python 2.7" in err
    assert not (keras_home / "keras.json").exists()


def test_pinning_where_keras_is_not_installed_is_refused(run_cli, tmp_path):
    bare = make_venv(tmp_path / "bare")
    code, _, err = run_cli("--python", py(bare), "switch", "torch", "--scope", "env")
    assert code == 1 and "Keras is not installed" in err
    assert not glob.glob(str(site_of(bare) / "kbackend-pin*"))
