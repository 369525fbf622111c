"""`kbackend fleet merge`: many nodes' `doctor --json`, `verify --json` and `bench --json` documents,
one fleet view.

Streamed: each document is read, boiled down to what the fleet view needs (its checks' statuses,
a few facts, its failing verify rows, its bench medians) and dropped, so memory grows with the
number of nodes and facts, not with the size of the documents. Pure apart from reading files.

What it finds:
- nodes × checks: each node's status per doctor check, and verify's and bench's verdicts;
- drift: facts that differ between nodes (driver, CUDA, cuDNN, Keras, the backend and its
  versions, keras.json's values, the relevant environment variables, the machine), grouped by value;
- bench outliers: a node `SLOW` (1.2: 20 %) or more times the fleet median on a case;
- verify rows failing on some nodes only (and those failing everywhere);
- documents that could not be read, or were written by a newer kbackend (schema_version above
  `READS`): each said by file, none of them a crash.

>>> hostlist(["node-07", "node-03", "node-04", "node-05", "gpu1"])
'gpu1,node-[03-05,07]'
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from kbackend._record import field, record
from kbackend.errors import KbackendError, UsageError

#: the newest envelope schema_version this kbackend reads (render.output.SCHEMA_VERSION).
READS = 1
#: the commands whose documents make the fleet view.
COMMANDS = ("doctor", "verify", "bench")
#: facts that must be the same on every node unless --uniform says otherwise: their drift fails.
DEFAULT_UNIFORM = ("driver", "cuda", "cudnn", "keras", "backend")
#: facts of a doctor document whose absence is itself a value ("none"): a node without them differs.
ABSENT_IS_A_VALUE = ("driver", "cuda", "cudnn", "gpus")
#: a node this many times the fleet median (or slower) on a bench case is an outlier.
SLOW = 1.2
#: the statuses of a node or a cell, worst last.
RANK = {"skip": 0, "ok": 1, "warn": 2, "error": 3, "crashed": 3, "missing": 4}
#: a file larger than this is not a kbackend document (bench's biggest stays far below).
MAX_BYTES = 256 << 20


@record
class Skipped:
    file: str
    reason: str


@record
class Group:
    value: str
    nodes: list[str]


#: values of one fact a drift line names before "N more values" (the JSON has every group).
LINE_GROUPS = 3


@record
class Drift:
    fact: str
    uniform: bool
    groups: list[Group]

    @property
    def line(self) -> str:
        """'driver: 15 nodes agree on 570.124; node-07 differs: 575.51' (and more groups when there are)."""
        total = sum(len(g.nodes) for g in self.groups)
        head, *rest = self.groups
        shown = rest[:LINE_GROUPS]
        others = "; ".join(f"{hostlist(g.nodes)} {g.value}" if len(g.nodes) > 1 or len(rest) > 1
                           else f"{hostlist(g.nodes)} differs: {g.value}" for g in shown)
        if len(rest) > len(shown):
            others += f"; {len(rest) - len(shown)} more values on {sum(len(g.nodes) for g in rest[len(shown):])} nodes"
        if len(head.nodes) == 1 and total == 2:
            return f"{self.fact}: {head.nodes[0]} {head.value} vs {rest[0].nodes[0]} {rest[0].value}"
        agree = f"{len(head.nodes)} nodes agree on {head.value}" if len(head.nodes) > 1 \
            else f"{hostlist(head.nodes)} {head.value}"
        return f"{self.fact}: {agree}; {others}"


@record
class Outlier:
    case: str
    node: str
    median_s: float
    fleet_median_s: float
    ratio: float


@record
class PartialFailure:
    result: str
    nodes: list[str]
    of: int


@record(frozen=False)
class Node:
    """One node's documents boiled down (what the fleet view needs of them, nothing more)."""

    name: str
    host: str | None = None
    files: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    kbackend: list[str] = field(default_factory=list)
    fingerprint: str | None = None
    #: check id -> status (doctor's checks; "verify" and "bench" for those commands' verdicts).
    checks: dict[str, str] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)
    verify_failing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status: str = "ok"

    def worst(self, status: str) -> None:
        if RANK.get(status, 0) > RANK.get(self.status, 0):
            self.status = "error" if status == "crashed" else status


