"""Rendering of `kbackend bench`: a ranked table per case on a terminal, the JSON
document, a markdown summary for CI job pages, and one self-contained HTML file
(inline CSS and SVG charts, no script, no network asset).

Progress (a rich bar on stderr, with the case being timed) appears only when
stderr is a terminal.
"""

from __future__ import annotations

import html as _html
import math
import os
import stat
from collections import defaultdict
from typing import Callable

from kbackend import _fs
from kbackend.backends import REGISTRY
from kbackend.bench.model import BenchReport, Comparison, Result
from kbackend.render.output import err, out, out_wrapped, style, visible_len, width, wrap
from kbackend.result import Result as CommandResult
from kbackend.result import exit_code

BAR_WIDTH = 24
#: colour per backend (charts, roofline).
COLOURS = {b.name: b.colour for b in REGISTRY.values() if b.colour}
_EXTRA = ("#2a9d8f", "#8d6e63", "#c2185b", "#689f38")


def colour(backend: str, i: int = 0) -> str:
    return COLOURS.get(backend, _EXTRA[i % len(_EXTRA)])


# ---------------------------------------------------------------------- formatting


def fmt_time(s: float | None) -> str:
    """Seconds with a unit chosen for 3-4 significant digits.

    >>> fmt_time(0.000123456), fmt_time(2.5), fmt_time(3e-8)
    ('123.5 µs', '2.500 s', '30.0 ns')
    """
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            v = s / scale
            return f"{v:.3f} {unit}" if v < 10 else f"{v:.1f} {unit}"
    return f"{s / 1e-9:.1f} ns"


def fmt_num(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}" if abs(x) < 100 else f"{x:,.0f}"


def fmt_pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%" if x >= 0.1 else f"{100 * x:.1f}%"


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A bar of `fraction` (0..1) of `width` cells, with eighth-cell precision.

    >>> bar(0.5, 4), bar(1.0, 2)
    ('██', '██')
    """
    eighths = max(0, min(width * 8, round(fraction * width * 8)))
    full, part = divmod(eighths, 8)
    return "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")


def groups(report: BenchReport) -> list[tuple[tuple[str, str, str], list[Result]]]:
    """Results grouped per (case, size, dtype) in the plan's order, each ranked fastest first."""
    g: dict[tuple[str, str, str], list[Result]] = defaultdict(list)
    for r in report.results:
        g[(r.case, r.size, r.dtype)].append(r)
    out_ = []
    for k, rs in g.items():
        ok = sorted((r for r in rs if r.status == "ok"), key=lambda r: r.median_s)
        out_.append((k, ok + [r for r in rs if r.status != "ok"]))
    return out_


def wins(report: BenchReport) -> dict[str, int]:
    """How many cases each backend is fastest on."""
    w: dict[str, int] = defaultdict(int)
    for _, rs in groups(report):
        if rs and rs[0].status == "ok":
            w[rs[0].backend] += 1
    return dict(sorted(w.items(), key=lambda kv: -kv[1]))


def machine_line(report: BenchReport) -> str:
    m = report.machine
    peaks = ", ".join(f"{fmt_num(v, 0)} {k}" for k, v in sorted(m.peak_gflops.items()))
    cache = max((p.gbs for p in m.bandwidth), default=None)
    origin = " (cached)" if m.peak_origin == "cached" else ""
    return (f"{m.cpu} · {m.cores} cores · {m.threads} thread{'s' if m.threads != 1 else ''} · peak {peaks or '-'} "
            f"GFLOP/s{origin} · {fmt_num(m.peak_gbs)} GB/s memory"
            + (f" ({fmt_num(cache, 0)} GB/s in cache)" if cache else "") + load_text(report))


def load_text(report: BenchReport) -> str:
    """The load average during the run, when known."""
    if not report.load or min(report.load) < 0:
        return ""
    return " · load " + "→".join(f"{x:.2f}" for x in report.load)


