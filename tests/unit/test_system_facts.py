"""doctor's system facts: read from /proc/cpuinfo and the standard library, shown in the report."""

from __future__ import annotations

import json

from kbackend.doctor.system import system_facts

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme sse4_2 avx avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: something else
flags\t\t: fpu
"""


def test_cpu_model_and_instruction_sets_from_cpuinfo(tmp_path):
    p = tmp_path / "cpuinfo"
    p.write_text(CPUINFO)
    s = system_facts(str(p))
    assert s.cpu_model == "Intel(R) Xeon(R) Platinum 8480+"
    assert s.isa == ["AVX2", "AVX-512", "AVX-512 BF16", "AMX"]
    assert s.cpus >= 1 and s.kernel and s.os
    old = tmp_path / "old"
    old.write_text("model name\t: Old CPU\nflags\t: fpu sse2 avx\n\n")
    assert system_facts(str(old)).isa == []
    assert system_facts(str(tmp_path / "missing")).cpu_model is None


def test_doctor_json_and_report_carry_them(run_cli):
    code, out, err = run_cli("doctor", "--json", "--check", "keras")
    s = json.loads(out)["facts"]["system"]
    assert s["cpus"] >= 1 and s["platform"]
    code, out, err = run_cli("doctor", "--report", "--check", "keras")
    assert "system " in out and (s["libc"] or s["os"]) in out
