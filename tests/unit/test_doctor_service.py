"""Doctor's service: check selection, crashed checks, exit codes, fact collection, the report."""

from __future__ import annotations

import sys

import pytest

from kbackend.services.config import make_context
from kbackend.doctor import service as S
from kbackend.doctor.check import Check
from kbackend.doctor.checks import CHECKS
from kbackend.doctor.model import Finding
from kbackend.envs.target import Target
from kbackend.errors import UsageError
from kbackend.gpu.model import GpuDevice, GpuFacts
from kbackend.render import doctor_view
from test_doctor_checks import make_facts


def _f(status):
    return Finding(id="x", status=status, title="t")


def test_all_checks_have_unique_ids_including_the_gpu_ones():
    ids = [c.id for c in S.all_checks()]
    assert len(ids) == len(set(ids))
    assert ids[: len(CHECKS)] == [c.id for c in CHECKS]
    assert len(ids) > len(CHECKS)


def test_select_keeps_the_usual_order_and_refuses_unknown_ids():
    assert [c.id for c in S.select(CHECKS, ["versions", "keras"])] == ["keras", "versions"]
    assert S.select(CHECKS, []) == list(CHECKS)
    with pytest.raises(UsageError) as e:
        S.select(CHECKS, ["keras", "nope"])
    assert "Invalid `--check`" in e.value.message and "Received: check=nope" in e.value.message
    assert e.value.exit_code == 2


def test_probe_scope_follows_the_needs_of_the_selected_checks():
    by = {c.id: c for c in CHECKS}
    assert S.probe_scope([by["config"], by["versions"]]) == "none"
    assert S.probe_scope([by["config"], by["backend-importable"]]) == "configured"
    assert S.probe_scope([by["backend-importable"], by["other-backends"]]) == "all"


def test_a_check_that_raises_becomes_crashed(tmp_path):
    def boom(facts):
        raise KeyError("gpus")

    f = S.run_check(Check("boom", "A check with a bug", boom), make_facts(tmp_path))
    assert f.status == "crashed" and f.id == "boom" and "KeyError" in f.evidence[0]
    f = S.run_check(Check("bad", "Returns junk", lambda facts: "ok"), make_facts(tmp_path))
    assert f.status == "crashed" and "not a Finding" in f.evidence[0]


@pytest.mark.parametrize("statuses,strict,code", [
    (["ok", "skip"], False, 0),
    (["ok", "warn"], False, 0),
    (["ok", "warn"], True, 1),
    (["ok", "error"], False, 1),
    (["crashed"], False, 1),
])
def test_exit_code(statuses, strict, code):
    assert S.exit_code([_f(s) for s in statuses], strict=strict) == code


def test_diagnose_summarises(tmp_path):
    res = S.diagnose(make_facts(tmp_path), CHECKS, S.ProbeInfo())
    assert sum(res.summary.values()) == len(CHECKS)
    assert res.exit_code == 0


def _fake_site(tmp_path, version_expr):
    """A sys.path entry with a fake `jax` (no Keras): its __version__ reports the child's environment."""
    site = tmp_path / "site"
    (site / "jax").mkdir(parents=True)
    (site / "jax" / "__init__.py").write_text(f"import os\n__version__ = {version_expr}\n")
    for d in ("jax-0.9.9.dist-info", "jaxlib-0.9.9.dist-info"):
        (site / d).mkdir()
    return site


