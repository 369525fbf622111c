"""Baseline files: a bench run saved for later comparison, in a versioned format.

The file is one JSON object: the `BenchReport` (machine, options, backends,
results with every sample and per-process median) plus

    {"format": "kbackend-bench", "format_version": 1, "saved_at": "...Z",
     "kbackend_version": "..."}

History of `format_version` (pyperf's rule: write the history down, refuse
what you cannot read):
- 1 (kbackend 0.1.0): first format.
- 2: a result's `median_s`/`iqr_s` are the median and IQR of its per-process best samples
  (`process_mins`); each backend has `calibration` and `calibration_blas` (per-process best of the two calibration
  kernels); the
  report has `load`; the machine has `peak_origin`, `peak_spread`, `fingerprint`. Version 1 files
  are read (no calibration: the machine-noise check is skipped; their times are recomputed from
  `process_mins`).

A file with a newer version, another format, or results that do not parse is
refused with the reason. `bench --json` output is accepted too: it holds the
same report under the JSON envelope.

>>> from kbackend.bench.model import Machine
>>> r = BenchReport(machine=Machine(cpu="x", cores=2, threads=2))
>>> loads(dumps(r)) == r
True
"""

from __future__ import annotations

import json
import os
import time

from pydantic import ValidationError

from kbackend import __version__, _fs
from kbackend.bench.model import BenchReport
from kbackend.errors import KbackendError

FORMAT = "kbackend-bench"
FORMAT_VERSION = 2
SUPPORTED = (1, 2)
_ENVELOPE_KEYS = ("schema_version", "kbackend_version", "command", "exit_code", "regressions",
                  "improvements", "inconclusive", "comparisons", "refused", "format", "format_version",
                  "saved_at")


class BaselineError(KbackendError):
    """A baseline that cannot be read or used."""


def dumps(report: BenchReport) -> str:
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION,
           "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "kbackend_version": __version__}
    doc.update(report.model_dump(mode="json", exclude={"gate"}))
    return json.dumps(doc, indent=1, allow_nan=False)


def save(report: BenchReport, path: str) -> None:
    """Write atomically (a temp file in the same directory, then rename)."""
    path = os.path.abspath(path)
    try:
        _fs.atomic_write(path, dumps(report) + "\n", prefix=".bench-", suffix=".json")
    except OSError as e:
        raise BaselineError(f"Cannot write the baseline {path}: {e.strerror or e}.",
                            fix="pass --save a path in a writable directory") from None


def loads(text: str, where: str = "baseline") -> BenchReport:
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise BaselineError(f"Invalid baseline {where}: not JSON ({e}).",
                            fix="save one with `kbackend bench --save FILE`") from None
    if not isinstance(doc, dict):
        raise BaselineError(f"Invalid baseline {where}: expected a JSON object. Received: {type(doc).__name__}.",
                            fix="save one with `kbackend bench --save FILE`")
    if doc.get("command") == "bench" and "format" not in doc:
        pass  # `bench --json` output
    elif doc.get("format") != FORMAT:
        raise BaselineError(
            f"Invalid baseline {where}: unknown `format`. Expected: {FORMAT!r}. Received: format={doc.get('format')!r}",
            fix="save one with `kbackend bench --save FILE`")
    elif doc.get("format_version") not in SUPPORTED:
        raise BaselineError(
            f"Invalid baseline {where}: unsupported `format_version`. Expected one of {set(SUPPORTED)}. "
            f"Received: format_version={doc.get('format_version')!r}",
            fix="upgrade kbackend, or save a new baseline with this one: `kbackend bench --save FILE`")
    body = {k: v for k, v in doc.items() if k not in _ENVELOPE_KEYS}
    body.pop("gate", None)
    body.pop("counts", None)
    if doc.get("format_version") == 1:
        body["results"] = [_v1_result(r) for r in body.get("results") or ()]
    try:
        return BenchReport.model_validate(body)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise BaselineError(f"Invalid baseline {where}: `{loc}`: {first['msg']}.",
                            fix="save a new one with `kbackend bench --save FILE`") from None


def _v1_result(r):
    """A version 1 result with the one estimator of version 2 (median and IQR of per-process bests)."""
    from kbackend.bench.run import estimate

    if isinstance(r, dict) and r.get("process_mins"):
        r = dict(r, **estimate(list(r["process_mins"])))
    return r


def load(path: str) -> BenchReport:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise BaselineError(f"Cannot read the baseline {path}: {e.strerror or e}.",
                            fix="save one with `kbackend bench --save FILE`") from None
    return loads(text, path)
