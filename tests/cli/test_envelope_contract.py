"""The one JSON envelope, pinned over every command (DESIGN.md; pipx's result contract).

Every command, run with --json, prints exactly one document on stdout whose first keys are
schema_version, kbackend_version, command and exit_code, where exit_code is the process's
own; a command that failed says why in error{message, fix}. The same holds for a usage error
of each command (exit 2), for a problem the user can act on (exit 1) and for an internal error
(exit 3).
"""

from __future__ import annotations

import json
import os
import socket
import sys

import pytest

from kbackend import __version__

HEAD = ["schema_version", "kbackend_version", "command", "exit_code"]


def _envelope(out: str, code: int, command: str) -> dict:
    doc = json.loads(out)  # one document, nothing else on stdout
    assert list(doc)[:4] == HEAD, list(doc)
    assert doc["schema_version"] == 1 and doc["kbackend_version"] == __version__
    assert doc["command"] == command and doc["exit_code"] == code, (doc["command"], doc["exit_code"], code)
    assert doc["host"] == socket.gethostname(), doc["host"]
    fp = doc["fingerprint"]
    assert len(fp["hash"]) == 16 and fp["cores"] == os.cpu_count() and fp["kernel"] == os.uname().release, fp
    if "error" in doc or code in (2, 3):  # other codes of `run` are its command's own
        e = doc["error"]
        assert isinstance(e["message"], str) and e["message"].strip(), e
        assert "fix" in e and (e["fix"] is None or e["fix"].strip()), e
    return doc


COMMANDS = [
    ("show", ["show"], (0,)),
    ("get", ["get", "backend"], (0,)),
    ("set", ["set", "floatx", "float64"], (0,)),
    ("unset", ["unset", "floatx"], (0,)),
    ("switch", ["switch", "jax"], (0, 1)),
    ("check", ["check"], (0, 1)),
    ("path", ["path"], (0,)),
    ("reset", ["reset", "--force"], (0,)),
    ("doctor", ["doctor", "--list-checks"], (0,)),
    ("doctor", ["doctor", "--check", "config"], (0, 1)),
    ("verify", ["verify", "--list"], (0,)),
    ("envs", ["envs"], (0, 1)),
    ("run", ["run", sys.executable, "-c", "raise SystemExit(5)"], (5,)),
    ("shell-env", ["shell-env", "jax", "--shell", "bash"], (0,)),
    ("completion", ["completion", "bash"], (0,)),
]


@pytest.mark.parametrize("command,args,codes", COMMANDS, ids=[" ".join(a[:2]) for _, a, _ in COMMANDS])
def test_every_command_prints_the_envelope(run_cli, command, args, codes):
    code, out, _ = run_cli("--json", *args)
    assert code in codes, (code, out)
    _envelope(out, code, command)


def test_bench_prints_the_envelope(run_cli, monkeypatch):
    from bench_samples import report, result

    from kbackend.bench import run

    monkeypatch.setattr(run, "run", lambda *a, **kw: report([result("numpy", "add")]))
    code, out, _ = run_cli("--json", "bench", "--backend", "numpy", "--op", "add", "--quick", "--processes", "1")
    doc = _envelope(out, code, "bench")
    assert code == 0 and doc["results"]


def test_fleet_prints_the_envelope(run_cli, tmp_path):
    """fleet merge over a document kbackend printed; fleet run without a launcher is the usage envelope."""
    code, out, _ = run_cli("--json", "path")
    (tmp_path / "bad.json").write_text(out)  # a `path` document: not one fleet merge reads
    code, out, _ = run_cli("--json", "fleet", "merge", str(tmp_path))
    doc = _envelope(out, code, "fleet merge")
    assert code == 1 and "`path` document" in doc["skipped"][0]["reason"]
    code, out, _ = run_cli("--json", "fleet", "run", "--", "doctor")
    doc = _envelope(out, code, "fleet run")
    assert code == 2 and "--slurm" in doc["error"]["fix"]


@pytest.mark.integration
def test_a_real_verify_of_one_op_on_numpy_prints_the_envelope(run_cli):
    code, out, _ = run_cli("--json", "verify", "--backend", "numpy", "--op", "add", "--no-grad", "--no-model")
    doc = _envelope(out, code, "verify")
    assert code == 0 and doc["results"] and all(r["status"] == "pass" for r in doc["results"])


#: a usage error of each command: an option it does not have (run's CMD takes unknown options,
#: so its own --floatx without a value).
USAGE = [(c, [c, "--no-such-option"]) for c in
         ("show", "get", "set", "unset", "switch", "check", "path", "reset", "doctor", "verify", "bench", "envs",
          "shell-env", "completion")] + [("run", ["run", "--floatx"]),
                                         ("fleet merge", ["fleet", "merge", "--no-such-option"]),
                                         ("fleet run", ["fleet", "run", "--no-such-option"])]


