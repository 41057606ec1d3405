"""`gatebook compare`: runs side by side (data: gatebook.analysis.compare; text: gatebook.render.compare)."""

from __future__ import annotations

import sys

import click

from gatebook.cli.common import (
    console,
    emit_json,
    json_option,
    open_ledger,
    project_config,
    selection_options,
    store_option,
)


@click.command("compare")
@click.argument("runs", nargs=-1, metavar="[RUN]...")
@click.option("--baseline", "-b", metavar="RUN",
              help="Deltas are against this run, shown first (added when not selected). "
                   "Default: the --gate gates' baseline, else the first run.")
@click.option("--metric", "-m", "metrics", multiple=True, metavar="M",
              help="A metric column (repeatable, or comma-separated). Default: metrics.primary, "
                   "then the gates' metrics, else the metrics the runs share.")
@click.option("--sort", metavar="M", help="Sort rows by metric M, best first by its direction.")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "md", "json", "csv"]), default="table",
              show_default=True, help="md: a GitHub Markdown table; json: the same as --json.")
@click.option("--gate", "gates", multiple=True, metavar="NAME",
              help="Add a verdict column for this gate of gatebook.yaml (repeatable).")
@selection_options
@store_option
@json_option
def compare_cmd(runs: tuple[str, ...], baseline: str | None, metrics: tuple[str, ...], sort: str | None, fmt: str,
                gates: tuple[str, ...], tags: tuple[str, ...], group: str | None, last: int | None,
                as_json: bool) -> int:
    """Compare runs side by side: one row per run, one column per metric.

    RUN is an id, id prefix, name or name glob (exp-*). Each value is the metric's
    last logged value, with its delta against the baseline (green better, red worse
    by the metric's direction in gatebook.yaml; the best value per column in bold).
    Runs that lack a metric show a blank. Exit 0, or 2 on bad input (an unknown run,
    a metric no selected run has).
    """
    from gatebook.analysis.compare import build_comparison
    from gatebook.liveness import current
    from gatebook.render.compare import format_with_legend, render_csv, render_markdown
    from gatebook.selection import select_runs

    pconf = project_config()
    with open_ledger() as store:
        selected = select_runs(store, runs, tags=tags, group=group, last=last, full=False)
        base = None
        if baseline:
            from gatebook.errors import NotFoundError

            try:
                base = store.resolve_run(baseline)
            except NotFoundError as exc:
                raise NotFoundError(f"--baseline: {exc.message}", hint=exc.hint) from None
        selected = current(store, selected)
        if base is not None:
            base = current(store, [base])[0]
        comparison = build_comparison(store, selected, metrics=list(metrics) or None, baseline=base, pconf=pconf,
                                      gates=gates, sort=sort)
    if as_json or fmt == "json":
        emit_json(comparison.to_dict())
    elif fmt == "md":
        sys.stdout.write(render_markdown(comparison))
    elif fmt == "csv":
        sys.stdout.write(render_csv(comparison))
    else:
        color = console().color_system is not None  # a terminal, and no NO_COLOR
        sys.stdout.write(format_with_legend(comparison, color=color, empty="no selected run logged any metric"))
    return 0
