"""What happens to kbackend's standard output is never a traceback (README: Exit codes).

Real processes, real pipes and file descriptors:
- a reader that closed the pipe (`kbackend show | true`, `| head -1`): silence on
  stderr and the command's own exit code, so pipelines under `pipefail` succeed;
- standard output closed (`>&-`), opened read-only or on a full device
  (`/dev/full`): exit 74 and exactly one line on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

KB = [sys.executable, "-m", "kbackend"]

#: every command that prints an answer on stdout (fast forms: no backend is imported).
PRINTING = [
    ("show",),
    ("--json", "show"),
    ("path",),
    ("get", "backend"),
    ("--json", "get", "floatx"),
    ("check",),
    ("doctor", "--list-checks"),
    ("doctor", "--json", "--check", "config"),
    ("verify", "--list", "--category", "pooling"),
    ("envs",),
    ("--json", "envs"),
    ("shell-env", "jax", "--shell", "bash"),
    ("completion", "bash"),
    ("run", "--json", "--", sys.executable, "-c", "pass"),
    ("--help",),
    ("--version",),
]

#: commands whose answer (or refusal) goes to stderr: a reader that left there is silence too.
TO_STDERR = [
    (("switch", "jaxx"), 1),
    (("show", "--bogus"), 2),
    (("--json", "show", "--bogus"), 2),
    (("set", "floatx", "float8"), 1),
    (("doctor", "--check", "python"), None),
    (("run", "--", sys.executable, "-c", "import sys; sys.exit(3)"), 3),
]


def _ids(cmds):
    return [" ".join(c) for c in cmds]


def _run_with_closed_reader(args, tmp_path):
    """Run kbackend with stdout a pipe whose read end is already closed: every write gets EPIPE."""
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run([*KB, *args], stdout=w, stderr=subprocess.PIPE, text=True, timeout=120,
                              cwd=str(tmp_path))
    finally:
        os.close(w)
    return proc


def _sh(line: str, tmp_path, *args):
    """Run a bash line with "$@" = kbackend's own argv (so redirections are bash's, as a user types them)."""
    return subprocess.run(["bash", "-o", "pipefail", "-c", line, "kb", *KB, *args], capture_output=True,
                          text=True, timeout=120, cwd=str(tmp_path))


@pytest.mark.parametrize("args", PRINTING, ids=_ids(PRINTING))
def test_a_reader_that_left_is_not_an_error(args, tmp_path):
    proc = _run_with_closed_reader(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


@pytest.mark.parametrize("args", PRINTING, ids=_ids(PRINTING))
def test_closed_stdout_is_exit_74_with_one_line(args, tmp_path):
    proc = _sh('"$@" >&-', tmp_path, *args)
    assert proc.returncode == 74
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "standard output is closed" in lines[0], proc.stderr


@pytest.mark.parametrize("args", [("show",), ("--json", "show"), ("verify", "--list"), ("completion", "fish")],
                         ids=_ids([("show",), ("--json", "show"), ("verify", "--list"), ("completion", "fish")]))
@pytest.mark.parametrize("redirect,why", [(">/dev/full", "No space left on device"),
                                          ("1</dev/null", "Bad file descriptor")])
def test_unwritable_stdout_is_exit_74_with_one_line(args, redirect, why, tmp_path):
    proc = _sh('"$@" ' + redirect, tmp_path, *args)
    assert proc.returncode == 74
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and f"cannot write to standard output: {why}" in lines[0], proc.stderr


def test_pipefail_pipelines_succeed(tmp_path):
    # The user's own line: `set -o pipefail; kbackend show | head -1`, and a reader that reads nothing.
    for line in ('"$@" show | head -1', '"$@" show | true', '"$@" verify --list | head -1',
                 '"$@" --json doctor --check config | head -c 1'):
        proc = _sh(line, tmp_path)
        assert proc.returncode == 0, (line, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr == "", (line, proc.stderr)


def test_a_closed_pipe_keeps_the_commands_own_verdict(tmp_path, keras_home):
    """`kbackend check | head` still says the file is wrong; a usage error is still 2."""
    keras_home.mkdir(parents=True, exist_ok=True)
    (keras_home / "keras.json").write_text('{"backend": "jaxx"}')
    proc = _run_with_closed_reader(("check",), tmp_path)
    assert proc.returncode == 1 and proc.stderr == ""
    proc = _run_with_closed_reader(("--json", "get", "nope"), tmp_path)
    assert proc.returncode == 2 and proc.stderr == ""


def test_closed_stdout_refuses_before_writing_anything(tmp_path, keras_home):
    """`kbackend switch numpy >&-` cannot say what it did: it does nothing."""
    proc = _sh('"$@" switch numpy >&-', tmp_path)
    assert proc.returncode == 74
    assert not (keras_home / "keras.json").exists()


def _run_with_closed_readers(args, tmp_path, *, stdout_too: bool):
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([*KB, *args], stdout=w if stdout_too else subprocess.DEVNULL, stderr=w,
                              timeout=120, cwd=str(tmp_path))
    finally:
        os.close(w)


@pytest.mark.parametrize("args,code", TO_STDERR, ids=_ids([a for a, _ in TO_STDERR]))
def test_a_stderr_reader_that_left_keeps_the_exit_code(args, code, tmp_path):
    """`kbackend switch jaxx 2>&1 | true`: the refusal is lost, not turned into a traceback's exit 1."""
    expected = code if code is not None else subprocess.run([*KB, *args], capture_output=True, timeout=120,
                                                            cwd=str(tmp_path)).returncode
    for both in (True, False):
        proc = _run_with_closed_readers(args, tmp_path, stdout_too=both)
        assert proc.returncode == expected, (args, both)


def test_closed_stdout_and_a_broken_stderr_is_still_74(tmp_path):
    proc = _sh('"$@" show >&- 2> >(exec true)', tmp_path)
    assert proc.returncode == 74


@pytest.mark.integration
def test_a_reader_that_left_during_a_real_verify(tmp_path):
    """Children ran, the matrix is printed into a closed pipe: exit 0, nothing on stderr but progress."""
    proc = _run_with_closed_reader(("verify", "--backend", "numpy", "--op", "add", "--no-grad", "--no-model"),
                                   tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr
