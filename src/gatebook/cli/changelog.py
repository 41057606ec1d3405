"""`gatebook changelog`: the Markdown change-log table of runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gatebook.cli.common import (
    emit_json,
    json_option,
    open_ledger,
    project_config,
    selection_options,
    store_option,
)
from gatebook.errors import UsageError
from gatebook.selection import parse_since

if TYPE_CHECKING:
    pass


@click.command("changelog")
@click.argument("runs", nargs=-1, metavar="[RUN]...")
@click.option("--since", metavar="DATE", help="Only runs started since: 2026-11-01, an ISO time, or 2h, 3d, 1w.")
@selection_options
@click.option("--metric", "-m", "metrics", multiple=True, metavar="KEY",
              help="A metric column (repeatable; default: metrics.primary, else the 3 most common keys).")
@click.option("--stat", type=click.Choice(["last", "best"]), default="last", show_default=True,
              help="Each run's value in the metric columns: its last value, or its best by the metric's direction.")
@click.option("--out", "-o", "out", metavar="FILE", help="Write the Markdown to FILE (atomically) instead of stdout.")
@store_option
@json_option
def changelog_cmd(runs: tuple[str, ...], since: str | None, tags: tuple[str, ...], group: str | None,
                  last: int | None, metrics: tuple[str, ...], stat: str, out: str | None, as_json: bool) -> int:
    """Write the change log of runs as a Markdown table, oldest first.

    One row per run: date and run, the params changed against its parent run and its
    notes, the files changed since the parent's commit (uncommitted ones marked *), one
    column per metric (the best so far in bold) and why it stopped or failed, with its
    gates' verdict. RUN is an id, id prefix, name or name glob; with no RUN, --tag or
    --group: every run (narrowed by --since and --last). The output is deterministic
    (no generation time, dates in UTC): commit it and regenerate it. --json prints
    the same rows as JSON. See docs/changelog.md.
    """
    from gatebook.analysis.changelog import load
    from gatebook.render.changelog import render_markdown

    since_ts = parse_since(since) if since else None
    if last is not None and last < 1:
        raise UsageError(f"--last {last}: give a positive number of runs")
    with open_ledger() as store:
        from gatebook.selection import select_timeline

        records = select_timeline(store, runs, tags=tags, group=group, last=last, since=since_ts, since_text=since)
        pconf = project_config()
        log = load(store, records, metrics=list(metrics), primary=list(pconf.metrics.primary),
                   direction_of=pconf.metrics.direction, stat=stat)
    written = None
    if out:
        written = _write_atomic(Path(out), render_markdown(log))
    if as_json:
        doc = log.to_dict()
        doc["out"] = str(written) if written else None
        emit_json(doc)
    elif written:
        click.echo(f"wrote {written} ({_count(len(log.rows), 'run')}, {_count(len(log.metrics), 'metric column')})")
    else:
        sys.stdout.write(render_markdown(log))
    return 0


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _write_atomic(path: Path, text: str) -> Path:
    """Write the change log whole or not at all (gatebook.files); errors are one line (exit 2)."""
    from gatebook.files import write_atomic

    if path.is_dir():
        raise UsageError(f"--out {path}: is a directory", hint="give a file name, e.g. CHANGELOG.md")
    try:
        return write_atomic(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}",
                         hint="check the directory exists and is writable") from None
