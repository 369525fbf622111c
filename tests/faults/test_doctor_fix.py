"""`doctor --fix`: a plan of the fixes kbackend can carry out, applied only with --yes, each step printed
with its command. The pip steps run the target's interpreter (here a fake one that records its argv)."""

from __future__ import annotations

import json
import shlex

import pytest
from gpu_fakes import fake_smi, hermetic, site  # noqa: F401

from kbackend import install as I
from kbackend.doctor.fix import plan_steps


def test_steps_of_a_fix():
    py = "/env/bin/python"
    fix = f"{py} -m pip uninstall -y tensorflow-cpu && {py} -m pip install 'tensorflow[and-cuda]>=2.16.1'"
    assert [s.kind for s in plan_steps("c", fix, py)] == ["pip", "pip"]
    assert [s.kind for s in plan_steps("c", "kbackend switch --scope env --unset  # to let keras.json decide", py)] \
        == ["unpin"]
    # another interpreter's pip is not this target's: shown, not run
    assert [s.kind for s in plan_steps("c", "/other/python -m pip install jax", py)] == ["manual"]
    # alternatives after "; ": the first is the plan
    assert [s.command for s in plan_steps("c", "kbackend switch jax; or install torch", py)] == ["kbackend switch jax"]


def test_switch_is_planned_then_applied_with_yes(run_cli, keras_home):
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jaxx"}))
    code, out, err = run_cli("--json", "doctor", "--check", "config", "--fix")
    doc = json.loads(out)
    assert [(s["kind"], s["command"], s["outcome"]) for s in doc["fixes"]] == [
        ("switch", "kbackend switch tensorflow", None)]
    assert doc["fixes_applied"] is False and json.loads((keras_home / "keras.json").read_text())["backend"] == "jaxx"
    code, out, err = run_cli("doctor", "--check", "config", "--fix", "--yes")
    assert "fix (switch, for config): kbackend switch tensorflow" in " ".join(err.split())
    assert "[ok]" in out and json.loads((keras_home / "keras.json").read_text())["backend"] == "tensorflow"
    code, out, err = run_cli("--json", "doctor", "--check", "config", "--fix")
    assert json.loads(out)["fixes"] == [] and code == 0


def test_yes_needs_fix(run_cli):
    code, out, err = run_cli("doctor", "--yes")
    assert code == 2 and "--fix" in err


def _recording_python(tmp_path, sys_path, fail=False):
    """A target interpreter that answers kbackend's query, and logs (then ends with 0 or 1) a `-m pip` run."""
    from kbackend.envs.target import answer_text

    exe = tmp_path / "env" / "bin" / "python"
    exe.parent.mkdir(parents=True)
    doc = answer_text({"version": "3.11.7", "path": sys_path, "prefix": str(exe.parent.parent),
                       "executable": str(exe)})
    log = tmp_path / "pip.log"
    exe.write_text(f"#!/bin/sh\nif [ \"$1\" = -m ]; then echo \"$@\" >> '{log}'; exit {int(fail)}; fi\n"
                   f"echo '{doc}'\n")
    exe.chmod(0o755)
    return exe, log


@pytest.mark.parametrize("fail", [False, True], ids=["pip-ok", "pip-fails"])
def test_install_steps_run_the_target_pip(run_cli, keras_home, tmp_path, monkeypatch, fake_smi, fail):  # noqa: F811
    monkeypatch.setattr(I, "PROC_GPUS", str(tmp_path / "none"))
    from kbackend.gpu import probe

    monkeypatch.setattr(probe, "SystemPaths", lambda: hermetic(tmp_path))
    monkeypatch.setenv("PATH", str(fake_smi))
    I.clear_cache()
    sp = site(tmp_path / "site", {"keras": "3.15.1", "numpy": "2.1.0", "packaging": "25.0",
                                  "tensorflow-cpu": "2.21.0", "torch": "2.6.0+cpu"})
    py, log = _recording_python(tmp_path, [str(sp)], fail=fail)
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    code, out, err = run_cli("--python", str(py), "--json", "doctor", "--check", "gpu-backend-on-cpu", "--fix", "--yes")
    I.clear_cache()
    steps = json.loads(out)["fixes"]
    q = shlex.quote(str(py))
    assert [s["command"] for s in steps] == [
        f"{q} -m pip uninstall -y tensorflow-cpu", f"{q} -m pip install 'tensorflow[and-cuda]>=2.16.1'",
        f"{q} -m pip install --force-reinstall 'torch>=2.1.0' --index-url https://download.pytorch.org/whl/cu126"]
    ran = log.read_text().splitlines()
    if not fail:
        assert [s["outcome"] for s in steps] == ["ok", "ok", "ok"]
        assert ran == ["-m pip uninstall -y tensorflow-cpu", "-m pip install tensorflow[and-cuda]>=2.16.1",
                       "-m pip install --force-reinstall torch>=2.1.0 --index-url "
                       "https://download.pytorch.org/whl/cu126"]
    else:  # the first failure stops the plan: nothing after it runs
        assert [s["outcome"] for s in steps] == ["failed", None, None] and code == 1
        assert ran == ["-m pip uninstall -y tensorflow-cpu"] and "exit status 1" in steps[0]["detail"]
    assert err.count("fix (pip, for gpu-backend-on-cpu): ") == (3 if not fail else 1)
