"""`kbackend fleet run --slurm`: one `kbackend CMD --json` task per node through `srun`, then merge.

A thin launcher: it builds one srun line (`--nodes N --ntasks-per-node=1`, the user's partition,
account and time limit), runs the same kbackend on every node (this interpreter's path: clusters
share their software; `--kbackend` names another), and collects one document per node:

- with `--out DIR` (a folder every node sees): each task writes DIR/<node>.json, its stderr to
  DIR/<node>.err, and DIR/<node>.started first, so a node that began but never finished is named;
- without: srun's `--label` output, split by task (each task first prints its node's name).

Each task is bounded by coreutils' `timeout` on the node (exit 124: the node timed out); srun
itself by the same limit and a margin. The documents then go through `fleet.merge`, the one core.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

from kbackend import _procs
from kbackend._record import field, record
from kbackend.errors import KbackendError, UsageError
from kbackend.fleet import merge as M

#: the line each task prints first in the labelled mode: the node it runs on.
MARK = "@@kbackend-fleet-node "
#: the commands a fleet runs on each node.
COMMANDS = M.COMMANDS
#: seconds srun gets beyond the per-node limit (allocation, start-up, the nodes' own kill).
SRUN_MARGIN = 60.0

#: the task's shell: names the node, bounds the command with `timeout` when the node has it,
#: and with an output folder writes <node>.started, <node>.json and <node>.err there.
TASK_SH = r"""n="${SLURMD_NODENAME:-$(hostname)}"; out="$1"; limit="$2"; shift 2
t=""; if [ "$limit" != 0 ] && command -v timeout >/dev/null 2>&1; then t="timeout -k 5 $limit"; fi
if [ -n "$out" ]; then
  : > "$out/$n.started"
  $t "$@" > "$out/$n.json.part" 2> "$out/$n.err"; rc=$?
  mv -f "$out/$n.json.part" "$out/$n.json"; echo "$rc" > "$out/$n.rc"; exit "$rc"
