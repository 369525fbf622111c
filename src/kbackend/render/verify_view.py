"""Rendering of `kbackend verify`: the matrix of cases × backends.

A rich table on a terminal, aligned plain text in a pipe, one JSON document
with --json; then a short explanation for each failure, the known differences
(xfail) with their reasons, and the skips. A progress bar on stderr while the
children run, only when stderr is a terminal.
"""

from __future__ import annotations

import sys

from kbackend.render.output import err_wrapped, isatty, out, out_wrapped, style, table, use_color, width, wrap
from kbackend.result import Result, exit_code
from kbackend.suite.model import CaseInfo, CaseResult, VerifyReport

RICH_STYLE = {"pass": "green", "fail": "bold red", "error": "bold red", "skip": "dim", "xfail": "yellow",
              "known": "magenta", "none": "dim"}
WORD = {"pass": "ok", "fail": "FAIL", "error": "ERROR", "skip": "skip", "xfail": "xfail", "known": "known"}
GRAD = "∇"


# ---------------------------------------------------------------------- progress


def steps(step):
    """A `progress(done, total)` callback for `suite.service.run`, reporting to `step`."""
    return lambda done, total: step(completed=done, total=total)


# ---------------------------------------------------------------------- the matrix (pure)


def _cell_word(r: CaseResult) -> str:
    w = WORD[r.status]
    if r.status == "fail" and r.worst is not None:
        w += f" {r.worst:.3g}×tol"
    return w


def matrix(rep: VerifyReport) -> tuple[list[str], list[tuple[str, list[tuple[str, str]]]]]:
    """(backend headers, rows): a row per case (and dtype, data format, model step), a cell per backend.

    A cell is (status, text); a gradient check joins its value's cell after "∇".
    """
    backends = [b.name for b in rep.backends]
    multi_dtype = len(rep.dtypes) > 1
    keys: list[tuple] = []
    cells: dict[tuple, dict[str, dict[str, CaseResult]]] = {}
    for r in rep.results:
        check = "value" if r.check == "grad" else r.check
        key = (r.case, check, r.dtype if multi_dtype or r.category == "model" else "", r.data_format)
        if key not in cells:
            keys.append(key)
            cells[key] = {}
        cells[key].setdefault(r.backend, {})[r.check] = r
    rows = []
    for key in keys:
        case, check, dtype, fmt = key
        label = case if check == "value" else f"{case} ({check})"
        if fmt:
            label += " [" + ("channels_first" if fmt == "channels_first" else "channels_last") + "]"
        if dtype and check == "value":
            label += f" {dtype}"
        row = []
        for b in backends:
            got = cells[key].get(b)
            if not got:
                row.append(("none", "—"))
                continue
            main = got.get(check) or got.get("value")
            grad = got.get("grad")
            status = main.status if main else "none"
            text = _cell_word(main) if main else "—"
            if grad is not None:
                text += f" {GRAD}" + _cell_word(grad)
                if grad.failing and not (main and main.failing):
                    status = grad.status
            row.append((status, text))
        rows.append((label, row))
    return [_header(b) for b in rep.backends], rows


def _header(b) -> str:
    return b.name + (f" {b.version}" if b.version else "")


#: a backend's or a failure's explanation is cut after this many lines (the JSON document has it whole).
MAX_LINES = 4
MORE = "(--json has the full text)"


def legend(rows: list[tuple[str, list[tuple[str, str]]]]) -> str | None:
    """What the marks in the matrix's cells mean, for the marks that appear there."""
    texts = [text for _, cells in rows for _, text in cells]
    parts = []
    if any(GRAD in t for t in texts):
        parts.append(f"{GRAD} the gradient check, after the value's verdict (ok {GRAD}ok: both pass)")
    if any("×tol" in t for t in texts):
        parts.append("N×tol the worst error, in multiples of the tolerance")
    if any(t == "—" for t in texts):
        parts.append("— not run on that backend")
    return "; ".join(parts) or None


def _backend_line(b) -> str:
    if b.status == "ok":
        t = f"{b.elapsed_s:.1f} s" if b.elapsed_s is not None else ""
        crashed = (f" (its process crashed in {', '.join(b.known_crashes)}: a known defect)"
                   if b.known_crashes else "")
        return f"{b.name} {b.version or ''}: ok {t}".replace("  ", " ").rstrip() + crashed
    if b.status == "not_installed":
        return f"{b.name}: not installed" + (f"; install it with: {b.fix}" if b.fix else "")
    more = f" ({b.restarts} restart{'s' if b.restarts != 1 else ''})" if b.restarts else ""
    name = _header(b)  # a child that died inside a case still said its version
    return f"{name}: {b.status}{more}: {b.error or ''}".rstrip(": ")


