"""Each doctor check of Keras, keras.json and the backends: a case where it fires, one where it passes.

Facts are built from the real config layer (a keras.json on disk judged by
`kbackend.services.config.check`), with the probe results given as data.
"""

from __future__ import annotations

import json
import os

import pytest

from kbackend.config.location import locate
from kbackend.config.rules import rules_for
from kbackend.services.config import ConfigContext, check as config_check
from kbackend.doctor import checks as C
from kbackend.doctor.facts import BackendFacts, Facts, InterpreterFacts, KerasFacts
from kbackend.doctor.probe import backend_dists, backend_version, relevant_environ
from kbackend.envs.target import Target
from kbackend.gpu.model import GpuDevice, GpuFacts

PY = "/venvs/k/bin/python"
FULL = {"keras": "3.15.1", "tensorflow": "2.21.0", "jax": "0.10.2", "jaxlib": "0.10.2", "torch": "2.13.0",
        "numpy": "2.4.6", "openvino": "2026.4.1", "h5py": "3.14.0", "packaging": "25.0"}
BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")


def make_facts(tmp_path, *, installed=None, file=None, environ=None, probes=None, gpu=None, programs=None,
               python_version="3.11.7", requires_python=">=3.10") -> Facts:
    """Facts for the checks. `file`: a dict (written as JSON), a str (written raw) or None (no keras.json).
    `probes`: backend name -> status or BackendFacts fields (default: every installed backend ok)."""
    installed = dict(FULL if installed is None else installed)
    environ = dict(environ or {})
    home = tmp_path / "kh"
    home.mkdir(exist_ok=True)
    if file is not None:
        (home / "keras.json").write_text(file if isinstance(file, str) else json.dumps(file))
    environ_all = {"KERAS_HOME": str(home), **environ}
    kv = installed.get("keras")
    rules = rules_for(kv)
    target = Target(PY, python_version, (), "/venvs/k", "current", False)
    ctx = ConfigContext(target, installed, kv, rules, locate(environ_all, rules=rules), environ_all)
    from kbackend.config.judge import installed_backend

    backends = []
    for name in BACKENDS:
        ok, _ = installed_backend(name, installed)
        spec = (probes or {}).get(name, "ok" if ok else "not_run")
        fields = {"status": spec} if isinstance(spec, str) else dict(spec)
        fields.setdefault("status", "ok")
        if fields["status"] == "ok":
            fields.setdefault("import_s", 1.0)
            fields.setdefault("devices", ["cpu:0"])
            fields.setdefault("keras_version", kv)
        backends.append(BackendFacts(name=name, installed=ok, version=backend_version(name, installed),
                                     dists=backend_dists(name, installed), **fields))
    return Facts(
        interpreter=InterpreterFacts(python=PY, version=python_version, origin="current"),
        keras=KerasFacts(version=kv, dist="keras" if kv else None, rules_line=rules.line, rules_assumed=rules.assumed,
                         requires_python=requires_python if kv else None),
        config=config_check(ctx), backends=backends, gpu=gpu or GpuFacts(), installed=installed,
        environ=relevant_environ(environ), programs=programs or {"dot": None},
    )


def status(check, facts) -> str:
    return check(facts).status


# ---------------------------------------------------------------------- python, keras, config


def test_python_fires_when_keras_requires_newer_python(tmp_path):
    f = C.check_python(make_facts(tmp_path, python_version="3.9.18", requires_python=">=3.10"))
    assert f.status == "error"
    assert "requires Python >=3.10" in " ".join(f.evidence)


def test_python_passes(tmp_path):
    assert status(C.check_python, make_facts(tmp_path)) == "ok"


def test_python_36_without_keras_warns(tmp_path):
    f = C.check_python(make_facts(tmp_path, installed={"numpy": "1.19"}, python_version="3.6.15"))
    assert f.status == "warn" and "Keras 2.x only" in " ".join(f.evidence)


def test_keras_missing_fires(tmp_path):
    f = C.check_keras(make_facts(tmp_path, installed={"numpy": "2.0"}))
    assert f.status == "error" and f.fix == f"{PY} -m pip install 'keras>=3'"


def test_keras_passes(tmp_path):
    assert status(C.check_keras, make_facts(tmp_path)) == "ok"