def test_collect_probes_in_children_and_does_not_create_keras_json(tmp_path, monkeypatch, keras_home):
    site = _fake_site(tmp_path, "os.environ.get('KERAS_HOME', '') + '|' + os.environ.get('KERAS_BACKEND', '')")
    monkeypatch.setenv("PYTHONPATH", str(site))
    target = Target(sys.executable, "3.11.7", (str(site),), sys.prefix, "option:--python", False)
    ctx = make_context(target)
    gpu = GpuFacts(driver_version="550.54.14", gpus=[GpuDevice(index=0, name="Fake GPU", compute_capability="8.0")])
    seen = {}

    def gpu_probe(environ, *, python, timeout, sys_path):
        seen.update(python=python, sys_path=sys_path)
        return gpu

    facts, info = S.collect(target, ctx, gpu_probe=gpu_probe)
    assert seen == {"python": sys.executable, "sys_path": [str(site)]}
    assert facts.gpu == gpu and facts.interpreter.origin == "option:--python"
    jax = facts.backend("jax")
    assert jax.status == "ok" and jax.version == "0.9.9"
    home, backend = jax.extra["module_version"].split("|")
    assert backend == "jax"
    assert home and home != str(keras_home)  # no keras.json: a scratch KERAS_HOME, nothing written
    assert not (keras_home / "keras.json").exists()
    assert info.probed == ["jax"] and info.cache_hits == []
    # with a keras.json, the child reads that one
    keras_home.mkdir(exist_ok=True)
    (keras_home / "keras.json").write_text('{"backend": "jax"}')
    facts, info = S.collect(target, make_context(target), gpu_probe=gpu_probe)
    assert info.cache_hits == ["jax"]  # the same probe key: the file only names a backend
    facts, info = S.collect(target, make_context(target), gpu_probe=gpu_probe, refresh=True)
    assert facts.backend("jax").extra["module_version"] == f"{keras_home}|jax"


def test_collect_scope_none_starts_no_backend_child(tmp_path, monkeypatch):
    from kbackend.doctor import probe as P

    monkeypatch.setattr(P, "run_many", lambda *a, **k: pytest.fail("a backend probe was started"))
    target = Target(sys.executable, "3.11.7", tuple(sys.path), sys.prefix, "current", True)
    facts, info = S.collect(target, make_context(target), scope="none", gpu_probe=lambda *a, **k: GpuFacts())
    assert facts.backends and all(b.status == "not_run" for b in facts.backends)
    assert not info.backends_probed


def test_a_gpu_probe_that_raises_does_not_take_doctor_down(tmp_path):
    def broken(*a, **k):
        raise RuntimeError("nvml exploded")

    target = Target(sys.executable, "3.11.7", (), sys.prefix, "current", True)
    facts, _ = S.collect(target, make_context(target), scope="none", gpu_probe=broken)
    assert "nvml exploded" in facts.gpu.errors[0]


def test_redact_removes_uuids_and_homes():
    text = "GPU-3a1f2c4d-1111-2222-3333-444455556666 MIG-3a1f2c4d-1111-2222-3333-444455556666 /home/ann/x /home/annie"
    assert doctor_view.redact(text, homes=["/home/ann"]) == "<uuid> <uuid> ~/x /home/annie"


def test_report_is_paste_ready_and_redacted(tmp_path, isolated_home):
    gpu = GpuFacts(driver_version="550.54.14",
                   gpus=[GpuDevice(index=0, name="NVIDIA A100", compute_capability="8.0",
                                   uuid="GPU-3a1f2c4d-1111-2222-3333-444455556666")],
                   errors=["nvidia-smi: GPU-3a1f2c4d-1111-2222-3333-444455556666 fell off the bus"])
    facts = make_facts(isolated_home, file={"backend": "jax", "floatx": "bfloat16"}, gpu=gpu)
    res = S.diagnose(facts, CHECKS, S.ProbeInfo())
    text = doctor_view.report_text(res)
    assert text.startswith("<details>") and "```text" in text and text.endswith("</details>")
    assert str(isolated_home) not in text and "~/kh/keras.json" in text
    assert "3a1f2c4d" not in text and "gpu probe: nvidia-smi: <uuid> fell off the bus" in text
    assert "[error] config" in text and "NVIDIA A100" in text


def test_keras_json_identity_ignores_the_backend_only(tmp_path):
    p = tmp_path / "keras.json"
    missing = S.keras_json_identity(str(p))
    p.write_text('{"backend": "jax"}')
    assert S.keras_json_identity(str(p)) == missing
    p.write_text('{"backend": "jax", "floatx": "float64"}')
    a = S.keras_json_identity(str(p))
    p.write_text('{"floatx": "float64",\n "backend": "torch"}')
    assert S.keras_json_identity(str(p)) == a  # a switch keeps the probe cache
    p.write_text('{"floatx": "float32", "backend": "torch"}')
    assert S.keras_json_identity(str(p)) != a
    p.write_bytes(b'\xef\xbb\xbf{"backend": "jax"}')  # a BOM: Keras ignores the file, the bytes matter
    assert S.keras_json_identity(str(p)).startswith(b"\xef\xbb\xbf")
    assert S.keras_json_identity(str(tmp_path)) is None  # a directory: unreadable