@record
class FleetReport:
    nodes: list[Node]
    #: the columns of the nodes × checks matrix, in the order the documents gave them.
    columns: list[str]
    drift: list[Drift]
    outliers: list[Outlier]
    partial: list[PartialFailure]
    everywhere: list[PartialFailure]
    missing: list[str]
    skipped: list[Skipped]
    uniform: list[str]
    files: int
    documents: dict[str, int]

    @property
    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("ok", "warn", "error")}
        for n in self.nodes:
            out[n.status] = out.get(n.status, 0) + 1
        out["missing"] = len(self.missing)
        out["skipped_files"] = len(self.skipped)
        return out

    @property
    def uniform_drift(self) -> list[Drift]:
        return [d for d in self.drift if d.uniform]

    @property
    def exit_code(self) -> int:
        """1 when a node has an error, a uniform fact differs, a node is missing or a file was skipped."""
        bad = (any(n.status == "error" for n in self.nodes) or self.uniform_drift or self.missing
               or self.skipped or not self.nodes)
        return 1 if bad else 0


# ---------------------------------------------------------------------- names


def natural_key(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def hostlist(names: Iterable[str]) -> str:
    """Names in Slurm's compressed form: node-[03-05,07] (same prefix and digit width grouped)."""
    groups: dict[tuple[str, int, str], list[int]] = {}
    plain: list[str] = []
    for n in names:
        m = re.fullmatch(r"(.*?)(\d+)(\D*)", n)
        if m is None:
            plain.append(n)
        else:
            groups.setdefault((m.group(1), len(m.group(2)), m.group(3)), []).append(int(m.group(2)))
    parts = list(plain)
    for (prefix, w, suffix), nums in groups.items():
        nums = sorted(set(nums))
        if len(nums) == 1:
            parts.append(f"{prefix}{nums[0]:0{w}d}{suffix}")
            continue
        ranges, start, prev = [], nums[0], nums[0]
        for x in nums[1:] + [None]:
            if x is not None and x == prev + 1:
                prev = x
                continue
            ranges.append(f"{start:0{w}d}" if start == prev else f"{start:0{w}d}-{prev:0{w}d}")
            if x is not None:
                start = prev = x
        parts.append(f"{prefix}[{','.join(ranges)}]{suffix}")
    return ",".join(sorted(parts, key=natural_key))


def expand_hostlist(text: str) -> list[str]:
    """Slurm's compressed names back to names: 'node-[01-03,07],gpu1' -> node-01 … node-03, node-07, gpu1.

    >>> expand_hostlist("node-[01-03,07],gpu1")
    ['node-01', 'node-02', 'node-03', 'node-07', 'gpu1']
    """
    out: list[str] = []
    for item in re.findall(r"[^,\[]*(?:\[[^\]]*\][^,\[]*)*", text):
        item = item.strip()
        if not item:
            continue
        m = re.fullmatch(r"(.*?)\[([^\]]*)\](.*)", item)
        if m is None:
            out.append(item)
            continue
        for part in m.group(2).split(","):
            lo, _, hi = part.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()):
                raise UsageError(f"--expect: cannot read {item!r}.", fix="--expect node-[01-16],gpu-a")
            for k in range(int(lo), int(hi or lo) + 1):
                out.extend(expand_hostlist(f"{m.group(1)}{k:0{len(lo)}d}{m.group(3)}"))
    return out


# ---------------------------------------------------------------------- reading


def expand(paths: Sequence[str]) -> Iterator[str]:
    """The files to read: each FILE as given, each DIR's *.json files (all depths), in name order; - is stdin."""
    for p in paths:
        if p == "-":  # standard input: documents piped in (a Ray driver's, `cat`)
            yield p
        elif os.path.isdir(p):
            found = []
            for root, dirs, files in os.walk(p):
                dirs.sort()
                found += [os.path.join(root, f) for f in files if f.endswith(".json")]
            yield from sorted(found, key=natural_key)
        elif os.path.exists(p):
            yield p
        else:
            raise UsageError(f"fleet merge: {p!r} does not exist.", fix="kbackend fleet merge DIR_OR_FILES")


def documents(path: str) -> Iterator[dict | Skipped]:
    """The documents of one file: one JSON document, or several one after another (JSON Lines too)."""
    try:
        if path == "-":
            import sys

            text = sys.stdin.read()
        else:
            if os.path.getsize(path) > MAX_BYTES:
                yield Skipped(path, f"larger than {MAX_BYTES >> 20} MiB: not a kbackend document")
                return
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        yield Skipped(path, f"cannot be read: {getattr(e, 'strerror', None) or e}")
        return
    dec = json.JSONDecoder()
    i, n, k = 0, len(text), 0
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            break
        try:
            doc, i = dec.raw_decode(text, i)
        except ValueError as e:
            where = f" (after {k} documents)" if k else ""
            yield Skipped(path, f"not JSON{where}: {e}")
            return
        k += 1
        yield doc
    if k == 0:
        yield Skipped(path, "empty: the node wrote no document (did the command run?)")


