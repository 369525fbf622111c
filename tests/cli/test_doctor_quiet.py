"""`kbackend doctor --quiet`: the health-check mode (a Slurm Prolog or HealthCheckProgram).

Nothing at all on success (stdout and stderr: no progress either), one line per problem on
stdout otherwise, whole (a log line to grep, never wrapped); exit 0 clear, 1 a problem, 2 usage.
"""

from __future__ import annotations

import json


def _keras_json(keras_home, text: str) -> None:
    keras_home.mkdir(parents=True, exist_ok=True)
    (keras_home / "keras.json").write_text(text)


def test_a_clear_node_prints_nothing_at_all(run_cli, keras_home):
    _keras_json(keras_home, json.dumps({"backend": "jax"}))
    code, out, err = run_cli("doctor", "--quiet", "--check", "config,keras-backend-env")
    assert (code, out, err) == (0, "", "")


def test_a_problem_is_one_whole_line_and_exit_1(run_cli, keras_home):
    _keras_json(keras_home, '{"backend": "jax",')
    code, out, err = run_cli("doctor", "-q", "--check", "config,keras-backend-env", env={"COLUMNS": "40"})
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith("kbackend doctor: error config: keras.json valid for the installed Keras: ")
    assert "malformed" in lines[0] and lines[0].endswith("(fix: kbackend reset --force)")


def test_quiet_keeps_the_json_document(run_cli, keras_home):
    _keras_json(keras_home, '{"backend": "jax",')
    code, out, _ = run_cli("--json", "doctor", "--quiet", "--check", "config")
    doc = json.loads(out)
    assert code == 1 and doc["exit_code"] == 1 and doc["checks"][0]["status"] == "error"


def test_a_usage_error_is_exit_2_not_a_node_problem(run_cli):
    code, out, err = run_cli("doctor", "--quiet", "--check", "no-such-check")
    assert code == 2 and out == "" and "no-such-check" in err
