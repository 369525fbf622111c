"""`verify --model`: a user's saved Keras model on every installed backend against a float64 reference.

One child per backend (child/model_worker.py), in parallel through the runner, plus the
reference child: the same model on the reference backend (numpy by default) at float64,
weights upcast. Every child makes the same seeded inputs from the model's input specs
(or reads `--inputs`) and says their digest, so the parent can prove they saw the same
arrays. Then one numpy-only child compares each backend's arrays with the reference's
(compare.py's tolerances). Where an output diverges on a functional or sequential model,
the diverging backends and the reference run again with every layer's output, and the
first layer outside the tolerance is named.
"""

from __future__ import annotations

import os
import time
import zipfile
from typing import Callable

from kbackend import _procs
from kbackend import backends as B
from kbackend._record import field, record
from kbackend.errors import KbackendError, UsageError
from kbackend.install import install_command
from kbackend.suite import run as R
from kbackend.workers.runner import COMPARE_PATH, ChildResult, run_parallel, run_worker

WORKER = "model_worker.py"
#: compare.py's tolerance class for a model's outputs: accumulations through many layers (float32: 1e-4 + 1e-3·|x|).
TOL_CLASS = "linalg"
SEED = 1234
DEFAULT_REFERENCE = "numpy"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: the op cases (child/cases.py) that cover a layer class's computation, for the diverging layer's next step.
LAYER_CASES = {
    "Dense": ("matmul", "add"), "EinsumDense": ("einsum",), "Conv1D": ("conv1d",), "Conv2D": ("conv2d",),
    "Conv3D": ("conv3d",), "Conv2DTranspose": ("conv2d_transpose_same", "conv2d_transpose_valid"),
    "DepthwiseConv2D": ("depthwise_conv2d", "depthwise_conv2d_strided"), "MaxPooling2D": ("max_pool2d",),
    "MaxPooling1D": ("max_pool1d",), "AveragePooling2D": ("avg_pool2d",), "GlobalAveragePooling2D": ("mean_keepdims",),
    "GlobalAveragePooling1D": ("mean_keepdims",), "BatchNormalization": ("batch_normalization",),
    "LayerNormalization": ("layer_normalization",), "RMSNormalization": ("rms_normalization",),
    "Softmax": ("softmax",), "Embedding": ("take",), "MultiHeadAttention": ("einsum", "softmax"),
    "Add": ("add",), "Multiply": ("multiply",), "Concatenate": ("concatenate",), "Reshape": ("reshape",),
    "Permute": ("transpose",), "ReLU": ("relu",), "LSTM": ("matmul", "sigmoid", "tanh"),
    "GRU": ("matmul", "sigmoid", "tanh"), "Rescaling": ("multiply",),
}
#: activations (a layer's `activation`) and their cases.
ACTIVATION_CASES = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "softmax": "softmax", "gelu": "gelu_tanh",
                    "silu": "silu", "swish": "silu", "elu": "elu", "selu": "selu", "softplus": "softplus",
                    "hard_sigmoid": "hard_sigmoid", "hard_silu": "hard_silu", "hard_swish": "hard_silu",
                    "leaky_relu": "leaky_relu", "relu6": "relu6", "log_softmax": "log_softmax"}


def covering_cases(cls: str | None, config: dict | None) -> list[str]:
    """The op cases covering a layer's computation.

    >>> covering_cases("Dense", {"activation": "tanh"})
    ['matmul', 'add', 'tanh']
    """
    out = list(LAYER_CASES.get(cls or "", ()))
    act = ACTIVATION_CASES.get(str((config or {}).get("activation")))
    if act and act not in out:
        out.append(act)
    return out

Progress = Callable[[str], None]


@record
class ModelPlan:
    python: str
    path: str
    backends: list[str]
    missing: dict[str, str]
    reference: str
    custom_objects: str | None = None
    safe_mode: bool = True
    inputs: str | None = None
    loss: str | None = None
    train: bool = True
    batch: int = 2
    export: bool = False
    env: dict[str, str] = field(default_factory=dict)
    compile_cache: str | None = None
    file_kind: str = "keras"


