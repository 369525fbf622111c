"""Doctor's renderer: the terminal table, plain text, progress on stderr only."""

from __future__ import annotations

from types import SimpleNamespace

from kbackend.doctor import service as S
from kbackend.doctor.checks import CHECKS
from kbackend.doctor.facts import BackendFacts
from kbackend.render import doctor_view as V
from kbackend.render.output import render
from test_doctor_checks import make_facts


def _result(tmp_path, **kw):
    return S.diagnose(make_facts(tmp_path, **kw), CHECKS, S.ProbeInfo(cache_hits=["jax"]))


def test_rich_table_shows_checks_fixes_and_backends(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    res = _result(tmp_path, file={"backend": "jax", "floatx": "bfloat16"})
    V._rich(res)
    out = capsys.readouterr().out
    assert "\x1b[" not in out  # NO_COLOR
    for c in res.checks:
        assert c.id in out
    assert "fix: kbackend" in out and "jax" in out and "cached probes: jax" in out
    assert "doctor: " in out and "1 error" in out


def test_rich_colours_follow_force_color(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    V._rich(_result(tmp_path))
    assert "\x1b[" in capsys.readouterr().out


def test_plain_text_lists_failures_with_evidence_and_fix(tmp_path, capsys):
    res = _result(tmp_path, file={"backend": "numpy"}, installed={"keras": "3.15.1", "numpy": "2.0", "h5py": "3"})
    assert render(V.render(res), as_json=False) == 1
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "numpy-needs-jax" in ln)
    assert line.startswith("error")
    assert "fix: /venvs/k/bin/python -m pip install 'jax>=0.4.20'" in out


def test_backend_rows_say_not_installed_and_cached():
    rows = V._backend_rows(SimpleNamespace(backends=[
        BackendFacts(name="jax", installed=True, version="0.4.30", status="ok", import_s=1.25, cached=True,
                     devices=["cpu:0"], built_cuda="12.4", built_cudnn="9.1.0"),
        BackendFacts(name="theano", installed=False, status="import_error"),
        BackendFacts(name="torch", installed=False),
    ]))
    assert rows[0] == ["jax", "0.4.30", "ok", "1.2 s (cached)", "cpu:0", "CUDA 12.4 cuDNN 9.1.0"]
    assert rows[1][2] == "import_error, not installed" and rows[2][2] == "not installed"


def test_probe_steps_count_each_probe_and_never_print_on_stdout(capsys):
    from kbackend.render.progress import progress

    with progress("doctor") as step:
        start, done = V.probe_steps(step)
        start(["tensorflow", "jax"])
        done(BackendFacts(name="jax", installed=True))
        done(BackendFacts(name="tensorflow", installed=True))
    cap = capsys.readouterr()
    assert cap.out == ""  # progress never goes to stdout
    assert cap.err.splitlines() == ["doctor: jax probed (1/2)", "doctor: tensorflow probed (2/2)"]