@pytest.mark.parametrize("command,args", USAGE, ids=[c for c, _ in USAGE])
def test_a_usage_error_of_every_command_is_the_envelope_with_its_fix(run_cli, command, args):
    code, out, _ = run_cli("--json", *args)
    assert code == 2
    doc = _envelope(out, code, command)
    assert doc["error"]["fix"].endswith("--help") and command in doc["error"]["fix"]


@pytest.mark.parametrize("args,command", [(["get", "nope"], "get"), (["doctor", "--check", "nope"], "doctor"),
                                          (["--python", "/nonexistent/python", "envs"], "envs"),
                                          (["run", "no-such-command-kbackend"], "run")])
def test_a_problem_the_user_can_act_on_is_the_envelope_with_its_fix(run_cli, args, command):
    code, out, _ = run_cli("--json", *args)
    assert code in (1, 2, 127)
    doc = _envelope(out, code, command)
    assert doc["error"]["fix"]


def test_a_command_that_ran_has_no_error_in_its_envelope(run_cli):
    code, out, _ = run_cli("--json", "run", sys.executable, "-c", "pass")
    assert code == 0 and "error" not in _envelope(out, code, "run")


def test_an_internal_error_is_the_envelope_with_exit_3(run_cli, monkeypatch):
    from kbackend.render import config_view

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(config_view, "show", boom)
    code, out, _ = run_cli("--json", "show")
    assert code == 3
    doc = _envelope(out, code, "show")
    assert "boom" in doc["error"]["message"] and doc["error"]["kind"] == "internal"


def test_every_command_returns_a_result_and_the_renderer_prints_it(run_cli, monkeypatch):
    """No command prints its own envelope: all of them go through render.output.render."""
    from kbackend.cli.main import COMMANDS as ALL
    from kbackend.render import output

    seen = []
    real = output.render
    monkeypatch.setattr(output, "render", lambda r, **kw: (seen.append(r.command), real(r, **kw))[1])
    for command, args, _codes in COMMANDS:
        run_cli("--json", *args)
    assert sorted(set(seen)) == sorted(set(ALL) - {"bench", "fleet"})  # fleet: test_fleet_prints_the_envelope


def test_only_the_renderer_prints_an_envelope_and_views_decide_no_exit_code():
    """Exit codes were decided in views, cli and reports; envelopes printed from each of them."""
    import pathlib
    import re

    import kbackend

    src = pathlib.Path(kbackend.__file__).parent
    for path in [*src.glob("render/*.py"), *src.glob("cli/*.py")]:
        text = path.read_text()
        if path.name != "output.py":
            assert "emit_json(" not in text, path
        if path.name.endswith("_view.py"):
            assert not re.search(r"^\s+return [0-9]+\s*$", text, re.M), f"{path}: a view returns an exit code"
            assert not re.search(r"\b0 if .*\bok\b.* else 1\b", text), f"{path}: a view decides an exit code"


def test_the_fingerprint_is_the_machine_s_and_the_node_the_scheduler_s(run_cli, monkeypatch):
    """Two documents of one machine share the fingerprint; a Slurm node name that is not the host's is kept."""
    monkeypatch.setenv("SLURMD_NODENAME", "node-07")
    _, a, _ = run_cli("--json", "path")
    monkeypatch.delenv("SLURMD_NODENAME")
    _, b, _ = run_cli("--json", "show")
    a, b = json.loads(a), json.loads(b)
    assert a["node"] == "node-07" and "node" not in b
    assert a["fingerprint"] == b["fingerprint"]
    cpu = open("/proc/cpuinfo").read()
    assert a["fingerprint"]["cpu"] and a["fingerprint"]["cpu"] in " ".join(cpu.split())


def test_the_fingerprint_hash_changes_with_any_fact():
    from kbackend import _host

    real = _host.fingerprint()
    import hashlib

    def h(facts):
        blob = json.dumps([facts[k] for k in _host.FIELDS], separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    assert h(real) == real["hash"]
    for k in _host.FIELDS:
        other = dict(real, **{k: "something else"})
        assert h(other) != real["hash"], k


def test_the_cpu_model_is_read_from_the_first_processor_on_x86_and_arm():
    from kbackend._host import cpu_model as _cpu_model

    x86 = "processor\t: 0\nmodel name\t: AMD  EPYC 7763\n\nprocessor\t: 1\nmodel name\t: other\n"
    arm = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n\nModel\t\t: Raspberry Pi 4\n"
    assert _cpu_model(x86) == "AMD EPYC 7763" and _cpu_model(arm) == "0xd0c" and _cpu_model("") == ""
