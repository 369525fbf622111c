"""Rendering of `kbackend fleet merge` (and `fleet run`'s merge): terminal, JSON, markdown, HTML.

The terminal view fits the width: a summary, the nodes that are not all clear, one line per fact
that differs, bench outliers, verify rows failing on some nodes only, checks not ok everywhere,
files that were skipped. Markdown and HTML add the whole nodes × checks matrix.
"""

from __future__ import annotations

import html as _html

from kbackend.fleet.merge import FleetReport, hostlist
from kbackend.render.output import err, out, out_wrapped, sev, style, table, wrap
from kbackend.result import Result

#: the terminal lists every node up to this many, else only those with a problem.
ALL_NODES_UP_TO = 24
#: rows of any one list on the terminal before "… N more (--json has them all)".
MAX_ROWS = 20


# ---------------------------------------------------------------------- JSON


def json_data(rep: FleetReport, extra: dict | None = None) -> dict:
    data = {
        "counts": rep.counts,
        "uniform": rep.uniform,
        "files": rep.files,
        "documents": rep.documents,
        "columns": rep.columns,
        "nodes": [{"name": n.name, "host": n.host, "status": n.status, "fingerprint": n.fingerprint,
                   "kbackend": n.kbackend, "commands": n.commands, "files": n.files, "checks": n.checks,
                   "facts": n.facts, "problems": n.problems, "verify_failing": n.verify_failing,
                   "notes": n.notes} for n in rep.nodes],
        "drift": [{"fact": d.fact, "uniform": d.uniform, "line": d.line,
                   "groups": [{"value": g.value, "count": len(g.nodes), "nodes": g.nodes} for g in d.groups]}
                  for d in rep.drift],
        "bench_outliers": [{"case": o.case, "node": o.node, "median_s": o.median_s,
                            "fleet_median_s": o.fleet_median_s, "ratio": round(o.ratio, 4)} for o in rep.outliers],
        "verify_partial": [{"result": p.result, "nodes": p.nodes, "of": p.of} for p in rep.partial],
        "verify_everywhere": [{"result": p.result, "nodes": p.nodes, "of": p.of} for p in rep.everywhere],
        "missing": rep.missing,
        "skipped": [{"file": s.file, "reason": s.reason} for s in rep.skipped],
    }
    if extra:
        data.update(extra)
    return data


# ---------------------------------------------------------------------- shared words


def summary_line(rep: FleetReport) -> str:
    c = rep.counts
    docs = ", ".join(f"{cmd} {k}" for cmd, k in rep.documents.items() if k)
    parts = [_n(len(rep.nodes), "node") + (f" ({docs})" if docs else ""), f"{c['ok']} ok"]
    if c["warn"]:
        parts.append(f"{c['warn']} warn")
    if c["error"]:
        parts.append(f"{c['error']} error")
    if rep.missing:
        parts.append(f"{len(rep.missing)} missing")
    if rep.skipped:
        parts.append(_n(len(rep.skipped), "file") + " skipped")
    return " · ".join(parts)


def verdict(rep: FleetReport) -> str:
    if rep.exit_code == 0:
        return "fleet all clear" + (" (warnings above)" if rep.counts["warn"] or rep.drift or rep.outliers else "")
    why = []
    if rep.counts["error"]:
        why.append(_n(rep.counts['error'], "node") + " with an error")
    if rep.uniform_drift:
        why.append("drift in " + ", ".join(d.fact for d in rep.uniform_drift) + " (must be uniform)")
    if rep.missing:
        why.append(_n(len(rep.missing), "node") + " did not answer")
    if rep.skipped:
        why.append(_n(len(rep.skipped), "file") + " not read")
    if not rep.nodes:
        why.append("no node document")
    return "fleet NOT clear: " + "; ".join(why)


