"""`gatebook gate`, `gatebook triage`, `gatebook stop`: options in, library calls, output out.

The work is in :mod:`gatebook.gates.triage` and :mod:`gatebook.gates.stop`; the tables in
:mod:`gatebook.render.gates`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from gatebook.cli.common import (
    console,
    emit_json,
    json_option,
    open_ledger,
    project_config,
    store_option,
    store_url_flag,
)
from gatebook.errors import UsageError

if TYPE_CHECKING:
    from gatebook.gates.triage import Triage


@click.command("gate")
@click.argument("run")
@click.option("--gate", "gates", multiple=True, metavar="NAME",
              help="A gate from gatebook.yaml (repeatable; default: all).")
@click.option("--baseline", "-b", metavar="RUN", help="Baseline run (overrides the gates' baseline:).")
@click.option("--strict", is_flag=True, help="MARGINAL counts as a failure (exit 1).")
@store_option
@json_option
def gate_cmd(run: str, gates: tuple[str, ...], baseline: str | None, strict: bool, as_json: bool) -> int:
    """Judge RUN with gates from gatebook.yaml: a table of checks with their tier.

    Exit 0 on PASS (and on MARGINAL, with a warning, unless --strict), 1 on FAIL or
    while checks are PENDING, 2 on input errors or an ERROR check (a metric the run
    never logged, a baseline without it).
    """
    from gatebook.gates.evaluate import Tier
    from gatebook.gates.triage import gate_run
    from gatebook.render.gates import advice_lines, print_verdict

    with open_ledger() as store:
        judged = gate_run(store, project_config(), run, gates, baseline)
    record, verdict = judged.run, judged.verdict
    if as_json:
        emit_json(judged.to_dict())
    else:
        con = console()
        print_verdict(con, verdict, record.label, judged.baseline_labels)
        for a in judged.advice:
            for line in advice_lines(a, record.name or record.id):
                con.print(line, markup=False)
    tier = verdict.tier
    if tier is Tier.ERROR:
        first = next(c for g in verdict.gates for c in g.checks if c.tier is Tier.ERROR)
        print(f"gatebook: error: {first.check}: {first.reason}", file=sys.stderr)
        return 2
    if tier is Tier.MARGINAL:
        if not as_json:
            print("gatebook: warning: verdict MARGINAL" + (" (--strict: failing)" if strict else ""), file=sys.stderr)
        return 1 if strict else 0
    return 0 if tier is Tier.PASS else 1


@click.command("triage")
@click.argument("run")
@click.option("--gate", "gates", multiple=True, metavar="NAME",
              help="Gate to triage (default: the gates the run was started with, else all).")
@click.option("--baseline", "-b", metavar="RUN", help="Baseline run (overrides the gates' baseline:).")
@click.option("--apply", "apply_", is_flag=True, help="Launch the next fix as a new run (parent = RUN).")
@click.option("--all", "all_fixes", is_flag=True,
              help="With --apply: run every untried fix of the failed gate's playbook, as one sweep.")
@click.option("--parallel", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --apply --all: fixes run at once.")
@store_option
@json_option
def triage_cmd(run: str, gates: tuple[str, ...], baseline: str | None, apply_: bool, all_fixes: bool,
               parallel: int, as_json: bool) -> int:
    """Say why RUN failed its gates and what to try next, from the gates' playbooks.

    Lists the failure signatures that match the run and the fixes in order, marking
    those already tried (a child run of RUN carries their settings). --apply runs the
    next fix: RUN's command with the fix's settings (in a copy of its --config file, or
    as --key value arguments), named after the fix, with RUN as parent and the same
    gates and watched files; the exit code is then that run's. --apply --all runs every
    untried fix of the first failed gate's playbook as one sweep named RUN-fixes (each a
    child of RUN, --parallel at once), ranked against RUN; exit 0 when the sweep ran.
    """
    from gatebook.gates.triage import triage_run
    from gatebook.render.gates import advice_lines, fix_lines, print_verdict

    with open_ledger() as store:
        found = triage_run(store, project_config(), run, gates, baseline)
    judged = found.judged
    record = judged.run
    if not as_json:
        con = console()
        con.print(f"{record.label}: {record.status.value}" + (f" ({record.reason})" if record.reason else ""),
                  markup=False)
        print_verdict(con, judged.verdict, record.label, judged.baseline_labels)
        if not found.failing:
            con.print("no gate failed: nothing to triage")
        for a in judged.advice:
            for line in fix_lines(a) + advice_lines(a, record.name or record.id, hint=not apply_):
                con.print(line, markup=False)
    if all_fixes and not apply_:
        raise UsageError("--all goes with --apply", hint="gatebook triage RUN --apply --all")
    doc = judged.triage_dict()
    if not apply_:
        if as_json:
            emit_json(doc)
        return 0
    found.pending()  # a UsageError when no fix is left
    if all_fixes:
        return _apply_all(found, parallel, as_json)
    return _apply(found, doc, as_json)


def _apply_all(found: Triage, parallel: int, as_json: bool) -> int:
    """Every untried fix of the failed gate's playbook as one sweep, run with the sweep's progress."""
    from gatebook import project
    from gatebook.cli.sweep import execute_plan
    from gatebook.gates.triage import plan_all_fixes
    from gatebook.project_config import load_project_config
    from gatebook.store import open_store

    proj = project.locate(store_url_flag(), create=False)
    store = open_store(proj.store_url)
    plan = plan_all_fixes(store, load_project_config(proj.root), found,
                          store_url=proj.store_url, root=proj.root, parallel=parallel)
    return execute_plan(plan, store, as_json=as_json)


def _apply(found: Triage, doc: dict[str, Any], as_json: bool) -> int:
    """The next fix as a new run: what it changes and its command on stderr, then the run's end."""
    from gatebook import project
    from gatebook.gates.triage import prepare_fix, run_fix
    from gatebook.render.run_end import print_end

    proj = project.locate(store_url_flag(), create=False)
    launch = prepare_fix(found, root=proj.root, store_flag=store_url_flag(), echo=not as_json)
    if not as_json:
        print(f'gatebook: applying fix "{launch.fix.name}" of gate {launch.gate}: ' + "; ".join(launch.applied.how),
              file=sys.stderr, flush=True)
        print("gatebook: running: " + " ".join(launch.shown), file=sys.stderr, flush=True)
    result = run_fix(launch)
    if as_json:
        config_copy = launch.applied.config_copy
        emit_json({**doc, "applied": {"gate": launch.gate, "fix": launch.fix.name, "command": launch.shown,
                                      "config_copy": str(config_copy) if config_copy else None,
                                      "run": {"id": result.run_id, "name": launch.name,
                                              "status": result.status.value, "exit_code": result.exit_code}}})
    else:
        print_end(result)
    return result.exit_code