def _row_note(r: Result) -> str:
    notes = []
    if r.compute_dtype and r.compute_dtype != r.dtype:
        notes.append(f"computed in {r.compute_dtype}")
    if r.first_call_s is not None and r.median_s and r.first_call_s > 10 * r.median_s:
        notes.append(f"first call {fmt_time(r.first_call_s)}")
    return "; ".join(notes)


def fmt_ratio(c: Comparison) -> str:
    """The ratio as printed: of the printed times (both are the median of the per-process bests)."""
    return f"×{c.ratio:.2f}"


def _p(c: Comparison) -> float:
    return c.p_slower if c.ratio >= 1 else c.p_faster


def _verdict_line(c: Comparison) -> str:
    procs = f"{c.processes} vs {c.baseline_processes} {c.repetitions}" if c.repetitions == "processes" \
        else f"over {c.repetitions}"
    extra = f"; {c.confirmation}" if c.confirmation else ""
    note = f"; {c.note}" if c.note and c.verdict == "inconclusive" else ""
    return (f"{c.backend} {c.case} {c.size} {c.dtype}: {fmt_time(c.baseline_median_s)} → {fmt_time(c.median_s)} "
            f"({fmt_ratio(c)}, p={_p(c):.3f}, {procs}{extra}{note})")


# ---------------------------------------------------------------------- terminal


def _rows(rs: list[Result], bar_width: int) -> list[list]:
    ok = [r for r in rs if r.status == "ok"]
    fastest = ok[0].median_s if ok else None
    rows = []
    for i, r in enumerate(rs):
        if r.status != "ok":
            rows.append(["-", r.backend, (r.status, {"fg": "yellow"}), "", "", "", "", ""])
            continue
        rel = fastest / r.median_s
        rows.append([
            str(i + 1), r.backend, fmt_time(r.median_s), "±" + fmt_time(r.iqr_s) if r.iqr_s is not None else "",
            f"{fmt_num(r.gflops)} GFLOP/s" if r.gflops else "-", fmt_pct(r.peak_fraction),
            style(bar(rel, bar_width), fg="green" if i == 0 else None) + f" {r.median_s / fastest:.2f}×",
            (_row_note(r), {"dim": True}),
        ])
    return rows


def _layout(groups_: list, total: int) -> tuple[int, bool]:
    """(bar width, notes in a column): the widest bar (up to BAR_WIDTH) that leaves the other columns
    and a note column of NOTE_MIN cells room in `total`; with no room for the notes, they go under the
    table at the narrowest bar."""
    need = 0
    for bw in range(BAR_WIDTH, 3, -1):
        widest = 0
        for _, rs in groups_:
            rows = _rows(rs, bw)
            cols = [max(visible_len(c[0] if isinstance(c, tuple) else c) for c in col) for col in zip(*rows)]
            notes = cols.pop()
            widest = max(widest, 2 + sum(cols) + 2 * len(cols) + min(notes, NOTE_MIN))
        need = widest
        if widest <= total:
            return bw, True
    return (4, False) if need > total else (4, True)


NOTE_MIN = 20


def terminal(report: BenchReport) -> None:
    total = width()
    out_wrapped(machine_line(report), first=style("Machine: ", bold=True), rest="  ")
    for b in report.backends:
        if b.status == "ok":
            out_wrapped(f"{b.version or '?'} on {b.device or '?'}, keras {b.keras or '?'}, {b.mode}, "
                        f"sync: {b.sync}, {b.processes} processes", first=f"  {b.backend:<10} ", rest=" " * 13)
        else:
            out_wrapped(b.error or "", first=f"  {b.backend:<10} " + style(b.status, fg="red", bold=True) + ": ",
                        rest=" " * 13, max_lines=4, more="(--json has the full text)")
    out()
    grouped = groups(report)
    bw, notes_inline = _layout(grouped, total)
    for (case, size, dtype), rs in grouped:
        ok = [r for r in rs if r.status == "ok"]
        bound = f", {ok[0].bound}-bound" if ok and ok[0].bound else ""
        for i, line in enumerate(wrap(f"{case}  {size} {dtype}{bound}")):
            out(style(line[:len(case)], bold=True) + style(line[len(case):], dim=True) if i == 0
                else style(line, dim=True))
        rows = _rows(rs, bw)
        out(_table(rows if notes_inline else [r[:-1] for r in rows]))
        for r in rs:
            note = _row_note(r) if r.status == "ok" and not notes_inline else ""
            if note:
                for line in wrap(note, first=f"    {r.backend}: ", rest="      "):
                    out(style(line, dim=True))
            if r.status != "ok" and r.error:
                out_wrapped(r.error, first=f"    {r.backend}: ", rest="      ", max_lines=3,
                            more="(--json has the full text)")
    _gate_terminal(report)
    w = wins(report)
    if w:
        out()
        out_wrapped(", ".join(f"{b} {n}" for b, n in w.items())
                    + f"  ({len(groups(report))} cases, {report.elapsed_s:.0f} s)",
                    first=style("Fastest: ", bold=True), rest="  ")


