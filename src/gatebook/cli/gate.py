"""`gatebook gate`, `gatebook triage`, `gatebook stop`."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

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


def _judge(store: Any, run: Any, gate_names: tuple[str, ...], baseline: str | None) -> tuple[Any, Any, Any]:
    from gatebook.gates.setup import load_series, prepare_gates

    gating = prepare_gates(store, project_config(), gate_names, baseline)
    series = load_series(store, run.id)
    return gating.judge(series, finished=run.status.is_terminal), gating, series


def _run_ref(run: Any) -> dict[str, Any]:
    return {"id": run.id, "name": run.name, "status": run.status.value}


def _reconciled(store: Any, ref: str) -> Any:
    from gatebook.liveness import reconcile
    from gatebook.settings import load_settings

    run = store.resolve_run(ref)
    return reconcile(store, [run], lost_after=load_settings().lost_after)[0]


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
    from gatebook.gates.report import advice_lines, print_verdict
    from gatebook.gates.setup import advice_for

    with open_ledger() as store:
        record = _reconciled(store, run)
        verdict, gating, series = _judge(store, record, gates, baseline)
        advice = [advice_for(store, record.id, g, series, gating)
                  for g, r in zip(gating.gates, verdict.gates, strict=False) if r.tier is Tier.FAIL and
                  (g.playbook.fixes or g.playbook.signatures)]
    baselines = {name: (b.name or b.id) for name, b in gating.baseline_runs.items()}
    if as_json:
        doc = verdict.to_dict()
        doc.update(run=_run_ref(record), baselines={n: {"id": b.id, "name": b.name}
                                                   for n, b in gating.baseline_runs.items()},
                   advice=[a.to_dict() for a in advice])
        emit_json(doc)
    else:
        con = console()
        print_verdict(con, verdict, record.label, baselines)
        for a in advice:
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
    from gatebook.gates.evaluate import Tier
    from gatebook.gates.report import advice_lines, print_verdict
    from gatebook.gates.setup import advice_for

    with open_ledger() as store:
        record = _reconciled(store, run)
        supervised = (record.provenance or {}).get("gatebook") or {}
        names = gates or tuple(supervised.get("gates") or ())
        stop_gate = next((e.data.get("gate") for e in store.events(record.id, kinds=["stop"])
                          if e.data and e.data.get("gate")), None)
        verdict, gating, series = _judge(store, record, names, baseline or supervised.get("baseline"))
        failing = [g for g, r in zip(gating.gates, verdict.gates, strict=False)
                   if r.tier in (Tier.FAIL, Tier.ERROR) or g.name == stop_gate]
        advice = [advice_for(store, record.id, g, series, gating) for g in failing]
    ref = record.name or record.id
    nxt = next((a for a in advice if a.next_fix is not None), None)
    if not as_json:
        con = console()
        con.print(f"{record.label}: {record.status.value}" + (f" ({record.reason})" if record.reason else ""),
                  markup=False)
        print_verdict(con, verdict, record.label, {n: (b.name or b.id) for n, b in gating.baseline_runs.items()})
        if not failing:
            con.print("no gate failed: nothing to triage")
        for a in advice:
            for fix, tried in a.fixes:
                mark = "tried" if tried else ("next " if a.next_fix is fix else "     ")
                con.print(f"  [{mark}] {fix.name}: " + ", ".join(f"{k}={v}" for k, v in fix.set.items())
                          + (f"  ({fix.why})" if fix.why else ""), markup=False)
            for line in advice_lines(a, ref, hint=not apply_):
                con.print(line, markup=False)
    if all_fixes and not apply_:
        raise UsageError("--all goes with --apply", hint="gatebook triage RUN --apply --all")
    if not apply_:
        if as_json:
            emit_json({"run": _run_ref(record), "verdict": verdict.to_dict(), "advice": [a.to_dict() for a in advice]})
        return 0
    if nxt is None or nxt.next_fix is None:
        raise UsageError(f"no fix left to apply for {ref}" if advice else f"{ref} failed no gate; nothing to apply",
                         hint="add fixes to the gate's playbook in gatebook.yaml" if advice else None)
    if all_fixes:
        return _apply_all(record, next(a for a in advice if a.gate == nxt.gate), gating, supervised, parallel,
                          as_json)
    return _apply(record, nxt.gate, nxt.next_fix, gating, supervised, as_json, verdict, advice)


def _apply_all(record: Any, advice: Any, gating: Any, supervised: dict[str, Any], parallel: int,
               as_json: bool) -> int:
    """Every untried fix of ``advice``'s playbook as one sweep (gatebook.sweep.fixes)."""
    from gatebook import project
    from gatebook.cli.sweep import execute_plan
    from gatebook.project_config import load_project_config
    from gatebook.store import open_store
    from gatebook.sweep.fixes import plan_fixes

    untried = [fix for fix, tried in advice.fixes if not tried]
    proj = project.locate(store_url_flag(), create=False)
    pconf = load_project_config(proj.root)
    argv = _rerunnable_argv(record)
    gates = [g for g in gating.gates if g.name in set(supervised.get("gates") or [advice.gate])]
    store = open_store(proj.store_url)
    plan = plan_fixes(store, pconf, record, untried, argv, gates=gates, store_url=proj.store_url,
                      out_dir=(proj.root or Path(record.cwd or ".")) / ".gatebook" / "fixes", parallel=parallel)
    return execute_plan(plan, store, as_json=as_json)