def test_config_fires_on_value_keras_rejects(tmp_path):
    f = C.check_config(make_facts(tmp_path, file={"backend": "jax", "floatx": "bfloat16"}))
    assert f.status == "error"
    assert any("floatx" in e for e in f.evidence)
    assert f.fix


def test_config_fires_on_file_keras_ignores(tmp_path):
    f = C.check_config(make_facts(tmp_path, file='{"backend": "jax",}'))
    assert f.status == "error" and any("ignores" in e for e in f.evidence)


def test_config_passes_and_leaves_backend_problems_to_their_checks(tmp_path):
    # backend_not_installed is reported by backend-importable, not twice.
    facts = make_facts(tmp_path, file={"backend": "torch"}, installed={k: v for k, v in FULL.items() if k != "torch"})
    assert any(p.id == "backend_not_installed" for p in facts.config.problems)
    assert status(C.check_config, facts) == "ok"


def test_config_skips_without_keras(tmp_path):
    assert status(C.check_config, make_facts(tmp_path, installed={"numpy": "2.0"})) == "skip"


# ---------------------------------------------------------------------- KERAS_BACKEND


def test_keras_backend_env_fires_when_it_overrides_the_file(tmp_path):
    f = C.check_keras_backend_env(make_facts(tmp_path, file={"backend": "jax"}, environ={"KERAS_BACKEND": "torch"}))
    assert f.status == "warn"
    assert "KERAS_BACKEND=torch overrides" in f.evidence[0]
    assert f.fix.startswith("unset KERAS_BACKEND")


@pytest.mark.parametrize("env", [{}, {"KERAS_BACKEND": ""}, {"KERAS_BACKEND": "jax"}])
def test_keras_backend_env_passes(tmp_path, env):
    assert status(C.check_keras_backend_env, make_facts(tmp_path, file={"backend": "jax"}, environ=env)) == "ok"


# ---------------------------------------------------------------------- backends


def test_backend_importable_fires_when_not_installed(tmp_path):
    facts = make_facts(tmp_path, file={"backend": "torch"}, installed={k: v for k, v in FULL.items() if k != "torch"})
    f = C.check_backend_importable(facts)
    assert f.status == "error"
    assert "missing torch" in f.evidence[0]
    # the facts hold no GPU: the CPU build, pinned to the torch Keras 3 needs
    assert f.fix == f"{PY} -m pip install 'torch>=2.1.0' --index-url https://download.pytorch.org/whl/cpu"


@pytest.mark.parametrize("probe", ["import_error", "timeout", "crashed", "bad_output", "error"])
def test_backend_importable_fires_when_the_probe_fails(tmp_path, probe):
    facts = make_facts(tmp_path, file={"backend": "jax"},
                       probes={"jax": {"status": probe, "error": "boom", "log": "line1\nFatal Python error: x\n"}})
    f = C.check_backend_importable(facts)
    assert f.status == "error"
    assert probe in f.evidence[0] and "boom" in f.evidence[0]
    assert "log: Fatal Python error: x" in f.evidence


def test_backend_importable_passes(tmp_path):
    f = C.check_backend_importable(make_facts(tmp_path, file={"backend": "jax"}))
    assert f.status == "ok" and "jax 0.10.2" in f.evidence[0]


def test_backend_importable_skips_when_not_probed(tmp_path):
    assert status(C.check_backend_importable, make_facts(tmp_path, probes={"tensorflow": "not_run"})) == "skip"


def test_other_backends_fires_on_a_broken_one(tmp_path):
    f = C.check_other_backends(make_facts(tmp_path, file={"backend": "jax"},
                                          probes={"torch": {"status": "crashed", "error": "killed by SIGSEGV"}}))
    assert f.status == "warn"
    assert any("torch" in e and "SIGSEGV" in e for e in f.evidence)


def test_other_backends_passes(tmp_path):
    assert status(C.check_other_backends, make_facts(tmp_path)) == "ok"


def test_versions_fires_on_backend_below_keras_minimum(tmp_path):
    inst = {**FULL, "jax": "0.4.13", "jaxlib": "0.4.13"}
    f = C.check_versions(make_facts(tmp_path, file={"backend": "jax"}, installed=inst))
    assert f.status == "error"  # the configured backend
    assert any("jax 0.4.13 is older than 0.4.20" in e for e in f.evidence)
    f = C.check_versions(make_facts(tmp_path, file={"backend": "torch"}, installed=inst))
    assert f.status == "warn"  # an installed but unused backend


