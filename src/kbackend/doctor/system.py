"""The machine's facts the frameworks' own bug-report tools print: OS, kernel, glibc, CPU, instruction sets.

Read from the standard library and /proc only (no subprocess, no import of a backend); what
the backends themselves say (torch's CPU capability, TensorFlow's oneDNN) comes from their
probe children (`BackendFacts.extra`).

>>> isa_from_flags("fpu avx avx2 avx512f avx512_bf16 amx_tile amx_bf16 amx_int8")
['AVX2', 'AVX-512', 'AVX-512 BF16', 'AMX']
>>> isa_from_flags("fpu sse4_2 avx")
[]
"""

from __future__ import annotations

import os
import sys

from kbackend._record import Model

#: /proc/cpuinfo flag -> the name the frameworks' reports use (the instruction sets their kernels pick).
ISA_FLAGS = (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "AVX-512 BF16"), ("amx_tile", "AMX"))
CPUINFO = "/proc/cpuinfo"


class SystemFacts(Model):
    #: sys.platform of kbackend's interpreter (linux, darwin, win32): the machine's.
    platform: str = sys.platform
    #: "Linux", "Darwin", "Windows".
    os: str | None = None
    kernel: str | None = None
    #: "glibc 2.36" (None on musl, macOS, Windows).
    libc: str | None = None
    machine: str | None = None
    cpu_model: str | None = None
    #: logical CPUs of the machine, and those this process may run on (affinity, cgroups' cpusets).
    cpus: int | None = None
    cpus_usable: int | None = None
    #: the instruction sets of ISA_FLAGS the CPU has, by their common names.
    isa: list[str] = []
    #: WSL2 (a Linux kernel built by Microsoft).
    wsl: bool = False


def isa_from_flags(flags: str) -> list[str]:
    have = set(flags.split())
    return [name for flag, name in ISA_FLAGS if flag in have]


def _cpuinfo(path: str) -> tuple[str | None, list[str]]:
    """(the first processor's model, as the documents' fingerprint reads it; its instruction sets)."""
    from kbackend._host import cpu_model, read_text

    text = read_text(path)
    flags = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags = value
            break  # the first processor's
    return cpu_model(text) or None, isa_from_flags(flags)


def system_facts(cpuinfo: str = CPUINFO) -> SystemFacts:
    """The facts of this machine; never raises (what cannot be read stays None)."""
    try:
        u = os.uname()
        osname, kernel, machine = u.sysname, u.release, u.machine
    except AttributeError:  # Windows
        osname, kernel, machine = "Windows", None, os.environ.get("PROCESSOR_ARCHITECTURE")
    libc = None
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        pass
    model, isa = _cpuinfo(cpuinfo) if sys.platform.startswith("linux") else (None, [])
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = None
    return SystemFacts(os=osname, kernel=kernel, libc=libc, machine=machine, cpu_model=model,
                       cpus=os.cpu_count(), cpus_usable=usable, isa=isa,
                       wsl="microsoft" in (kernel or "").lower())
