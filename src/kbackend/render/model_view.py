"""Rendering of `kbackend verify --model`: one row per backend, then why.

Plain aligned text that fits the width (80 columns by default), one JSON document with --json.
"""

from __future__ import annotations

import sys

from kbackend._record import dump
from kbackend.render.output import out, out_wrapped, style, table, wrap
from kbackend.result import Result, exit_code

STATUS_STYLE = {"ok": dict(fg="green"), "diverges": dict(fg="red", bold=True), "not_installed": dict(dim=True)}


def _t(s: float | None) -> str:
    if s is None:
        return "—"
    ms = s * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.0f} ms" if ms < 10000 else f"{s:.0f} s"


def _err(v: float | None) -> str:
    return "—" if v is None else f"{v:.2g}"


def _verdict(r) -> tuple[str, dict]:
    if r.status == "not_installed":
        return "not installed", STATUS_STYLE["not_installed"]
    if not r.loads:
        return "does not load" if r.status == "load_error" else r.status, dict(fg="red", bold=True)
    if r.status == "error":
        return "error", dict(fg="red", bold=True)
    if r.worst is None:
        return "—", {}
    word = "ok" if all(o["status"] == "pass" for o in r.outputs) else "DIVERGES"
    return f"{word} {r.worst:.2g}", STATUS_STYLE["ok" if word == "ok" else "diverges"]


def _trains(r) -> tuple[str, dict]:
    if r.trains == "yes":
        if r.train_ok is False:
            return f"DIFFERS {r.train_worst:.2g}" if r.train_worst is not None else "DIFFERS", \
                dict(fg="red", bold=True)
        if r.train_ok is None:
            return "ran", {}  # not compared: the notes say why
        return ("ok" + (f" {r.train_worst:.2g}" if r.train_worst is not None else "")), dict(fg="green")
    if r.trains == "error":
        return "error", dict(fg="red", bold=True)
    return {"inference-only": "inference"}.get(r.trains, r.trains), dict(dim=True)


EXPORT_SHORT = {"tf_saved_model": "tf", "onnx": "onnx", "openvino": "ov"}


def _exports(r) -> tuple[str, dict]:
    if not r.exports:
        return "—", dict(dim=True)
    good = [EXPORT_SHORT.get(f, f) for f, x in r.exports.items() if x.get("status") == "ok"
            and not x.get("run_error") and (x.get("outputs") or {}).get("status", "pass") == "pass"]
    return (",".join(good) or "none"), dict(fg="green") if len(good) == len(r.exports) else dict(fg="yellow")


def _cut(text, n: int = 160) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _export_line(r) -> str | None:
    parts = []
    for fmt, x in r.exports.items():
        if x.get("status") != "ok":
            parts.append(f"{fmt} fails: {_cut(x.get('error'))}")
        elif x.get("run_error"):
            parts.append(f"{fmt} exported, but its runtime fails on it: {_cut(x['run_error'])}")
        elif not x.get("runtime"):
            parts.append(f"{fmt} exported ({_t(x.get('export_s'))}; its runtime is not installed, outputs not run)")
        else:
            v = x.get("outputs") or {}
            verdict = "match the reference" if v.get("status") == "pass" else \
                f"DIFFER from the reference ({v.get('message')})"
            if x.get("precision_hint"):
                verdict += f" (the runtime's default inference precision: {x['precision_hint']})"
            parts.append(f"{fmt} exported ({_t(x.get('export_s'))}), its outputs {verdict}")
    return f"{r.backend}: export: " + "; ".join(parts) if parts else None


def rows(rep) -> list[list]:
    out_rows = []
    exports = any(r.exports for r in rep.rows)
    for r in rep.rows:
        layer = r.first_diverging_layer["name"] if r.first_diverging_layer else "—"
        out_rows.append([
            r.backend,
            _verdict(r),
            _err(r.max_abs_err),
            layer,
            _trains(r),
            _t(r.predict_s),
            _t(r.train_step_s),
        ] + ([_exports(r)] if exports else []))
    return out_rows


HEADERS = ["backend", "outputs", "max err", "1st diverging", "train", "predict", "step"]


