"""Adding a backend is one registry entry and one adapter file: a fake backend, seen end to end.

The fixture adds a backend kbackend has never heard of, `fakebk`, the way a
backend shipped apart from kbackend would be added:

- parent side: ONE registry entry, `register(Backend("fakebk", ...))`, in a file
  named by KBACKEND_EXTRA_BACKENDS (kbackend/backends.py runs it at import);
- child side: ONE adapter file, `fakebk.py`, in a folder named by
  KBACKEND_ADAPTERS_PATH (child/_adapter.py searches it before child/adapters/).

No other file of kbackend is touched, and `switch`, `verify --backend`,
`doctor` and `bench` all take it.

What is real and what is not: kbackend runs for real (its CLI in a subprocess,
its probe, suite and bench workers in children of the real interpreter, the
real registry and adapter lookup), and so does Keras 3.15.1 with its real ops.
Keras itself cannot load a backend it does not know (keras/src/backend/__init__.py
raises "Unable to import backend"), so the target's PYTHONPATH holds a fake
package `fakebk` (a module and its dist-info, nothing else) and a 15-line shim
`keras` that, when KERAS_BACKEND is fakebk, imports the real Keras on its numpy
backend and makes `keras.config.backend()` and `keras.backend.backend()` answer
"fakebk"; for any other KERAS_BACKEND it is the real Keras untouched. So the
numbers fakebk produces are Keras's numpy backend's; what this test proves is
that every command finds, probes, runs and reports a backend through its one
registry entry and its one adapter, never through a list of names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

REGISTRY_ENTRY = """\
register(Backend(
    "fakebk", ">=3.0", ("fakebk",), pip="fakebk", module="fakebk", trains=False,
    keras3=True, aliases=("fake",), colour="#123456", probe_cost=0.5, verify_column=6, verify_cost=0.5,
    env_vars=("FAKEBK_LOG",),
))
"""

ADAPTER = '''\
"""The fake backend's adapter: the protocol of child/adapters/__init__.py, nothing more."""

TRAINS = False


def probe(mod, out, h):
    out["devices"] = ["cpu"]
    out["extra"]["fake_adapter"] = "probe ran"


def version(module, h):
    return "1.0+adapter"


def bench_setup(kit):
    kit.version = "1.0+adapter"
    kit.sync_name = "fakebk (synchronous)"
'''

KERAS_SHIM = '''\
"""Test shim (tests/faults/test_fake_backend.py): the real Keras; on KERAS_BACKEND=fakebk, its numpy
backend under the name fakebk, since Keras cannot load a backend it does not know."""
import os, sys
_here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_fake = os.environ.get("KERAS_BACKEND") == "fakebk"
del sys.modules["keras"]
_saved = list(sys.path)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
if _fake:
    os.environ["KERAS_BACKEND"] = "numpy"
try:
    import keras as _real
finally:
    sys.path[:] = _saved
if _fake:
    os.environ["KERAS_BACKEND"] = "fakebk"
    _real.config.backend = lambda: "fakebk"
    _real.backend.backend = lambda: "fakebk"
