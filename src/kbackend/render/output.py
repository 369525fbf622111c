"""Output for every command: one JSON document with --json, text for people otherwise.

The JSON envelope (DESIGN.md): {"schema_version": 1, "kbackend_version": ...,
"command": ..., "exit_code": ..., "host": ..., ["node": ...,] "fingerprint": {...},
...command data...} on stdout (host, node and fingerprint: `kbackend._host`, for `fleet merge`). Everything for
people that is not the answer (progress, warnings) goes to stderr.

Colour follows NO_COLOR, FORCE_COLOR and whether the stream is a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from kbackend import __version__
from kbackend._record import dump

SCHEMA_VERSION = 1


def _finite(v: Any) -> Any:
    """JSON has no NaN or infinity: such floats (an epsilon of NaN in keras.json) become their repr."""
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return repr(v)
    return v


def to_jsonable(obj: Any) -> Any:
    return dump(obj, leaf=_finite)


def envelope(command: str, exit_code: int, data: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kbackend_version": __version__,
        "command": command,
        "exit_code": exit_code,
    }
    from kbackend import _host  # only when a document is printed: it reads a few small /proc files

    doc["host"] = _host.hostname()
    node = _host.node_name()
    if node is not None and node != doc["host"]:
        doc["node"] = node
    doc["fingerprint"] = dict(_host.fingerprint())
    for k, v in (data or {}).items():
        if k not in doc:
            doc[k] = to_jsonable(v)
    return doc


def emit_json(command: str, exit_code: int, data: dict[str, Any] | None = None) -> None:
    if sys.stdout is None:  # no standard output at all (cli.main refuses to start so)
        return
    sys.stdout.write(json.dumps(envelope(command, exit_code, data), indent=2, allow_nan=False, default=str) + "\n")
    sys.stdout.flush()


def render(result, *, as_json: bool) -> int:
    """Print a command's `kbackend.result.Result`: its JSON envelope, or its text; return its exit code."""
    if result.warn is not None:
        result.warn()
    if as_json:
        emit_json(result.command, result.exit_code, result.data)
    elif result.text is not None:
        result.text()
    return result.exit_code


