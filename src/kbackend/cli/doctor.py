"""`kbackend doctor`: parse, gather facts, run checks, render. Logic lives in kbackend.doctor."""

from __future__ import annotations

import click

from kbackend.cli import catalog
from kbackend.cli.main import STATE, json_option
from kbackend.cli.params import multi_option


@click.command()
@click.option("--list-checks", is_flag=True, help="List the checks and exit.")
@multi_option("--check", "check_ids", complete=catalog.CHECKS, metavar="ID",
              help="Run only this check (see --list-checks).")
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
@click.option("--report", is_flag=True,
              help="Print a paste-ready block for a bug report (home, user name, GPU UUIDs and "
                   "secrets removed; with --json, from the whole document).")
@click.option("--refresh", is_flag=True, help="Ignore the probe cache and probe every backend again.")
@click.option("--all", "all_backends", is_flag=True,
              help="Probe every backend kbackend knows, not only the installed ones.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=90.0, show_default=True, metavar="SECONDS",
              help="Give up on a backend's probe after this many seconds.")
@click.option("--fix", "fix", is_flag=True,
              help="Show a plan of the fixes kbackend can carry out itself (switch, remove a pin, install a "
                   "wheel into the target environment); nothing is changed without --yes.")
@click.option("--yes", is_flag=True, help="With --fix: carry out the plan, each step printed with its command.")
@click.option("--verbose", is_flag=True,
              help="Show every check, also the GPU checks that a machine without an NVIDIA GPU skips "
                   "(folded into one line otherwise).")
@click.option("--quiet", "-q", is_flag=True,
              help="Health-check mode (a Slurm Prolog or HealthCheckProgram): nothing on success, one line "
                   "per problem on stdout, no progress. Exit 0 clear, 1 a problem on this node, 2 usage, "
                   "3 internal error.")
@json_option
def doctor(list_checks, check_ids, strict, report, refresh, all_backends, timeout, fix, yes, verbose, quiet):
    """Check the whole setup: Keras, keras.json, the backends, the GPU stack; with the fix for each problem.

    Each backend is imported in a child process (in parallel, cached until something
    changes). Exit 0 when no check is an error, 1 otherwise (with --strict, warnings too).

    \b
    Examples:
      kbackend doctor
      kbackend doctor --check backend-importable --check versions
      kbackend --python ~/venvs/tf/bin/python doctor --json
      kbackend doctor --report > report.md
      kbackend doctor --fix            # the plan
      kbackend doctor --fix --yes      # carry it out
      kbackend doctor --quiet --check config,gpu-driver || drain-this-node
    """
    from kbackend.doctor import service
    from kbackend.render import doctor_view
    from kbackend.render.progress import progress

    if yes and not fix:
        raise click.UsageError("--yes carries out the plan of --fix. Received: --yes without --fix; add --fix")
    checks = service.all_checks()
    if list_checks:
        return doctor_view.list_checks(checks)
    selected = service.select(checks, check_ids)
    target = STATE.target()
    ctx = STATE.config()
    with progress("doctor", enabled=False if quiet else None) as step:
        on_start, on_done = doctor_view.probe_steps(step)
        facts, info = service.collect(
            target, ctx, scope=service.probe_scope(selected),
            all_backends=all_backends, refresh=refresh, timeout=timeout, on_start=on_start, on_done=on_done,
            coload=service.needs_coload(selected),
        )
    res = service.diagnose(facts, selected, info, strict=strict)
    if fix:
        res = service.with_fixes(res, ctx, apply=yes, echo=doctor_view.fix_echo)
    if quiet and not report:
        return doctor_view.quiet(res)
    return doctor_view.render(res, report=report, verbose=verbose)