def _refuse(doc: Any) -> str | None:
    """Why a parsed document is not one merge reads, or None."""
    if not isinstance(doc, dict) or "schema_version" not in doc or "command" not in doc:
        return "not a kbackend --json document (no schema_version/command)"
    v = doc["schema_version"]
    if not isinstance(v, int) or isinstance(v, bool):
        return f"schema_version {v!r} is not a number"
    if v > READS:
        return (f"schema {v} (kbackend {doc.get('kbackend_version', '?')}) is newer than this kbackend reads "
                f"(up to {READS}): merge with that kbackend or a newer one")
    if doc["command"] not in COMMANDS:
        return f"a `{doc['command']}` document: fleet merge reads {', '.join(COMMANDS)}"
    return None


# ---------------------------------------------------------------------- one document


def _put(facts: dict[str, str], key: str, value: Any) -> None:
    if value is None or value == "" or value == []:
        return
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    facts.setdefault(key, str(value))


def _loader_version(libs: Any) -> str | None:
    libs = libs if isinstance(libs, list) else []
    for lib in libs:
        if isinstance(lib, dict) and lib.get("loader_pick") and lib.get("version"):
            return lib["version"]
    for lib in libs:
        if isinstance(lib, dict) and lib.get("status") == "ok" and lib.get("version"):
            return lib["version"]
    return None


def _doctor(doc: dict, node: Node) -> None:
    for c in doc.get("checks") or []:
        if isinstance(c, dict) and "id" in c:
            status = c.get("status", "ok")
            node.checks[c["id"]] = status
            node.worst(status)
            if status in ("error", "crashed", "warn"):
                ev = (c.get("evidence") or [""])[0]
                node.problems.append(f"{c['id']} {status}" + (f": {ev}" if ev and status != "warn" else ""))
    f = doc.get("facts") or {}
    facts = node.facts
    gpu = f.get("gpu") or {}
    _put(facts, "driver", gpu.get("driver_version"))
    _put(facts, "cuda", gpu.get("driver_cuda_version"))
    _put(facts, "cudart", _loader_version(gpu.get("cuda_runtimes")))
    _put(facts, "cudnn", _loader_version(gpu.get("cudnns")))
    _put(facts, "gpus", [g.get("name") for g in gpu.get("gpus") or [] if isinstance(g, dict)])
    for k in ABSENT_IS_A_VALUE:  # a node whose doctor found no driver differs from one that has it
        facts.setdefault(k, "none")
    _put(facts, "python", (f.get("interpreter") or {}).get("version"))
    _put(facts, "keras", (f.get("keras") or {}).get("version"))
    config = f.get("config") or {}
    for key, v in (config.get("effective") or {}).items():
        if isinstance(v, dict):
            _put(facts, key, v.get("value"))
    _put(facts, "keras.json", config.get("file_status"))
    for b in f.get("backends") or []:
        if isinstance(b, dict) and b.get("installed"):
            _put(facts, b.get("name", "?"), b.get("version"))
    for var, v in sorted((f.get("environ") or {}).items()):
        if var not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PATH", "HOME"):
            _put(facts, f"env:{var}", v)


def _verify(doc: dict, node: Node) -> None:
    failing = []
    for r in doc.get("results") or []:
        if isinstance(r, dict) and r.get("status") in ("fail", "error"):
            fmt = f" {r['data_format']}" if r.get("data_format") else ""
            failing.append(f"{r.get('backend')} {r.get('case')} {r.get('check', 'value')} {r.get('dtype')}{fmt}")
    for b in doc.get("backends") or []:
        if isinstance(b, dict):
            if b.get("status") not in (None, "ok", "not_installed"):
                failing.append(f"{b.get('name')}: {b.get('status')}")
            _put(node.facts, "keras", b.get("keras_version"))
            _put(node.facts, b.get("name", "?"), b.get("version"))
    node.verify_failing += failing
    status = "error" if failing or doc.get("exit_code") not in (0, None) else "ok"
    node.checks["verify"] = status
    node.worst(status)
    if failing:
        node.problems.append(f"verify: {len(failing)} failing ({failing[0]}{', …' if len(failing) > 1 else ''})")
    elif status == "error":
        node.problems.append(f"verify exited {doc.get('exit_code')}")