def _table(rows: list[list]) -> str:
    from kbackend.render.output import table

    return table(rows, None, indent=2, nowrap=(0, 2, 3, 5, 6))


def _gate_terminal(report: BenchReport) -> None:
    g = report.gate
    if g is None:
        return
    out()
    what = {"ab": f"B against A ({g.baseline})", "compare": f"Against {g.baseline}"}.get(
        g.kind, f"Against {g.baseline or 'the baseline'}")
    title = f"{what} (threshold {100 * g.threshold:g} %, p ≤ {g.alpha:g}):"
    for line in wrap(title, rest="  "):
        out(style(line, bold=True))
    for r in g.refused:
        out_wrapped(f"{r.backend}: " + "; ".join(r.reasons) + "  (--force-compare to compare anyway)",
                    first="  " + style("not compared", fg="yellow", bold=True) + " ", rest="    ")
    if g.forced and g.differences:
        out_wrapped("despite: " + "; ".join(g.differences), first="  " + style("forced", fg="yellow") + " ",
                    rest="    ")
    else:
        for d in (d for d in g.differences if d.startswith("model file:")):
            out_wrapped(d, first="  " + style("note", fg="yellow") + " ", rest="    ")
    for c in g.regressions:
        out_wrapped(_verdict_line(c), first="  " + style("regression", fg="red", bold=True) + "  ", rest="    ")
    for c in g.improvements:
        out_wrapped(_verdict_line(c), first="  " + style("improvement", fg="green") + " ", rest="    ")
    for c in g.inconclusive:
        out_wrapped(_verdict_line(c), first="  " + style("inconclusive", fg="yellow") + " ", rest="    ")
    out_wrapped(summary_text(g), first="  ", rest="    ")
    if g.noise:
        out_wrapped(noise_text(g), first="  " + style("machine", dim=True) + " ", rest="    ")


def summary_text(g) -> str:
    noise = [c for c in g.comparisons if c.verdict == "noise"]
    same = [c for c in g.comparisons if c.verdict == "unchanged"]
    return (f"{len(g.regressions)} regressions, {len(g.improvements)} improvements, {len(same)} unchanged"
            + (f", {len(g.inconclusive)} inconclusive (machine noisy"
               + ("; failing under --strict)" if g.strict else "; fail only under --strict)") if g.inconclusive else "")
            + (f", {len(noise)} beyond the threshold but not significant or not confirmed" if noise else "")
            + (f"; {g.confirmed_cases} re-measured with {g.confirm_processes} processes" if g.confirmed_cases else "")
            + ("; decided on the saved processes, none re-measured" if g.kind == "compare" else "")
            + (f"; {len(g.missing)} only in the baseline" if g.missing else "")
            + (f"; {len(g.new)} new" if g.new else ""))


