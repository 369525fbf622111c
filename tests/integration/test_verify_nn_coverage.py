"""The coverage section of the op suite against the installed Keras: every keras.ops function outside
keras.ops.numpy has a case or a NO_CASE entry, and verify's keras.random checks catch a wrong
distribution and broken seeds (numpy backend, one child).

The faults are built in the child with the worker's documented test hook (KBACKEND_TEST_PATCH):
normal draws replaced by uniform draws of the same mean and variance (only the distribution's
shape is wrong, so only the Kolmogorov-Smirnov statistic can see it), and uniform draws that
ignore their seed (every call draws from a fresh, unseeded generator).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kbackend.child import cases as K
from kbackend.suite.run import installed_backends

pytestmark = pytest.mark.integration

PATCH = '''
import math
import numpy as np
R = keras.random
_uniform = R.uniform
def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    a = math.sqrt(3.0)  # U(-sqrt 3, sqrt 3): mean 0, variance 1, as N(0, 1)
    return _uniform(shape, minval=-a, maxval=a, dtype=dtype, seed=seed) * stddev + mean
def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    draws = np.random.default_rng().uniform(minval, maxval, shape)  # the seed is ignored
    return ops.convert_to_tensor(draws, dtype=dtype or "float32")
R.normal, R.uniform = normal, uniform
'''


@pytest.mark.skipif("numpy" not in installed_backends(sys.path)[0], reason="needs the numpy backend")
def test_random_checks_catch_a_wrong_distribution_and_ignored_seeds(tmp_path):
    patch = tmp_path / "patch.py"
    patch.write_text(PATCH)
    env = {**os.environ, "HOME": str(tmp_path), "KERAS_HOME": str(tmp_path / ".keras"),
           "KBACKEND_TEST_PATCH": str(patch)}
    env.pop("KERAS_BACKEND", None)
    ops = "random_normal,random_normal.seed,random_uniform,random_uniform.seed"
    p = subprocess.run([sys.executable, "-m", "kbackend", "verify", "--json", "--backend", "numpy", "--op", ops,
                        "--no-model"], env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    doc = json.loads(p.stdout)
    status = {r["case"]: r for r in doc["results"]}
    assert p.returncode == 1
    # normal: same mean and variance, wrong shape: the KS statistic (third) is reported as measured, > 2.8.
    assert status["random_normal"]["status"] == "fail", status["random_normal"]
    assert "1 of 3 values off" in status["random_normal"]["message"]
    assert status["random_normal.seed"]["status"] == "pass"  # its seeds still work
    # uniform: still uniform, but the same seed no longer draws the same values.
    assert status["random_uniform"]["status"] == "pass"
    assert status["random_uniform.seed"]["status"] == "fail", status["random_uniform.seed"]
    assert "expected 1" in status["random_uniform.seed"]["message"]


LIST_OPS = """
import json, types, keras
def pub(m):
    return {n for n in dir(m) if not n.startswith("_") and not isinstance(getattr(m, n), types.ModuleType)}
o = keras.ops
print(json.dumps({"ops": sorted((pub(o) | pub(o.nn) | pub(o.linalg) | pub(o.image)) - pub(o.numpy)),
                  "random": sorted(pub(keras.random) - {"SeedGenerator"})}))
"""


def _covered(name: str, source: str) -> bool:
    """A case calls `name` (`.NAME` or getattr's `"NAME"` in cases.py), is named after it, or NO_CASE says why not."""
    return (name in K.NO_CASE or re.search(r"\.%s\b" % re.escape(name), source) is not None
            or '"%s"' % name in source or any(c.name.startswith(name) for c in K.CASES))


@pytest.mark.skipif("numpy" not in installed_backends(sys.path)[0], reason="needs the numpy backend")
def test_every_keras_ops_function_outside_numpy_has_a_case_or_a_reason(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "KERAS_HOME": str(tmp_path / ".keras"), "KERAS_BACKEND": "numpy"}
    p = subprocess.run([sys.executable, "-c", LIST_OPS], env=env, cwd=str(tmp_path), capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    names = json.loads(p.stdout.strip().splitlines()[-1])
    source = Path(K.__file__).read_text()
    assert len(names["ops"]) > 100
    assert [n for n in names["ops"] if not _covered(n, source)] == []
    for n in names["random"]:  # each keras.random function: a distribution case and a seed case
        assert "random_" + n in K.CASES_BY_NAME and "random_" + n + ".seed" in K.CASES_BY_NAME, n
