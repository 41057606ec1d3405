"""`gatebook keys`: metric-key contracts."""

from __future__ import annotations

from typing import Any

import click

from gatebook.cli.common import console, emit_json, json_option, open_ledger, project_config, store_option
from gatebook.errors import UsageError


def _required_keys() -> tuple[list[str], str | None]:
    pconf = project_config()
    if not pconf.keys.required:
        where = f"{pconf.source} has no keys.required" if pconf.source else "no gatebook.yaml with keys.required"
        raise UsageError(f"nothing to check RUN against: {where} and --like was not given",
                         hint='add `keys: {required: ["val_loss", "rollout/*"]}` or pass --like RUN')
    return list(pconf.keys.required), pconf.source


@click.command("keys")
@click.argument("run")
@click.option("--like", "like", metavar="RUN", help="Require the same keys as this run instead of keys.required.")
@store_option
@json_option
def keys_cmd(run: str, like: str | None, as_json: bool) -> int:
    """Check that RUN emits the metric keys it must.

    Without --like: every entry of `keys: {required: [...]}` in gatebook.yaml, an exact
    key or a shell glob (`rollout/*`) that at least one key must match. With --like
    OTHER: every key OTHER emits (keys only in RUN are listed as extra, not a failure).
    A run's keys are its metric keys and the keys of its numeric summary values.

    Exit 0 when nothing is missing, 1 when a key is missing, 2 when there is nothing to
    check against (no keys.required and no --like) or a run does not exist.
    """
    from gatebook.analysis.keys import check_like, check_required, run_keys
    from gatebook.liveness import resolve_current

    with open_ledger() as store:
        record = resolve_current(store, run)
        keys = run_keys(store, record.id)
        other = None
        source = None
        if like is not None:
            other = store.resolve_run(like)
            report = check_like(keys, run_keys(store, other.id))
        else:
            required, source = _required_keys()
            report = check_required(keys, required)
    if as_json:
        doc = {"run": record.ref(), "like": other.ref() if other is not None else None, "source": source}
        doc.update(report.to_dict())
        doc["verdict"] = "PASS" if report.ok else "FAIL"
        emit_json(doc)
    else:
        _print(record, other, source, report)
    return 0 if report.ok else 1


def _print(record: Any, other: Any, source: str | None, report: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    con = console()
    verdict = "[green]PASS[/]" if report.ok else "[red]FAIL[/]"
    against = f"like {other.label}" if other is not None else f"required by {source or 'gatebook.yaml'}"
    con.print(f"[bold]keys of {escape(record.label)}, {record.status.value}, {escape(against)}[/bold]: {verdict}")
    rows = report.requirements if other is None else [r for r in report.requirements if not r.ok]
    if rows or report.extra:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col in ("key", "result", "matched"):
            table.add_column(col, overflow="fold")
        for req in rows:
            result = "[green]PASS[/]" if req.ok else "[red]MISSING[/]"
            table.add_row(escape(req.pattern), result, escape(", ".join(req.matched)))
        for key in report.extra:
            table.add_row(escape(key), "[yellow]EXTRA[/]", "")
        con.print(table)
    total = len(report.requirements)
    if other is not None:
        con.print(f"{total - len(report.missing)} of {total} keys of {escape(other.label)} present, "
                  f"{len(report.missing)} missing, {len(report.extra)} extra (not a failure)")
    if report.ok:
        con.print(f"verdict: [green]PASS[/] (all {total} {'keys' if other is not None else 'required keys'} present)")
    else:
        still = " (the run is still running: more keys may come)" if record.status.value == "running" else ""
        con.print(f"verdict: [red]FAIL[/]: missing {len(report.missing)} of {total}: "
                  + escape(", ".join(report.missing)) + still)