def _draw(r: CaseResult) -> str:
    """The seed and the conditions of a row, for reproducing it: "seed 0, condition axis=-2"."""
    parts = [f"seed {r.seed}"] if r.seed is not None else []
    if r.conditions:
        parts.append(("condition " if len(r.conditions) == 1 else "conditions ") + ", ".join(r.conditions))
    return f" ({'; '.join(parts)})" if parts else ""


def repro_hint(rep: VerifyReport) -> str | None:
    """How to reproduce the first failure of a case (not the tiny model, not a crash) with plain keras.ops."""
    for r in rep.failures():
        if r.category != "model" and r.check in ("value", "grad") and "process" not in (r.message or ""):
            cmd = f"kbackend verify --repro {r.case} --backend {r.backend} --dtype {r.dtype}"
            if r.data_format:
                cmd += f" --data-format {r.data_format}"
            if r.seed:
                cmd += f" --seed {r.seed}"
            return f"reproduce it with plain keras.ops: {cmd}"
    return None


def known_lines(rep: VerifyReport) -> list[str]:
    """The known upstream defects met, one line each: where, why, the version range and the thread."""
    by: dict[str, list[str]] = {}
    docs: dict[str, dict] = {}
    for r in rep.results:
        if r.status == "known" and r.known:
            key = r.known.get("key") or r.known.get("reason", "")
            docs[key] = r.known
            item = f"{r.backend} · {r.label}"
            if item not in by.setdefault(key, []):
                by[key].append(item)
    out = []
    for key, items in by.items():
        d = docs[key]
        out.append(f"{_some(items)}: {d.get('reason')} ({d.get('package')} {d.get('installed')} is in "
                   f"{d.get('versions')}; {d.get('reference')})")
    return out


def explanations(rep: VerifyReport) -> tuple[list[str], list[str], list[str]]:
    """(failures, known differences, skips): one line each, for people."""
    fails = []
    for r in rep.results:
        if rep.is_failing(r):
            where = f"{r.backend} · {r.label} · {r.dtype}{_draw(r)}"
            msg = r.message or r.status
            if r.status == "fail" and r.max_abs_err is not None and "max |error|" not in msg:
                msg += f" (max |error| {r.max_abs_err:.3g}, allowed {r.atol:g} + {r.rtol:g}·|expected|)"
            fails.append(f"{where}: {msg}")
    xf: dict[str, list[str]] = {}
    for r in rep.results:
        if r.status == "xfail":
            reason = (r.message or "").split(" [")[0]
            xf.setdefault(reason, [])
            item = f"{r.backend} · {r.label}"
            if item not in xf[reason]:
                xf[reason].append(item)
    known = [f"{_some(items)}: {reason}" for reason, items in xf.items()]
    sk: dict[str, list[str]] = {}
    for r in rep.results:
        if r.status == "skip":
            sk.setdefault(r.message or "skipped", []).append(f"{r.backend} · {r.label}")
    skips = [f"{_some(items)}: {reason}" for reason, items in sk.items()]
    return fails, known, skips


def _some(items: list[str], n: int = 4) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def summary_line(rep: VerifyReport) -> str:
    c = rep.counts()
    parts = [f"{c[k]} {k}" for k in ("pass", "fail", "error", "known", "xfail", "skip") if c.get(k) or k == "pass"]
    missing = [b.name for b in rep.backends if b.status == "not_installed"]
    broken = [b.name for b in rep.backends if not b.ok and b.status != "not_installed"]
    ran = len(rep.backends) - len(missing)
    if not ran:
        return f"verify: nothing verified: {', '.join(missing)} not installed in {rep.python}"
    s = f"verify: {', '.join(parts)} on {ran} backend{'s' if ran != 1 else ''}"
    if rep.elapsed_s is not None:
        s += f" in {rep.elapsed_s:.1f} s"
    s += f" ({', '.join(rep.dtypes)})"
    if missing:
        s += f"; not installed: {', '.join(missing)}"
    if broken:
        s += f"; not clean: {', '.join(broken)}"
    if rep.rounds > 1 or rep.seed:
        s += f"; seeds {rep.seed}..{rep.seed + rep.rounds - 1}" if rep.rounds > 1 else f"; seed {rep.seed}"
    if rep.strict and c.get("known"):
        s += "; --strict: known defects fail"
    return s


