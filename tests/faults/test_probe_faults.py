"""Faults built, not imagined: fake backends that hang, segfault, chatter on stdout or exit
without a result; interpreters that are not what they claim; an unreadable probe cache.

Each fake is a real package directory (with dist-info metadata) on PYTHONPATH,
shadowing the installed `torch`; doctor runs as a real subprocess, so the
target's sys.path, the child processes and the kill on timeout are all real.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap

import pytest

from kbackend.workers.runner import worker_path


def fake_site(tmp_path, body: str, name: str = "torch", version: str = "2.5.0"):
    site = tmp_path / "site"
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(textwrap.dedent(body))
    meta = site / f"{name}-{version}.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return site


def doctor(tmp_path, site, *args, env=None, python_opt=None):
    env = {**os.environ, "PYTHONPATH": str(site), "KERAS_BACKEND": "torch", **(env or {})}
    pre = ["--python", python_opt] if python_opt else []
    argv = [sys.executable, "-m", "kbackend", *pre, "doctor", "--json", "--check", "backend-importable", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=180)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def _torch(doc):
    return next(b for b in doc["facts"]["backends"] if b["name"] == "torch")


def test_a_hanging_import_times_out_and_the_child_is_killed(tmp_path):
    pidfile = tmp_path / "child.pid"
    site = fake_site(tmp_path, f"""
        import os, time
        open({str(pidfile)!r}, "w").write(str(os.getpid()))
        time.sleep(3600)
    """)
    code, doc, err = doctor(tmp_path, site, "--timeout", "3")
    assert code == 1
    torch = _torch(doc)
    assert torch["status"] == "timeout" and "no result after 3 s" in torch["error"]
    f = doc["checks"][0]
    assert f["status"] == "error" and "timeout" in f["evidence"][0] and "importtime" in f["fix"]
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_segfaulting_import_is_a_crash(tmp_path):
    site = fake_site(tmp_path, "import ctypes\nctypes.string_at(0)\n")
    code, doc, _ = doctor(tmp_path, site)
    torch = _torch(doc)
    assert code == 1 and torch["status"] == "crashed" and "SIGSEGV" in torch["error"]
    assert torch["version"] == "2.5.0"  # from the fake's metadata


def test_stdout_chatter_never_mixes_with_results(tmp_path):
    site = fake_site(tmp_path, """
        import os, sys
        print('{"protocol": 1, "status": "ok", "data": {"import_s": 0.0}}')
        os.write(1, b"raw bytes on fd 1\\n")
        print("and some on stderr", file=sys.stderr)
        raise ImportError("fake torch is broken")
    """)
    code, doc, _ = doctor(tmp_path, site)  # json.loads of the whole stdout: nothing else leaked
    torch = _torch(doc)
    assert code == 1 and torch["status"] == "import_error" and "fake torch is broken" in torch["error"]
    assert "raw bytes on fd 1" in torch["log"] and "and some on stderr" in torch["log"]
    assert doc["checks"][0]["status"] == "error"


def test_exit_0_without_a_result_is_bad_output(tmp_path):
    site = fake_site(tmp_path, "import os\nos._exit(0)\n")
    code, doc, _ = doctor(tmp_path, site)
    assert code == 1 and _torch(doc)["status"] == "bad_output"


def test_an_unreadable_cache_is_ignored_and_reported(tmp_path):
    site = fake_site(tmp_path, "raise ImportError('fake torch is broken')\n")
    cache = tmp_path / "cache"
    (cache / "kbackend" / "backend-probes.json").mkdir(parents=True)  # unreadable: a directory
    code, doc, err = doctor(tmp_path, site, env={"XDG_CACHE_HOME": str(cache)})
    assert code == 1 and _torch(doc)["status"] == "import_error"
    assert "probe cache" in err and "backend-probes.json" in err
    assert doc["probe"]["cache_problem"]


def test_a_corrupt_cache_is_rewritten_and_then_used(tmp_path):
    site = fake_site(tmp_path, "raise ImportError('fake torch is broken')\n")
    cache = tmp_path / "cache"
    f = cache / "kbackend" / "backend-probes.json"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"\x00\x01 not json")
    env = {"XDG_CACHE_HOME": str(cache)}
    _, doc, _ = doctor(tmp_path, site, env=env)
    assert doc["probe"]["probed"] == ["torch"]
    json.loads(f.read_text())
    _, doc, _ = doctor(tmp_path, site, env=env)
    assert doc["probe"]["cache_hits"] == ["torch"] and _torch(doc)["cached"] is True
    _, doc, _ = doctor(tmp_path, site, "--refresh", env=env)
    assert doc["probe"]["probed"] == ["torch"]


def test_python_36_target(tmp_path):
    """An interpreter reporting Python 3.6 with this Keras (Requires-Python >=3.11) on its path."""
    wrapper = tmp_path / "python3.6"
    from kbackend.envs.target import _QUERY

    query = _QUERY.replace("'.'.join(map(str, sys.version_info[:3]))", "'3.6.15'")
    assert query != _QUERY
    wrapper.write_text(f'#!/bin/sh\nif [ "$1" = "-c" ]; then exec {sys.executable} -c "{query}"; fi\n'
                       f'exec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    proc = subprocess.run([sys.executable, "-m", "kbackend", "--python", str(wrapper), "doctor", "--json",
                           "--check", "python", "--check", "keras"], capture_output=True, text=True, env=env,
                          timeout=120)
    doc = json.loads(proc.stdout)
    assert doc["facts"]["interpreter"] == {"python": str(wrapper), "version": "3.6.15", "origin": "option:--python"}
    py = doc["checks"][0]
    assert proc.returncode == 1 and py["id"] == "python" and py["status"] == "error"
    assert "requires Python >=3.11" in " ".join(py["evidence"])


def test_a_target_without_keras_and_all_backends(tmp_path):
    """A bare virtualenv: no Keras, no backend. `--all` probes every known name anyway."""
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    proc = subprocess.run([sys.executable, "-m", "kbackend", "--python", str(venv / "bin" / "python"), "doctor",
                           "--json", "--all"], capture_output=True, text=True, timeout=180)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1
    checks = {c["id"]: c for c in doc["checks"]}
    assert checks["keras"]["status"] == "error" and "bare/bin/python -m pip install 'keras>=3'" in checks["keras"]["fix"]
    assert checks["backend-importable"]["status"] == "skip"
    backends = {b["name"]: b for b in doc["facts"]["backends"]}
    assert set(backends) == {"tensorflow", "jax", "torch", "numpy", "openvino", "theano", "cntk", "mxnet"}
    for b in backends.values():
        assert b["installed"] is False and b["status"] == "import_error"
        assert "No module named" in b["error"]


@pytest.mark.parametrize("worker", ["probe_backend.py", "_boot.py", "_adapter.py", "adapters/__init__.py",
                                    "adapters/tensorflow.py", "adapters/jax.py", "adapters/torch.py",
                                    "adapters/numpy.py", "adapters/openvino.py"])
def test_workers_parse_as_old_python(worker):
    """Targets may be legacy interpreters: the probe worker (and the adapters it loads) must not use
    syntax newer than 3.4."""
    with open(worker_path(worker)) as f:
        ast.parse(f.read(), feature_version=(3, 4))