def noise_text(g) -> str:
    """The machine-noise signal per backend: the calibration kernel's ratio and spread, the load."""
    parts = []
    for n in g.noise:
        bits = []
        if n.calibration_ratio is not None:
            bits.append(f"calibration ×{n.calibration_ratio:.2f}")
        if n.blas_ratio is not None:
            bits.append(f"BLAS ×{n.blas_ratio:.2f}")
        sp = max(n.spread or 0.0, n.baseline_spread or 0.0)
        if n.spread is not None or n.baseline_spread is not None:
            bits.append(f"spread {100 * sp:.0f} %")
        if bits:
            parts.append(f"{n.backend} " + ", ".join(bits))
    load = next((n for n in g.noise if n.load), None)
    if load is not None:
        parts.append("load " + "→".join(f"{x:.2f}" for x in load.load)
                     + (" (baseline " + "→".join(f"{x:.2f}" for x in load.baseline_load) + ")"
                        if load.baseline_load else ""))
    return "; ".join(parts) or "no calibration in these runs"


# ---------------------------------------------------------------------- the command's result


def render(report: BenchReport, *, saved: str | None = None, markdown_file: str | None = None,
           html_file: str | None = None, step_summary: str | None = None) -> CommandResult:
    """bench's answer; the markdown and HTML reports are written (and said so on stderr) first."""
    if saved:
        err(f"saved the baseline {saved}")
    if markdown_file or step_summary:
        md = markdown(report)
        if markdown_file:
            write_file(markdown_file, md)
            err(f"wrote {markdown_file}")
        if step_summary:
            write_file(step_summary, md, append=True)
    if html_file:
        write_file(html_file, html(report))
        err(f"wrote {html_file}")
    return CommandResult("bench", exit_code(report), json_data(report), lambda: terminal(report))


# ---------------------------------------------------------------------- JSON


def _cmp(c: Comparison) -> dict:
    return c.model_dump(mode="json")


def json_data(report: BenchReport) -> dict:
    """The `bench --json` data (the envelope adds schema_version, command, exit_code)."""
    data = report.model_dump(mode="json", exclude={"gate"})
    # How many results of each status: `counts`, as in doctor, verify and envs.
    from typing import get_args

    from kbackend.bench.model import ResultStatus

    data["counts"] = {s: sum(1 for r in report.results if r.status == s) for s in get_args(ResultStatus)}
    g = report.gate
    if g is not None:
        data["regressions"] = [_cmp(c) for c in g.regressions]
        data["improvements"] = [_cmp(c) for c in g.improvements]
        data["comparisons"] = [_cmp(c) for c in g.comparisons]
        data["refused"] = [r.model_dump(mode="json") for r in g.refused]
        data["inconclusive"] = [_cmp(c) for c in g.inconclusive]
        data["gate"] = {"baseline": g.baseline, "threshold": g.threshold, "alpha": g.alpha, "forced": g.forced,
                        "missing": list(g.missing), "new": list(g.new), "differences": list(g.differences),
                        "kind": g.kind, "strict": g.strict, "failed": g.failed,
                        "confirmed_cases": g.confirmed_cases, "confirm_processes": g.confirm_processes,
                        "noise": [n.model_dump(mode="json") for n in g.noise]}
    return data


# ---------------------------------------------------------------------- markdown


def _md(s: str) -> str:
    return s.replace("|", "\\|")


