"""verify's result models: one row per (backend, case, check, dtype, data format), one run per backend.

Frozen pydantic models (`kbackend._record.Checked`); the renderer alone decides wording and colours.
Numbers that are not finite never reach these models (JSON has no NaN): the
worker reports them as None with a message.
"""

from __future__ import annotations

from typing import Literal

from kbackend._record import Checked

#: known: a known upstream defect, in the version range of its entry (child/cases.py KNOWN_DEFECTS): shown,
#: failing the run only under --strict.
Status = Literal["pass", "fail", "error", "skip", "xfail", "known"]
#: what was checked: a case's value, its gradient, or the tiny model's steps.
Check = Literal["value", "grad", "forward", "sgd_step", "fit"]
#: a backend child's outcome: the runner's statuses, plus not_installed.
ChildStatus = Literal["ok", "import_error", "error", "timeout", "crashed", "bad_output", "not_installed"]
#: statuses that make verify exit 1 (and `known` too under --strict).
FAILING = ("fail", "error")
#: the statuses in the order the counts and the summary show them.
STATUSES = ("pass", "fail", "error", "known", "xfail", "skip")


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
    #: [backend, dtype or "*", KNOWN_DEFECTS key]: known upstream defects (status `known` in their version range).
    defects: list[list[str]] = []
    #: the conditions the case exercises; a variant of an op is named "OP.CONDITION".
    conditions: list[str] = []
    #: its gradient at kinks is judged by the consensus of the backends that train.
    kink_grad: bool = False

    @property
    def op(self) -> str:
        """The op a variant belongs to: "argmax" for "argmax.ties"."""
        return self.name.split(".", 1)[0]


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
    #: the draw its inputs came from (0: the suite's fixed inputs; --seed N, --rounds K).
    seed: int | None = None
    #: the conditions the case exercises (its variant), for a failure's report.
    conditions: list[str] | None = None
    #: a known upstream defect (status known): {key, backend, package, versions, installed, reference, reason}.
    known: dict | None = None
    #: the gradient at kinks the child reported ({at, grads, xfail}); the parent's consensus judges it.
    kink: dict | None = None

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
    #: cases whose known upstream defect crashed the child (their rows are `known`; the child's end is accounted for).
    known_crashes: list[str] = []

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
    #: --strict: a known upstream defect fails the run too.
    strict: bool = False
    #: the first draw (--seed) and how many draws each case had (--rounds).
    seed: int = 0
    rounds: int = 1

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for r in self.results:
            out[r.status] += 1
        return out

    def is_failing(self, r: CaseResult) -> bool:
        return r.failing or (self.strict and r.status == "known")

    @property
    def ok(self) -> bool:
        """Nothing failed: no fail or error row (nor known, under --strict), and every backend's child ended cleanly."""
        return not any(self.is_failing(r) for r in self.results) and all(b.ok for b in self.backends)

    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if self.is_failing(r)]
