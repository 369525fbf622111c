"""The interpreter query survives whatever a target prints that it did not ask for.

Real stand-in interpreters (shell scripts) that print binary garbage, JSON of the
wrong shape or a truncated answer are usage problems (exit 2, one clear message,
no traceback); a real venv whose sitecustomize.py prints to stdout (without a
newline, with one, at exit, raw bytes) is a working interpreter, as it is to Python.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kbackend.envs import target as T

KB = [sys.executable, "-m", "kbackend"]


def _kb(*args, cwd):
    return subprocess.run([*KB, *args], capture_output=True, text=True, timeout=120, cwd=str(cwd))


def _script(tmp_path: Path, name: str, body: str) -> Path:
    exe = tmp_path / name / "bin" / "python"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(0o755)
    return exe


GOOD = {"version": "3.11.7", "path": ["/nonexistent"], "prefix": "/nonexistent", "executable": "/x/python"}

BAD = {
    "binary-garbage": (r"printf '\177ELF\002\001\001\000\377\376\375 garbage\n'", "printed '?ELF"),
    "binary-no-newline": (r"printf '\377\376\000\001'", "instead of answering"),
    "wrong-shaped-json": ("echo '{\"version\": 3, \"path\": \"/usr/lib\"}'", "instead of answering"),
    "json-list": ("echo '[1, 2, 3]'", "printed '[1, 2, 3]'"),
    "nothing": ("exit 0", "printed nothing"),
    "fails": ("echo 'boom: no such module' >&2; exit 7", "failed with: 'boom: no such module' (exit 7)"),
    "stderr-only": ("echo 'a warning' >&2", "wrote 'a warning' on stderr"),
    "marker-version-int": ("echo '" + T.answer_text({**GOOD, "version": 3}) + "'", "malformed (version=3)"),
    "marker-path-str": ("echo '" + T.answer_text({**GOOD, "path": "/usr/lib"}) + "'",
                        "malformed (path is not a list of strings)"),
    "marker-list": ("echo '" + T.answer_text([1]) + "'", "malformed (a JSON list, not an object)"),
    "marker-not-json": ("printf '%s' '<<kbackend-query:{nope:kbackend-query>>'", "malformed (not JSON)"),
    "marker-truncated": ("printf '%s' '<<kbackend-query:{\"version\": \"3.1'", "instead of answering"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_target_that_does_not_answer_is_a_usage_error(tmp_path, name):
    body, needle = BAD[name]
    exe = _script(tmp_path, name, body + "\n")
    for cmd in (("show",), ("--json", "show"), ("doctor", "--check", "python")):
        proc = _kb("--python", str(exe), *cmd, cwd=tmp_path)
        assert proc.returncode == 2, (cmd, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stdout + proc.stderr
        text = json.loads(proc.stdout)["error"]["message"] if "--json" in cmd else proc.stderr
        assert f"{exe} is not a working Python interpreter" in text and needle in text, text
        assert "\x00" not in text and "\ufffd" not in text


def test_envs_lists_such_a_target_as_broken(tmp_path):
    exe = _script(tmp_path, "garbage", r"printf '\377\376garbage'" + "\n")
    proc = _kb("envs", "--json", "--path", str(exe.parent.parent), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    env = next(e for e in json.loads(proc.stdout)["environments"] if e["prefix"] == str(exe.parent.parent))
    assert env["status"] == "broken" and "not a working Python interpreter" in env["problem"]


SITECUSTOMIZE = {
    "no-newline": "import sys\nsys.stdout.write('hello from sitecustomize')\n",
    "with-newline": "print('hello from sitecustomize')\n",
    "json-line": "print('{\"version\": \"0.0.1\", \"path\": [], \"prefix\": \"/\", \"executable\": \"/\"}')\n",
    "at-exit": "import atexit\natexit.register(lambda: print('bye from atexit', end=''))\n",
    "at-exit-newline": "import atexit\natexit.register(print, 'bye from atexit')\n",
    "raw-bytes": "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\x00binary')\nsys.stdout.flush()\n",
    "stderr": "import sys\nsys.stderr.write('note on stderr\\n')\n",
    "all-at-once": ("import sys, atexit\nsys.stdout.write('before')\nsys.stdout.flush()\n"
                    "atexit.register(lambda: sys.stdout.buffer.write(b'\\x00after\\xff'))\n"),
}


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    root = tmp_path_factory.mktemp("chatty") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    site = subprocess.run([str(root / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    return root, Path(site)


@pytest.mark.parametrize("name", list(SITECUSTOMIZE))
def test_a_sitecustomize_that_prints_does_not_break_the_target(venv, tmp_path, name):
    root, site = venv
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE[name])
    py = root / "bin" / "python"
    # The chatter is real: Python prints it around any program.
    raw = subprocess.run([str(py), "-c", "pass"], capture_output=True, timeout=60)
    assert raw.stdout or raw.stderr
    t = T.query(str(py), "option:--python")
    assert t.version == ".".join(map(str, sys.version_info[:3]))
    assert t.prefix == str(root) and str(site) in t.sys_path
    for cmd in (("--json", "show"), ("--json", "path"), ("--json", "get", "backend")):
        proc = _kb("--python", str(py), *cmd, cwd=tmp_path)
        assert proc.returncode == 0, (name, cmd, proc.stderr)
        doc = json.loads(proc.stdout)
        assert doc["exit_code"] == 0
    proc = _kb("--python", str(py), "--json", "show", cwd=tmp_path)
    assert json.loads(proc.stdout)["python"] == T.query(str(py), "x").python


def test_the_query_runs_on_python_2_and_3(tmp_path):
    """The query is one program for every interpreter kbackend describes (legacy backends need old ones)."""
    t = T.query(sys.executable, "x")
    assert t.version == ".".join(map(str, sys.version_info[:3]))
    # Other interpreters installed beside this one (pyenv's versions folder), the oldest first.
    versions = Path(sys.base_prefix).parent
    olds = [p / "bin" / "python" for p in sorted(versions.iterdir()) if p.name[:3] in ("2.7", "3.6", "3.7")]
    for exe in [p for p in olds if p.exists()]:
        proc = subprocess.run([str(exe), "-c", T._QUERY], capture_output=True, timeout=60, cwd=str(tmp_path),
                              env={**os.environ, "PYTHONSAFEPATH": "1"})
        t = T._answer(str(exe), "x", proc.stdout, proc.stderr, proc.returncode)
        assert t.version == exe.parent.parent.name and t.prefix == str(exe.parent.parent)
