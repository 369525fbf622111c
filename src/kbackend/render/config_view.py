"""Rendering of the config commands' results (text or the JSON envelope)."""

from __future__ import annotations

import sys

from kbackend.render.output import emit_json, err, fmt_value, out, sev, style, table

ORDER = ("backend", "floatx", "epsilon", "image_data_format", "nnx_enabled", "image_dim_ordering")


def _effective_rows(eff) -> list[list[str]]:
    keys = [k for k in ORDER if k in eff] + [k for k in eff if k not in ORDER]
    return [[k, "?" if eff[k].value is None and eff[k].origin.startswith("unknown") else fmt_value(eff[k].value),
             style(eff[k].origin, dim=True)] for k in keys]


def _problems(problems, stream_err=False) -> None:
    write = err if stream_err else out
    for p in problems:
        write(f"  {sev(p.severity)}: {p.message}")
        if p.keras_error:
            write(f"      Keras raises: {p.keras_error}")
        if p.fix:
            write(f"      fix: {style(p.fix, bold=True)}")


def _eff_json(eff) -> dict:
    return {k: {"value": v.value, "origin": v.origin} for k, v in eff.items()}


def show(res, *, as_json: bool) -> int:
    if as_json:
        emit_json("show", 0, {
            "config_path": res.config_path, "config_path_origin": res.config_path_origin,
            "file_status": res.file_status, "keras_version": res.keras_version, "keras_rules": res.keras_rules,
            "rules_assumed": res.rules_assumed, "python": res.python, "effective": _eff_json(res.effective),
            "imports": res.imports, "keras_error": res.keras_error, "file_used": res.file_used,
            "problems": res.problems,
        })
        return 0
    kv = res.keras_version or "not installed (newest rules assumed)"
    out(f"keras.json  {res.config_path}  {style('(' + res.config_path_origin + ', ' + res.file_status + ')', dim=True)}")
    out(f"Keras       {kv}  {style('in ' + res.python, dim=True)}")
    out()
    out(table(_effective_rows(res.effective), ["key", "value", "origin"]))
    shown = [p for p in res.problems if p.severity != "info" or p.id in ("keras_missing", "location", "file_missing")]
    if shown:
        out()
        out(style("Problems:", bold=True) if any(p.severity != "info" for p in shown) else style("Notes:", bold=True))
        _problems(shown)
    if res.keras_error:
        out()
        out(sev("error") + f": `import keras` would fail with {res.keras_error}")
    elif res.imports is False and res.keras_version:
        out()
        out(sev("error") + ": `import keras` would never return (see above)")
    elif res.imports is None and res.keras_version:
        out()
        out(sev("unknown") + ": kbackend cannot tell whether `import keras` succeeds (see above)")
    return 0


def get(key, v, *, as_json: bool) -> int:
    if as_json:
        emit_json("get", 0, {"key": key, "value": v.value, "origin": v.origin})
    else:
        out(fmt_value(v.value))
    return 0


def write(res, command: str, *, as_json: bool) -> int:
    if as_json:
        emit_json(command, 0, {
            "config_path": res.config_path, "action": res.action, "key": res.key, "old": res.old, "new": res.new,
            "changed": res.changed, "backup": res.backup, "forced": res.forced, "warnings": res.warnings,
            "effective": _eff_json(res.effective), "document": res.document,
        })
    else:
        if not res.changed:
            out(f"{res.config_path}: unchanged")
        elif res.action == "reset":
            out(f"{res.config_path}: reset to Keras's defaults")
        elif res.action == "unset":
            out(f"{res.config_path}: removed {res.key} (was {fmt_value(res.old)})")
        else:
            old = "unset" if res.old is None else fmt_value(res.old)
            out(f"{res.config_path}: {res.key} = {fmt_value(res.new)}  {style('(was ' + old + ')', dim=True)}")
        if res.backup:
            out(style(f"backup: {res.backup}", dim=True))
        if res.action == "switch" and "backend" in res.effective:
            e = res.effective["backend"]
            out(f"Keras will use: {style(fmt_value(e.value), bold=True)}  {style('(' + e.origin + ')', dim=True)}")
    for w in res.warnings:
        err(sev("warning", stream=sys.stderr) + ": " + w)
    return 0


def check(res, *, as_json: bool) -> int:
    code = 0 if res.ok else 1
    if as_json:
        emit_json("check", code, {
            "ok": res.ok, "config_path": res.config_path, "file_status": res.file_status,
            "keras_version": res.keras_version, "imports": res.imports, "keras_error": res.keras_error,
            "file_used": res.file_used, "effective": _eff_json(res.effective), "problems": res.problems,
            "failures": [p.id for p in res.failures],
        })
        return code
    if res.ok:
        b = res.effective["backend"]
        out(f"{sev('ok')}: Keras {res.keras_version} imports {res.config_path} as written "
            f"(backend {fmt_value(b.value)} from {b.origin})")
        warn = [p for p in res.problems if p.severity == "warning"]
        if warn:
            _problems(warn)
        return 0
    out(f"{sev('error')}: {res.config_path} is not usable as written by Keras {res.keras_version or '(not installed)'}")
    _problems([p for p in res.problems if p.severity != "info" or p in res.failures])
    return code


def path(ctx, *, as_json: bool) -> int:
    import os

    loc = ctx.location
    if as_json:
        emit_json("path", 0, {"config_path": loc.path, "keras_dir": loc.keras_dir, "origin": loc.origin,
                              "exists": os.path.exists(loc.path), "notes": list(loc.notes)})
    else:
        out(loc.path)
        for n in loc.notes:
            err(sev("warning", stream=sys.stderr) + ": " + n)
    return 0


def pin(res, *, as_json: bool) -> int:
    if as_json:
        emit_json("switch", 0, res.model_dump(mode="json") if hasattr(res, "model_dump") else dict(res))
        return 0
    d = res.model_dump() if hasattr(res, "model_dump") else dict(res)
    if d.get("removed"):
        out(f"removed the pin in {d.get('pin_path')}")
    elif d.get("backend") is None:
        out(f"{d.get('pin_path') or d.get('python')}: unchanged")
    else:
        out(f"{d.get('python')}: pinned backend {d.get('backend')}  {style('(' + str(d.get('pin_path')) + ')', dim=True)}")
    for w in d.get("warnings", []):
        err(sev("warning", stream=sys.stderr) + ": " + w)
    return 0
