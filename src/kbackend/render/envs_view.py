"""Rendering of `envs`, `run` and `shell-env` (text or the JSON envelope)."""

from __future__ import annotations

import os
import sys

from kbackend.render.output import err, err_wrapped, glue, isatty, out, out_wrapped, sev, style, table
from kbackend.result import Result, exit_code


def _home(path: str | None) -> str:
    if not path:
        return "-"
    home = os.path.expanduser("~").rstrip("/")
    if home and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path


def _origin(origin: str) -> str:
    if origin.startswith("env-pin:"):
        return "pin"
    if origin.startswith("env:"):
        return origin[4:]
    if origin in ("default", "option"):
        return origin
    return "keras.json" if origin.endswith("keras.json") else origin


def _usable(choice) -> str:
    if choice.usable is None:
        return style("?", fg="yellow")
    return sev("ok") if choice.usable else style("no", fg="red", bold=True)


def _probe_cell(p) -> str:
    if p is None:
        return "-"
    if p.status == "ok" and not p.error:
        return sev("ok") + (f" {p.import_s:.1f}s" if isinstance(p.import_s, (int, float)) else "")
    return sev("fail") if p.status != "not_run" else style("not run", dim=True)


def envs(res) -> Result:
    counts = {s: sum(1 for e in res.environments if e.status == s) for s in ("ok", "broken")}
    return Result("envs", exit_code(res), {"environments": res.environments, "probe": res.probe, "notes": res.notes,
                                           "counts": counts}, lambda: _envs_text(res))


def _envs_text(res) -> None:
    probed = res.probe == "done"
    rows = []
    for e in res.environments:
        mark = "*" if "target" in e.kinds else " "
        found = ", ".join(e.kinds)
        if e.status != "ok":
            rows.append([mark, _home(e.prefix), found, e.python_version or "?", "-", "-", sev("error") + " broken"]
                        + (["-"] if probed else []))
            continue
        bks = ", ".join(glue(f"{b.name} {b.version}" + ("" if b.accepted else " (unused)")) for b in e.backends) or "-"
        ch = e.backend
        cell = f"{ch.value} ({_origin(ch.origin)}) {_usable(ch)}" if ch and e.keras_version else "-"
        rows.append([mark, _home(e.prefix), found, e.python_version or "?", e.keras_version or "-", bks, cell]
                    + ([_probe_cell(e.probe)] if probed else []))
    headers = ["", "environment", "found as", "python", "keras", "backends installed", "backend"]
    if not rows:
        out("No Python environments found.")
    else:
        # the backends' list and the chosen backend wrap first; a path last
        out(table(rows, headers + (["probe"] if probed else []), indent=0, give=(5, 6, 2)))
    notes = []
    for e in res.environments:
        where = _home(e.prefix)
        if e.status != "ok":
            notes.append((sev("error"), f"{where}: {e.problem}"))
            continue
        if e.keras_version and e.backend and e.backend.usable is not True and e.backend.reason:
            notes.append((sev("warning"), f"{where}: backend {e.backend.value} from {e.backend.origin}: "
                                          f"{e.backend.reason}"))
        p = e.probe
        if p is not None and p.status != "not_run" and (p.status != "ok" or p.error):
            notes.append((sev("error"), f"{where}: importing {p.backend} failed ({p.status}): {p.error}"))
    if notes:
        out()
        for label, n in notes:
            out_wrapped(n, first=label + ": ", rest="  ")
    for n in res.notes:
        err_wrapped(n, first=sev("warning", stream=sys.stderr) + ": ", rest="  ")
    if any("target" in e.kinds for e in res.environments):
        out()
        out(style("* the environment kbackend describes (--python or the active one)", dim=True))


def run_result(res) -> Result:
    """The command's own output went straight to the terminal; what kbackend adds goes to stderr."""

    def warn() -> None:
        for w in res.warnings:
            err_wrapped(w, first=sev("warning", stream=sys.stderr) + ": ", rest="  ")
        if res.error:
            err(f"kbackend run: {res.error}")

    def killed() -> None:
        if not res.error and res.signal and res.signal not in ("SIGINT", "SIGPIPE"):
            err(f"kbackend run: {res.argv[0]} was killed by {res.signal} (exit {res.exit_code})")

    data = res.model_dump(mode="json")
    # the envelope's error is {message, fix} as every command's; none when the command itself ran
    data.pop("error", None)
    if res.error:
        data["error"] = {"message": res.error, "fix": _run_fix(res)}
    return Result("run", exit_code(res), data, killed, warn)


def _run_fix(res) -> str:
    from kbackend.services.run import EXIT_NOT_FOUND

    cmd = res.argv[0] if res.argv else "CMD"
    if res.exit_code == EXIT_NOT_FOUND:
        return f"check the name, or give the path of {cmd} (it is not on PATH)"
    return f"make {cmd} executable (chmod +x {cmd}) or run it through its interpreter"


def shell_env(shell: str, backend: str | None, lines: list[str], hint: str, warnings: list[str]) -> Result:
    return Result("shell-env", 0, {"shell": shell, "backend": backend, "lines": lines, "usage": hint,
                                   "warnings": warnings}, lambda: _shell_env_text(lines, hint, warnings))


def _shell_env_text(lines: list[str], hint: str, warnings: list[str]) -> None:
    for line in lines:
        out(line)  # shell code: never wrapped
    for w in warnings:
        err_wrapped(w, first=sev("warning", stream=sys.stderr) + ": ", rest="  ")
    if isatty(sys.stdout):
        err(style(f"# to apply it: {hint}", dim=True))
