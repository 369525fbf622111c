"""verify's result models: one row per (backend, case, check, dtype, data format), one run per backend.

Frozen pydantic models (`kbackend._record.Checked`); the renderer alone decides wording and colours.
Numbers that are not finite never reach these models (JSON has no NaN): the
worker reports them as None with a message.
"""

from __future__ import annotations

from typing import Literal

from kbackend._record import Checked

Status = Literal["pass", "fail", "error", "skip", "xfail"]
#: what was checked: a case's value, its gradient, or the tiny model's steps.
Check = Literal["value", "grad", "forward", "sgd_step", "fit"]
#: a backend child's outcome: the runner's statuses, plus not_installed.
ChildStatus = Literal["ok", "import_error", "error", "timeout", "crashed", "bad_output", "not_installed"]
#: statuses that make verify exit 1.
FAILING = ("fail", "error")


class CaseInfo(Checked):
    """A case as `--list` shows it (read from cases.py in the target interpreter)."""

    name: str
    category: str
    tol: str
    dtypes: list[str]
    layout_dependent: bool
    differentiable: bool
    doc: str = ""
    xfail: list[list[str]] = []
    skip: list[list[str]] = []
    #: [backend, dtype or "*", reason]: known to crash that backend's process (run last there).
    crashes: list[list[str]] = []


class CaseResult(Checked):
    backend: str
    case: str
    category: str
    check: Check = "value"
    dtype: str
    data_format: str | None = None
    status: Status
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    #: max(|error| / allowed): ≤ 1 passes.
    worst: float | None = None
    atol: float | None = None
    rtol: float | None = None
    expected_dtype: str | None = None
    got_dtype: str | None = None
    message: str | None = None
    ms: float | None = None

    @property
    def failing(self) -> bool:
        return self.status in FAILING

    @property
    def label(self) -> str:
        """The row's name in the matrix: case, its check when not the value, and its data format."""
        s = self.case if self.check == "value" else f"{self.case} ({self.check})"
        if self.data_format:
            s += " [" + ("cf" if self.data_format == "channels_first" else "cl") + "]"
        return s


class BackendRun(Checked):
    name: str
    status: ChildStatus
    version: str | None = None
    keras_version: str | None = None
    error: str | None = None
    fix: str | None = None
    elapsed_s: float | None = None
    import_s: float | None = None
    #: children started again after one crashed or hung in a case.
    restarts: int = 0
    #: the tail of the child's output, kept when it did not end cleanly.
    log: str | None = None
    #: warnings that turn a feature off (jax's compilation cache), as the children reported them.
    warnings: list[str] = []

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class VerifyReport(Checked):
    python: str
    dtypes: list[str]
    data_formats: list[str]
    size: str = "small"
    backends: list[BackendRun]
    results: list[CaseResult]
    elapsed_s: float | None = None
    #: where jax kept compiled programs between runs (None: compiled afresh).
    compile_cache: str | None = None

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("pass", "fail", "error", "skip", "xfail")}
        for r in self.results:
            out[r.status] += 1
        return out

    @property
    def ok(self) -> bool:
        """Nothing failed: no fail or error row, and every backend's child ended cleanly."""
        return not any(r.failing for r in self.results) and all(b.ok for b in self.backends)

    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if r.failing]
