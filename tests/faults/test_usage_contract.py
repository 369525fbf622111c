"""Usage errors keep the output contract: with --json, the envelope with the error on stdout, exit 2.

Click's own errors (unknown option, missing argument, bad choice, unknown
command) and kbackend's (a missing command for `run`) alike, wherever `--json`
stands on the line. Also real subprocesses: what a script piping into `jq` sees.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

KB = [sys.executable, "-m", "kbackend"]

CASES = [
    # (argv, command named in the envelope, words the message must hold)
    (("--json", "show", "--bogus"), "show", ["--bogus"]),
    (("show", "--bogus", "--json"), "show", ["--bogus"]),
    (("show", "--json", "--jsn"), "show", ["--jsn", "--json"]),  # click's own "Did you mean"
    (("--json", "get"), "get", ["Missing argument"]),
    (("get", "nope", "--json"), "get", ["nope", "backend"]),
    (("--json", "set", "floatx"), "set", ["Missing argument"]),
    (("--json", "switch", "jax", "--scope", "galaxy"), "switch", ["galaxy", "user", "env"]),
    (("verify", "--dtype", "float8", "--json"), "verify", ["float8", "float16"]),
    (("--json", "bench", "--size", "huge"), "bench", ["huge", "small"]),
    (("--json", "doctor", "--timeout", "zero"), "doctor", ["zero"]),
    (("--json", "completion", "tcsh"), "completion", ["tcsh", "bash"]),
    (("--json", "shwo"), "kbackend", ["shwo"]),
    (("--json", "--bogus", "show"), "kbackend", ["--bogus"]),
    (("--json",), "kbackend", ["Missing command"]),
    (("--json", "shell-env"), "shell-env", ["BACKEND", "--unset"]),
    (("--json", "run", "--backend", "numpy"), "run", ["Missing command", "--"]),
    (("run", "--json"), "run", ["Missing command"]),
]


@pytest.mark.parametrize("argv,command,words", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_usage_errors_print_the_envelope(run_cli, argv, command, words):
    code, out, err = run_cli(*argv)
    assert code == 2, (out, err)
    doc = json.loads(out)
    assert doc["schema_version"] == 1 and doc["exit_code"] == 2 and doc["command"] == command
    assert all(w in doc["error"]["message"] for w in words), doc["error"]
    assert doc["error"]["fix"]


def test_without_json_usage_errors_stay_on_stderr(run_cli):
    code, out, err = run_cli("show", "--bogus")
    assert code == 2 and out == "" and "No such option" in err


def test_run_without_a_command_is_a_usage_error(run_cli):
    code, out, err = run_cli("run", "--backend", "numpy")
    assert code == 2 and out == ""
    assert "Missing command" in err and "kbackend run" in err


def test_json_after_the_double_dash_is_the_commands(run_cli):
    """`kbackend run -- tool --json`: the --json is the tool's; kbackend's usage error stays text."""
    code, out, err = run_cli("--bogus", "--", "x", "--json")
    assert code == 2 and out == "" and "--bogus" in err


def test_a_real_pipe_into_a_json_reader(tmp_path):
    proc = subprocess.run([*KB, "show", "--no-such", "--json"], capture_output=True, text=True, timeout=60,
                          cwd=str(tmp_path))
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["command"] == "show" and "--no-such" in doc["error"]["message"]
    assert "Traceback" not in proc.stderr


def test_json_among_runs_command_is_the_commands(run_cli):
    """`kbackend run --backend jaxx python x.py --json`: the refusal is text; the --json is python's."""
    code, out, err = run_cli("run", "--backend", "jaxx", "python", "x.py", "--json")
    assert code == 1 and out == "" and "Did you mean `jax`?" in err
    code, out, err = run_cli("run", "--json", "--backend", "jaxx", "--", "python", "x.py")
    assert code == 1 and json.loads(out)["error"]["fix"] == "kbackend run --backend jax -- ..."


def test_a_name_refused_while_parsing_still_gets_the_envelope(run_cli):
    """--json after the bad value: the refusal happens before click reads --json."""
    code, out, _ = run_cli("bench", "--backend", "cntk", "--json")
    assert code == 2 and json.loads(out)["command"] == "bench"
    code, out, _ = run_cli("verify", "--dtype", "float16,flaot32", "--json")
    doc = json.loads(out)
    assert code == 2 and doc["command"] == "verify" and doc["error"]["fix"] == "kbackend verify --dtype float16,float32"
