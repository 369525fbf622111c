"""`kbackend envs --probe`: each usable effective backend imported in its own environment's interpreter."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_envs_support import clean_discovery, fake_dist, make_venv, py, site_of  # noqa: E402

from kbackend.services import survey  # noqa: E402


@pytest.mark.integration
def test_probe_imports_the_pinned_backend_and_catches_metadata_that_lies(tmp_path, monkeypatch, run_cli, keras_home):
    if not survey.probe_available():
        pytest.skip("child/probe_backend.py is not there yet")
    clean_discovery(monkeypatch, tmp_path)
    good = make_venv(tmp_path / "good", see_shared=True)
    assert run_cli("--python", py(good), "switch", "jax", "--scope", "env")[0] == 0
    liar = make_venv(tmp_path / "liar")  # says torch is installed; it is not
    for name, version in (("keras", "3.15.1"), ("torch", "2.13.0")):
        fake_dist(site_of(liar), name, version)
    (site_of(liar) / "kbackend-pin.pth").write_text(
        "import os; os.environ.get('KERAS_BACKEND') or os.environ.__setitem__('KERAS_BACKEND', 'torch')\n")
    code, out, err = run_cli("envs", "--path", str(good), "--path", str(liar), "--probe", "--json")
    doc = json.loads(out)
    envs = {e["prefix"]: e for e in doc["environments"]}
    assert doc["probe"] == "done"
    g, bad = envs[str(good)]["probe"], envs[str(liar)]["probe"]
    assert g["status"] == "ok" and g["keras_backend"] == "jax" and g["error"] is None, g
    assert envs[str(liar)]["backend"]["usable"] is True  # by its metadata...
    assert bad["status"] == "import_error" and "torch" in bad["error"]  # ...which the probe disproves
    assert code == 1 and doc["exit_code"] == 1
    assert not keras_home.exists()  # Keras ran with a temporary KERAS_HOME and wrote nothing here