def test_versions_fires_on_tensorflow_keras_pin(tmp_path):
    inst = {**FULL, "keras": "3.8.0"}  # TensorFlow 2.21 requires keras>=3.12
    f = C.check_versions(make_facts(tmp_path, file={"backend": "tensorflow"}, installed=inst))
    assert f.status == "error"
    assert any("requires keras>=3.12" in e for e in f.evidence)
    assert "-U 'keras>=3.12'" in f.fix


def test_versions_passes(tmp_path):
    assert status(C.check_versions, make_facts(tmp_path)) == "ok"


def test_tf_keras_minimum_table():
    assert C.tf_keras_minimum("2.16.1") == ">=3.0"
    assert C.tf_keras_minimum("2.21.0") == ">=3.12"
    assert C.tf_keras_minimum("2.22.0") == ">=3.12"
    assert C.tf_keras_minimum("2.15.1") == ">=2.15,<2.16"


def test_numpy_needs_jax_fires(tmp_path):
    inst = {k: v for k, v in FULL.items() if k not in ("jax", "jaxlib")}
    f = C.check_numpy_needs_jax(make_facts(tmp_path, file={"backend": "numpy"}, installed=inst))
    assert f.status == "error" and f.fix.endswith("pip install 'jax>=0.4.20'")


def test_numpy_needs_jax_passes_and_skips(tmp_path):
    assert status(C.check_numpy_needs_jax, make_facts(tmp_path, file={"backend": "numpy"})) == "ok"
    f = C.check_numpy_needs_jax(make_facts(tmp_path, file={"backend": "torch"}))
    assert f.status == "skip" and "torch" in f.evidence[0]


# ---------------------------------------------------------------------- TensorFlow


def test_tf_legacy_keras_fires_without_tf_keras(tmp_path):
    f = C.check_tf_legacy_keras(make_facts(tmp_path, environ={"TF_USE_LEGACY_KERAS": "1"}))
    assert f.status == "error"
    assert 'tf-keras~=2.21.0' in f.fix


def test_tf_legacy_keras_warns_on_a_value_tensorflow_ignores(tmp_path):
    f = C.check_tf_legacy_keras(make_facts(tmp_path, environ={"TF_USE_LEGACY_KERAS": "TRUE"}))
    assert f.status == "warn" and "only true, True or 1" in f.evidence[0]


def test_tf_legacy_keras_warns_on_mismatched_tf_keras(tmp_path):
    f = C.check_tf_legacy_keras(make_facts(tmp_path, installed={**FULL, "tf-keras": "2.19.0"},
                                           environ={"TF_USE_LEGACY_KERAS": "True"}))
    assert f.status == "warn" and "does not match" in " ".join(f.evidence)


@pytest.mark.parametrize("env,inst,want", [
    ({"TF_USE_LEGACY_KERAS": "true"}, {**FULL, "tf-keras": "2.21.0"}, "ok"),
    ({"TF_USE_LEGACY_KERAS": "0"}, FULL, "ok"),
    ({}, FULL, "skip"),
    ({"TF_USE_LEGACY_KERAS": "1"}, {k: v for k, v in FULL.items() if k != "tensorflow"}, "skip"),
])
def test_tf_legacy_keras_passes_or_skips(tmp_path, env, inst, want):
    assert status(C.check_tf_legacy_keras, make_facts(tmp_path, environ=env, installed=inst)) == want


@pytest.mark.parametrize("file,env", [
    ({"backend": "jaxx"}, {}),
    ({"backend": "mxnet"}, {}),
    ({"backend": "jax"}, {"KERAS_BACKEND": "Torch"}),
])
def test_tf_import_backend_fires_on_a_backend_keras_rejects(tmp_path, file, env):
    f = C.check_tf_import_backend(make_facts(tmp_path, file=file, environ=env))
    assert f.status == "error"
    assert any("`import tensorflow` fails: ValueError: Unable to import backend" in e for e in f.evidence)