def _bench(doc: dict, node: Node, medians: dict[str, dict[str, float]]) -> None:
    bad = []
    for b in doc.get("backends") or []:
        if isinstance(b, dict):
            if b.get("status") not in (None, "ok"):
                bad.append(f"{b.get('backend')}: {b.get('status')}")
            _put(node.facts, "keras", b.get("keras"))
            _put(node.facts, b.get("backend", "?"), b.get("version"))
    for r in doc.get("results") or []:
        if isinstance(r, dict) and r.get("status", "ok") == "ok" and isinstance(r.get("median_s"), (int, float)):
            key = "/".join(str(r.get(k, "")) for k in ("backend", "case", "size", "dtype", "mode"))
            medians.setdefault(key, {})[node.name] = float(r["median_s"])
    regressions = doc.get("regressions") or []
    status = "error" if bad or regressions or doc.get("exit_code") not in (0, None) else "ok"
    node.checks["bench"] = status
    node.worst(status)
    if bad:
        node.problems.append("bench: " + "; ".join(bad))
    if regressions:
        node.problems.append(f"bench: {len(regressions)} regressions against its baseline")
    if status == "error" and not bad and not regressions:
        node.problems.append(f"bench exited {doc.get('exit_code')}")


def _node_name(doc: dict, path: str) -> tuple[str, str | None]:
    host = doc.get("host") if isinstance(doc.get("host"), str) else None
    name = doc.get("node") if isinstance(doc.get("node"), str) else None
    return (name or host or os.path.splitext(os.path.basename(path))[0]), host


# ---------------------------------------------------------------------- the fleet


def merge(paths: Sequence[str], *, uniform: Sequence[str] = DEFAULT_UNIFORM, expected: Sequence[str] = (),
          slow: float = SLOW) -> FleetReport:
    """Read every document under `paths` (streamed) and judge the fleet.

    uniform: facts whose drift fails; expected: node names that should have answered (missing
    ones are reported); slow: the bench outlier ratio.
    """
    nodes: dict[str, Node] = {}
    columns: dict[str, None] = {}
    skipped: list[Skipped] = []
    medians: dict[str, dict[str, float]] = {}
    documents_by_command = {c: 0 for c in COMMANDS}
    files = 0
    owner: dict[tuple[str, str], str] = {}  # (node, command) -> the file that gave it
    for path in expand(paths):
        files += 1
        for doc in documents(path):
            if isinstance(doc, Skipped):
                skipped.append(doc)
                continue
            why = _refuse(doc)
            if why is not None:
                skipped.append(Skipped(path, why))
                continue
            _take(doc, path, nodes, owner, columns, medians)
            documents_by_command[doc["command"]] += 1
    ordered = sorted(nodes.values(), key=lambda n: natural_key(n.name))
    missing = sorted((e for e in expected if e not in nodes and not any(n.host == e for n in ordered)),
                     key=natural_key)
    uni = list(dict.fromkeys(uniform))
    drift, outliers = _drift(ordered, uni), _outliers(medians, slow)
    _mark(nodes, drift, outliers)
    return FleetReport(
        nodes=ordered, columns=_column_order(columns), drift=drift,
        outliers=outliers, partial=_failures(ordered, partial=True),
        everywhere=_failures(ordered, partial=False), missing=missing, skipped=skipped, uniform=uni,
        files=files, documents=documents_by_command,
    )


def _take(doc: dict, path: str, nodes: dict[str, Node], owner: dict[tuple[str, str], str],
          columns: dict[str, None], medians: dict[str, dict[str, float]]) -> None:
    """One document into its node's summary (the document itself is then dropped)."""
    name, host = _node_name(doc, path)
    command = doc["command"]
    if (name, command) in owner and owner[(name, command)] != path:
        # two files with the same node's document: an older run left in the folder, or two
        # nodes with one host name. Keep both, apart.
        stem = os.path.splitext(os.path.basename(path))[0]
        name = f"{name}@{stem}" if stem != name else f"{name}@{len(nodes)}"
    owner[(name, command)] = path
    node = nodes.get(name)
    if node is None:
        node = nodes[name] = Node(name=name, host=host)
    node.files.append(path)
    node.commands.append(command)
    ver = str(doc.get("kbackend_version", "?"))
    if ver not in node.kbackend:
        node.kbackend.append(ver)
    fp = doc.get("fingerprint")
    if host is None:
        node.notes.append(f"{os.path.basename(path)}: no host in the document (kbackend {ver} did not "
                          "record it): named after its file")
    if isinstance(fp, dict):
        node.fingerprint = node.fingerprint or fp.get("hash")
    if isinstance(doc.get("error"), dict):
        node.problems.append(f"{command}: {doc['error'].get('message', 'error')}")
        node.checks[command] = "error"
        node.worst("error")
    elif command == "doctor":
        _doctor(doc, node)
    elif command == "verify":
        _verify(doc, node)
    else:
        _bench(doc, node, medians)
    for c in node.checks:
        columns.setdefault(c)
    if isinstance(fp, dict):
        for k in ("driver", "gpus", "cpu", "cores", "os", "kernel"):
            _put(node.facts, k, fp.get(k))
    _put(node.facts, "kbackend", ver)