@record(frozen=False)
class ModelRow:
    """One backend's verdict on the model."""

    backend: str
    status: str = "ok"  # ok | diverges | load_error | error | crashed | timeout | not_installed ...
    version: str | None = None
    loads: bool = False
    load_error: str | None = None
    reason: str | None = None
    fix: str | None = None
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    worst: float | None = None
    outputs: list[dict] = field(default_factory=list)
    first_diverging_layer: dict | None = None
    layers_note: str | None = None
    #: yes | inference-only | error | not run
    trains: str = "not run"
    train_ok: bool | None = None
    train_worst: float | None = None
    train_error: str | None = None
    load_s: float | None = None
    predict_first_s: float | None = None
    predict_s: float | None = None
    train_first_s: float | None = None
    train_step_s: float | None = None
    elapsed_s: float | None = None
    inputs_digest: str | None = None
    #: format -> {status, error, export_s, runtime (installed?), run_error, outputs (verdict vs the reference)}
    exports: dict = field(default_factory=dict)

    @property
    def failing(self) -> bool:
        return self.status not in ("ok", "not_installed")


@record(frozen=False)
class ModelReport:
    python: str
    path: str
    reference: str
    reference_note: str | None = None
    train_reference: str | None = None
    kind: str | None = None
    model_class: str | None = None
    params: int | None = None
    inputs: list[dict] = field(default_factory=list)
    rows: list[ModelRow] = field(default_factory=list)
    tolerance: dict = field(default_factory=dict)
    elapsed_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(r.failing for r in self.rows)


# --------------------------------------------------------------------------- the plan