def test_tf_import_backend_fires_on_a_missing_or_broken_backend(tmp_path):
    inst = {k: v for k, v in FULL.items() if k != "torch"}
    assert status(C.check_tf_import_backend, make_facts(tmp_path, file={"backend": "torch"}, installed=inst)) == "error"
    f = C.check_tf_import_backend(make_facts(tmp_path, file={"backend": "jax"}, probes={"jax": "crashed"}))
    assert f.status == "error" and f.fix == "kbackend switch tensorflow"


def test_tf_import_backend_passes_and_skips(tmp_path):
    assert status(C.check_tf_import_backend, make_facts(tmp_path, file={"backend": "jax"})) == "ok"
    assert status(C.check_tf_import_backend, make_facts(tmp_path, file={"backend": "jaxx"},
                                                        environ={"TF_USE_LEGACY_KERAS": "1"})) == "skip"
    old_tf = {**FULL, "tensorflow": "2.15.1", "keras": "2.15.0"}
    assert status(C.check_tf_import_backend, make_facts(tmp_path, file={"backend": "jaxx"}, installed=old_tf)) == "skip"


def test_channels_first_cpu_fires_when_the_probe_saw_nchw_fail(tmp_path):
    tf = {"status": "ok", "extra": {"cpu_nchw_conv": False, "cpu_nchw_conv_error": "UnimplementedError: NHWC only"}}
    f = C.check_channels_first_cpu(make_facts(tmp_path, file={"backend": "tensorflow", "image_data_format": "channels_first"},
                                              probes={"tensorflow": tf}))
    assert f.status == "error"
    assert f.fix == "kbackend set image_data_format channels_last"
    assert any("NHWC only" in e for e in f.evidence)


def test_channels_first_cpu_warns_when_onednn_runs_it(tmp_path):
    tf = {"status": "ok", "extra": {"cpu_nchw_conv": True}}
    f = C.check_channels_first_cpu(make_facts(tmp_path, file={"backend": "tensorflow", "image_data_format": "channels_first"},
                                              probes={"tensorflow": tf}))
    assert f.status == "warn" and "oneDNN" in f.evidence[1]


def test_channels_first_cpu_passes_on_gpu_or_channels_last(tmp_path):
    cf = {"backend": "tensorflow", "image_data_format": "channels_first"}
    tf = {"status": "ok", "gpu_devices": ["GPU:0"], "extra": {"cpu_nchw_conv": False}}
    gpu = GpuFacts(gpus=[GpuDevice(index=0, name="NVIDIA H100", compute_capability="9.0")])
    assert status(C.check_channels_first_cpu, make_facts(tmp_path, file=cf, probes={"tensorflow": tf}, gpu=gpu)) == "ok"
    assert status(C.check_channels_first_cpu, make_facts(tmp_path, file={"backend": "tensorflow"})) == "ok"
    assert status(C.check_channels_first_cpu, make_facts(tmp_path, file={**cf, "backend": "torch"})) == "skip"


# ---------------------------------------------------------------------- extras


def test_h5py_fires_and_passes(tmp_path):
    inst = {k: v for k, v in FULL.items() if k != "h5py"}
    f = C.check_h5py(make_facts(tmp_path, installed=inst))
    assert f.status == "warn" and f.fix.endswith("pip install h5py")
    assert status(C.check_h5py, make_facts(tmp_path)) == "ok"


def test_plot_model_fires_when_pydot_lacks_dot(tmp_path):
    f = C.check_plot_model(make_facts(tmp_path, installed={**FULL, "pydot": "4.0.1"}))
    assert f.status == "warn" and "graphviz" in f.fix


def test_plot_model_fires_when_dot_lacks_pydot(tmp_path):
    f = C.check_plot_model(make_facts(tmp_path, programs={"dot": "/usr/bin/dot"}))
    assert f.status == "warn" and f.fix.endswith("pip install pydot")


def test_plot_model_passes_and_skips(tmp_path):
    both = make_facts(tmp_path, installed={**FULL, "pydot": "4.0.1"}, programs={"dot": "/usr/bin/dot"})
    assert status(C.check_plot_model, both) == "ok"
    assert status(C.check_plot_model, make_facts(tmp_path)) == "skip"


