"""`nvidia-smi`: the query for the GPUs, the plain header for the driver's CUDA version.

nvidia-smi writes its errors on stdout. R470 and older drivers do not know the
`compute_cap` field: the query is repeated without it. The parsing functions are
pure; `run_smi` starts the program (never raises).

>>> parse_header("| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2 |")
('535.104.05', '12.2')
>>> classify("Failed to initialize NVML: Driver/library version mismatch\\nNVML library version: 535.129", 18)
('version_mismatch', 'Failed to initialize NVML: Driver/library version mismatch')
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from typing import Mapping

from kbackend.gpu.model import GpuDevice, NvidiaSmi

FIELDS = ("index", "name", "driver_version", "compute_cap", "memory.total", "uuid")
FIELDS_R470 = tuple(f for f in FIELDS if f != "compute_cap")


def query_args(fields: tuple[str, ...]) -> list[str]:
    return ["--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"]


def parse_header(text: str) -> tuple[str | None, str | None]:
    """(driver version, CUDA version) from the plain `nvidia-smi` table's header."""
    d = re.search(r"Driver Version:\s*([0-9][0-9.]*)", text)
    c = re.search(r"CUDA Version:\s*([0-9][0-9.]*)", text)
    return (d.group(1) if d else None), (c.group(1) if c else None)


def _na(v: str) -> str | None:
    v = v.strip()
    return None if not v or v.startswith("[") or v.upper() in ("N/A", "[N/A]") else v


def parse_query(text: str, fields: tuple[str, ...]) -> tuple[list[GpuDevice], str | None]:
    """GPUs and the driver version from the CSV query output."""
    gpus, driver = [], None
    for row in csv.reader(io.StringIO(text), skipinitialspace=True):
        if len(row) != len(fields):
            continue
        r = dict(zip(fields, (c.strip() for c in row)))
        if not r["index"].isdigit():
            continue
        mem = _na(r.get("memory.total", ""))
        gpus.append(GpuDevice(
            index=int(r["index"]), name=r["name"], compute_capability=_na(r.get("compute_cap", "")),
            memory_mib=int(float(mem)) if mem and re.match(r"^\d+(\.\d+)?$", mem) else None,
            uuid=_na(r.get("uuid", "")), source="nvidia-smi",
        ))
        driver = driver or _na(r.get("driver_version", ""))
    return gpus, driver


def classify(out: str, rc: int | None) -> tuple[str, str | None]:
    """(status, first meaningful line) of a run that printed `out` and exited `rc`."""
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    first = lines[0] if lines else None
    low = out.lower()
    if "version mismatch" in low:
        line = next((ln for ln in lines if "mismatch" in ln.lower()), first)
        return "version_mismatch", line
    if "couldn't communicate with the nvidia driver" in low:
        return "no_driver", first
    if "no devices were found" in low:
        return "no_devices", first
    if rc != 0:
        return "error", first or f"exit status {rc}"
    return "ok", None


def _run(argv: list[str], env: Mapping[str, str], timeout: float) -> tuple[str, int | None, str | None]:
    """(stdout + stderr, exit status, failure to run) of one nvidia-smi call."""
    try:
        from kbackend import _procs

        p = _procs.run(argv, capture_output=True, text=True, timeout=timeout, env=dict(env),
                       stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        return "", None, f"no answer within {timeout:g} s"
    except OSError as e:
        return "", None, f"cannot run: {e.strerror or e}"
    return (p.stdout or "") + (p.stderr or ""), p.returncode, None


def run_smi(path: str | None, env: Mapping[str, str], timeout: float = 10.0) -> NvidiaSmi:
    """Query the GPUs (retrying without compute_cap for R470), then read the header."""
    if not path:
        return NvidiaSmi()
    fields = FIELDS
    out, rc, fail = _run([path, *query_args(fields)], env, timeout)
    retried = False
    if fail is None and rc != 0 and "compute_cap" in out:
        fields, retried = FIELDS_R470, True
        out, rc, fail = _run([path, *query_args(fields)], env, timeout)
    if fail is not None:
        status = "timeout" if fail.startswith("no answer") else "error"
        return NvidiaSmi(path=path, status=status, error=fail, retried_without_compute_cap=retried)
    status, err = classify(out, rc)
    if status != "ok":
        m = re.search(r"NVML library version:\s*([0-9][0-9.]*)", out)
        return NvidiaSmi(path=path, status=status, error=err, returncode=rc, retried_without_compute_cap=retried,
                         nvml_library_version=m.group(1) if m else None)
    gpus, driver = parse_query(out, fields)
    head, hrc, hfail = _run([path], env, timeout)
    hdriver, cuda = parse_header(head) if hfail is None else (None, None)
    return NvidiaSmi(path=path, status="ok", returncode=rc, driver_version=driver or hdriver, cuda_version=cuda,
                     retried_without_compute_cap=retried, gpus=gpus,
                     error=None if cuda or hfail is None else f"header: {hfail}")
