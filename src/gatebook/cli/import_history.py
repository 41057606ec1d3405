"""`gatebook import history FILE --name N`: a history file a training already wrote, as one run."""

from __future__ import annotations

import click

from gatebook.cli.common import emit_json, json_option, open_ledger, store_option


@click.command("history")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--name", required=True, metavar="NAME", help="Name of the run.")
@click.option("--parent", default=None, metavar="RUN", help="The run this one belongs to (id, name or @alias).")
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl", "csv", "log"]), default=None,
              help="The file's format (default: from its suffix, else its content).")
@store_option
@json_option
def history_cmd(file: str, name: str, parent: str | None, fmt: str | None, as_json: bool) -> int:
    """Import FILE (a history.json: list of rows or dict of lists, a trainer_state.json, JSON lines,
    CSV) as one run, read as `--watch` reads it. Importing the same file again adds only new rows."""
    from gatebook.importers.history import import_history

    result = import_history(open_ledger(create=True), file, name=name, parent=parent, fmt=fmt)
    if as_json:
        emit_json(result.to_dict())
        return 0
    what = "imported" if result.created else ("updated" if result.points else "unchanged")
    click.echo(f"gatebook: {what} {result.name} ({result.id}): {result.points} point(s) of "
               f"{len(result.keys)} metric(s)")
    for warning in result.warnings:
        click.echo(f"gatebook: warning: {warning}", err=True)
    return 0