def sniff(path: str) -> str:
    """"keras" (a .keras zip with its config) or "h5" (HDF5); a KbackendError for anything else."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise UsageError(f"Cannot read the model file {path}: {e.strerror or e}.",
                         fix="give the path of a model saved with model.save(\"model.keras\")")
    if head.startswith(HDF5_SIGNATURE):
        return "h5"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise KbackendError(f"{path} is a damaged or truncated .keras archive ({e}).",
                                fix="save the model again with model.save(\"model.keras\")")
        if bad is not None:
            raise KbackendError(f"{path} is a damaged .keras archive: {bad} fails its checksum.",
                                fix="save the model again with model.save(\"model.keras\")")
        if "config.json" not in names:
            raise KbackendError(f"{path} is a zip archive but not a Keras model (no config.json in it).",
                                fix="save the model with model.save(\"model.keras\")")
        return "keras"
    raise KbackendError(f"{path} is not a Keras model file: a model is a .keras zip archive (model.save) or a "
                        f"legacy HDF5 .h5 file. Received a file starting with {head[:8]!r}.",
                        fix="save the model with model.save(\"model.keras\")")


def plan(target, *, path: str, backends=(), custom_objects: str | None = None, unsafe: bool = False,
         inputs: str | None = None, reference: str | None = None, loss: str | None = None, train: bool = True,
         batch: int = 2, keras_home: str | None = None, compile_cache: bool = True,
         need_reference: bool = True, export: bool = False) -> ModelPlan:
    from kbackend import names

    kind = sniff(path)
    asked = names.check("--backend", names.split(backends), B.KERAS3_ORDER, fix="kbackend verify --backend {}",
                        expected=f"one of {list(B.KERAS3_ORDER)} (the Keras 3 backends)")
    found, _versions, keras_version = R.installed_backends(target.sys_path)
    if keras_version is None:
        raise KbackendError(f"Keras is not installed in {target.describe()}.",
                            fix=install_command("keras", target.python))
    missing = {b: install_command(b, target.python, keras_version=keras_version) for b in asked if b not in found}
    run_backends = [b for b in asked if b in found] if asked else found
    if not run_backends:
        raise KbackendError(f"No Keras backend to run the model on in {target.describe()}.",
                            fix=install_command("jax", target.python, keras_version=keras_version))
    ref = reference or DEFAULT_REFERENCE
    if need_reference and ref not in found:
        raise KbackendError(
            f"The reference backend {ref} is not installed in {target.describe()}.",
            fix=(install_command(ref, target.python, keras_version=keras_version) if ref in B.KERAS3_ORDER else None)
            or f"kbackend verify --model {path} --reference {found[0]}")
    env = {"KERAS_HOME": keras_home} if keras_home else {}
    cache = R.default_compile_cache() if compile_cache and set(R.COMPILE_CACHE_BACKENDS) & set(run_backends + [ref]) \
        else None
    return ModelPlan(target.python, os.path.abspath(path), run_backends, missing, ref,
                     os.path.abspath(custom_objects) if custom_objects else None, not unsafe,
                     os.path.abspath(inputs) if inputs else None, loss, train, batch, export, env, cache, kind)


# --------------------------------------------------------------------------- the run


def _trains(name: str) -> bool:
    b = B.get(name)
    return bool(b and b.trains)


def _job(p: ModelPlan, backend: str, out_path: str, *, reference: bool, layers: bool, train: bool) -> dict:
    return {"mode": "run", "model_path": p.path, "custom_objects_path": p.custom_objects, "safe_mode": p.safe_mode,
            "inputs_path": p.inputs, "seed": SEED, "batch": p.batch, "out_path": out_path, "float64": reference,
            "layers": layers, "train": {"loss": p.loss} if train else None,
            "export": p.export and not reference and not layers}


def _env(p: ModelPlan, backend: str, float64: bool) -> dict[str, str]:
    env = R._child_env(backend, p.env, p.compile_cache)
    if float64 and B.REGISTRY.get(backend) is not None and B.REGISTRY[backend].compiles_through_jax:
        env["JAX_ENABLE_X64"] = "1"  # the float64 reference's jax programs (numpy's convolutions) in float64
    return env


def run(p: ModelPlan, *, timeout: float = 600, progress: Progress | None = None,
        max_parallel: int | None = None) -> ModelReport:
    t0 = time.monotonic()
    order = sorted(p.backends, key=lambda b: R.START_ORDER.index(b) if b in R.START_ORDER else len(R.START_ORDER))
    keys = ["reference"] + order
    results: dict[str, ChildResult] = {}
    with _procs.temp_dir("model-") as tmp:
        paths = {k: os.path.join(tmp, f"{k}.npz") for k in keys}

        def one(k: str, layers: bool = False, train: bool = True) -> None:
            backend = p.reference if k == "reference" else k
            ref = k == "reference"
            job = _job(p, backend, paths[k] if not layers else paths[k] + ".layers.npz", reference=ref,
                       layers=layers, train=train and p.train)
            r = run_worker(p.python, WORKER, job, timeout=timeout, env=_env(p, backend, ref))
            results[k if not layers else k + "+layers"] = r
            if progress:
                progress(f"{'layers on ' if layers else ''}{'reference ' + backend if ref else backend}")

        run_parallel(one, keys, max_parallel=max_parallel)
        rep = _report(p, results)
        ref_data = results["reference"].data if results["reference"].ok else None
        if not ref_data or ref_data.get("load_error") or ref_data.get("run_error") or not results["reference"].ok:
            _reference_failed(p, results["reference"], rep)
        compare = _compare(p, paths, results, layers=False)
        _apply(rep, compare, results)
        diverging = [r.backend for r in rep.rows if any(o["status"] != "pass" for o in r.outputs)]
        if diverging and rep.kind in ("functional", "sequential"):
            run_parallel(lambda k: one(k, layers=True, train=False), ["reference"] + diverging,
                         max_parallel=max_parallel)
            lay = {k: results.get(k + "+layers") for k in ["reference"] + diverging}
            if all(r is not None and r.ok and isinstance(r.data, dict) and r.data.get("layers") for r in lay.values()):
                cmp = _compare(p, {k: paths[k] + ".layers.npz" for k in lay}, {k: lay[k] for k in lay}, layers=True)
                _apply_layers(rep, cmp, lay)
            else:
                why = next((r.error or (r.data or {}).get("layers_note") for r in lay.values()
                            if r is not None and (not r.ok or not (r.data or {}).get("layers"))), None)
                rep.notes.append(f"layers were not compared: {why}")
        elif diverging and rep.kind == "subclassed":
            for r in rep.rows:
                if any(o["status"] != "pass" for o in r.outputs):
                    r.layers_note = ("a subclassed model's call() is Python code: Keras keeps no graph of its "
                                     "layers, so only its outputs are compared")
    rep.elapsed_s = time.monotonic() - t0
    return rep


def _reference_failed(p: ModelPlan, child: ChildResult, rep: ModelReport) -> None:
    d = child.data if isinstance(child.data, dict) else {}
    err = d.get("load_error") or d.get("run_error") or child.error or child.status
    loaded = [r.backend for r in rep.rows if r.loads]
    also = f" It loads on {', '.join(loaded)}: try --reference {loaded[0]}." if loaded else ""
    raise KbackendError(
        f"The reference ({p.reference}, float64) cannot run {p.path}: {err}."
        + (f" Reason: {d['reason']}." if d.get("reason") else "") + also,
        fix=d.get("fix") or (f"kbackend verify --model {p.path} --reference {loaded[0]}" if loaded else None),
        data={"backends": [B_dump(r) for r in rep.rows]})


def B_dump(r: ModelRow) -> dict:
    from kbackend._record import dump

    return dump(r)


def _report(p: ModelPlan, results: dict[str, ChildResult]) -> ModelReport:
    ref = results["reference"].data if isinstance(results["reference"].data, dict) else {}
    rep = ModelReport(p.python, p.path, p.reference, kind=ref.get("kind"), model_class=ref.get("model_class"),
                      params=ref.get("params"), inputs=ref.get("inputs") or [])
    # the inputs as the backends got them (the reference's are upcast to float64)
    firsts = [results[b].data for b in p.backends if b in results and isinstance(results[b].data, dict)
              and results[b].data.get("inputs")]
    if firsts:
        rep.inputs = firsts[0]["inputs"]
    _reference_notes(p, ref, rep)
    _compile_note(p, results, rep)
    digest = ref.get("inputs_digest")
    for b in p.backends:
        c = results.get(b)
        d = c.data if c is not None and isinstance(c.data, dict) else {}
        row = ModelRow(b, version=d.get("backend_version"), elapsed_s=c.elapsed_s if c else None)
        if c is None or not c.ok:
            row.status = c.status if c is not None else "error"
            row.load_error = (c.error if c is not None else None) or "no result"
            if c is not None and c.status == "import_error":
                row.fix = f"kbackend doctor --backend {b}"
        elif d.get("load_error"):
            row.status, row.load_error, row.reason, row.fix = "load_error", d["load_error"], d.get("reason"), d.get("fix")
        elif d.get("run_error"):
            row.status, row.loads, row.load_error = "error", True, d["run_error"]
            row.reason, row.fix = d.get("reason"), d.get("fix")
        else:
            row.loads = True
        row.load_s, row.predict_first_s, row.predict_s = d.get("load_s"), d.get("predict_first_s"), d.get("predict_s")
        row.inputs_digest = d.get("inputs_digest")
        row.exports = {k: dict(v) for k, v in (d.get("exports") or {}).items()}
        if row.loads and digest and row.inputs_digest and row.inputs_digest != digest:
            row.status = "error"
            row.load_error = (f"its inputs differ from the reference's (digest {row.inputs_digest}, reference "
                              f"{digest}): the model's input specs read differently on {b}")
        tr = d.get("train")
        if not d.get("trains") and row.loads:
            row.trains = "inference-only"
        elif isinstance(tr, dict):
            if tr.get("status") == "ok":
                row.trains = "yes"
                row.train_first_s, row.train_step_s = tr.get("first_s"), tr.get("step_s")
            else:
                row.trains, row.train_error, row.train_ok = "error", tr.get("error"), False
                row.status = "error" if row.status == "ok" else row.status
        rep.rows.append(row)
    for b, fix in p.missing.items():
        rep.rows.append(ModelRow(b, status="not_installed", fix=fix))
    return rep


def _reference_notes(p: ModelPlan, ref: dict, rep: ModelReport) -> None:
    rt = ref.get("train") if isinstance(ref.get("train"), dict) else None
    if rt is not None and rt.get("status") == "ok":
        rep.train_reference = (f"{p.reference} float64 central differences of the {rt.get('loss_fn')} loss along "
                               f"{len(rt.get('fd') or [])} seeded directions in weight space")
        if rt.get("random_off"):
            rep.notes.append(f"dropout and noise layers off for the train step: {', '.join(rt['random_off'])} "
                             "(their random masks differ between backends)")
    elif rt is not None:
        rep.notes.append(f"the train steps were not checked against the reference: {rt.get('error')}")
    outs = ref.get("outputs") or []
    if ref.get("true_float64") is False or any(o.get("dtype") != "float64" for o in outs):
        rep.reference_note = (f"the reference computed in {', '.join(sorted({o.get('dtype') for o in outs}))}, "
                              "not float64")


def _compile_note(p: ModelPlan, results: dict[str, ChildResult], rep: ModelReport) -> None:
    errs = [(results[b].data or {}).get("compile_error") for b in ["reference"] + p.backends
            if b in results and isinstance(results[b].data, dict)]
    ce = next((e for e in errs if e), None)
    if ce:
        rep.notes.append(f"its training configuration (compile) cannot be restored: {ce}; it was loaded without "
                         "it (compile=False), and the train step uses --loss (default mse)"
                         + (" (a legacy .h5: the same failure as keras-team/keras#19330)" if p.file_kind == "h5"
                            else ""))


def _tolerance_dtype(data: dict) -> str:
    """The dtype whose tolerance row applies: the least precise float the backend's outputs came in.

    >>> _tolerance_dtype({"outputs": [{"dtype": "float32"}, {"dtype": "float16"}]})
    'float16'
    >>> _tolerance_dtype({"outputs": [{"dtype": "int32"}], "floatx": "float64"})
    'float32'
    """
    got = {o.get("dtype") for o in data.get("outputs") or []}
    for d in ("bfloat16", "float16", "float32"):
        if d in got:
            return d
    return "float32"  # float64 outputs of a float32 model still hold float32 work


def _compare(p: ModelPlan, paths: dict[str, str], results: dict[str, ChildResult], *, layers: bool) -> dict:
    spec = {}
    for k, path in paths.items():
        c = results.get(k)
        if k == "reference" or c is None or not c.ok or not isinstance(c.data, dict) or not c.data.get("outputs"):
            continue
        if not os.path.exists(path):
            continue
        tr = c.data.get("train") if isinstance(c.data.get("train"), dict) else {}
        spec[k] = {"path": path, "layers": c.data.get("layers") if layers else None,
                   "floatx": _tolerance_dtype(c.data), "dots": tr.get("dots"), "norm": tr.get("norm")}
    if not spec:
        return {}
    rd = results["reference"].data if isinstance(results["reference"].data, dict) else {}
    rt = rd.get("train") or {}
    fd = rt.get("fd") if not layers and rt.get("status") == "ok" else None
    r = run_worker(p.python, WORKER, {"mode": "compare", "compare_path": COMPARE_PATH, "tol": TOL_CLASS,
                                      "reference_path": paths["reference"], "backends": spec,
                                      "fd": fd}, timeout=300)
    if not r.ok or not isinstance(r.data, dict):
        raise KbackendError(f"Cannot compare the outputs with the reference: {r.error or r.status}.",
                            fix="pip install numpy (in the target environment)")
    return r.data.get("backends") or {}


def _worst(vs: list[dict]) -> dict | None:
    return max(vs, key=lambda v: (v["status"] != "pass", v.get("worst") or 0.0)) if vs else None


def _apply(rep: ModelReport, cmp: dict, results: dict[str, ChildResult]) -> None:
    for row in rep.rows:
        v = cmp.get(row.backend)
        if not v or not row.loads or row.status != "ok":
            continue
        row.outputs = v["outputs"]
        w = _worst(v["outputs"])
        if w is not None and not rep.tolerance:  # compare.py's, read back (the parent never imports numpy)
            rep.tolerance = {"class": TOL_CLASS, "atol": w.get("atol"), "rtol": w.get("rtol"),
                             "rule": "|got - reference| <= atol + rtol * |reference|"}
        if w is not None:
            row.max_abs_err = max((o["max_abs_err"] or 0.0 for o in v["outputs"]), default=None)
            row.max_rel_err = max((o["max_rel_err"] or 0.0 for o in v["outputs"]), default=None)
            row.worst = w.get("worst")
            if w["status"] != "pass":
                row.status = "diverges"
        for fmt, verdict in (v.get("exports") or {}).items():
            if fmt in row.exports:
                row.exports[fmt]["outputs"] = verdict
        if row.trains == "yes" and v.get("train"):
            t = _worst(v["train"])
            row.train_ok = t["status"] == "pass"
            row.train_worst = t.get("worst")
            if not row.train_ok:
                row.train_error = ("its update (the gradient) differs from the float64 central differences: "
                                   + (t.get("message") or ""))
                if row.status == "ok":
                    row.status = "diverges"
        # else: no reference to compare with (rep.notes says why); train_ok stays None


def _apply_layers(rep: ModelReport, cmp: dict, lay: dict[str, ChildResult]) -> None:
    for row in rep.rows:
        v = cmp.get(row.backend)
        if not v:
            continue
        info = {x["name"]: x for x in (lay[row.backend].data or {}).get("layers") or []}
        first = next((x for x in v["layers"] if x["status"] != "pass"), None)
        if first is None:
            row.layers_note = "every layer's output is within tolerance; only the final outputs differ"
            continue
        meta = info.get(first["name"], {})
        row.first_diverging_layer = {"name": first["name"], "class": meta.get("class"), "config": meta.get("config"),
                                     "max_abs_err": first.get("max_abs_err"), "max_rel_err": first.get("max_rel_err"),
                                     "worst": first.get("worst"), "message": first.get("message"),
                                     "cases": covering_cases(meta.get("class"), meta.get("config"))}