def _mark(nodes: dict[str, Node], drift: Sequence[Drift], outliers: Sequence[Outlier]) -> None:
    """The nodes outside the most common value of a uniform fact, and the slow ones, say so (warn)."""
    for d in drift:
        if d.uniform:
            for g in d.groups[1:]:
                for name in g.nodes:
                    nodes[name].problems.append(f"{d.fact} {g.value} (most nodes: {d.groups[0].value})")
                    nodes[name].worst("warn")
    slow: dict[str, list[Outlier]] = {}
    for o in outliers:
        slow.setdefault(o.node, []).append(o)
    for name, os_ in slow.items():
        worst = max(os_, key=lambda o: o.ratio)
        more = f" and {len(os_) - 1} more cases" if len(os_) > 1 else ""
        nodes[name].problems.append(f"bench: {worst.case} {worst.ratio:.2f}x the fleet median{more}")
        nodes[name].worst("warn")


def _column_order(columns: dict[str, None]) -> list[str]:
    tail = [c for c in COMMANDS if c in columns]
    return [c for c in columns if c not in tail] + tail


def _drift(nodes: Sequence[Node], uniform: Sequence[str]) -> list[Drift]:
    values: dict[str, dict[str, list[str]]] = {}
    for n in nodes:
        for k, v in n.facts.items():
            values.setdefault(k, {}).setdefault(v, []).append(n.name)
    out = []
    every = "all" in uniform
    for fact, by_value in values.items():
        if len(by_value) < 2:
            continue
        groups = sorted((Group(value=v, nodes=ns) for v, ns in by_value.items()),
                        key=lambda g: (-len(g.nodes), natural_key(g.value)))
        out.append(Drift(fact=fact, uniform=every or fact in uniform, groups=groups))
    out.sort(key=lambda d: (not d.uniform,))
    return out


def _outliers(medians: dict[str, dict[str, float]], slow: float) -> list[Outlier]:
    out = []
    for case, by_node in medians.items():
        if len(by_node) < 2:
            continue
        mid = statistics.median(by_node.values())
        if mid <= 0:
            continue
        for node, m in by_node.items():
            if m >= slow * mid:
                out.append(Outlier(case=case, node=node, median_s=m, fleet_median_s=mid, ratio=m / mid))
    out.sort(key=lambda o: -o.ratio)
    return out


def _failures(nodes: Sequence[Node], *, partial: bool) -> list[PartialFailure]:
    ran = [n for n in nodes if "verify" in n.checks]
    by_row: dict[str, list[str]] = {}
    for n in ran:
        for row in dict.fromkeys(n.verify_failing):
            by_row.setdefault(row, []).append(n.name)
    out = [PartialFailure(result=row, nodes=ns, of=len(ran)) for row, ns in by_row.items()
           if (len(ns) < len(ran)) == partial]
    out.sort(key=lambda p: (-len(p.nodes), p.result))
    return out


def parse_uniform(text: str | None) -> list[str]:
    """--uniform's comma list; 'none' for no fact, 'all' for every one, a first '+' adds to the defaults.

    >>> parse_uniform("+jax,env:XLA_FLAGS")[-2:], parse_uniform("none"), parse_uniform("keras")
    (['jax', 'env:XLA_FLAGS'], [], ['keras'])
    """
    if text is None:
        return list(DEFAULT_UNIFORM)
    items = [t.strip() for t in text.split(",") if t.strip()]
    if items == ["none"]:
        return []
    if items and items[0].startswith("+"):  # +jax,env:XLA_FLAGS: the defaults and these
        return list(DEFAULT_UNIFORM) + [t.lstrip("+") for t in items]
    if not items:
        raise UsageError("--uniform got no fact name.", fix="kbackend fleet merge --uniform driver,keras DIR")
    return items


def require_documents(report: FleetReport, paths: Sequence[str]) -> None:
    if report.files == 0:
        raise KbackendError(f"fleet merge found no .json file in {', '.join(paths)}.",
                            fix="kbackend doctor --json > DIR/$(hostname).json on each node, then "
                                "kbackend fleet merge DIR")
