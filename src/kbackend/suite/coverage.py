"""`verify --coverage`: which keras.ops functions the op suite exercises, recorded in a child.

The list of functions comes from the installed Keras (a newer Keras's new ops show
up as uncovered); which functions a case exercises is recorded by running its
`call` once with `keras.ops` behind a recording proxy (child/coverage_worker.py),
on the numpy backend when it is installed (no compilation, the cheapest import),
else on the first installed backend.
"""

from __future__ import annotations

from typing import Iterable

from kbackend._record import Checked
from kbackend.envs.target import Target
from kbackend.errors import KbackendError
from kbackend.install import install_command
from kbackend.suite import run as R
from kbackend.workers.runner import CASES_PATH, run_worker

WORKER = "coverage_worker.py"
#: the backend whose child records the calls when it is installed (no compilation, the cheapest import).
PREFERRED = "numpy"


class CoveredFunction(Checked):
    """A keras.ops function and the cases that call it (with the conditions those cases declare)."""

    name: str
    namespace: str
    cases: list[str] = []
    conditions: list[str] = []


class CoverageReport(Checked):
    python: str
    backend: str
    keras_version: str | None = None
    functions: list[CoveredFunction]
    #: functions without a case, and why (cases.py's NO_CASE dicts), for the functions this Keras has.
    no_case: dict[str, str] = {}
    #: NO_CASE entries naming a function this Keras does not have.
    stale_no_case: list[str] = []
    #: cases whose call raised on the recording backend: {case: error} (what they called before still counts).
    errors: dict[str, str] = {}
    #: the cases whose calls were recorded (a filtered run covers only these).
    cases: int = 0

    @property
    def covered(self) -> int:
        return sum(1 for f in self.functions if f.cases)

    @property
    def total(self) -> int:
        return len(self.functions)

    @property
    def uncovered(self) -> list[CoveredFunction]:
        return [f for f in self.functions if not f.cases]

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total if self.total else 0.0


def build(python: str, data: dict) -> CoverageReport:
    """The report from the worker's document.

    >>> d = {"backend": "numpy", "keras_version": "3", "functions": [{"name": "add", "namespace": "numpy"},
    ...      {"name": "relu", "namespace": "nn"}], "cases": {"add": {"functions": ["add"], "conditions": ["x"],
    ...      "error": None}}, "no_case": {"relu": "why", "gone": "why"}}
    >>> r = build("py", d)
    >>> r.covered, r.total, [f.name for f in r.uncovered], r.no_case, r.stale_no_case
    (1, 2, ['relu'], {'relu': 'why'}, ['gone'])
    """
    by_fn: dict[str, list[str]] = {}
    conds: dict[str, list[str]] = {}
    errors = {}
    for case, info in (data.get("cases") or {}).items():
        if info.get("error"):
            errors[case] = info["error"]
        for fn in info.get("functions") or ():
            by_fn.setdefault(fn, []).append(case)
            for c in info.get("conditions") or ():
                if c not in conds.setdefault(fn, []):
                    conds[fn].append(c)
    funcs = [CoveredFunction(name=f["name"], namespace=f["namespace"], cases=by_fn.get(f["name"], []),
                             conditions=conds.get(f["name"], [])) for f in data.get("functions") or ()]
    names = {f.name for f in funcs}
    no_case = {k: v for k, v in (data.get("no_case") or {}).items() if k in names}
    stale = sorted(k for k in (data.get("no_case") or {}) if k not in names)
    return CoverageReport(python=python, backend=data.get("backend") or "?", keras_version=data.get("keras_version"),
                          functions=funcs, no_case=no_case, stale_no_case=stale, errors=errors,
                          cases=len(data.get("cases") or {}))


def coverage(target: Target, *, names: Iterable[str] | None = None, backends: Iterable[str] = (),
             env: dict[str, str] | None = None, timeout: float = 600) -> CoverageReport:
    """Record which keras.ops functions the cases (`names`, None: all) call, in one child of the target."""
    found, _versions, keras_version = R.installed_backends(target.sys_path)
    if keras_version is None:
        raise KbackendError(f"Keras is not installed in {target.describe()}.",
                            fix=install_command("keras", target.python))
    asked = [b for b in backends if b]
    pool = [b for b in asked if b in found] if asked else found
    if not pool:
        missing = asked[0] if asked else "jax"
        raise KbackendError(f"No Keras backend to record the cases' calls with: {missing if asked else 'none'} "
                            f"is not installed in {target.describe()}.",
                            fix=install_command(missing, target.python, keras_version=keras_version))
    backend = PREFERRED if PREFERRED in pool else pool[0]
    r = run_worker(target.python, WORKER, {"cases_path": CASES_PATH, "names": None if names is None else list(names),
                                           "dtype": "float32", "size": "small"},
                   timeout=timeout, env=R._child_env(backend, env, R.default_compile_cache()))
    if not r.ok or not isinstance(r.data, dict):
        raise KbackendError(f"Could not record the cases' calls on {backend} in {target.describe()}: "
                            f"{r.error or r.status}.", fix=f"kbackend doctor --backend {backend}")
    return build(target.python, r.data)