@click.command("stop")
@click.argument("run")
@click.option("--reason", "-r", metavar="TEXT", help="Why (recorded as the run's reason).")
@click.option("--grace", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds between SIGTERM and SIGKILL (for a run recorded by the API alone).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the process has ended.")
@store_option
@json_option
def stop_cmd(run: str, reason: str | None, grace: float, wait: bool, as_json: bool) -> int:
    """Stop a running run from any shell, the way a failed gate does.

    Records the stop (status `stopped`, the reason) in the ledger; the `gatebook run`
    or `gatebook attach` supervising the run sees it within a second and sends SIGTERM
    to the process group, then SIGKILL after its grace period. A run recorded by the
    Python API alone gets the signals from this command (same host only); code that
    polls `gatebook.should_stop()` can save a checkpoint and exit cleanly instead.
    """
    from gatebook.gates.stop import stop_run

    with open_ledger() as store:
        outcome = stop_run(store, run, reason=reason, grace=grace, wait=wait)
    if as_json:
        emit_json(outcome.to_dict())
    else:
        ended = outcome.ended
        tail = " and its process has ended" if ended else (" (its process is still ending)" if wait else "")
        print(f"gatebook: stopped {outcome.run.label}: {outcome.run.reason}{tail}", file=sys.stderr)
    return 0