class GuardedStream:
    """sys.stdout (or sys.stderr) for one run of a command: what happens to it never becomes a traceback.

    A reader that stops reading (`kbackend show | head -1`) is not an error: the
    rest of the output is discarded and the command ends with its own exit code.
    Any other failure to write (a file opened read-only, a full disk) is
    remembered in `error`; the rest is discarded and cli.main reports it once.
    Either way the stream's descriptor is then pointed at /dev/null, so that
    nothing later (a flush at exit, a child inheriting it) hits the same failure.
    """

    def __init__(self, stream):
        self._stream = stream
        self._dead = False
        self.broken_pipe = False
        self.error: OSError | None = None

    def _fail(self, e: OSError) -> None:
        if isinstance(e, BrokenPipeError):
            self.broken_pipe = True
        elif self.error is None:
            self.error = e
        self._dead = True
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            return
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, fd)
            finally:
                os.close(null)
        except OSError:
            pass

    def write(self, text):
        if not self._dead:
            try:
                return self._stream.write(text)
            except OSError as e:
                self._fail(e)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self._dead:
            try:
                self._stream.flush()
            except OSError as e:
                self._fail(e)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def isatty(stream) -> bool:
    """Whether `stream` is a terminal; False for a closed, replaced or fd-less stream."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def use_color(stream=None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return isatty(stream)


def style(text: str, *, stream=None, **kw) -> str:
    return click.style(text, **kw) if use_color(stream) else text


def out(text: str = "") -> None:
    click.echo(text, color=use_color(sys.stdout))


def err(text: str = "") -> None:
    click.echo(text, err=True, color=use_color(sys.stderr))


SEV_STYLE = {
    "error": dict(fg="red", bold=True),
    "ignored": dict(fg="red", bold=True),
    "legacy": dict(fg="yellow"),
    "too_new": dict(fg="yellow"),
    "unknown": dict(fg="red", bold=True),
    "warning": dict(fg="yellow"),
    "info": dict(fg="cyan"),
    "ok": dict(fg="green"),
    "pass": dict(fg="green"),
    "fail": dict(fg="red", bold=True),
    "skip": dict(dim=True),
    "xfail": dict(fg="yellow"),
    "crashed": dict(fg="red", bold=True),
    "warn": dict(fg="yellow"),
}


def sev(label: str, stream=None) -> str:
    return style(label, stream=stream, **SEV_STYLE.get(label, {}))


# ---------------------------------------------------------------------- width

#: narrower than this, nothing is readable: lines may overflow rather than break every word.
MIN_WIDTH = 20
_GLUE = "\xa0"  # joins words that must stay on one line ("jax 0.4.30"); printed as a space


def width(stream=None) -> int:
    """The columns human output may use: COLUMNS when set, else the terminal's width, else 80.

    >>> import os; os.environ["COLUMNS"] = "100"; width()
    100
    >>> del os.environ["COLUMNS"]
    """
    cols = os.environ.get("COLUMNS", "").strip()
    if cols.isdigit() and int(cols) > 0:
        return max(int(cols), MIN_WIDTH)
    stream = stream or sys.stdout
    try:
        if isatty(stream):
            n = os.get_terminal_size(stream.fileno()).columns
            if n > 0:
                return max(n, MIN_WIDTH)
    except (AttributeError, ValueError, OSError):
        pass
    return 80


def cell_len(text: str) -> int:
    """Columns `text` takes in a terminal (wide East Asian characters count 2, combining marks 0).

    >>> cell_len("abc"), cell_len("∇ok"), cell_len("用户")
    (3, 3, 4)
    """
    if text.isascii():
        return len(text)
    import unicodedata

    n = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


def visible_len(text: str) -> int:
    """`cell_len` of text that may hold colour codes."""
    return cell_len(click.unstyle(text))


def _cut(word: str, room: int) -> tuple[str, str]:
    """Split a word too long for a line: at the last '/', ',', '-' or '_' that fits, else where it fits."""
    n, used = 0, 0
    for i, ch in enumerate(word):
        w = cell_len(ch)
        if used + w > room:
            break
        used += w
        n = i + 1
    n = max(n, 1)
    for sep in ("/", ",", "-", "_", "."):
        k = word.rfind(sep, 0, n)
        if k >= max(1, n // 2) and k + 1 < len(word):
            return word[:k + 1], word[k + 1:]
    return word[:n], word[n:]


def wrap_text(text: str, first: int, rest: int | None = None) -> list[str]:
    """`text` in lines of at most `first` columns (the first line) and `rest` (the others).

    Lines break at spaces; a word longer than a line breaks after a '/' (paths) or where
    it must. Newlines in `text` are kept.

    >>> wrap_text("the quick brown fox", 10)
    ['the quick', 'brown fox']
    >>> wrap_text("/very/long/path/name", 12)
    ['/very/long/', 'path/name']
    """
    rest = first if rest is None else rest
    lines: list[str] = []

    def room() -> int:
        return max(1, first if not lines else rest)

    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            cand = line + " " + word if line else word
            if cell_len(cand) <= room():
                line = cand
                continue
            if line.strip():
                lines.append(line.rstrip())
                line = ""
            while cell_len(word) > room():
                head, word = _cut(word, room())
                lines.append(head)
            line = word
        lines.append(line.rstrip())
    return [ln.replace(_GLUE, " ") for ln in lines]


def wrap_command(cmd: str, *, first: str = "", rest: str | None = None, width_: int | None = None) -> list[str]:
    r"""A shell command over lines that paste back as one: each line but the last ends in " \",
    and no line breaks inside a quoted word. A fix that is not one line of shell is wrapped as text.

    >>> wrap_command("python -m pip install 'torch>=2.1' --index-url https://x/cpu", first="fix: ", width_=44)
    ["fix: python -m pip install 'torch>=2.1' \\", '     --index-url https://x/cpu']
    """
    w = width_ or width()
    rest = " " * visible_len(first) if rest is None else rest
    if "\n" in cmd or cell_len(first) + cell_len(cmd) <= w:
        return wrap(cmd, first=first, rest=rest, width_=w)
    import re

    words = re.findall(r"(?:'[^']*'|\"[^\"]*\"|\S)+", cmd)
    lines: list[str] = []
    line = ""
    for word in words:
        lead = first if not lines else rest
        cand = line + " " + word if line else word
        if not line or visible_len(lead) + cell_len(cand) + 2 <= w:
            line = cand
            continue
        lines.append(lead + line + " \\")
        line = word
    lines.append((first if not lines else rest) + line)
    return lines


def glue(text: str) -> str:
    """Text that `wrap_text` keeps on one line (its spaces become non-breaking until printed)."""
    return text.replace(" ", _GLUE)


def wrap(text: str, *, first: str = "", rest: str | None = None, width_: int | None = None,
         max_lines: int | None = None, more: str = "") -> list[str]:
    """`first` + text wrapped to the output width; later lines start with `rest` (spaces as wide as `first`).

    `first` and `rest` may hold colour codes. With `max_lines`, what does not fit is cut with
    "…" and `more` (say, where the full text is) ends the last line.

    >>> wrap("one two three four", first="- ", width_=12)
    ['- one two', '  three four']
    """
    w = width_ or width()
    fw = visible_len(first)
    rest = " " * fw if rest is None else rest
    rw = visible_len(rest)
    lines = wrap_text(text, max(w - fw, 10), max(w - rw, 10))
    if max_lines is not None and len(lines) > max_lines:
        tail = (" " + more) if more else ""
        keep = lines[:max_lines]
        room = max((w - (fw if max_lines == 1 else rw)) - cell_len(tail) - 1, 1)
        last = keep[-1]
        while cell_len(last) > room:
            last = last[:-1]
        keep[-1] = last.rstrip() + "…" + tail
        lines = keep
    return [(first if i == 0 else rest) + ln for i, ln in enumerate(lines)]


def out_wrapped(text: str, **kw) -> None:
    for line in wrap(text, **kw):
        out(line)


def err_wrapped(text: str, **kw) -> None:
    kw.setdefault("width_", width(sys.stderr))
    for line in wrap(text, **kw):
        err(line)


# ---------------------------------------------------------------------- tables


def _fit(natural: list[int], floors: list[list[int]], room: int) -> list[int]:
    """Column widths that fit `room`: the widest columns give way first, down to each floor in turn."""
    w = list(natural)
    for floor in floors:
        excess = sum(w) - room
        while excess > 0:
            cand = [i for i in range(len(w)) if w[i] > floor[i]]
            if not cand:
                break
            i = max(cand, key=lambda j: (w[j], j))
            w[i] -= 1
            excess -= 1
        if excess <= 0:
            break
    return w


def table(rows: list[list], headers: list[str] | None = None, indent: int = 2, *, width_: int | None = None,
          nowrap: tuple[int, ...] = (), give: tuple[int, ...] = ()) -> str:
    """A plain aligned table that fits the output width (cheap: no rich import on the config commands' path).

    A cell is a string (colour codes allowed) or (text, click.style keywords). When the
    table is too wide, the widest columns wrap their cells onto more lines, at spaces
    first, then inside words; the columns in `give` wrap before the others, those in
    `nowrap` never do.
    """
    allrows = ([headers] if headers else []) + rows
    if not allrows:
        return ""
    ncol = len(allrows[0])
    plain = [[click.unstyle(c[0] if isinstance(c, tuple) else str(c)) for c in r] for r in allrows]
    natural = [max(cell_len(ln) for r in plain for ln in r[i].split("\n")) for i in range(ncol)]
    words = [max((cell_len(wd) for r in plain for wd in r[i].replace("\n", " ").split(" ")), default=0)
             for i in range(ncol)]
    total = width_ or width()
    room = total - indent - 2 * (ncol - 1)
    hard = [natural[i] if i in nowrap else min(natural[i], words[i]) for i in range(ncol)]
    soft = [natural[i] if i in nowrap else min(natural[i], 6) for i in range(ncol)]
    first = [hard[i] if i in give else natural[i] for i in range(ncol)]
    keep = [hard[i] if i in give else soft[i] for i in range(ncol)]  # the others break words before they do
    widths = _fit(natural, [first, hard, keep, soft], room)
    lines = []
    for n, (r, p) in enumerate(zip(allrows, plain)):
        cols: list[list[tuple[str, int]]] = []
        for i, c in enumerate(r):
            text = p[i]
            if "\n" not in text and cell_len(text) <= widths[i]:
                shown = c[0] if isinstance(c, tuple) else str(c)
                if isinstance(c, tuple) and c[1]:
                    shown = style(c[0], **c[1])
                cols.append([(shown.replace(_GLUE, " "), cell_len(text))])
                continue
            kw = c[1] if isinstance(c, tuple) else {}
            cols.append([(style(ln, **kw) if kw else ln, cell_len(ln)) for ln in wrap_text(text, widths[i])])
        for k in range(max(len(col) for col in cols)):
            segs = []
            for i, col in enumerate(cols):
                s, vis = col[k] if k < len(col) else ("", 0)
                segs.append(s + " " * max(widths[i] - vis, 0))
            line = " " * indent + "  ".join(segs).rstrip()
            if headers and n == 0:
                line = style(line, bold=True)
            lines.append(line)
    return "\n".join(lines)


def fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    return json.dumps(v) if not isinstance(v, float) else repr(v)