sys.modules["keras"] = _real
'''


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    root = tmp_path_factory.mktemp("fakebk")
    (root / "registry.py").write_text(REGISTRY_ENTRY)
    (root / "adapters").mkdir()
    (root / "adapters" / "fakebk.py").write_text(ADAPTER)
    pkgs = root / "pkgs"
    (pkgs / "keras").mkdir(parents=True)
    (pkgs / "keras" / "__init__.py").write_text(KERAS_SHIM)
    (pkgs / "fakebk").mkdir()
    (pkgs / "fakebk" / "__init__.py").write_text('__version__ = "1.0"\n')
    (pkgs / "fakebk-1.0.dist-info").mkdir()
    (pkgs / "fakebk-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: fakebk\nVersion: 1.0\n")
    home = root / "home"
    (home / ".keras").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_", "KBACKEND_"))}
    env.update(HOME=str(home), KERAS_HOME=str(home / ".keras"), XDG_CACHE_HOME=str(root / "cache"),
               XDG_CONFIG_HOME=str(root / "config"), PYTHONPATH=str(pkgs), COLUMNS="80",
               KBACKEND_EXTRA_BACKENDS=str(root / "registry.py"),
               KBACKEND_ADAPTERS_PATH=str(root / "adapters"))
    return {"root": root, "env": env, "home": home}


def kb(fake, *args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "kbackend", *args], capture_output=True, text=True,
                          env=env or fake["env"], timeout=timeout)


def test_without_its_registry_entry_fakebk_is_unknown(fake):
    env = {k: v for k, v in fake["env"].items() if k != "KBACKEND_EXTRA_BACKENDS"}
    p = kb(fake, "switch", "fakebk", env=env, timeout=120)
    assert p.returncode != 0
    assert "fakebk" in p.stderr


def test_switch_takes_it_and_knows_its_alias(fake):
    p = kb(fake, "switch", "fake", "--json", timeout=120)  # the alias from the registry entry
    err = json.loads(p.stdout)["error"]
    assert p.returncode == 1 and "Did you mean `fakebk`?" in err["message"] and "fakebk" in err["accepted"]
    p = kb(fake, "switch", "fakebk", "--json", timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((fake["home"] / ".keras" / "keras.json").read_text())
    assert doc["backend"] == "fakebk"


def test_choices_and_completion_list_it(fake):
    p = kb(fake, "verify", "--backend", "nosuch", timeout=120)
    assert p.returncode == 2 and "fakebk" in p.stderr  # the Keras 3 backends offered, from the registry
    env = dict(fake["env"], _KBACKEND_COMPLETE="bash_complete", COMP_WORDS="kbackend switch fak", COMP_CWORD="2")
    p = kb(fake, env=env, timeout=120)
    assert "fakebk" in p.stdout


def test_doctor_probes_it_through_its_adapter(fake):
    kb(fake, "switch", "fakebk", timeout=120)
    p = kb(fake, "doctor", "--json", "--check", "backend-importable,versions")
    doc = json.loads(p.stdout)
    backends = {b["name"]: b for b in doc["facts"]["backends"]}
    fb = backends["fakebk"]
    assert fb["installed"] is True and fb["status"] == "ok", fb
    assert fb["extra"]["keras_backend"] == "fakebk" and fb["devices"] == ["cpu"]
    assert fb["extra"]["fake_adapter"] == "probe ran"  # the adapter's probe ran in the child
    checks = {c["id"]: c for c in doc["checks"]}
    assert checks["backend-importable"]["status"] == "ok", checks["backend-importable"]


def test_verify_runs_it_as_an_inference_only_backend(fake):
    p = kb(fake, "verify", "--backend", "fakebk", "--op", "add,matmul", "--json")
    doc = json.loads(p.stdout)
    assert [b["name"] for b in doc["backends"]] == ["fakebk"]
    assert doc["backends"][0]["status"] == "ok" and doc["backends"][0]["version"] == "1.0+adapter"
    rows = [r for r in doc["results"] if r["backend"] == "fakebk"]
    values = {r["case"] for r in rows if r["check"] == "value"}
    assert {"add", "matmul"} <= values and all(c.split(".")[0] in ("add", "matmul") for c in values)  # + variants
    assert all(r["status"] == "pass" for r in rows if r["check"] in ("value", "forward")), [
        r for r in rows if r["check"] in ("value", "forward") and r["status"] != "pass"]
    assert not [r for r in rows if r["check"] == "grad"]  # TRAINS = False in its adapter: no gradients
    assert p.returncode == 0, p.stderr
    p = kb(fake, "verify", "--backend", "fakebk", "--category", "model", "--json")
    rows = {r["check"]: r for r in json.loads(p.stdout)["results"] if r["backend"] == "fakebk"}
    assert rows["forward"]["status"] == "pass", rows
    assert rows["fit"]["status"] == "skip" and "inference-only" in rows["fit"]["message"]
    assert p.returncode == 0, p.stderr


def test_bench_times_it_with_its_adapters_synchronisation(fake):
    p = kb(fake, "bench", "--backend", "fakebk", "--op", "add", "--quick", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    text = json.dumps(doc)
    assert "fakebk (synchronous)" in text and "1.0+adapter" in text
    results = [r for r in doc["results"] if r["backend"] == "fakebk"]
    assert results and all(r["status"] == "ok" for r in results), results


def test_registry_derived_lists_hold_it(fake):
    code = textwrap.dedent("""
        import json
        from kbackend import backends as B, names
        from kbackend.suite import run as R
        from kbackend.doctor import probe as P, environ as E
        from kbackend.render import bench_view as V
        from kbackend.config.rules import rules_for
        print(json.dumps({"k3": B.KERAS3_ORDER, "suite": R.SUITE_BACKENDS, "cost": P.COST.get("fakebk"),
                          "colour": V.colour("fakebk"), "alias": names.ALIASES.get("fake"),
                          "rules": rules_for("3.15.1").backends, "env": "FAKEBK_LOG" in E.NAMES}))
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=fake["env"], timeout=120)
    got = json.loads(p.stdout)
    assert got["k3"][-1] == "fakebk" and got["suite"][-1] == "fakebk"
    assert got["cost"] == 0.5 and got["colour"] == "#123456" and got["alias"] == "fakebk"
    assert "fakebk" in got["rules"] and got["env"] is True
