"""Rendering of the config commands' results (text or the JSON envelope)."""

from __future__ import annotations

import sys

from kbackend.result import Result, exit_code

from kbackend.render.output import err, err_wrapped, fmt_value, out, out_wrapped, sev, style, table, wrap, wrap_command

ORDER = ("backend", "floatx", "epsilon", "image_data_format", "nnx_enabled", "image_dim_ordering")


def _effective_rows(eff) -> list[list[str]]:
    keys = [k for k in ORDER if k in eff] + [k for k in eff if k not in ORDER]
    return [[k, "?" if eff[k].value is None and eff[k].origin.startswith("unknown") else fmt_value(eff[k].value),
             (eff[k].origin, {"dim": True})] for k in keys]


def _problems(problems, stream_err=False) -> None:
    write = err_wrapped if stream_err else out_wrapped
    for p in problems:
        write(p.message, first=f"  {sev(p.severity)}: ", rest="      ")
        if p.keras_error:
            write(p.keras_error, first="      Keras raises: ", rest="        ")
        if p.fix:
            for line in wrap_command(p.fix, first="      fix: ", rest="           "):
                (err if stream_err else out)(line)


def _eff_json(eff) -> dict:
    return {k: {"value": v.value, "origin": v.origin} for k, v in eff.items()}


def show(res) -> Result:
    return Result("show", 0, {
            "config_path": res.config_path, "config_path_origin": res.config_path_origin,
            "file_status": res.file_status, "keras_version": res.keras_version, "keras_rules": res.keras_rules,
            "rules_assumed": res.rules_assumed, "python": res.python, "effective": _eff_json(res.effective),
            "imports": res.imports, "keras_error": res.keras_error, "file_used": res.file_used,
            "problems": res.problems, "variables": _eff_json(res.variables),
            "elsewhere": [e.as_json() for e in res.elsewhere],
        }, lambda: _show_text(res))


def _show_text(res) -> None:
    kv = res.keras_version or "not installed (newest rules assumed)"
    out_wrapped(f"{res.config_path}  ({res.config_path_origin}, {res.file_status})", first="keras.json  ")
    out_wrapped(f"{kv}  in {res.python}", first="Keras       ")
    out()
    out(table(_effective_rows(res.effective), ["key", "value", "origin"]))
    if res.variables:
        out()
        out(table([[k, fmt_value(v.value), (v.origin, {"dim": True})] for k, v in res.variables.items()],
                  ["variable", "value", "origin"]))
    if res.elsewhere:
        out()
        out(style("Also set for this interpreter:", bold=True))
        for e in res.elsewhere:
            out_wrapped(f"{e.name}={e.value}  ({e.where})", first="  ", rest="    ")
    shown = [p for p in res.problems if p.severity != "info" or p.id in ("keras_missing", "location", "file_missing",
                                                                          "pin_overrides_backend")]
    if shown:
        out()
        out(style("Problems:", bold=True) if any(p.severity != "info" for p in shown) else style("Notes:", bold=True))
        _problems(shown)
    if res.keras_error:
        out()
        out_wrapped(f"`import keras` would fail with {res.keras_error}", first=sev("error") + ": ", rest="  ")
    elif res.imports is False and res.keras_version:
        out()
        out_wrapped("`import keras` would never return (see above)", first=sev("error") + ": ", rest="  ")
    elif res.imports is None and res.keras_version:
        out()
        out_wrapped("kbackend cannot tell whether `import keras` succeeds (see above)", first=sev("unknown") + ": ",
                    rest="  ")


def get(key, v) -> Result:
    return Result("get", 0, {"key": key, "value": v.value, "origin": v.origin}, lambda: out(fmt_value(v.value)))


def write(res, command: str) -> Result:
    return Result(command, 0, {
            "config_path": res.config_path, "action": res.action, "key": res.key, "old": res.old, "new": res.new,
            "changed": res.changed, "backup": res.backup, "forced": res.forced, "warnings": res.warnings,
            "effective": _eff_json(res.effective), "document": res.document, "old_origin": res.old_origin,
            "old_note": res.old_note, "keras_version": res.keras_version, "python": res.python,
        }, lambda: _write_text(res), lambda: _warnings(res.warnings))


