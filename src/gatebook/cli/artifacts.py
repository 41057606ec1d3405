"""`gatebook artifacts`: a run's artifacts with their lineage; `--path` for scripts, `--verify` re-hashes."""

from __future__ import annotations

import sys

import click

from gatebook.cli.common import console, emit_json, json_option, open_ledger, store_option
from gatebook.errors import UsageError


@click.command("artifacts")
@click.argument("run")
@click.option("--kind", "-k", help="Only artifacts of this kind (checkpoint, config, patch...).")
@click.option("--path", "one_path", is_flag=True,
              help="Print only one path: the newest artifact of --kind, or the run's only one.")
@click.option("--verify", is_flag=True, help="Re-hash every listed file; exit 1 if one changed or vanished.")
@store_option
@json_option
def artifacts_cmd(run: str, kind: str | None, one_path: bool, verify: bool, as_json: bool) -> int:
    """List the artifacts RUN (an id, id prefix, name or @alias) logged: path, kind, size,
    sha256, when, and the files each was made from (with the runs that logged them).

    --path prints one path and nothing else, for `$(gatebook artifacts @champion --kind
    checkpoint --path)`; none, or several without --kind, is an error (exit 2). --verify
    re-hashes every listed file: exit 0 when all match what was logged, 1 when one changed
    or vanished (each named in one line). The dirty-tree patch is kept in the ledger and
    checked against its stored content.
    """
    from gatebook import artifacts as lib
    from gatebook.liveness import resolve_current
    from gatebook.render.artifacts import format_listing, format_verification

    if one_path and verify:
        raise UsageError("--path and --verify do not go together", hint="run them one after the other")
    store = open_ledger()
    record = resolve_current(store, run)
    listing = lib.list_artifacts(store, record, kind)
    color = console().color_system is not None
    if one_path:
        chosen = lib.choose_path(listing)
        if as_json:
            emit_json({"run": record.ref(), "artifact": chosen.to_dict()})
        else:
            sys.stdout.write(chosen.path + "\n")
        return 0
    if verify:
        result = lib.verify(store, listing)
        if as_json:
            emit_json(result.to_dict())
        elif result.checks:
            sys.stdout.write(format_verification(result, color=color))
        else:
            click.echo(_none(record.label, kind), err=True)
        return 0 if result.ok else 1
    if as_json:
        emit_json(listing.to_dict())
    elif listing.artifacts:
        sys.stdout.write(format_listing(listing, color=color))
    else:
        click.echo(_none(record.label, kind), err=True)
    return 0


def _none(label: str, kind: str | None) -> str:
    return f"run {label} has no artifacts" + (f" of kind {kind!r}" if kind else "")