def _rerunnable_argv(record: Any) -> list[str]:
    """RUN's command, ready to run again: its redacted secrets (``***``) filled in from the
    environment (gatebook.capture.redact.fill_secrets), else a UsageError naming the variables."""
    import shutil

    from gatebook.capture.redact import fill_secrets

    argv = list(record.command)
    if not argv:
        raise UsageError(f"run {record.label} has no recorded command to re-run")
    if shutil.which(argv[0]) is None and argv[0].endswith(".py"):
        argv = [sys.executable, *argv]  # recorded by the API: sys.argv of a script
    if not Path(record.cwd or ".").is_dir():
        raise UsageError(f"run {record.label} ran in {record.cwd}, which no longer exists")
    return fill_secrets(argv, os.environ, what=f"the command of run {record.label}")


def _apply(record: Any, gate_name: str, fix: Any, gating: Any, supervised: dict[str, Any], as_json: bool,
           verdict: Any, advice: list[Any]) -> int:
    from gatebook import project
    from gatebook.capture.redact import redact_argv
    from gatebook.capture.wrapper import WrapOptions, print_end, run_wrapped
    from gatebook.gates.playbook import apply_fix, slug

    argv = _rerunnable_argv(record)
    cwd = Path(record.cwd or os.getcwd())
    proj = project.locate(store_url_flag(), create=False)
    out_dir = (proj.root or cwd) / ".gatebook" / "fixes"
    name = f"{record.name or record.id}-{slug(fix.name)}"
    applied = apply_fix(argv, fix, cwd=cwd, out_dir=out_dir, tag=name)
    say = (lambda line: None) if as_json else (lambda line: print(f"gatebook: {line}", file=sys.stderr, flush=True))
    say(f'applying fix "{fix.name}" of gate {gate_name}: ' + "; ".join(applied.how))
    shown = redact_argv(applied.argv).argv  # the secrets filled in stay out of sight
    say("running: " + " ".join(shown))
    opts = WrapOptions(argv=applied.argv, name=name, parent=record.id, store=store_url_flag(),
                       config_file=supervised.get("config_file"), gates=tuple(supervised.get("gates") or ()),
                       watch=tuple(supervised.get("watch") or ()), baseline=supervised.get("baseline"),
                       echo=not as_json, tags=record.tags)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = run_wrapped(opts)
    finally:
        os.chdir(old)
    if as_json:
        emit_json({"run": _run_ref(record), "verdict": verdict.to_dict(), "advice": [a.to_dict() for a in advice],
                   "applied": {"gate": gate_name, "fix": fix.name, "command": shown,
                               "config_copy": str(applied.config_copy) if applied.config_copy else None,
                               "run": {"id": result.run_id, "name": name, "status": result.status.value,
                                       "exit_code": result.exit_code}}})
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
    from gatebook.gates.live import record_stop, who
    from gatebook.records import RunStatus

    with open_ledger() as store:
        record = _reconciled(store, run)
        if record.status is not RunStatus.RUNNING:
            raise UsageError(f"run {record.label} is not running (it is {record.status.value})",
                             hint="`gatebook ls --status running` lists the running runs")
        by = who()
        text = reason or f"stopped by {by}"
        record_stop(store, record.id, text, by)
        signalled = False
        if record.source not in ("wrapper", "attach"):
            signalled = _signal_api_run(record, grace)
        ended = _wait_gone(record, grace + 5.0) if wait else False
        final = store.get_run(record.id)
    if as_json:
        emit_json({"id": final.id, "name": final.name, "status": final.status.value, "reason": final.reason,
                   "signalled": signalled, "ended": ended})
    else:
        tail = " and its process has ended" if ended else (" (its process is still ending)" if wait else "")
        print(f"gatebook: stopped {final.label}: {final.reason}{tail}", file=sys.stderr)
    return 0


def _same_process(record: Any) -> bool:
    import socket

    from gatebook.capture.recorder import process_start_time

    if record.host != socket.gethostname() or not record.pid:
        return False
    started = process_start_time(record.pid)
    return started is not None and (record.pid_start is None or abs(started - record.pid_start) <= 1.0)


def _signal_api_run(record: Any, grace: float) -> bool:
    """SIGTERM to a run's own process (not its group: that may be the user's shell job)."""
    if not _same_process(record):
        return False
    try:
        os.kill(record.pid, signal.SIGTERM)
    except OSError:
        return False
    end = time.monotonic() + grace
    while time.monotonic() < end and _same_process(record):
        time.sleep(0.05)
    if _same_process(record):
        try:
            os.kill(record.pid, signal.SIGKILL)
        except OSError:
            pass
    return True


def _wait_gone(record: Any, timeout: float) -> bool:
    if not _same_process(record):
        import socket

        return record.host == socket.gethostname()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not _same_process(record):
            return True
        time.sleep(0.05)
    return False