# ---------------------------------------------------------------------- output


def _json_data(rep: VerifyReport) -> dict:
    return {
        "ok": rep.ok,
        "python": rep.python,
        "dtypes": rep.dtypes,
        "data_formats": rep.data_formats,
        "elapsed_s": rep.elapsed_s,
        "compile_cache": rep.compile_cache,
        "strict": rep.strict,
        "seed": rep.seed,
        "rounds": rep.rounds,
        "counts": rep.counts(),
        "backends": [b.model_dump(mode="json") for b in rep.backends],
        "results": [r.model_dump(mode="json") for r in rep.results],
    }


def render(rep: VerifyReport) -> Result:
    for b in rep.backends:  # on stderr, with --json too: the JSON holds them under backends[].warnings
        for w in b.warnings:
            warn(f"{b.name}: {w}")
    return Result("verify", exit_code(rep), _json_data(rep), lambda: _rich(rep) if isatty(sys.stdout) else _plain(rep))


def _backend_lines(b) -> list[str]:
    return wrap(_backend_line(b), rest="    ", max_lines=MAX_LINES, more=MORE)


def _section_lines(lines: list[str], status: str) -> list[str]:
    """Each explanation as "  • text", wrapped under itself; a failure's cut after MAX_LINES lines."""
    cap = MAX_LINES if status == "fail" else None
    bullet = "  " + style("•", stream=sys.stdout, **_click_style(status)) + " "
    return [ln for line in lines for ln in wrap(line, first=bullet, rest="    ", max_lines=cap, more=MORE)]


def _plain(rep: VerifyReport) -> None:
    headers, rows = matrix(rep)
    body = [[label] + [(text, _click_style(st)) for st, text in cells] for label, cells in rows]
    for b in rep.backends:
        for line in _backend_lines(b):
            out(line)
    if body:  # no table when nothing ran (every backend asked for is missing)
        out()
        out(table(body, ["case"] + headers))
        note = legend(rows)
        if note:
            for line in wrap(note, first="  ", rest="  "):
                out(style(line, dim=True))
    fails, known, skips = explanations(rep)
    _section("failures", fails, "fail")
    hint = repro_hint(rep)
    if hint:
        for line in wrap(hint, first="  ", rest="    "):
            out(style(line, dim=True))
    _section("known upstream defects", known_lines(rep), "known")
    _section("known differences (xfail)", known, "xfail")
    _section("skipped", skips, "skip")
    out()
    out_wrapped(summary_line(rep), rest="  ")


def _click_style(status: str) -> dict:
    return {"pass": dict(fg="green"), "fail": dict(fg="red", bold=True), "error": dict(fg="red", bold=True),
            "xfail": dict(fg="yellow"), "known": dict(fg="magenta"), "skip": dict(dim=True),
            "none": dict(dim=True)}.get(status, {})


def _section(title: str, lines: list[str], status: str) -> None:
    if not lines:
        return
    out()
    out(style(f"{title} ({len(lines)}):", stream=sys.stdout, bold=True))
    for line in _section_lines(lines, status):
        out(line)


def _rich(rep: VerifyReport) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=sys.stdout, no_color=not use_color(sys.stdout), highlight=False, width=width())
    for b in rep.backends:
        for line in _backend_lines(b):
            console.print(Text(line, style="" if b.ok else "bold red"))
    headers, rows = matrix(rep)
    t = Table(show_edge=False, box=None, header_style="bold", pad_edge=False)
    t.add_column("case")
    for h in headers:
        t.add_column(h)
    for label, cells in rows:
        t.add_row(label, *[Text(text, style=RICH_STYLE.get(st, "")) for st, text in cells])
    if rows:
        console.print()
        console.print(t)
        note = legend(rows)
        if note:
            for line in wrap(note, first="  ", rest="  "):
                console.print(Text(line, style="dim"))
    fails, known, skips = explanations(rep)
    hint = repro_hint(rep)
    for title, lines, st in (("failures", fails, "fail"), ("known upstream defects", known_lines(rep), "known"),
                             ("known differences (xfail)", known, "xfail"), ("skipped", skips, "skip")):
        if lines:
            console.print()
            console.print(Text(f"{title} ({len(lines)}):", style="bold"))
            cap = MAX_LINES if st == "fail" else None
            for line in lines:
                for i, ln in enumerate(wrap(line, first="  • ", rest="    ", max_lines=cap, more=MORE)):
                    console.print(Text.assemble("  ", ("•", RICH_STYLE[st]), ln[3:]) if i == 0 else Text(ln))
            if st == "fail" and hint:
                for line in wrap(hint, first="  ", rest="    "):
                    console.print(Text(line, style="dim"))
    console.print()
    for line in wrap(summary_line(rep), rest="  "):
        console.print(Text(line))