def test_every_check_has_a_unique_id_and_returns_its_own_id(tmp_path):
    facts = make_facts(tmp_path)
    ids = [c.id for c in C.CHECKS]
    assert len(ids) == len(set(ids))
    for c in C.CHECKS:
        f = c.func(facts)
        assert f.id == c.id and f.title == c.title


def test_relevant_environ_keeps_only_what_matters():
    env = relevant_environ({"KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": "/h", "PATH": "/bin",
                            "CUDA_VISIBLE_DEVICES": "0", "LD_LIBRARY_PATH": "/usr/local/cuda/lib64"})
    assert env == {"CUDA_VISIBLE_DEVICES": "0", "KERAS_BACKEND": "jax", "LD_LIBRARY_PATH": "/usr/local/cuda/lib64",
                   "TF_CPP_MIN_LOG_LEVEL": "3"}
    assert os.environ.get("HOME")  # the real environment is untouched


# ---------------------------------------------------------------------- where modules came from

STRAY_TORCH = {"file": "/work/torch.py", "thing": "/work/torch.py", "verdict": "not_from_dist", "dist": "torch",
               "dist_version": "2.13.0", "via": "PYTHONPATH", "version": None}
STRAY_KERAS = {"file": "/nb/keras/__init__.py", "thing": "/nb/keras", "verdict": "not_from_dist", "dist": "keras",
               "dist_version": "3.15.1", "via": "/venv/lib/python3.11/site-packages/nb.pth", "version": "0.1"}
REAL_KERAS = {"file": "/venv/site-packages/keras/__init__.py", "thing": "/venv/site-packages/keras",
              "verdict": "dist", "dist": "keras", "dist_version": "3.15.1"}


def test_other_backends_warns_on_a_stray_backend(tmp_path):
    facts = make_facts(tmp_path, file={"backend": "jax"},
                       probes={"torch": {"origins": {"torch": STRAY_TORCH, "keras": REAL_KERAS}}})
    f = C.check_other_backends(facts)
    assert f.status == "warn"
    assert "`import torch` loads /work/torch.py (on PYTHONPATH), instead of the installed torch 2.13.0" in f.evidence
    assert f.fix == "remove or rename /work/torch.py / unset PYTHONPATH"
    assert C.check_backend_importable(facts).status == "ok"  # jax itself is fine


def test_a_stray_keras_is_the_configured_backends_finding(tmp_path):
    origins = {"keras": STRAY_KERAS}
    probes = {n: {"origins": origins} for n in ("tensorflow", "jax", "torch", "numpy", "openvino")}
    facts = make_facts(tmp_path, file={"backend": "jax"}, probes=probes)
    f = C.check_backend_importable(facts)
    assert f.status == "error" and f.fix == f"remove or rename /nb/keras / remove its directory from {STRAY_KERAS['via']}"
    assert (f"`import keras` loads /nb/keras (added by {STRAY_KERAS['via']}), instead of the installed keras 3.15.1 "
            "(it says it is 0.1)") in f.evidence
    assert C.check_other_backends(facts).status == "ok"  # said once, where it belongs
    probes["jax"] = "not_run"  # the configured backend was not probed: the others tell
    facts = make_facts(tmp_path, file={"backend": "jax"}, probes=probes)
    f = C.check_other_backends(facts)
    assert f.status == "warn"
    assert sum(e.startswith("`import keras` loads /nb/keras (added by ") for e in f.evidence) == 1


def test_an_ok_probe_says_where_each_module_came_from(tmp_path):
    facts = make_facts(tmp_path, file={"backend": "jax"}, probes={"jax": {"origins": {"keras": REAL_KERAS}}})
    f = C.check_backend_importable(facts)
    assert f.status == "ok" and "keras from /venv/site-packages/keras (keras 3.15.1)" in f.evidence


def test_backend_importable_knows_keras_305_numpy_needs_torch(tmp_path):
    # Keras 3.0.5's numpy backend imports torch (checked against the real wheel in
    # tests/integration/test_keras_wheel_needs.py): without torch it is not importable.
    installed = {k: v for k, v in FULL.items() if k != "torch"} | {"keras": "3.0.5"}
    f = C.check_backend_importable(make_facts(tmp_path, installed=installed, environ={"KERAS_BACKEND": "numpy"}))
    assert f.status == "error" and "torch" in " ".join(f.evidence) and "-m pip install 'torch>=" in f.fix
