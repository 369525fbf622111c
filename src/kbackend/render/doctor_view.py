"""Rendering of `kbackend doctor`: a rich table on a terminal, plain text in a pipe,
one JSON document with --json, a paste-ready block with --report.

Progress (a rich bar on stderr) appears only when stderr is a terminal.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence

from kbackend import __version__
from kbackend.render.output import err, err_wrapped, isatty, out, out_wrapped, sev, style, use_color, width, wrap, wrap_command
from kbackend.result import Result, exit_code

ICON = {"ok": "ok", "warn": "warn", "error": "error", "skip": "skip", "crashed": "crashed"}
RICH_STYLE = {"ok": "green", "warn": "yellow", "error": "bold red", "skip": "dim", "crashed": "bold red"}


# ---------------------------------------------------------------------- progress


def probe_steps(step) -> tuple:
    """(on_start, on_done) for `doctor.service.collect`, reporting each backend probe to `step`."""

    def on_start(names: list[str]) -> None:
        if names:
            step("probing " + ", ".join(names), advance=0, total=len(names))

    def on_done(f) -> None:
        step(f"{f.name} probed")

    return on_start, on_done


# ---------------------------------------------------------------------- JSON


def _json_data(res, report: str | None = None) -> dict:
    data = {
        "strict": res.strict,
        "counts": res.summary,  # one name across doctor, verify, bench and envs
        "checks": [c.model_dump(mode="json") for c in res.checks],
        "facts": res.facts.model_dump(mode="json"),
        "probe": res.probe.model_dump(mode="json"),
    }
    if res.fixes is not None:
        data["fixes"] = [s.model_dump(mode="json") for s in res.fixes]
        data["fixes_applied"] = res.fixes_applied
    if report is not None:
        data["report"] = report
    return data


def fix_echo(step) -> None:
    """Each step of `doctor --fix --yes`, with its command, on stderr before it runs."""
    err_wrapped(step.command, first=f"fix ({step.kind}, for {step.check}): ", rest="  ")


def _fix_lines(res) -> None:
    steps = res.fixes or []
    out()
    if not steps:
        out_wrapped("fix: nothing to do: no failing check has a fix kbackend can carry out", rest="  ")
        return
    applied = res.fixes_applied
    out(style("Fix plan" + (" (carried out):" if applied else " (run again with --yes to carry it out):"), bold=True))
    for i, s in enumerate(steps, 1):
        who = "yours" if s.kind == "manual" else s.kind
        state = ""
        if applied and s.kind != "manual":
            state = f"  [{s.outcome or 'not run: an earlier step failed'}]"
        for line in wrap_command(s.command, first=f"  {i}. {who} ({s.check}): ", rest="       "):
            out(line)
        if state or s.detail:
            out_wrapped((state.strip() + (f" {s.detail}" if s.detail else "")).strip(), first="       ", rest="       ")
    if applied:
        out_wrapped("the checks above are from before the fixes: run `kbackend doctor` again to see where things "
                    "stand", rest="  ")


def list_checks(checks: Sequence) -> Result:
    return Result("doctor", 0, {"checks": [{"id": c.id, "title": c.title, "needs": list(c.needs)} for c in checks]},
                  lambda: _list_text(checks))


def _list_text(checks: Sequence) -> None:
    w = max(len(c.id) for c in checks)
    for c in checks:
        out_wrapped(c.title, first=f"{c.id.ljust(w)}  ")


# ---------------------------------------------------------------------- text


def _backend_rows(facts) -> list[list[str]]:
    rows = []
    for b in facts.backends:
        t = f"{b.import_s:.1f} s" if b.import_s is not None else ""
        if b.cached and t:
            t += " (cached)"
        built = " ".join(x for x in (f"CUDA {b.built_cuda}" if b.built_cuda else "",
                                     f"cuDNN {b.built_cudnn}" if b.built_cudnn else "") if x)
        status = b.status if b.installed else ("not installed" if b.status == "not_run" else f"{b.status}, not installed")
        rows.append([b.name, b.version or "-", status, t, ", ".join(b.devices) or "-", built or "-"])
    return rows


def _gpu_line(gpu) -> str:
    if not gpu.gpus and not gpu.driver_version:
        return "no NVIDIA driver or GPU found"
    parts = []
    if gpu.driver_version:
        parts.append(f"driver {gpu.driver_version}" + (f" (CUDA {gpu.driver_cuda_version})" if gpu.driver_cuda_version else ""))
    for g in gpu.gpus:
        cc = f", cc {g.compute_capability}" if g.compute_capability else ""
        mem = f", {g.memory_mib} MiB" if g.memory_mib else ""
        parts.append(f"GPU {g.index}: {g.name}{cc}{mem}")
    return "; ".join(parts)


def system_line(facts) -> str:
    """OS, kernel, libc, CPU, cores, instruction sets; torch's CPU capability and TF's oneDNN when probed."""
    s = facts.system
    bits = [" ".join(x for x in (s.os, s.kernel, s.machine) if x) or s.platform]
    if s.libc:
        bits.append(s.libc)
    if s.cpu_model:
        bits.append(s.cpu_model)
    if s.cpus:
        bits.append(f"{s.cpus} CPUs" + (f" ({s.cpus_usable} usable)" if s.cpus_usable and s.cpus_usable != s.cpus
                                        else ""))
    if s.isa:
        bits.append("/".join(s.isa))
    for b in facts.backends:
        cap = b.extra.get("cpu_capability")
        if cap:
            bits.append(f"torch CPU capability {cap}")
        if "onednn" in b.extra:
            bits.append("TensorFlow oneDNN " + ("on" if b.extra["onednn"] else "off"))
    return ", ".join(bits)


def _header_lines(res) -> list[tuple[str, str]]:
    f = res.facts
    k = f.keras
    eff = f.config.effective
    cfg = ", ".join(f"{key}={eff[key].value}" for key in ("backend", "floatx", "image_data_format") if key in eff)
    return [
        ("python", f"{f.interpreter.python} (Python {f.interpreter.version}, {f.interpreter.origin})"),
        ("keras", f"{k.dist or 'keras'} {k.version}" if k.version else "not installed"),
        ("config", f"{f.config.config_path} ({f.config.file_status}): {cfg}"),
        ("gpu", _gpu_line(f.gpu)),
        ("system", system_line(f)),
    ]


def _gpu_ids() -> frozenset[str]:
    from kbackend.doctor.gpu_checks import CHECKS

    return frozenset(c.id for c in CHECKS)


def _no_gpu_reason(gpu) -> str:
    smi = gpu.nvidia_smi
    why = "nvidia-smi not found" if not smi.path else f"nvidia-smi: {smi.status.replace('_', ' ')}"
    return f"no NVIDIA GPU ({why})"


def fold(res, verbose: bool = False) -> tuple[list, str | None]:
    """(the findings to show, the one line that stands for the GPU checks folded away, or None).

    On a machine without an NVIDIA GPU the GPU checks all skip for that one reason: they
    become one line, unless `verbose` (or fewer than two of them were skipped).
    """
    if verbose or res.facts.gpu.gpus:
        return list(res.checks), None
    ids = _gpu_ids()
    folded = [c for c in res.checks if c.id in ids and c.status == "skip"]
    if len(folded) < 2:
        return list(res.checks), None
    line = (f"GPU: {len(folded)} checks skipped — {_no_gpu_reason(res.facts.gpu)}; "
            "--verbose lists them")
    return [c for c in res.checks if c not in folded], line


def _plain(res, verbose: bool = False) -> None:
    from kbackend.render.output import table

    for k, v in _header_lines(res):
        out_wrapped(v, first=style(k.ljust(7), bold=True))
    rows = _backend_rows(res.facts)
    if rows:
        out()
        out(table(rows, ["backend", "version", "import", "time", "devices", "built with"]))
    out()
    shown, folded = fold(res, verbose)
    w = max((len(c.id) for c in shown), default=0)
    for c in shown:
        head = f"{sev(c.status).ljust(7 + (len(sev(c.status)) - len(c.status)))} {c.id.ljust(w)}  "
        out_wrapped(c.title, first=head, rest=" " * (10 + w))
        detail = c.evidence if c.status != "ok" else c.evidence[:1]
        for e in detail:
            for line in wrap(e, first="        ", rest="          "):
                out(style(line, dim=True) if c.status in ("ok", "skip") else line)
        if c.fix and c.status in ("warn", "error", "crashed"):
            for i, line in enumerate(wrap_command(c.fix, first="        fix: ", rest="             ")):
                out(line[:13] + style(line[13:], bold=True) if i == 0 else style(line, bold=True))
        if c.link and c.status in ("warn", "error"):
            out_wrapped(c.link, first="        see: ", rest="             ")
    if folded:
        out_wrapped(folded, first=f"{sev('skip')}    ", rest="        ")
    out()
    out_wrapped(_summary_line(res), rest="  ")
    if res.fixes is not None:
        _fix_lines(res)


def _summary_line(res) -> str:
    s = res.summary
    parts = [f"{s[k]} {k}" for k in ("ok", "warn", "error", "skip", "crashed") if s.get(k)]
    hits = res.probe.cache_hits
    note = f"; cached probes: {', '.join(hits)} (--refresh to probe again)" if hits else ""
    return "doctor: " + ", ".join(parts) + (" (strict: warnings fail)" if res.strict else "") + note


def _rich(res, verbose: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=sys.stdout, no_color=not use_color(sys.stdout), highlight=False, width=width())
    for k, v in _header_lines(res):
        for i, line in enumerate(wrap(v, first=k.ljust(7))):
            console.print(Text.assemble((line[:7], "bold"), line[7:]) if i == 0 else Text(line))
    if res.facts.backends:
        t = Table(show_edge=False, box=None, header_style="bold", pad_edge=False)
        for h in ("backend", "version", "import", "time", "devices", "built with"):
            t.add_column(h)
        for row in _backend_rows(res.facts):
            st = row[2]
            row[2] = Text(st, style="green" if st == "ok" else ("dim" if st in ("not_run", "not installed") else "red"))
            t.add_row(*row)
        console.print()
        console.print(t)
    t = Table(show_edge=False, box=None, header_style="bold", pad_edge=False, expand=False)
    t.add_column("status", no_wrap=True)
    t.add_column("check", no_wrap=True)
    t.add_column("finding")
    shown, folded = fold(res, verbose)
    for c in shown:
        body = Text()
        body.append(c.title, style="bold" if c.status in ("warn", "error", "crashed") else "")
        detail = c.evidence if c.status != "ok" else c.evidence[:1]
        for e in detail:
            body.append("\n" + e, style="dim" if c.status in ("ok", "skip") else "")
        if c.fix and c.status in ("warn", "error", "crashed"):
            body.append("\nfix: ", style="bold")
            body.append(c.fix, style="bold cyan")
        if c.link and c.status in ("warn", "error"):
            body.append(f"\nsee: {c.link}", style="dim")
        t.add_row(Text(ICON[c.status], style=RICH_STYLE[c.status]), c.id, body)
    if folded:
        gpu, rest = folded.split(": ", 1)
        t.add_row(Text(ICON["skip"], style=RICH_STYLE["skip"]), gpu, Text(rest, style="dim"))
    console.print()
    console.print(t)
    console.print()
    console.print(_summary_line(res), highlight=False)
    if res.fixes is not None:
        _fix_lines(res)


# ---------------------------------------------------------------------- report


def redact(text: str, homes: Sequence[str] | None = None, users: Sequence[str] | None = None) -> str:
    """Remove GPU UUIDs, home directories, the user name and secrets from text meant for a
    public bug report (kbackend.render.redact).

    >>> redact("GPU 0 (UUID: GPU-3a1f2c4d-1111-2222-3333-444455556666) in /home/ann/venv", homes=["/home/ann"], users=[])
    'GPU 0 (UUID: <uuid>) in ~/venv'
    """
    from kbackend.render.redact import Redactor

    return Redactor(homes=homes, users=users).text(text)


def report_text(res) -> str:
    """A paste-ready block (Markdown) for an issue tracker: versions, facts and findings."""
    f = res.facts
    lines = [f"kbackend {__version__} doctor report", f"platform {platform.platform()}"]
    lines += [f"{k.ljust(7)}{v}" for k, v in _header_lines(res)]
    for g in f.gpu.gpus:
        lines.append(f"gpu {g.index}  {g.name} cc={g.compute_capability} mem={g.memory_mib} MiB")
    lines += [f"gpu probe: {e}" for e in f.gpu.errors]
    for lib in list(f.gpu.cuda_runtimes) + list(f.gpu.cudnns):
        said = f"{lib.version} from {lib.version_from or '?'}" if lib.version else "?"
        lines.append(f"{lib.kind.ljust(7)}{said} {lib.path} ({lib.source}{', loader pick' if lib.loader_pick else ''})")
    if f.backends:
        lines.append("backends:")
        for b in f.backends:
            t = f" {b.import_s:.1f}s" if b.import_s is not None else ""
            built = f" built CUDA {b.built_cuda} cuDNN {b.built_cudnn}" if (b.built_cuda or b.built_cudnn) else ""
            lines.append(f"  {b.name} {b.version or '-'}: {b.status}{t} devices={','.join(b.devices) or '-'}{built}"
                         + (f" error={b.error}" if b.error else ""))
    modules: dict[tuple, str] = {}
    for b in f.backends:
        for m, o in sorted(b.origins.items()):
            if isinstance(o, dict):
                dist = f"{o.get('dist')} {o.get('dist_version') or ''}".strip() if o.get("dist") else "no distribution"
                where = o.get("thing") or o.get("file") or "?"
                modules.setdefault((m, where), f"  {m}: {where} ({o.get('verdict')}; {dist})")
    if modules:
        lines.append("imported from:")
        lines += list(modules.values())
    if f.environ:
        lines.append("environment: " + " ".join(f"{k}={v}" for k, v in f.environ.items()))
    lines.append("checks:")
    for c in res.checks:
        lines.append(f"  [{c.status}] {c.id}: {c.title}")
        if c.status not in ("ok", "skip"):
            lines += [f"      {e}" for e in c.evidence]
            if c.fix:
                lines.append(f"      fix: {c.fix}")
    lines.append(_summary_line(res))
    body = redact("\n".join(lines))
    return "<details><summary>kbackend doctor report</summary>\n\n```text\n" + body + "\n```\n\n</details>"


# ---------------------------------------------------------------------- entry


def problem_lines(res) -> list[str]:
    """--quiet: one line per problem, for a health check's log ("error gpu-driver: <title>: <evidence>").

    A problem is an error or a crashed check, and a warning under --strict; the line holds the
    check's first line of evidence and its fix, whole (grep-able, not wrapped).
    """
    bad = ("error", "crashed") + (("warn",) if res.strict else ())
    lines = []
    for c in res.checks:
        if c.status in bad:
            ev = next((e for e in c.evidence if e.strip()), "")
            line = f"kbackend doctor: {c.status} {c.id}: {c.title}" + (f": {ev}" if ev else "")
            if c.fix:
                line += f" (fix: {c.fix})"
            lines.append(" ".join(line.split()))
    return lines


def quiet(res) -> Result:
    """doctor --quiet: nothing when the node is clear, one line per problem otherwise (same JSON)."""
    lines = problem_lines(res)
    return Result("doctor", exit_code(res), _json_data(res), lambda: [out(line) for line in lines])


def render(res, *, report: bool = False, verbose: bool = False) -> Result:
    text = report_text(res) if report else None
    if res.probe.cache_problem:
        problem = redact(res.probe.cache_problem) if report else res.probe.cache_problem
        err(f"{sev('warn', stream=sys.stderr)}: probe cache: {problem}")
    data = _json_data(res, text)
    if report:  # the whole document is the report: one redaction for all of it
        from kbackend.render.redact import Redactor

        data = Redactor().doc(data)

    def show() -> None:
        if report:
            out(text)
        elif isatty(sys.stdout):
            _rich(res, verbose)
        else:
            _plain(res, verbose)

    return Result("doctor", exit_code(res), data, show)