DTYPE_SHORT = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64"}


def list_cases(cases: list[CaseInfo]) -> Result:
    return Result("verify", 0, {"cases": [c.model_dump(mode="json") for c in cases]}, lambda: _list_text(cases))


def _list_text(cases: list[CaseInfo]) -> None:
    """The cases, grouped by category: name, tolerance, layouts, gradient, dtypes, then what each checks.

    What a case checks goes in a column of its own when the output is wide enough, else
    on the lines under the case.
    """
    every = list(DTYPE_SHORT)

    def dtypes(c: CaseInfo) -> str:
        return "all" if sorted(c.dtypes, key=every.index) == every else " ".join(DTYPE_SHORT.get(d, d) for d in c.dtypes)

    headers = ["case", "tolerance", "layouts", "grad", "dtypes"]
    rows = {c.name: [("  " + c.name if c.name != c.op else c.name), c.tol, "both" if c.layout_dependent else "", "yes" if c.differentiable else "",
                     dtypes(c)] for c in cases}
    widths = [max([len(h)] + [len(r[i]) for r in rows.values()]) for i, h in enumerate(headers)]
    total = width()
    # A long variant name does not widen every line past the terminal: it goes on a line of its own.
    widths[0] = max(len(headers[0]), min(widths[0], total - 4 - sum(widths[1:]) - 2 * (len(widths) - 1)))
    left = 4 + sum(widths) + 2 * (len(widths) - 1)
    about_w = total - left - 2
    inline = about_w >= 24

    def line(cells: list[str]) -> str:
        return "    " + "  ".join(c.ljust(w) for c, w in zip(cells, widths))

    out(style((line(headers) + ("  about" if inline else "")).rstrip(), bold=True))
    cats = list(dict.fromkeys(c.category for c in cases))
    for cat in cats:
        members = _variants_under_ops([c for c in cases if c.category == cat])
        out(style(f"  {cat} ({len(members)})", bold=True))
        for c in members:
            cells = rows[c.name]
            if len(cells[0]) > widths[0]:
                out("    " + cells[0])
                cells = [""] + cells[1:]
            head = line(cells)
            if inline and c.doc:
                about = wrap(c.doc, first="", rest="", width_=about_w)
                out(head + "  " + about[0])
                for more in about[1:]:
                    out(" " * (left + 2) + more)
                continue
            out(head.rstrip())
            if c.doc:
                for more in wrap(c.doc, first="        ", rest="        ", width_=total):
                    out(style(more, dim=True))
    out()
    for line in wrap(f"tolerance: the class of bounds the values are held to; layouts both: run in channels_last "
                     f"and channels_first; grad yes: gradients checked too (jax, torch, tensorflow); dtypes all: "
                     f"{', '.join(every)} ({', '.join(DTYPE_SHORT.values())} for short)"):
        out(style(line, dim=True))
    out(f"{len(cases)} cases in {len(cats)} categories")


def _variants_under_ops(cases: list[CaseInfo]) -> list[CaseInfo]:
    """Each op's variants ("OP.CONDITION") right after it (after its first variant where OP is no case)."""
    order = list(dict.fromkeys(c.op for c in cases))
    return sorted(cases, key=lambda c: (order.index(c.op), c.name != c.op))


def repro(r) -> Result:
    """`verify --repro`: the files written, the call, and what the script printed on the backend."""

    def text() -> None:
        out(f"{r.case} on {r.backend}, {r.dtype}, seed {r.seed}"
            + (f", {r.data_format}" if r.data_format else "") + ":")
        for text_ in (f"inputs and reference: {r.npz}", f"script: {r.script}", f"call: {r.call}"):
            for line in wrap(text_, first="  ", rest="    "):
                out(line)
        if r.output:
            out()
            for line in wrap(r.output, first="", rest="  "):
                out(line)
        out()
        for line in wrap(f"run it again: KERAS_BACKEND={r.backend} python {r.script}", rest="  "):
            out(style(line, dim=True))

    data = {"case": r.case, "backend": r.backend, "dtype": r.dtype, "seed": r.seed, "data_format": r.data_format,
            "npz": r.npz, "script": r.script, "call": r.call, "returncode": r.returncode, "output": r.output}
    return Result("verify", 0, data, text)


