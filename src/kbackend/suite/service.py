"""verify's logic between the CLI and the children: what to run, then run it.

`plan` turns the options into a `Plan` (backends, dtypes, data formats,
cases), refusing what cannot run with Keras-style messages; `run` runs it
(kbackend.suite.run) and returns the `VerifyReport`.
"""

from __future__ import annotations

from typing import Iterable

from kbackend import backends as B
from kbackend._record import field, record, replace
from kbackend.envs.target import Target
from kbackend.errors import KbackendError, UsageError
from kbackend.install import install_command
from kbackend.suite import run as R
from kbackend.suite.model import CaseInfo, VerifyReport


@record
class Plan:
    python: str
    backends: list[str]
    missing: dict[str, str]
    #: None: every case of the suite (the children read it).
    cases: list[CaseInfo] | None
    dtypes: list[str]
    data_formats: list[str]
    env: dict[str, str] = field(default_factory=dict)
    #: run the tiny-model check: with no filter, or with --category model.
    model: bool = True
    warnings: list[str] = field(default_factory=list)
    #: jax's compilation cache folder for the children (None: compile afresh).
    compile_cache: str | None = None


def cases(target: Target) -> list[CaseInfo]:
    return R.list_cases(target.python)


def select(all_cases: list[CaseInfo], ops: Iterable[str] = (), categories: Iterable[str] = ()) -> list[CaseInfo]:
    return R.select(all_cases, ops, categories)


def _floatx(ctx) -> str:
    """The current floatx (keras.json and its rules), float32 when it cannot be read."""
    try:
        from kbackend.services import config as cs

        v = cs.show(ctx).effective.get("floatx")
        value = getattr(v, "value", None)
    except Exception:  # noqa: BLE001 - a broken file is doctor's business; verify falls back
        value = None
    return value if value in R.FLOAT_DTYPES else "float32"


def plan(
    target: Target,
    ctx,
    all_cases: list[CaseInfo] | None,
    *,
    backends: Iterable[str] = (),
    ops: Iterable[str] = (),
    categories: Iterable[str] = (),
    dtypes: Iterable[str] = (),
    data_formats: Iterable[str] = (),
    keras_home: str | None = None,
    compile_cache: bool = True,
) -> Plan:
    from kbackend import names

    asked = names.check("--backend", names.split(backends), B.KERAS3_ORDER, fix="kbackend verify --backend {}",
                        expected=f"one of {list(B.KERAS3_ORDER)} (the Keras 3 backends)")
    found, _versions, keras_version = R.installed_backends(target.sys_path)
    if keras_version is None:
        raise KbackendError(f"Keras is not installed in {target.describe()}.",
                            fix=install_command("keras", target.python))
    missing = {}
    for b in asked:
        if b not in found:
            missing[b] = install_command(b, target.python, keras_version=keras_version)
    run_backends = [b for b in asked if b in found] if asked else found
    if not run_backends and not missing:
        raise KbackendError(
            f"No Keras backend is installed in {target.describe()}. "
            f"Expected one of {list(R.SUITE_BACKENDS)}.",
            fix=install_command("jax", target.python, keras_version=keras_version),
        )
    selected = None if all_cases is None else select(all_cases, ops, categories)
    dts = list(dict.fromkeys(dtypes)) or [_floatx(ctx)]
    fmts = list(dict.fromkeys(data_formats)) or list(R.DATA_FORMATS)
    env = {}
    if keras_home is not None:
        env["KERAS_HOME"] = keras_home
    warnings: list[str] = []
    cats = list(categories)
    model = (not list(ops) and not cats) or R.MODEL_CATEGORY in cats
    cache = R.default_compile_cache() if compile_cache and set(R.COMPILE_CACHE_BACKENDS) & set(run_backends) else None
    return Plan(target.python, run_backends, missing, selected, dts, fmts, env, model, warnings, cache)


def run(p: Plan, *, grads: bool = True, model: bool = True, timeout: float = 600,
        progress: R.Progress | None = None, seed: int = 0, rounds: int = 1, strict: bool = False) -> VerifyReport:
    return R.run_verify(p.python, p.backends, p.cases, dtypes=p.dtypes, data_formats=p.data_formats, grads=grads,
                        model=model and p.model, missing=p.missing, timeout=timeout, env=p.env, progress=progress,
                        compile_cache=p.compile_cache, seed=seed, rounds=rounds, strict=strict)


@record
class Repro:
    """What `verify --repro` wrote, and what its script printed when run on the backend."""

    case: str
    backend: str
    dtype: str
    seed: int
    data_format: str | None
    npz: str
    script: str
    call: str
    #: the script's run in the target: exit status and output (None: not run).
    returncode: int | None = None
    output: str | None = None


def repro(target: Target, all_cases: list[CaseInfo], case: str, *, backend: str | None, dtype: str | None,
          data_format: str | None, seed: int, out_dir: str, ctx=None, env: dict[str, str] | None = None,
          run_it: bool = True, timeout: float = 300) -> Repro:
    """Write `case`'s inputs (.npz) and a plain keras.ops script, then run the script on `backend`."""
    import os

    from kbackend import _procs
    from kbackend import names as N
    from kbackend.workers.runner import child_env, run_worker

    N.check("--repro", [case], [c.name for c in all_cases], expected="a case name of the suite "
            "(see `kbackend verify --list`)", fix="kbackend verify --repro {}", fallback_fix="kbackend verify --list")
    info = next(c for c in all_cases if c.name == case)
    found, _versions, _kv = R.installed_backends(target.sys_path)
    b = backend or (found[0] if found else "jax")
    d = dtype or (_floatx(ctx) if ctx is not None else "float32")
    if d not in info.dtypes:
        raise UsageError(f"Invalid `--dtype` for case {case}. Expected one of {info.dtypes}. Received: {d}",
                         fix=f"kbackend verify --repro {case} --dtype {info.dtypes[0]}")
    fmt = (data_format or "channels_last") if info.layout_dependent else None
    out_dir = os.path.abspath(out_dir)
    r = run_worker(target.python, R.WORKER, {"mode": "repro", "cases_path": R.CASES_PATH,
                                             "compare_path": R.COMPARE_PATH, "case": case, "dtype": d, "seed": seed,
                                             "data_format": fmt, "backend": b, "out_dir": out_dir}, timeout=120)
    if not r.ok or not isinstance(r.data, dict):
        raise KbackendError(f"Cannot write the reproduction of {case}: {r.error or r.status}.",
                            fix="the suite needs numpy in the target environment: pip install numpy")
    rep = Repro(case, b, d, seed, fmt, r.data["npz"], r.data["script"], r.data["call"])
    if run_it and b not in found:
        return replace(rep, output=f"{b} is not installed in {target.describe()}: the script was written, not run")
    if not run_it:
        return rep
    try:
        p = _procs.run([target.python, rep.script], timeout=timeout, text=True, merge_stderr=True,
                       env=child_env({**(env or {}), "KERAS_BACKEND": b, **R.compile_cache_env(b, None)},
                                     base={k: v for k, v in os.environ.items() if k != "KBACKEND_TEST_PATCH"}))
        output = "\n".join(ln for ln in (p.stdout or "").splitlines() if ln.startswith(case + ":")) or (
            p.stdout or "")[-2000:]
        return replace(rep, returncode=p.returncode, output=output)
    except Exception as e:  # noqa: BLE001 - the files are written; the run is a courtesy
        return replace(rep, returncode=None, output=f"could not run the script: {e}")