def markdown(report: BenchReport) -> str:
    """A summary that fits a CI job page: verdicts first, then one ranked table."""
    lines = ["## kbackend bench", "", f"**Machine:** {_md(machine_line(report))}", ""]
    for b in report.backends:
        state = "ok" if b.status == "ok" else f"**{b.status}**: {_md(b.error or '')}"
        lines.append(f"- `{b.backend}` {b.version or ''} ({b.device or '?'}, {b.mode}): {state}")
    g = report.gate
    if g is not None:
        what = {"ab": "B against A", "compare": "Against the old run"}.get(g.kind, "Against the baseline")
        lines += ["", f"### {what} (threshold {100 * g.threshold:g} %)", ""]
        if g.regressions:
            lines.append(f":x: **{len(g.regressions)} regression(s)**")
        elif g.failed:
            lines.append(f":x: **{len(g.inconclusive)} inconclusive (--strict)**")
        else:
            lines.append(":white_check_mark: no regression")
        lines += ["", _md(summary_text(g))]
        if g.noise:
            lines += ["", "Machine: " + _md(noise_text(g))]
        for r in g.refused:
            lines.append(f"- :warning: `{r.backend}` not compared: {_md('; '.join(r.reasons))} (use `--force-compare`)")
        rows = list(g.regressions) + list(g.improvements) + list(g.inconclusive)
        if rows:
            lines += ["", "| verdict | backend | case | size | dtype | baseline | now | ratio | p |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for c in rows:
                lines.append(f"| {c.verdict} | {c.backend} | {c.case} | {c.size} | {c.dtype} | "
                             f"{fmt_time(c.baseline_median_s)} | {fmt_time(c.median_s)} | {fmt_ratio(c)} | "
                             f"{_p(c):.3f} |")
    lines += ["", "### Results", "", "| case | size | dtype | rank | backend | median | IQR | GFLOP/s | % peak | vs fastest |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for (case, size, dtype), rs in groups(report):
        fastest = next((r.median_s for r in rs if r.status == "ok"), None)
        for i, r in enumerate(rs):
            if r.status != "ok":
                lines.append(f"| {case} | {size} | {dtype} | - | {r.backend} | {r.status} | | | | {_md((r.error or '')[:60])} |")
                continue
            lines.append(f"| {case} | {size} | {dtype} | {i + 1} | {r.backend} | {fmt_time(r.median_s)} | "
                         f"{fmt_time(r.iqr_s) if r.iqr_s is not None else '-'} | {fmt_num(r.gflops)} | {fmt_pct(r.peak_fraction)} | "
                         f"{r.median_s / fastest:.2f}× |")
    w = wins(report)
    if w:
        lines += ["", "**Fastest:** " + ", ".join(f"{b} ({n})" for b, n in w.items())]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:18px 0 4px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child,td.l,th.l{text-align:left}.bad{color:#c62828;font-weight:bold}.good{color:#2e7d32}
.warn{color:#b26a00}.dim{color:#777}.cases{display:flex;flex-wrap:wrap;gap:14px}.case{flex:1 1 480px}
svg text{font:11px system-ui,sans-serif;fill:#333}.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
"""


def _e(s: object) -> str:
    return _html.escape(str(s), quote=True)


def _case_chart(rs: list[Result], backends: list[str]) -> str:
    """Horizontal bars: median per backend, IQR whisker, fastest first."""
    ok = [r for r in rs if r.status == "ok"]
    if not ok:
        return "<p class=dim>no timing</p>"
    w, label_w, row_h = 460, 90, 22
    hi = max(r.q3_s or r.median_s for r in ok) * 1.05
    h = row_h * len(ok) + 18
    parts = [f'<svg role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">']
    scale = (w - label_w - 70) / hi
    for i, r in enumerate(ok):
        y = 4 + i * row_h
        c = colour(r.backend, backends.index(r.backend) if r.backend in backends else i)
        bw = max(1.0, r.median_s * scale)
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{_e(r.backend)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{bw:.1f}" height="{row_h - 8}" fill="{c}">'
                     f'<title>{_e(r.backend)}: median {_e(fmt_time(r.median_s))}, IQR {_e(fmt_time(r.iqr_s))}, '
                     f'{len(r.samples)} samples</title></rect>')
        end = label_w + bw
        if r.q1_s is not None and r.q3_s is not None:
            x1, x3, ym = label_w + r.q1_s * scale, label_w + r.q3_s * scale, y + row_h / 2 - 2
            parts.append(f'<line x1="{x1:.1f}" x2="{x3:.1f}" y1="{ym}" y2="{ym}" stroke="#222" stroke-width="1.2"/>')
            end = max(end, x3)
        parts.append(f'<text x="{end + 6:.1f}" y="{y + 13}">{_e(fmt_time(r.median_s))}</text>')
    parts.append(f'<line x1="{label_w}" x2="{label_w}" y1="0" y2="{h - 14}" stroke="#999"/>')
    parts.append("</svg>")
    return "".join(parts)


def _log_ticks(lo: float, hi: float) -> list[float]:
    return [10.0 ** k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]


def roofline_svg(report: BenchReport) -> str:
    """Log-log roofline: GFLOP/s against FLOP/byte, the machine's roofs and every result."""
    m = report.machine
    pts = [r for r in report.results if r.status == "ok" and r.intensity and r.gflops]
    peaks = {k: v for k, v in m.peak_gflops.items() if v}
    if not pts or not peaks:
        return "<p class=dim>No roofline: no peak or no case with FLOP and byte counts.</p>"
    w, h, ml, mb, mt, mr = 760, 420, 60, 40, 14, 120
    xs = [r.intensity for r in pts]
    ys = [r.gflops for r in pts] + list(peaks.values())
    x_lo, x_hi = min(xs) / 3, max(xs) * 3
    y_lo, y_hi = min(ys) / 3, max(ys) * 2

    def X(v):
        return ml + (math.log10(v) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo)) * (w - ml - mr)

    def Y(v):
        return h - mb - (math.log10(v) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo)) * (h - mb - mt)

    parts = [f'<svg role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg">',
             f'<rect x="{ml}" y="{mt}" width="{w - ml - mr}" height="{h - mb - mt}" fill="#fafafa" stroke="#ccc"/>']
    for t in _log_ticks(x_lo, x_hi):
        if x_lo <= t <= x_hi:
            parts.append(f'<line x1="{X(t):.1f}" x2="{X(t):.1f}" y1="{mt}" y2="{h - mb}" stroke="#e4e4e4"/>'
                         f'<text x="{X(t):.1f}" y="{h - mb + 14}" text-anchor="middle">{t:g}</text>')
    for t in _log_ticks(y_lo, y_hi):
        if y_lo <= t <= y_hi:
            parts.append(f'<line x1="{ml}" x2="{w - mr}" y1="{Y(t):.1f}" y2="{Y(t):.1f}" stroke="#e4e4e4"/>'
                         f'<text x="{ml - 6}" y="{Y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    parts.append(f'<text x="{(ml + w - mr) / 2}" y="{h - 6}" text-anchor="middle">arithmetic intensity (FLOP/byte)</text>'
                 f'<text x="14" y="{(mt + h - mb) / 2}" transform="rotate(-90 14 {(mt + h - mb) / 2})" '
                 f'text-anchor="middle">GFLOP/s</text>')
    bws = [("memory", m.peak_gbs, "#555", "")]
    cache = max((p.gbs for p in m.bandwidth), default=0.0)
    if cache > m.peak_gbs:
        bws.append(("cache", cache, "#999", ' stroke-dasharray="5 4"'))
    for name, bw, col, dash in bws:
        if not bw:
            continue
        for dt, peak in sorted(peaks.items()):
            ridge = peak / bw
            a, b = x_lo, min(max(ridge, x_lo), x_hi)
            parts.append(f'<polyline fill="none" stroke="{col}" stroke-width="1.5"{dash} points="'
                         f'{X(a):.1f},{Y(max(a * bw, y_lo)):.1f} {X(b):.1f},{Y(min(b * bw, peak)):.1f} '
                         f'{X(x_hi):.1f},{Y(peak):.1f}"><title>{_e(dt)} peak {_e(fmt_num(peak))} GFLOP/s, {name} '
                         f'{_e(fmt_num(bw))} GB/s</title></polyline>')
        parts.append(f'<text x="{X(x_lo) + 4:.1f}" y="{Y(max(x_lo * bw, y_lo)) - 6:.1f}" fill="{col}">{name} '
                     f'{_e(fmt_num(bw))} GB/s</text>')
    for dt, peak in sorted(peaks.items()):
        parts.append(f'<text x="{w - mr + 4}" y="{Y(peak) + 4:.1f}">{_e(dt)} {_e(fmt_num(peak, 0))}</text>')
    backends = [b.backend for b in report.backends]
    for r in pts:
        c = colour(r.backend, backends.index(r.backend) if r.backend in backends else 0)
        parts.append(f'<circle cx="{X(r.intensity):.1f}" cy="{Y(r.gflops):.1f}" r="4" fill="{c}" fill-opacity="0.8">'
                     f'<title>{_e(r.backend)} {_e(r.case)} {_e(r.size)} {_e(r.dtype)}: {_e(fmt_num(r.gflops))} GFLOP/s, '
                     f'{_e(fmt_pct(r.peak_fraction))} of the roofline</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def html(report: BenchReport) -> str:
    """One self-contained HTML page: machine, verdicts, a chart per case, the roofline, the table."""
    backends = [b.backend for b in report.backends]
    legend = "".join(f'<span><i class="sw" style="background:{colour(b, i)}"></i>{_e(b)}</span>'
                     for i, b in enumerate(backends))
    p = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
         '<meta name="viewport" content="width=device-width, initial-scale=1">',
         f"<title>kbackend bench</title><style>{_CSS}</style></head><body>",
         "<h1>kbackend bench</h1>", f"<p><b>Machine:</b> {_e(machine_line(report))}</p>",
         "<table><tr><th class=l>backend</th><th class=l>version</th><th class=l>device</th><th class=l>mode</th>"
         "<th class=l>sync</th><th class=l>status</th></tr>"]
    for b in report.backends:
        st = "ok" if b.status == "ok" else f'<span class=bad>{_e(b.status)}</span> {_e(b.error or "")}'
        p.append(f"<tr><td>{_e(b.backend)}</td><td class=l>{_e(b.version or '')}</td><td class=l>{_e(b.device or '')}</td>"
                 f"<td class=l>{_e(b.mode)}</td><td class=l>{_e(b.sync or '')}</td><td class=l>{st}</td></tr>")
    p.append("</table>")
    g = report.gate
    if g is not None:
        what = {"ab": "B against A", "compare": "Against the old run"}.get(g.kind, "Against the baseline")
        p.append(f"<h2>{what} <span class=dim>{_e(g.baseline)}</span></h2>")
        p.append(f'<p class={"bad" if g.failed else "good"}>{len(g.regressions)} regression(s), '
                 f"{len(g.improvements)} improvement(s) at a {100 * g.threshold:g} % threshold.</p>")
        p.append(f"<p>{_e(summary_text(g))}</p>")
        if g.noise:
            p.append(f"<p class=dim>Machine: {_e(noise_text(g))}</p>")
        for r in g.refused:
            p.append(f"<p class=warn>{_e(r.backend)} not compared: {_e('; '.join(r.reasons))}</p>")
        rows = list(g.regressions) + list(g.improvements) + list(g.inconclusive)
        if rows:
            p.append("<table><tr><th class=l>verdict</th><th class=l>backend</th><th class=l>case</th><th>baseline</th>"
                     "<th>now</th><th>ratio</th></tr>")
            for c in rows:
                cls = {"regression": "bad", "improvement": "good"}.get(c.verdict, "warn")
                p.append(f"<tr><td class={cls}>{c.verdict}</td><td class=l>{_e(c.backend)}</td>"
                         f"<td class=l>{_e(c.case)} {_e(c.size)} {_e(c.dtype)}</td><td>{_e(fmt_time(c.baseline_median_s))}</td>"
                         f"<td>{_e(fmt_time(c.median_s))}</td><td>{_e(fmt_ratio(c))}</td></tr>")
            p.append("</table>")
    p.append(f'<h2>Roofline</h2><p class=legend>{legend}</p>{roofline_svg(report)}')
    p.append('<h2>Cases</h2><p class=dim>Median time per call; the line is the interquartile range. '
             'Shorter is faster.</p><div class=cases>')
    for (case, size, dtype), rs in groups(report):
        bad = "".join(f"<div class=dim>{_e(r.backend)}: {_e(r.status)} {_e((r.error or '')[:100])}</div>"
                      for r in rs if r.status != "ok")
        p.append(f"<div class=case><h3>{_e(case)} <span class=dim>{_e(size)} {_e(dtype)}</span></h3>"
                 f"{_case_chart(rs, backends)}{bad}</div>")
    p.append("</div><h2>All results</h2><table><tr><th class=l>case</th><th class=l>size</th><th class=l>dtype</th>"
             "<th class=l>backend</th><th>median</th><th>IQR</th><th>first call</th><th>GFLOP/s</th><th>GB/s</th>"
             "<th>% roofline</th></tr>")
    for r in report.results:
        if r.status != "ok":
            p.append(f"<tr><td>{_e(r.case)}</td><td class=l>{_e(r.size)}</td><td class=l>{_e(r.dtype)}</td>"
                     f"<td class=l>{_e(r.backend)}</td><td colspan=6 class=l>{_e(r.status)}</td></tr>")
            continue
        p.append(f"<tr><td>{_e(r.case)}</td><td class=l>{_e(r.size)}</td><td class=l>{_e(r.dtype)}</td>"
                 f"<td class=l>{_e(r.backend)}</td><td>{_e(fmt_time(r.median_s))}</td><td>{_e(fmt_time(r.iqr_s))}</td>"
                 f"<td>{_e(fmt_time(r.first_call_s))}</td><td>{_e(fmt_num(r.gflops))}</td><td>{_e(fmt_num(r.gbs))}</td>"
                 f"<td>{_e(fmt_pct(r.peak_fraction))}</td></tr>")
    p.append("</table></body></html>\n")
    return "\n".join(p)


# ---------------------------------------------------------------------- files and progress


def write_file(path: str, text: str, *, append: bool = False) -> None:
    from kbackend.errors import KbackendError

    try:
        regular = not os.path.exists(path) or stat.S_ISREG(os.stat(path).st_mode)
        if append or not regular:  # a step summary grows; /dev/stdout or a FIFO cannot be renamed over
            with open(path, "a" if append else "w", encoding="utf-8") as f:
                f.write(text)
        else:
            _fs.atomic_write(path, text, fsync=False)
    except OSError as e:
        raise KbackendError(f"Cannot write {path}: {e.strerror or e}.", fix="pass a path in a writable directory") from None


def _peak_text(ev) -> str:
    """A model run measures NumPy's peak for its report without caching it (no backend probes in it)."""
    if ev.label == "uncached":
        return "measuring this machine's peak (for this report; an op run caches it)"
    return "measuring this machine's peak (once per machine; cached)"


def steps(step, lines: bool = False, total: int = 0) -> Callable:
    """A callback for `bench.run.run`'s progress events, reporting each to `step`.

    On a terminal (a bar) every timed step moves it; in a log (`lines`) one line per backend and
    process, the group of cases it timed, with its time and the time since the run began.
    `total` is the progress's planned total (a confirmation adds to it).
    """
    state = {"total": total}

    def on_progress(ev) -> None:
        side = f"{ev.label} · " if ev.label else ""
        if ev.stage == "phase":  # a confirmation: more processes than planned (`total` of them, `done` steps)
            state["total"] += ev.total if lines else ev.done
            text = (f"re-measuring {ev.items} suspected case(s) with {ev.processes} processes before deciding")
            if lines:
                print_now(step, text)
            step(text, advance=0, total=state["total"])
            return
        if lines:
            if ev.stage == "peak":
                print_now(step, _peak_text(ev))
            elif ev.stage == "done":
                step(f"{side}{ev.backend} · process {ev.process + 1}/{ev.processes} · {ev.items} cases in "
                     f"{ev.seconds:.1f} s · {ev.elapsed:.0f} s elapsed")
            return
        if ev.stage == "peak":
            step(_peak_text(ev), advance=0)
            return
        if ev.stage == "done":
            return
        if ev.stage in ("start", "probe"):
            doing = "importing" if ev.stage == "start" else "its own matmul peak"
            step(f"{side}{ev.backend} · process {ev.process + 1} · {doing}", advance=0)
            return
        if ev.case.startswith("__calibration"):
            step(f"{side}{ev.backend} · process {ev.process + 1} · {ev.stage} · calibration")
            return
        step(f"{side}{ev.backend} · process {ev.process + 1} · {ev.stage} · {ev.case} {ev.size} {ev.dtype}")

    return on_progress


def print_now(step, text: str) -> None:
    """A line in the log that counts no step (the line-mode step prints only when it advances)."""
    err(f"bench: {text}")
