"""The backends the registry calls inference-only really refuse `fit` (the installed Keras and
openvino/numpy in a child), with the error the registry quotes; `switch` and doctor say so."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kbackend import backends as B
from kbackend.envs import installed as inst

pytestmark = pytest.mark.integration

FIT = """
import numpy as np, keras
m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
m.compile(optimizer="sgd", loss="mse")
assert m.predict(np.ones((2, 3), "float32"), verbose=0).shape == (2, 1)
try:
    m.fit(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"), verbose=0)
    print("fit ran")
except Exception as e:
    print("%s: %s" % (type(e).__name__, e))
"""


@pytest.mark.parametrize("name", [b.name for b in B.REGISTRY.values() if b.keras3 and not b.trains])
def test_fit_raises_what_the_registry_says(name, tmp_path):
    have = inst.versions(inst.scan(sys.path))
    missing = [d for d in B.REGISTRY[name].dists + B.REGISTRY[name].also_needs if d not in have]
    if missing:
        pytest.skip(f"{name} is not installed here ({', '.join(missing)})")
    env = {**os.environ, "KERAS_BACKEND": name, "KERAS_HOME": str(tmp_path), "HOME": str(tmp_path)}
    p = subprocess.run([sys.executable, "-c", FIT], env=env, capture_output=True, text=True, timeout=300,
                       cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == B.REGISTRY[name].fit_error


def test_switch_and_doctor_say_openvino_is_inference_only(run_cli, keras_home):
    code, out, err = run_cli("--json", "switch", "openvino")
    assert code == 0
    assert any("openvino is inference-only: model.fit raises NotImplementedError" in w
               for w in json.loads(out)["warnings"])
    code, out, err = run_cli("switch", "jax")
    assert "inference-only" not in out + err
    run_cli("switch", "openvino")
    code, out, err = run_cli("doctor", "--check", "backend-trains")
    assert code == 0 and "openvino is inference-only" in " ".join(out.split())