def _warnings(warnings) -> None:
    for w in warnings:
        err_wrapped(w, first=sev("warning", stream=sys.stderr) + ": ", rest="  ")


def _write_text(res) -> None:
    if not res.changed:
        what = f" ({res.key} is already {fmt_value(res.new)})" if res.key and res.action != "unset" else ""
        out_wrapped(f"{res.config_path}: unchanged{what}", rest="  ")
    elif res.action == "reset":
        out_wrapped(f"{res.config_path}: reset to Keras's defaults", rest="  ")
    elif res.action == "unset":
        out_wrapped(f"{res.config_path}: removed {res.key} (was {fmt_value(res.old)})", rest="  ")
    else:
        old = "unset" if res.old is None else fmt_value(res.old)
        if res.old_origin == "default":
            old += f", Keras's default; {res.old_note}"
        out_wrapped(f"{res.config_path}: {res.key} = {fmt_value(res.new)}  (was {old})", rest="  ")
    if res.backup:
        for line in wrap(res.backup, first="backup: ", rest="  "):
            out(style(line, dim=True))
    if res.action == "switch" and "backend" in res.effective:
        e = res.effective["backend"]
        if res.python and res.keras_version is None:
            out_wrapped(f"({e.origin})", first=f"Keras is not installed in {res.python}; once it is, it will use: "
                        f"{style(fmt_value(e.value), bold=True)}  ", rest="  ")
        else:
            out_wrapped(f"({e.origin})", first=f"Keras will use: {style(fmt_value(e.value), bold=True)}  ",
                        rest="  ")


def check(res) -> Result:
    return Result("check", exit_code(res), {
            "ok": res.ok, "config_path": res.config_path, "file_status": res.file_status,
            "keras_version": res.keras_version, "imports": res.imports, "keras_error": res.keras_error,
            "file_used": res.file_used, "effective": _eff_json(res.effective), "problems": res.problems,
            "failures": [p.id for p in res.failures], "variables": _eff_json(res.variables),
        }, lambda: _check_text(res))


def _check_text(res) -> None:
    if res.ok:
        b = res.effective["backend"]
        out_wrapped(f"Keras {res.keras_version} imports {res.config_path} as written "
                    f"(backend {fmt_value(b.value)} from {b.origin})", first=f"{sev('ok')}: ", rest="  ")
        warn = [p for p in res.problems if p.severity == "warning"]
        if warn:
            _problems(warn)
        return
    out_wrapped(f"{res.config_path} is not usable as written by Keras {res.keras_version or '(not installed)'}",
                first=f"{sev('error')}: ", rest="  ")
    _problems([p for p in res.problems if p.severity != "info" or p in res.failures])


def path(ctx) -> Result:
    import os

    loc = ctx.location
    return Result("path", 0, {"config_path": loc.path, "keras_dir": loc.keras_dir, "origin": loc.origin,
                              "exists": os.path.exists(loc.path), "notes": list(loc.notes)},
                  lambda: (out(loc.path), _warnings(loc.notes)))


def pin(res) -> Result:
    d = res.model_dump() if hasattr(res, "model_dump") else dict(res)
    return Result("switch", 0, d, lambda: _pin_text(d))


def _pin_text(d) -> None:
    if d.get("removed"):
        out_wrapped(f"removed the pin in {d.get('pin_path')}", rest="  ")
    elif d.get("backend") is None:
        out_wrapped(f"{d.get('pin_path') or d.get('python')}: unchanged", rest="  ")
    elif not d.get("changed", True):
        out_wrapped(f"{d.get('python')}: unchanged (already pinned to {fmt_value(d.get('backend'))})  "
                    f"({d.get('pin_path')})", rest="  ")
    else:
        out_wrapped(f"{d.get('python')}: pinned backend {fmt_value(d.get('backend'))}  ({d.get('pin_path')})",
                    rest="  ")
    _warnings(d.get("warnings", []))
