"""Where else KERAS_BACKEND is set for the target: a fake conda environment (activate.d scripts in each
shell's syntax, `conda env config vars` in conda-meta/state) and a kernelspec folder on JUPYTER_PATH;
`show` lists them as origins that apply "when activated" / "in kernel NAME", doctor reports them when
they contradict keras.json or each other."""

from __future__ import annotations

import json

from gpu_fakes import fake_python, site

from kbackend.envs.elsewhere import activation_value, conda_settings, kernel_settings


def _env(tmp_path, activate=None, state=None):
    sp = site(tmp_path / "site", {"keras": "3.15.1", "jax": "0.6.0", "jaxlib": "0.6.0", "packaging": "25.0"})
    py = fake_python(tmp_path, [str(sp)])
    prefix = py.parent.parent
    if activate:
        d = prefix / "etc" / "conda" / "activate.d"
        d.mkdir(parents=True)
        for name, text in activate.items():
            (d / name).write_text(text)
    if state is not None:
        (prefix / "conda-meta").mkdir(parents=True)
        (prefix / "conda-meta" / "state").write_text(json.dumps(state))
    return py, prefix


def _kernel(root, name, argv0, env):
    k = root / "kernels" / name
    k.mkdir(parents=True)
    (k / "kernel.json").write_text(json.dumps({"argv": [str(argv0), "-m", "ipykernel_launcher", "-f",
                                                         "{connection_file}"], "display_name": name, "env": env}))


def test_each_shell_syntax_is_read():
    lines = {"export KERAS_BACKEND=jax": "jax", "KERAS_BACKEND=\"torch\"": "torch",
             "setenv KERAS_BACKEND tensorflow": "tensorflow", "set -gx KERAS_BACKEND jax": "jax",
             "@set \"KERAS_BACKEND=numpy\"": "numpy", "$Env:KERAS_BACKEND = \"openvino\"": "openvino",
             "export KERAS_HOME=/x": None, "# export KERAS_BACKEND=jax": None}
    assert {ln: activation_value(ln, "KERAS_BACKEND") for ln in lines} == lines


def test_conda_and_kernels_found(tmp_path, monkeypatch):
    py, prefix = _env(tmp_path, {"keras.sh": "export KERAS_BACKEND=torch\n", "other.sh": "export X=1\n",
                                 "keras.bat": "set KERAS_BACKEND=torch\n"},
                      {"env_vars": {"KERAS_BACKEND": "jax", "OTHER": "1"}})
    found = conda_settings(str(prefix))
    assert [(s.kind, s.value, s.path.rsplit("/", 1)[-1]) for s in found] == [
        ("conda_activate", "torch", "keras.bat"), ("conda_activate", "torch", "keras.sh"),
        ("conda_env_vars", "jax", "state")]
    jp = tmp_path / "jupyter"
    _kernel(jp, "mine", py, {"KERAS_BACKEND": "torch"})
    _kernel(jp, "someone-elses", "/usr/bin/python3", {"KERAS_BACKEND": "jax"})
    _kernel(jp, "no-env", py, {})
    ks = kernel_settings(str(py), {"JUPYTER_PATH": str(jp), "HOME": str(tmp_path)}, [str(prefix)])
    assert [(s.kernel, s.value) for s in ks] == [("mine", "torch")]
    assert ks[0].where.startswith("in kernel mine: ")


def test_show_lists_them_and_doctor_reports_the_contradiction(run_cli, keras_home, tmp_path, monkeypatch):
    py, prefix = _env(tmp_path, {"keras.sh": "export KERAS_BACKEND=torch\n"})
    jp = tmp_path / "jupyter"
    _kernel(jp, "lab", py, {"KERAS_BACKEND": "numpy"})
    monkeypatch.setenv("JUPYTER_PATH", str(jp))
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    code, out, err = run_cli("--python", str(py), "--json", "show")
    got = [(e["kind"], e["value"]) for e in json.loads(out)["elsewhere"]]
    assert got == [("conda_activate", "torch"), ("kernel", "numpy")]
    code, out, err = run_cli("--python", str(py), "show")
    flat = " ".join(out.split())
    assert "KERAS_BACKEND=torch (when activated: " in flat and "KERAS_BACKEND=numpy (in kernel lab: " in flat
    code, out, err = run_cli("--python", str(py), "--json", "doctor", "--check", "backend-elsewhere")
    f = json.loads(out)["checks"][0]
    assert f["status"] == "warn"
    ev = "\n".join(f["evidence"])
    assert "keras.json's choice: backend 'jax'" in ev and "disagree with each other" in ev
    assert f["fix"].startswith(f"remove the KERAS_BACKEND line from {prefix}/etc/conda/activate.d/keras.sh")


def test_agreeing_settings_are_ok(run_cli, keras_home, tmp_path):
    py, prefix = _env(tmp_path, state={"env_vars": {"KERAS_BACKEND": "jax"}})
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    code, out, err = run_cli("--python", str(py), "--json", "doctor", "--check", "backend-elsewhere")
    f = json.loads(out)["checks"][0]
    assert f["status"] == "ok" and "conda env config vars" in f["evidence"][0]
    # the conda env var against keras.json: the fix is conda's own command
    (keras_home / "keras.json").write_text(json.dumps({"backend": "torch"}))
    code, out, err = run_cli("--python", str(py), "--json", "doctor", "--check", "backend-elsewhere")
    f = json.loads(out)["checks"][0]
    assert f["status"] == "warn" and f["fix"].startswith("conda env config vars unset KERAS_BACKEND -p ")
