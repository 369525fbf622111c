"""`kbackend fleet merge` and `kbackend fleet run --slurm`: parse, call kbackend.fleet, render."""

from __future__ import annotations

import click

from kbackend.cli.main import STATE, json_option

UNIFORM_HELP = ("Facts that must be the same on every node: a difference fails (exit 1). Comma list "
                "(driver, cuda, cudart, cudnn, keras, backend, floatx, python, jax, torch, env:VAR, gpus, "
                "kernel, ...), +NAME to add to the default, 'all' or 'none'. [default: driver,cuda,cudnn,keras,backend]")


def _report_options(f):
    f = click.option("--html", "html_file", metavar="FILE", type=click.Path(dir_okay=False),
                     help="Also write a self-contained HTML page (nodes × checks).")(f)
    f = click.option("--markdown", "markdown_file", metavar="FILE", type=click.Path(dir_okay=False),
                     help="Also write a markdown summary (a CI job page, an issue).")(f)
    f = click.option("--slow", type=click.FloatRange(0, min_open=True), default=20.0, show_default=True,
                     metavar="PCT", help="A node this much slower than the fleet median on a bench case is an "
                                         "outlier.")(f)
    f = click.option("--uniform", metavar="FACTS", default=None, help=UNIFORM_HELP)(f)
    return f


@click.group()
@click.pass_context
def fleet(ctx):
    """Doctor, verify and bench over many nodes: run them on each (Slurm) and merge the documents.

    \b
    Examples:
      kbackend fleet merge results/
      kbackend fleet merge --uniform +jax,env:XLA_FLAGS --html fleet.html results/
      kbackend fleet run --slurm -N 16 -p gpu --out /shared/kb -- doctor
      kbackend fleet run --slurm --nodes 4 -- verify --backend jax --quick
    """
    if ctx.invoked_subcommand:  # errors and envelopes name the whole command: "fleet merge"
        STATE.command = f"fleet {ctx.invoked_subcommand}"


@fleet.command()
@click.argument("paths", nargs=-1, required=True, metavar="FILES|DIR...")
@click.option("--expect", metavar="NODES", help="The nodes that should have answered (node-[01-16],gpu1): "
                                                "any without a document is reported missing (exit 1).")
@_report_options
@json_option
def merge(paths, expect, uniform, slow, markdown_file, html_file):
    """Merge per-node `doctor --json`, `verify --json` and `bench --json` documents into one fleet view.

    Prints nodes × checks, the facts that differ between nodes (one line each: "15 nodes
    agree on 570.124; node-07 differs: 575.51"), bench cases where a node is 20 % or more
    slower than the fleet median, and verify rows failing on some nodes only. A folder is
    read for *.json at every depth; a file may hold several documents; - reads them from
    standard input. Exit 1 when a node
    has an error, a --uniform fact differs, or a file could not be read.

    \b
    Examples:
      kbackend fleet merge results/
      kbackend fleet merge --expect node-[01-16] node-*.json --markdown fleet.md
      kbackend fleet merge --uniform all --json results/ > fleet.json
    """
    from kbackend.fleet import merge as M
    from kbackend.render import fleet_view

    expected = M.expand_hostlist(expect) if expect else ()
    rep = M.merge(paths, uniform=M.parse_uniform(uniform), expected=expected, slow=1 + slow / 100)
    M.require_documents(rep, paths)
    return fleet_view.render(rep, markdown_file=markdown_file, html_file=html_file)


@fleet.command(context_settings={"ignore_unknown_options": False})
@click.option("--slurm", is_flag=True, help="Launch through Slurm's srun (the one launcher today).")
@click.option("--nodes", "-N", type=click.IntRange(1), default=None, metavar="N",
              help="Nodes to run on, one task each (default: srun's, or the allocation's).")
@click.option("--partition", "-p", metavar="P", help="Slurm partition.")
@click.option("--account", "-A", metavar="A", help="Slurm account.")
@click.option("--time", "-t", "time_", metavar="T", help="Slurm time limit (minutes, or [D-]HH:MM:SS).")
@click.option("--out", metavar="DIR", type=click.Path(file_okay=False),
              help="A folder every node sees: each writes DIR/<node>.json (default: srun's labelled output).")
@click.option("--timeout", type=click.FloatRange(min=0), default=900.0, show_default=True, metavar="SECONDS",
              help="Give up on a node after this long (0: no limit).")
@click.option("--kbackend", "kbackend_cmd", metavar="CMD",
              help="The kbackend each node runs (default: this one, `python -m kbackend` with this interpreter).")
@click.option("--srun-arg", "srun_args", multiple=True, metavar="ARG", help="One more argument for srun (repeatable).")
@click.option("--python", "python", metavar="PATH", default=None,
              help="The interpreter each node describes (passed through as kbackend --python).")
@_report_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="-- [doctor|verify|bench ARGS]")
@json_option
def run(slurm, nodes, partition, account, time_, out, timeout, kbackend_cmd, srun_args, python, uniform, slow,
        markdown_file, html_file, command):
    """Run doctor (or verify, bench) on every node, one task per node, and merge the documents.

    Each node runs `kbackend CMD --json` with the same kbackend (clusters share their
    software) and describes --python's interpreter when given. Nodes that did not answer or
    timed out are reported as missing; exit 1 then, as for `fleet merge`.

    \b
    Examples:
      kbackend fleet run --slurm --nodes 16 --partition gpu
      kbackend fleet run --slurm -N 8 -A proj -t 10 -- doctor --check versions
      kbackend fleet run --slurm -N 4 --python ~/jax/bin/python -- verify -b jax
    """
    from kbackend import _procs
    from kbackend.errors import UsageError
    from kbackend.fleet import merge as M
    from kbackend.fleet import slurm as S
    from kbackend.render import fleet_view

    if not slurm:
        raise UsageError("fleet run needs a launcher: --slurm (Kubernetes and Ray: README, \"Fleet\").",
                         fix="kbackend fleet run --slurm --nodes N -- doctor")
    p = S.plan(command, nodes=nodes, partition=partition, account=account, time=time_, out=out, timeout=timeout,
               python=python or STATE.python, kbackend=kbackend_cmd, srun_args=srun_args)
    from kbackend.render.progress import progress

    fleet_view.progress_line(f"fleet: {S.describe(p)}")
    with _procs.temp_dir("fleet-") as work, progress("fleet", nodes) as step:
        fr = S.run(p, work_dir=work, on_node=fleet_view.node_steps(step))
        rep = S.merge(fr, uniform=M.parse_uniform(uniform), slow=1 + slow / 100)
    return fleet_view.render(rep, command="fleet run", markdown_file=markdown_file, html_file=html_file,
                             extra=fr.extra(), before=lambda: fleet_view.run_notes(fr))