fi
echo "@@kbackend-fleet-node $n"
$t "$@"; rc=$?; echo "@@kbackend-fleet-rc $rc"; exit "$rc"
"""


@record
class Plan:
    srun: list[str]
    node_argv: list[str]
    out: str | None
    timeout: float
    nodes: int | None


@record
class NodeRun:
    node: str
    status: str  # answered, timed_out, failed, no_document
    rc: int | None = None
    detail: str = ""


@record
class FleetRun:
    plan: Plan
    srun_rc: int | None
    srun_timed_out: bool
    runs: list[NodeRun] = field(default_factory=list)
    srun_stderr: str = ""
    docs_dir: str = ""

    @property
    def expected(self) -> list[str]:
        return [r.node for r in self.runs]

    def extra(self) -> dict:
        return {"launcher": "slurm", "srun": self.plan.srun + self.plan.node_argv, "srun_exit": self.srun_rc,
                "srun_timed_out": self.srun_timed_out, "nodes_requested": self.plan.nodes,
                "out": self.plan.out,
                "runs": [{"node": r.node, "status": r.status, "exit": r.rc, "detail": r.detail} for r in self.runs]}


def split_command(args: Sequence[str]) -> tuple[str, list[str]]:
    """The kbackend command after `--`: doctor (the default), verify or bench, and its options."""
    args = list(args)
    if not args:
        return "doctor", []
    if args[0] not in COMMANDS:
        raise UsageError(f"fleet run runs doctor, verify or bench on each node, not {args[0]!r}.",
                         fix="kbackend fleet run --slurm -- doctor --check versions")
    rest = [a for a in args[1:] if a != "--json"]
    return args[0], rest


def plan(command: Sequence[str], *, nodes: int | None = None, partition: str | None = None,
         account: str | None = None, time: str | None = None, out: str | None = None, timeout: float = 600.0,
         python: str | None = None, kbackend: str | None = None, srun_args: Sequence[str] = (),
         srun: str | None = None) -> Plan:
    """The srun line and what each node runs; refuses what cannot work before anything starts."""
    srun_path = srun or shutil.which("srun")
    if not srun_path:
        raise KbackendError("fleet run --slurm needs Slurm's `srun`, which is not on PATH.",
                            fix="run it on a Slurm login node (or `module load slurm`), or collect the documents "
                                "yourself and run `kbackend fleet merge DIR`")
    cmd, rest = split_command(command)
    base = shlex.split(kbackend) if kbackend else [sys.executable, "-m", "kbackend"]
    node_argv = base + (["--python", python] if python else []) + [cmd, *rest, "--json"]
    if out is not None:
        out = os.path.abspath(out)
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as e:
            raise KbackendError(f"Cannot create --out {out}: {e.strerror or e}.",
                                fix="give a folder on a file system every node mounts") from None
    argv = [srun_path, "--ntasks-per-node=1", "--kill-on-bad-exit=0"]
    if nodes is not None:
        argv += [f"--nodes={nodes}", f"--ntasks={nodes}"]
    for opt, v in (("--partition", partition), ("--account", account), ("--time", time)):
        if v:
            argv.append(f"{opt}={v}")
    argv += ["--job-name=kbackend-fleet"]
    if out is None:
        argv.append("--label")
    argv += list(srun_args)
    limit = "0" if not timeout else str(int(timeout + 0.999))
    argv += ["sh", "-c", TASK_SH, "kbackend-fleet-task", out or "", limit]
    return Plan(srun=argv, node_argv=node_argv, out=out, timeout=timeout, nodes=nodes)


def _tail(text: str, n: int = 3) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def _watch(out: str, on_node: Callable[[str, int | None], None], stop: threading.Event) -> None:
    """Report each node of --out as it finishes (its .rc file appears): progress while srun runs."""
    seen: set[str] = set()
    while True:
        done = stop.wait(0.5)
        try:
            names = os.listdir(out)
        except OSError:
            names = []
        for name in sorted(names):
            if name.endswith(".rc") and name not in seen:
                seen.add(name)
                try:
                    with open(os.path.join(out, name), encoding="utf-8") as f:
                        text = f.read().strip()
                except OSError:
                    text = ""
                on_node(name[:-3], int(text) if text.lstrip("-").isdigit() else None)
        if done:
            return


def run(p: Plan, *, work_dir: str, on_node: Callable[[str, int | None], None] | None = None) -> FleetRun:
    """Run the plan; the documents end up in one folder (--out, or `work_dir` split from srun's output).

    on_node(node, exit code) is called as each node finishes (with --out, while srun runs).
    """
    budget = p.timeout + SRUN_MARGIN if p.timeout else None
    timed_out = False
    watcher, stop = None, threading.Event()
    if p.out is not None:
        _clear_markers(p.out)
        if on_node is not None:
            watcher = threading.Thread(target=_watch, args=(p.out, on_node, stop), daemon=True)
            watcher.start()
    try:
        cp = _procs.run(p.srun + p.node_argv, timeout=budget, tmp=False, text=True, errors="replace", grace=5.0)
        rc, stdout, stderr = cp.returncode, cp.stdout or "", cp.stderr or ""
    except subprocess.TimeoutExpired as e:
        timed_out, rc = True, getattr(e, "returncode", None)
        stdout = e.output if isinstance(e.output, str) else ""
        stderr = e.stderr if isinstance(e.stderr, str) else ""
    except OSError as e:
        raise KbackendError(f"Cannot start srun: {e.strerror or e}.", fix="check that `srun --version` runs") from None
    finally:
        if watcher is not None:
            stop.set()
            watcher.join()
    if p.out is not None:
        runs = _from_folder(p.out)
        docs = p.out
    else:
        runs = _from_labels(stdout, stderr, work_dir)
        docs = work_dir
        for r in runs if on_node is not None else ():
            on_node(r.node, r.rc)
    if not runs and not timed_out and rc not in (0, None):
        raise KbackendError(f"srun started no task (exit {rc}): {_tail(stderr, 3) or 'no message'}.",
                            fix="check --partition, --account and --time against `sinfo` and `sacctmgr show assoc`; "
                                "the srun line is on stderr",
                            data={"srun": p.srun + p.node_argv, "srun_exit": rc})
    if p.nodes and len(runs) < p.nodes:
        why = _tail(stderr, 2) or f"srun exited {rc}"
        runs += [NodeRun(f"unstarted-{k}", "no_document", None, f"no task started: {why}")
                 for k in range(len(runs) + 1, p.nodes + 1)]
    if timed_out:
        runs = [NodeRun(r.node, "timed_out", r.rc, f"srun still running after {budget:.0f} s")
                if r.status == "no_document" else r for r in runs]
    return FleetRun(plan=p, srun_rc=rc, srun_timed_out=timed_out, runs=runs, srun_stderr=_tail(stderr, 5),
                    docs_dir=docs)


def _status(rc: int | None, has_doc: bool, err: str) -> tuple[str, str]:
    if rc == 124 or rc == 137:
        return "timed_out", "killed by `timeout` on the node" + (f": {err}" if err else "")
    if not has_doc:
        return "no_document", err or "the node wrote no document"
    return "answered", ""


def _clear_markers(out: str) -> None:
    """Remove the markers a previous run left in --out (never a document), so that only this run's count."""
    for name in os.listdir(out):
        if name.endswith((".started", ".rc", ".json.part")):
            try:
                os.unlink(os.path.join(out, name))
            except OSError:
                pass


def _from_folder(out: str) -> list[NodeRun]:
    runs = []
    for name in sorted(os.listdir(out), key=M.natural_key):
        if not name.endswith(".started"):
            continue
        node = name[: -len(".started")]

        def read(suffix: str) -> str:
            try:
                with open(os.path.join(out, node + suffix), encoding="utf-8", errors="replace") as f:
                    return f.read(1 << 20)
            except OSError:
                return ""

        rc_text = read(".rc").strip()
        rc = int(rc_text) if rc_text.lstrip("-").isdigit() else None
        has_doc = bool(read(".json").strip())
        status, detail = _status(rc, has_doc, _tail(read(".err")))
        if rc is None and status == "answered":
            status, detail = "no_document", "the task never finished"
        runs.append(NodeRun(node, status, rc, detail))
    return runs


_LABEL = re.compile(r"^\s*(\d+): ?(.*)$")


def _from_labels(stdout: str, stderr: str, work_dir: str) -> list[NodeRun]:
    """Split srun --label output by task: each task's document goes to work_dir/<node>.json."""
    outs: dict[int, list[str]] = {}
    errs: dict[int, list[str]] = {}
    for text, into in ((stdout, outs), (stderr, errs)):
        for line in text.splitlines():
            m = _LABEL.match(line)
            if m:
                into.setdefault(int(m.group(1)), []).append(m.group(2))
    runs = []
    for task in sorted(set(outs) | set(errs)):
        lines = outs.get(task, [])
        node = next((ln[len(MARK):].strip() for ln in lines if ln.startswith(MARK)), f"task-{task}")
        rc = next((int(ln.split()[-1]) for ln in lines if ln.startswith("@@kbackend-fleet-rc ")
                   and ln.split()[-1].lstrip("-").isdigit()), None)
        body = "\n".join(ln for ln in lines if not ln.startswith("@@kbackend-fleet-"))
        has_doc = bool(body.strip())
        if has_doc:
            with open(os.path.join(work_dir, f"{node}.json"), "w", encoding="utf-8") as f:
                f.write(body)
        status, detail = _status(rc, has_doc, _tail("\n".join(errs.get(task, []))))
        runs.append(NodeRun(node, status, rc, detail))
    return runs


def merge(fr: FleetRun, *, uniform: Sequence[str], slow: float = M.SLOW) -> M.FleetReport:
    """The fleet view of the run: its documents merged; nodes that gave none are the missing ones."""
    files = [os.path.join(fr.docs_dir, f"{r.node}.json") for r in fr.runs if r.status == "answered"]
    rep = M.merge(files, uniform=uniform, expected=fr.expected, slow=slow)
    return rep


def describe(p: Plan) -> str:
    """'srun --nodes=2 … : kbackend doctor --json' for the progress line."""
    srun = p.srun[:p.srun.index("sh")]
    i = p.node_argv.index("kbackend") + 1 if "kbackend" in p.node_argv else 0
    return " ".join(shlex.quote(a) for a in srun) + " : kbackend " + " ".join(shlex.quote(a) for a in p.node_argv[i:])
