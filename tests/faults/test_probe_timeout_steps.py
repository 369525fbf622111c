"""A probe that times out names the step it hung in, and its advice fits that step
(issue 11, item 8): it was blamed on `import tensorflow`, with advice to set
TF_USE_LEGACY_KERAS=1, whatever had hung.

Each fake hangs at one step, for real: Python's start-up (a sitecustomize), the backend's
import, Keras's import, the device query. The child writes each step to its journal
before it begins it; the parent reads the journal of the child it killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

HANG = "import time\ntime.sleep(3600)\n"
FAKE_KERAS = 'class config:\n    @staticmethod\n    def backend():\n        return "torch"\n__version__ = "3.15.1"\n'
FAKE_TORCH = """
    __version__ = "2.5.0"
    class version:
        cuda = None
        hip = None
    class backends:
        class cudnn:
            @staticmethod
            def version():
                return None
    class cuda:
        @staticmethod
        def is_available():
            {is_available}
        @staticmethod
        def get_arch_list():
            return []
"""


def fake_site(tmp_path, files: dict[str, str]):
    """A folder for PYTHONPATH with `files` (path -> source) and a torch 2.5.0 dist-info."""
    site = tmp_path / "site"
    for rel, body in files.items():
        p = site / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(body))
    meta = site / "torch-2.5.0.dist-info"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.5.0\n")
    return site


def doctor(tmp_path, site, *checks):
    env = {**os.environ, "PYTHONPATH": str(site), "KERAS_BACKEND": "torch"}
    args = [a for c in checks for a in ("--check", c)]
    argv = [sys.executable, "-m", "kbackend", "doctor", "--json", "--timeout", "4", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=180, check=False)
    doc = json.loads(proc.stdout)
    torch = next(b for b in doc["facts"]["backends"] if b["name"] == "torch")
    return proc.returncode, {c["id"]: c for c in doc["checks"]}, torch


def _text(finding) -> str:
    return "\n".join(finding["evidence"] + [finding["fix"] or ""])


def test_hung_importing_the_backend(tmp_path):
    site = fake_site(tmp_path, {"torch/__init__.py": HANG})
    code, checks, torch = doctor(tmp_path, site, "backend-importable", "tf-import-backend")
    assert torch["status"] == "timeout" and torch["phase"] == "importing torch"
    assert torch["error"].startswith("stuck importing torch: no result after 4 s")
    f = checks["backend-importable"]
    assert code == 1 and f["status"] == "error"
    assert f["fix"].endswith("-X importtime -c 'import torch'  # the last lines show where it hangs")
    assert "KERAS_BACKEND" not in f["fix"]  # Keras was never reached
    tf = checks["tf-import-backend"]
    assert tf["status"] == "warn" and "TF_USE_LEGACY_KERAS" not in _text(tf)
    assert "`import tensorflow` fails" not in _text(tf) and "hung importing torch" in _text(tf)


def test_hung_importing_keras(tmp_path):
    site = fake_site(tmp_path, {"torch/__init__.py": FAKE_TORCH.format(is_available="return False"),
                                "keras/__init__.py": HANG})
    _, checks, torch = doctor(tmp_path, site, "backend-importable")
    assert torch["status"] == "timeout" and torch["phase"] == "importing keras"
    assert [s for _, s in torch["extra"]["steps"]] == ["importing torch", "importing keras"]
    f = checks["backend-importable"]
    assert f["fix"].startswith("KERAS_BACKEND=torch ") and "'import keras'" in f["fix"]


def test_hung_listing_devices_is_not_an_import_problem(tmp_path):
    site = fake_site(tmp_path, {"torch/__init__.py": FAKE_TORCH.format(is_available="import time; time.sleep(3600)"),
                                "keras/__init__.py": FAKE_KERAS})
    _, checks, torch = doctor(tmp_path, site, "backend-importable", "tf-import-backend")
    assert torch["status"] == "timeout" and torch["phase"] == "listing devices"
    f = checks["backend-importable"]
    assert "the imports had finished: it hung listing devices" in f["evidence"]
    assert f["fix"].startswith("CUDA_VISIBLE_DEVICES= kbackend doctor")
    tf = checks["tf-import-backend"]
    assert tf["status"] == "ok" and "TF_USE_LEGACY_KERAS" not in _text(tf)


def test_hung_before_the_probe_began(tmp_path):
    """Python's start-up hangs in the child only (a sitecustomize that waits for the probe)."""
    site = fake_site(tmp_path, {
        "torch/__init__.py": "",
        "sitecustomize.py": "import sys, time\nif any(a.endswith('probe_backend.py') for a in sys.argv):\n"
                            "    time.sleep(3600)\n",
    })
    code, checks, torch = doctor(tmp_path, site, "backend-importable", "tf-import-backend")
    assert code == 1 and torch["status"] == "timeout" and torch["phase"] is None
    assert torch["error"].startswith("stuck starting Python (before the probe began)")
    f = checks["backend-importable"]
    assert "-X importtime -c pass" in f["fix"] and "sitecustomize" in f["fix"]
    tf = checks["tf-import-backend"]
    assert tf["status"] == "warn" and "TF_USE_LEGACY_KERAS" not in _text(tf)


@pytest.mark.parametrize("phase,expect", [
    ("importing jax", "import jax"), ("importing keras", "KERAS_BACKEND=jax"), (None, "-c pass"),
    ("listing devices", "CUDA_VISIBLE_DEVICES="), ("exiting", "--timeout 300"),
])
def test_the_advice_follows_the_step(phase, expect, tmp_path):
    from kbackend.doctor import checks as C
    from kbackend.doctor.facts import BackendFacts

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "unit"))
    try:
        from test_doctor_checks import make_facts
    finally:
        sys.path.pop(0)
    facts = make_facts(tmp_path, file={"backend": "jax"}, probes={"jax": {"status": "timeout", "phase": phase,
                                                                         "error": "no result after 90 s; killed"}})
    assert isinstance(facts.backend("jax"), BackendFacts)
    f = C.check_backend_importable(facts)
    assert f.status == "error" and expect in f.fix
    tf = C.check_tf_import_backend(facts)
    assert "TF_USE_LEGACY_KERAS" not in " ".join(tf.evidence + [tf.fix or ""])
    assert tf.status == ("ok" if phase in ("listing devices", "exiting") else "warn")


def test_a_crash_names_its_step_too(tmp_path):
    site = fake_site(tmp_path, {"torch/__init__.py": FAKE_TORCH.format(is_available="return False"),
                                "keras/__init__.py": "import ctypes\nctypes.string_at(0)\n"})
    _, _, torch = doctor(tmp_path, site, "backend-importable")
    assert torch["status"] == "crashed" and torch["error"] == "killed by SIGSEGV (importing keras)"
    assert torch["phase"] == "importing keras"
