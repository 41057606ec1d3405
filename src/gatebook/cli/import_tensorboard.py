"""`gatebook import tensorboard LOGDIR`: every scalar of every event file, a run per run directory."""

from __future__ import annotations

import click

from gatebook.cli.common import emit_json, json_option, open_ledger, store_option


@click.command("tensorboard")
@click.argument("logdir", type=click.Path(file_okay=True, dir_okay=True, path_type=str))
@click.option("--name", default=None, metavar="NAME",
              help="Name of the run (several run directories: NAME/<relative path>).")
@store_option
@json_option
def tensorboard_cmd(logdir: str, name: str | None, as_json: bool) -> int:
    """Import every scalar of the TensorBoard event files under LOGDIR: one run per run directory,
    steps and wall times kept, nothing sampled. Idempotent: importing again adds only what is new.
    To follow event files live instead, use `gatebook run --watch LOGDIR -- CMD`."""
    from gatebook.importers.tensorboard import import_tensorboard

    result = import_tensorboard(open_ledger(create=True), logdir, name=name)
    if as_json:
        emit_json(result.to_dict())
        return 0
    for run in result.runs:
        what = "imported" if run.created else ("updated" if run.points else "unchanged")
        click.echo(f"gatebook: {what} {run.name} ({run.id}): {run.points} point(s) from {run.files} file(s)")
    for warning in result.warnings:
        click.echo(f"gatebook: warning: {warning}", err=True)
    return 0