def warn(text: str) -> None:
    err_wrapped(text, first=style("warning: ", stream=sys.stderr, fg="yellow", bold=True), rest="  ")


# ---------------------------------------------------------------------- --coverage


def coverage_data(rep) -> dict:
    """`verify --coverage --json`'s document: every keras.ops function with its cases, then the gaps."""
    return {
        "backend": rep.backend,
        "keras_version": rep.keras_version,
        "functions": [f.model_dump(mode="json") for f in rep.functions],
        "uncovered": [f.name for f in rep.uncovered],
        "no_case": dict(rep.no_case),
        "stale_no_case": list(rep.stale_no_case),
        "errors": dict(rep.errors),
        "cases": rep.cases,
        "covered": rep.covered,
        "total": rep.total,
        "percent": round(rep.percent, 1),
    }


def coverage_summary(rep) -> str:
    """The last line: "covered N of M (P %)".

    >>> from kbackend.suite.coverage import build
    >>> coverage_summary(build("py", {"functions": [{"name": "add", "namespace": "numpy"}], "cases": {}}))
    'covered 0 of 1 keras.ops functions (0.0 %)'
    """
    return f"covered {rep.covered} of {rep.total} keras.ops functions ({rep.percent:.1f} %)"


def coverage(rep) -> Result:
    return Result("verify", 0, coverage_data(rep), lambda: _coverage_text(rep))


def _coverage_text(rep) -> None:
    """Per namespace, each function and the cases that call it (conditions under them); then the gaps."""
    head = f"keras.ops coverage: Keras {rep.keras_version or '?'}, each case's calls recorded on {rep.backend}"
    for line in wrap(head, rest="  "):
        out(style(line, bold=True))
    namespaces = list(dict.fromkeys(f.namespace for f in rep.functions))
    name_w = min(max((len(f.name) for f in rep.functions), default=8), 22)
    for ns in namespaces:
        _coverage_namespace(rep, ns, name_w)
    _coverage_gaps(rep, namespaces)
    _bullets(f"cases that raised on {rep.backend} (their calls up to the error count)",
             [f"{name}: {err}" for name, err in rep.errors.items()], cap=MAX_LINES)
    if rep.stale_no_case:
        out()
        out_wrapped("NO_CASE names functions this Keras does not have: " + ", ".join(rep.stale_no_case), rest="  ")
    out()
    out(coverage_summary(rep))


def _coverage_namespace(rep, ns: str, name_w: int) -> None:
    members = [f for f in rep.functions if f.namespace == ns]
    out()
    n = len(members)
    out(style(f"{ns}: {n} function{'s' if n != 1 else ''}, {sum(1 for f in members if f.cases)} covered", bold=True))
    indent = " " * (4 + name_w)
    for f in members:
        if not f.cases:
            continue
        first = "  " + f.name.ljust(name_w) + "  "
        if len(f.name) > name_w:  # a name wider than the column: the cases on the next line
            out("  " + f.name)
            first = indent
        out_wrapped(", ".join(f.cases), first=first, rest=indent)
        if f.conditions:
            for line in wrap("conditions: " + ", ".join(f.conditions), first=indent, rest=indent + "  "):
                out(style(line, dim=True))


def _coverage_gaps(rep, namespaces: list[str]) -> None:
    gaps = rep.uncovered
    if not gaps:
        return
    out()
    out(style(f"no case ({len(gaps)}):", bold=True))
    for ns in namespaces:
        names = [f.name for f in gaps if f.namespace == ns and f.name not in rep.no_case]
        if names:
            out_wrapped(", ".join(names), first=f"  {ns}: ", rest="    ")
    _bullets("no case, with the reason", [f"{f.name}: {rep.no_case[f.name]}" for f in gaps if f.name in rep.no_case])


def _bullets(title: str, lines: list[str], cap: int | None = None) -> None:
    if not lines:
        return
    out()
    out(style(f"{title} ({len(lines)}):", bold=True))
    for text in lines:
        for line in wrap(text, first="  • ", rest="    ", max_lines=cap, more=MORE):
            out(line)