def _n(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _check_lines(rep: FleetReport) -> list[str]:
    """'plot-model: warn on 16 of 16 nodes' for each check that is not ok (or skipped) on every node."""
    lines = []
    for col in rep.columns:
        by: dict[str, list[str]] = {}
        ran = 0
        for n in rep.nodes:
            s = n.checks.get(col)
            if s is None:
                continue
            ran += 1
            if s in ("warn", "error", "crashed"):
                by.setdefault(s, []).append(n.name)
        for s in ("error", "crashed", "warn"):
            if s in by:
                lines.append((s, f"{col}: {s} on {len(by[s])} of {ran} nodes ({hostlist(by[s])})"))
    return lines


def _ms(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


# ---------------------------------------------------------------------- terminal


def _common_problems(rep: FleetReport) -> set[str]:
    """Problems every node has (a warning of the whole fleet): said once below, not on each row."""
    if len(rep.nodes) < 2:
        return set()
    common = set(rep.nodes[0].problems)
    for n in rep.nodes[1:]:
        common &= set(n.problems)
    return common


def _node_rows(rep: FleetReport) -> None:
    common = _common_problems(rep)
    own = {n.name: [p for p in n.problems if p not in common] for n in rep.nodes}
    listed = rep.nodes if len(rep.nodes) <= ALL_NODES_UP_TO else \
        [n for n in rep.nodes if n.status == "error" or (n.status != "ok" and own[n.name])]
    if not listed and not rep.missing:
        return
    out()
    rows = []
    for n in listed[:MAX_ROWS]:
        k: dict[str, int] = {}
        for col, s in n.checks.items():
            if col not in ("verify", "bench"):
                k[s] = k.get(s, 0) + 1
        doctor = (" ".join(f"{v} {s}" for s, v in k.items() if s != "skip") or "-") if "doctor" in n.commands else "-"
        prob = "; ".join(own[n.name]) or "; ".join(n.notes)
        rows.append([n.name, (n.status, _sty(n.status)), doctor, n.checks.get("verify", "-"),
                     n.checks.get("bench", "-"), prob])
    for m in rep.missing[:MAX_ROWS]:
        rows.append([m, ("missing", _sty("error")), "-", "-", "-", "no document: did not answer or timed out"])
    out(table(rows, ["node", "status", "doctor", "verify", "bench", "problems"], give=(5,), nowrap=(0, 1, 2, 3, 4)))
    if len(listed) > MAX_ROWS:
        out(f"  … {len(listed) - MAX_ROWS} more nodes (--json has them all)")
    if len(rep.missing) > MAX_ROWS:
        out(f"  … {len(rep.missing) - MAX_ROWS} more missing: {hostlist(rep.missing)}")
    if len(rep.nodes) > ALL_NODES_UP_TO:
        rest = len(rep.nodes) - len(listed)
        shared = f" beyond what every node shares ({len(common)} below)" if common else ""
        out_wrapped(f"{rest} other nodes: no problem of their own{shared}", first="  ", rest="  ")


def _section(title: str, items: list, line, more: str = "(--json has them all)") -> None:
    """A titled list on the terminal: `line(item)` gives (first, text) for each, cut after MAX_ROWS."""
    if not items:
        return
    out()
    out(style(title, bold=True))
    for it in items[:MAX_ROWS]:
        first, text = line(it)
        out_wrapped(text, first=first, rest="    ")
    if len(items) > MAX_ROWS:
        out(f"  … {len(items) - MAX_ROWS} more {more}")


def terminal(rep: FleetReport) -> None:
    out(style("fleet: ", bold=True) + summary_line(rep))
    _node_rows(rep)
    _section("Facts that differ between nodes (✗ must be uniform: --uniform)", rep.drift,
             lambda d: ("  " + (style("✗", fg="red", bold=True) if d.uniform else style("!", fg="yellow")) + " ",
                        d.line))
    _section(f"Bench outliers (a node {_pct()} or more slower than the fleet median)", _outlier_lines(rep),
             lambda x: x)
    _section("verify", [(p, True) for p in rep.partial] + [(p, False) for p in rep.everywhere],
             lambda x: ("  ✗ ", f"{x[0].result}: fails on {len(x[0].nodes)} of {x[0].of} nodes only "
                                f"({hostlist(x[0].nodes)})" if x[1] else f"{x[0].result}: fails on all {x[0].of} nodes"))
    _section("Checks not ok on every node", _check_lines(rep), lambda x: (f"  {sev(x[0])} ", x[1]))
    _section("Files not read", rep.skipped, lambda s: (f"  {s.file}: ", s.reason))
    out()
    for line in wrap(verdict(rep), rest="  "):
        out(style(line, fg="green" if rep.exit_code == 0 else "red", bold=True))


def _outlier_lines(rep: FleetReport) -> list[tuple[str, str]]:
    """One line per outlier; a node slow on more than 3 cases gets one line for all of them."""
    by: dict[str, list] = {}
    for o in rep.outliers:
        by.setdefault(o.node, []).append(o)
    lines = []
    for node, os_ in by.items():
        if len(os_) > 3:
            mid = sorted(o.ratio for o in os_)[len(os_) // 2]
            worst = os_[0]
            lines.append((f"  {node}  ", f"slower on {len(os_)} cases: {mid:.2f}× the fleet median (median), "
                                        f"worst {worst.case} {worst.ratio:.2f}×"))
        else:
            lines += [(f"  {node}  ", f"{o.case}: {o.ratio:.2f}× ({_ms(o.median_s)} vs median "
                                      f"{_ms(o.fleet_median_s)})") for o in os_]
    return lines


def _pct() -> str:
    from kbackend.fleet.merge import SLOW

    return f"{round((SLOW - 1) * 100)} %"


def _sty(status: str) -> dict:
    return {"ok": dict(fg="green"), "warn": dict(fg="yellow"), "error": dict(fg="red", bold=True)}.get(status, {})


# ---------------------------------------------------------------------- markdown


def _md(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


MD_CELL = {"ok": "ok", "warn": "⚠ warn", "error": "✗ error", "crashed": "✗ crashed", "skip": "skip"}


def markdown(rep: FleetReport) -> str:
    lines = ["## kbackend fleet", "", f"**{_md(summary_line(rep))}** — {_md(verdict(rep))}", ""]
    if rep.drift:
        lines += ["### Facts that differ between nodes", ""]
        lines += [f"- {'✗' if d.uniform else '⚠'} {_md(d.line)}" for d in rep.drift] + [""]
    if rep.outliers:
        lines += ["### Bench outliers", "", "| node | case | median | fleet median | ratio |", "|---|---|---|---|---|"]
        lines += [f"| {_md(o.node)} | {_md(o.case)} | {_ms(o.median_s)} | {_ms(o.fleet_median_s)} | {o.ratio:.2f}× |"
                  for o in rep.outliers] + [""]
    if rep.partial or rep.everywhere:
        lines += ["### verify", ""]
        lines += [f"- ✗ {_md(p.result)}: fails on {len(p.nodes)} of {p.of} nodes only ({_md(hostlist(p.nodes))})"
                  for p in rep.partial]
        lines += [f"- ✗ {_md(p.result)}: fails on all {p.of} nodes" for p in rep.everywhere] + [""]
    if rep.missing:
        lines += ["### Nodes that did not answer", "", f"{_md(hostlist(rep.missing))}", ""]
    if rep.skipped:
        lines += ["### Files not read", ""] + [f"- `{_md(s.file)}`: {_md(s.reason)}" for s in rep.skipped] + [""]
    lines += ["### Nodes × checks", "", "| node | status | " + " | ".join(_md(c) for c in rep.columns) + " |",
              "|---|---|" + "---|" * len(rep.columns)]
    for n in rep.nodes:
        cells = [MD_CELL.get(n.checks.get(c, ""), "—") for c in rep.columns]
        lines.append(f"| {_md(n.name)} | {MD_CELL.get(n.status, n.status)} | " + " | ".join(cells) + " |")
    for m in rep.missing:
        lines.append(f"| {_md(m)} | ✗ missing | " + " | ".join("—" for _ in rep.columns) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- HTML

_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
th{background:#f4f4f4;position:sticky;top:0}th.v{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}
.ok{background:#dff3df}.warn{background:#fff1c2}.error,.crashed,.missing{background:#f8c9c9;font-weight:bold}
.skip{color:#999}li.u{color:#a00}.scroll{overflow:auto;max-height:80vh}"""


def html(rep: FleetReport) -> str:
    e = _html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>kbackend fleet</title>",
             f"<style>{_CSS}</style></head><body><h1>kbackend fleet</h1>",
             f"<p><b>{e(summary_line(rep))}</b></p>",
             f"<p class='{'ok' if rep.exit_code == 0 else 'error'}'>{e(verdict(rep))}</p>"]
    if rep.drift:
        parts.append("<h2>Facts that differ between nodes</h2><ul>")
        parts += [f"<li class='{'u' if d.uniform else ''}'>{'✗' if d.uniform else '⚠'} {e(d.line)}</li>"
                  for d in rep.drift]
        parts.append("</ul>")
    if rep.outliers:
        parts.append("<h2>Bench outliers</h2><table><tr><th>node</th><th>case</th><th>median</th>"
                     "<th>fleet median</th><th>ratio</th></tr>")
        parts += [f"<tr><td>{e(o.node)}</td><td>{e(o.case)}</td><td>{_ms(o.median_s)}</td>"
                  f"<td>{_ms(o.fleet_median_s)}</td><td class='warn'>{o.ratio:.2f}×</td></tr>" for o in rep.outliers]
        parts.append("</table>")
    if rep.partial or rep.everywhere:
        parts.append("<h2>verify</h2><ul>")
        parts += [f"<li>{e(p.result)}: fails on {len(p.nodes)} of {p.of} nodes only ({e(hostlist(p.nodes))})</li>"
                  for p in rep.partial]
        parts += [f"<li>{e(p.result)}: fails on all {p.of} nodes</li>" for p in rep.everywhere]
        parts.append("</ul>")
    if rep.skipped:
        parts.append("<h2>Files not read</h2><ul>")
        parts += [f"<li><code>{e(s.file)}</code>: {e(s.reason)}</li>" for s in rep.skipped]
        parts.append("</ul>")
    parts.append("<h2>Nodes × checks</h2><div class='scroll'><table><tr><th>node</th><th>status</th>")
    parts += [f"<th class='v'>{e(c)}</th>" for c in rep.columns]
    parts.append("<th>problems</th></tr>")
    for n in rep.nodes:
        cells = "".join(f"<td class='{e(n.checks.get(c, ''))}'>{e(n.checks.get(c, '—'))}</td>" for c in rep.columns)
        title = e(f"host {n.host}, fingerprint {n.fingerprint}, kbackend {', '.join(n.kbackend)}")
        parts.append(f"<tr><td title='{title}'>{e(n.name)}</td><td class='{e(n.status)}'>{e(n.status)}</td>"
                     f"{cells}<td>{e('; '.join(n.problems + n.notes))}</td></tr>")
    for m in rep.missing:
        parts.append(f"<tr><td>{e(m)}</td><td class='missing'>missing</td>"
                     + "<td>—</td>" * len(rep.columns) + "<td>no document</td></tr>")
    parts.append("</table></div></body></html>\n")
    return "".join(parts)


# ---------------------------------------------------------------------- the command's answer


def render(rep: FleetReport, *, command: str = "fleet merge", markdown_file: str | None = None,
           html_file: str | None = None, extra: dict | None = None, before=None) -> Result:
    """fleet's answer; the markdown and HTML pages are written (and said so on stderr) first."""
    if markdown_file or html_file:
        from kbackend.render.bench_view import write_file

        if markdown_file:
            write_file(markdown_file, markdown(rep))
            err(f"wrote {markdown_file}")
        if html_file:
            write_file(html_file, html(rep))
            err(f"wrote {html_file}")
    return Result(command, rep.exit_code, json_data(rep, extra), lambda: terminal(rep), warn=before)


# ---------------------------------------------------------------------- fleet run


def progress_line(text: str) -> None:
    """What fleet run starts, on stderr (the answer stays alone on stdout)."""
    from kbackend.render.output import err_wrapped

    err_wrapped(text)


def node_steps(step):
    """fleet run's on_node callback: one progress step per node that finished."""

    def on_node(node: str, rc) -> None:
        what = "timed out" if rc in (124, 137) else ("done" if rc in (0, 1) else f"exited {rc}")
        step(f"{node} {what}")

    return on_node


def run_notes(fr) -> None:
    """On stderr: each node that did not answer, and srun's own failure."""
    from kbackend.render.output import err_wrapped

    for r in fr.runs:
        if r.status != "answered":
            what = "timed out" if r.status == "timed_out" else "gave no document"
            err_wrapped(f"{what}" + (f" (exit {r.rc})" if r.rc is not None else "") + (f": {r.detail}" if r.detail else ""),
                        first=f"fleet: {r.node} ", rest="  ")
    if fr.srun_timed_out:
        err("fleet: srun was stopped after the time limit (--timeout plus a margin)")
    elif fr.srun_rc not in (0, None) and fr.srun_stderr:
        err_wrapped(f"srun exited {fr.srun_rc}: {fr.srun_stderr}", first="fleet: ", rest="  ")
