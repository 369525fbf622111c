"""verify on real backends: known upstream defects, the gradient consensus at kinks, draws, --repro.

One patched run is shared by most asserts (jax, torch, tensorflow, openvino; a few cases, two
draws): torch's relu gets a wrong gradient at 0 through the worker's test hook, and the consensus
of jax and tensorflow must name it. The reproduction script is checked without any kbackend hook:
the bug is injected into the interpreter's Keras by a sitecustomize module.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from kbackend.suite.run import installed_backends
from isolated_run import isolated_env, run_verify

pytestmark = pytest.mark.integration

BACKENDS = installed_backends(sys.path)[0]
KINK_BACKENDS = ("jax", "torch", "tensorflow")


_env = isolated_env


def _verify(tmp, *args, env_extra=None):
    code, doc, _ = run_verify(tmp, *args, env_extra=env_extra)
    return code, doc


def _rows(doc, **match):
    return [r for r in doc["results"] if all(r.get(k) == v for k, v in match.items())]


# relu's gradient at 0 made 1 on torch: a plausible subgradient bug (a `>=` for a `>`).
PATCH_RELU_GRAD = '''
if backend == "torch":
    import torch

    class _Relu(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.clamp(x, min=0)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * (x >= 0).to(g.dtype)

    ops.relu = lambda x: _Relu.apply(x)
'''


@pytest.fixture(scope="module")
def patched(tmp_path_factory):
    if not set(KINK_BACKENDS) <= set(BACKENDS):
        pytest.skip("needs jax, torch and tensorflow")
    tmp = tmp_path_factory.mktemp("verify-kinks")
    patch = tmp / "patch.py"
    patch.write_text(PATCH_RELU_GRAD)
    backends = [b for b in ("jax", "torch", "tensorflow", "openvino") if b in BACKENDS]
    return _verify(tmp, "--backend", ",".join(backends), "--op", "relu,abs,eigh_values,sign_edges", "--no-model",
                   "--seed", "5", "--rounds", "2", env_extra={"KBACKEND_TEST_PATCH": str(patch)})


def test_a_wrong_gradient_at_a_kink_fails_naming_the_consensus_and_only_it(patched):
    code, doc = patched
    assert code == 1 and doc["ok"] is False
    failing = [(r["backend"], r["case"], r["check"]) for r in doc["results"] if r["status"] in ("fail", "error")]
    assert failing == [("torch", "relu.at_zero", "grad")]
    msg = _rows(doc, backend="torch", case="relu.at_zero", check="grad")[0]["message"]
    assert msg.startswith("torch's gradient at the kink differs from the consensus of jax and tensorflow: d/dx at x=0")
    assert msg.endswith("1, consensus 0")
    for b in ("jax", "tensorflow"):  # the consensus itself passes
        assert _rows(doc, backend=b, case="relu.at_zero", check="grad")[0]["status"] == "pass"
    # the plain relu case (inputs away from its kink) is still judged by central differences, and passes
    assert _rows(doc, backend="torch", case="relu", check="grad")[0]["status"] == "pass"


def test_each_backends_own_subgradient_choice_is_a_documented_difference(patched):
    _, doc = patched
    r = _rows(doc, backend="jax", case="abs.at_zero", check="grad")[0]
    assert r["status"] == "xfail" and "jax-ml/jax#37820" in r["message"] and "consensus of torch and tensorflow" in r[
        "message"]
    assert _rows(doc, backend="torch", case="abs.at_zero", check="grad")[0]["status"] == "pass"


def test_known_defects_in_their_range_are_known_with_their_entry(patched):
    _, doc = patched
    sign = _rows(doc, backend="torch", case="sign_edges")[0]
    assert sign["status"] == "known" and sign["known"]["reference"] == "pytorch/pytorch#41245"
    assert sign["known"]["versions"] == ">=2.1,<2.14" and sign["known"]["installed"].startswith("2.")
    assert all(r["status"] == "pass" for r in _rows(doc, case="sign_edges") if r["backend"] != "torch")
    if "openvino" in BACKENDS:
        eigh = _rows(doc, backend="openvino", case="eigh_values")[0]
        assert eigh["status"] == "known" and "segfaults" in eigh["message"] and "SIGSEGV" in eigh["message"]
        assert eigh["known"]["reference"] == "no upstream report found"
        ov = next(b for b in doc["backends"] if b["name"] == "openvino")
        assert ov["status"] == "ok" and ov["known_crashes"] == ["eigh_values"] and ov["restarts"] == 0
    assert doc["counts"]["known"] == (2 if "openvino" in BACKENDS else 1)


def test_rounds_keep_each_rows_worst_draw_and_its_seed(patched):
    _, doc = patched
    assert doc["seed"] == 5 and doc["rounds"] == 2
    seeds = {r["seed"] for r in doc["results"] if r["status"] != "skip"}
    assert seeds <= {5, 6} and seeds


@pytest.mark.skipif("openvino" not in BACKENDS, reason="needs openvino")
def test_strict_fails_on_a_known_defect_and_outside_its_range_a_crash_is_an_error(tmp_path):
    code, doc = _verify(tmp_path, "--backend", "openvino", "--op", "eigh_values", "--strict")
    assert code == 1 and doc["strict"] is True and doc["counts"]["known"] == 1 and doc["counts"]["error"] == 0
    # a release outside the entry's range (here: the range moved past the installed one) runs as any case
    patch = tmp_path / "patch.py"
    patch.write_text('import sys\nfor d in sys.modules["kbackend_suite_cases"].KNOWN_DEFECTS.values():\n'
                     '    d["versions"] = ">=2099.1,<2099.2"\n')
    code, doc = _verify(tmp_path, "--backend", "openvino", "--op", "eigh_values,add",
                        env_extra={"KBACKEND_TEST_PATCH": str(patch)})
    assert code == 1
    eigh = _rows(doc, case="eigh_values")[0]
    assert eigh["status"] == "error" and "crashed" in eigh["message"] and eigh.get("known") is None
    assert doc["backends"][0]["status"] == "crashed"


# --------------------------------------------------------------------------- --repro

SITECUSTOMIZE = '''
import os
if os.environ.get("INJECT_EXP_BUG"):
    import keras
    _exp = keras.ops.exp
    keras.ops.exp = lambda x: _exp(x) * 1.001
'''


@pytest.mark.skipif("numpy" not in BACKENDS, reason="needs the numpy backend")
def test_repro_writes_a_plain_keras_script_that_shows_an_injected_bug(tmp_path):
    out = tmp_path / "repro"
    p = subprocess.run([sys.executable, "-m", "kbackend", "verify", "--repro", "exp", "--backend", "numpy",
                        "--out", str(out), "--json"], env=_env(tmp_path), cwd=str(tmp_path), capture_output=True,
                       text=True, timeout=300, stdin=subprocess.DEVNULL)
    doc = json.loads(p.stdout)
    assert p.returncode == 0 and doc["call"] == "ops.exp(x)" and doc["returncode"] == 0, doc
    assert "max rel error" in doc["output"]
    clean = float(doc["output"].split("max rel error ")[1].split()[0])
    script = open(doc["script"]).read()
    assert "import kbackend" not in script and "KBACKEND" not in script  # plain keras.ops, no hook
    assert len(script.splitlines()) <= 16
    data = np.load(doc["npz"])
    assert set(data.files) == {"x", "expected"} and np.allclose(np.exp(data["x"].astype(np.float64)),
                                                                data["expected"])
    # the same script in a plain child, with a bug injected into the interpreter's Keras (sitecustomize)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = _env(tmp_path, {"PYTHONPATH": str(site), "KERAS_BACKEND": "numpy", "INJECT_EXP_BUG": "1"})
    run = subprocess.run([sys.executable, doc["script"]], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    bad = float(run.stdout.split("max rel error ")[1].split()[0])
    assert clean < 1e-6 and bad == pytest.approx(1e-3, rel=0.01)
    # another seed draws other inputs for the same conditions
    from kbackend.suite import run as R
    from kbackend.workers.runner import run_worker

    other = run_worker(sys.executable, R.WORKER, {"mode": "repro", "cases_path": R.CASES_PATH,
                                                  "compare_path": R.COMPARE_PATH, "case": "exp", "dtype": "float32",
                                                  "seed": 1, "backend": "numpy", "out_dir": str(tmp_path / "s1")})
    assert other.ok and not np.array_equal(np.load(other.data["npz"])["x"], data["x"])
