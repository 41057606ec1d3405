"""`gatebook import mlflow`: bring MLflow runs into the ledger (gatebook.importers.mlflow does the work)."""

from __future__ import annotations

import click

from gatebook.cli.common import emit_json, json_option, open_ledger, store_option


@click.command("mlflow")
@click.option("--tracking-uri", "tracking_uri", required=True, metavar="URI",
              help="MLflow's tracking URI: sqlite:///mlflow.db, file:///path/mlruns (or the directory), "
                   "http://host:5000, ...")
@click.option("--experiment", "-e", "experiments", multiple=True, metavar="NAME",
              help="Only this experiment (repeatable); default: every active experiment.")
@store_option
@json_option
def mlflow_cmd(tracking_uri: str, experiments: tuple[str, ...], as_json: bool) -> int:
    """Import MLflow runs: params, tags, every metric's history, status (idempotent).

    Run it again to bring in what changed: runs still running in MLflow get their new points and
    status; runs imported before are not duplicated. See docs/import.md.
    """
    from gatebook.importers.mlflow import import_mlflow
    from gatebook.render.text import duration

    store = open_ledger(create=True)
    result = import_mlflow(store, tracking_uri, experiments)
    if as_json:
        emit_json(result.to_dict())
        return 0
    for run in result.runs:
        if run.action != "unchanged":
            click.echo(f"  {run.action:<8} {run.name} ({run.id}) {run.status}, {run.points:,} point(s)"
                       f"  [{run.experiment} / {run.mlflow_run_id}]")
    click.echo(f"gatebook: imported {len(result.runs)} MLflow run(s) from {result.tracking_uri}: "
               f"{result.count('created')} new, {result.count('updated')} updated, "
               f"{result.count('unchanged')} unchanged, {result.points:,} point(s) "
               f"in {duration(result.seconds)}")
    return 0