def details(rep) -> list[str]:
    """One line per thing that needs saying: load errors with reason and fix, the diverging layer, training."""
    lines = []
    for r in rep.rows:
        if r.status == "not_installed":
            lines.append(f"{r.backend}: not installed; install it with: {r.fix}")
            continue
        if r.load_error:
            what = "cannot load the model" if not r.loads else "fails"
            s = f"{r.backend}: {what}: {r.load_error}"
            if r.reason:
                s += f" Reason: {r.reason}."
            if r.fix:
                s += f" Fix: {r.fix}."
            lines.append(s)
        L = r.first_diverging_layer
        if L:
            cfg = ", ".join(f"{k}={v}" for k, v in (L.get("config") or {}).items())
            lines.append(f"{r.backend}: first diverging layer {L['name']} ({L.get('class')}"
                         + (f"; {cfg}" if cfg else "") + f"): max |error| {_err(L.get('max_abs_err'))}, "
                         f"max relative error {_err(L.get('max_rel_err'))}, {_err(L.get('worst'))}×tol"
                         + (f"; its ops alone: kbackend verify --backend {r.backend} "
                            + " ".join(f"--op {c}" for c in L["cases"]) if L.get("cases") else ""))
        elif r.layers_note and any(o["status"] != "pass" for o in r.outputs):
            lines.append(f"{r.backend}: outputs diverge; {r.layers_note}")
        if r.train_error:
            lines.append(f"{r.backend}: train step: {r.train_error}")
        if r.exports:
            line = _export_line(r)
            if line:
                lines.append(line)
        if r.trains == "inference-only":
            lines.append(f"{r.backend}: inference-only backend (Keras cannot train with it): not a failure")
    return lines


def summary(rep) -> str:
    bad = [r.backend for r in rep.rows if r.failing]
    ran = [r for r in rep.rows if r.status != "not_installed"]
    s = (f"verify --model: {len(ran) - len(bad)} of {len(ran)} backend{'s' if len(ran) != 1 else ''} "
         f"match the reference")
    if bad:
        s += f"; not: {', '.join(bad)}"
    if rep.elapsed_s is not None:
        s += f" ({rep.elapsed_s:.1f} s)"
    return s


def _json(rep) -> dict:
    d = dump(rep)
    d["ok"] = rep.ok
    d["backends"] = d.pop("rows")
    return d


def render(rep) -> Result:
    return Result("verify", exit_code(rep), _json(rep), lambda: _plain(rep))


def _plain(rep) -> None:
    ins = "; ".join(f"{i['name']} {tuple(i['shape'])} {i['dtype']}: {i['values']}" for i in rep.inputs)
    head = f"{rep.path}: {rep.model_class or '?'} ({rep.kind or '?'}"
    head += f", {rep.params:,} parameters)" if rep.params is not None else ")"
    out_wrapped(head, rest="  ")
    out_wrapped(f"reference: {rep.reference} at float64 (weights upcast)"
                + (f"; {rep.reference_note}" if rep.reference_note else "")
                + (f"; training reference: {rep.train_reference}" if rep.train_reference else ""), rest="  ")
    if ins:
        out_wrapped("inputs: " + ins, rest="  ")
    tol = rep.tolerance
    if tol.get("atol") is not None:
        out_wrapped(f"tolerance: {tol['atol']:g} + {tol['rtol']:g}·|reference| (the {tol['class']} class, by floatx); "
                    "the number after ok: the worst error in multiples of it", rest="  ")
    versions = ", ".join(f"{r.backend} {r.version}" for r in rep.rows if r.version)
    if versions:
        out_wrapped("versions: " + versions, rest="  ")
    out()
    out(table(rows(rep), HEADERS + (["exports"] if any(r.exports for r in rep.rows) else []), give=(3,)))
    lines = details(rep) + rep.notes
    if lines:
        out()
        for ln in lines:
            for w in wrap(ln, first="  • ", rest="    "):
                out(w)
    out()
    out_wrapped(style(summary(rep), stream=sys.stdout, bold=True), rest="  ")
