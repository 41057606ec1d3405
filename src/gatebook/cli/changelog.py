"""`gatebook changelog`: the Markdown change-log table of runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gatebook.cli.common import (
    emit_json,
    json_option,
    open_ledger,
    parse_since,
    project_config,
    selection_options,
    store_option,
)
from gatebook.errors import UsageError

if TYPE_CHECKING:
    from gatebook.store.base import Store


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
        records = _select(store, runs, tags, group, last, since_ts, since)
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


def _select(store: Store, refs: tuple[str, ...], tags: tuple[str, ...], group: str | None, last: int | None,
            since_ts: float | None, since_text: str | None) -> list[Any]:
    from gatebook.store.base import RunQuery

    if refs or tags or group:
        from gatebook.selection import select_runs

        picked = select_runs(store, refs, tags=tags, group=group)
        if since_ts is not None:
            picked = [r for r in picked if r.created_at >= since_ts]
    else:  # the whole ledger (the newest N of it with --last)
        picked = store.list_runs(RunQuery(since=since_ts, sort="-created", limit=last or 0), full=True)
    picked = sorted(picked, key=lambda r: (r.created_at, r.id))
    if last is not None:
        picked = picked[-last:]
    if not picked:
        if since_text:
            raise UsageError(f"no selected run started since {since_text}", hint="see `gatebook ls`")
        raise UsageError("no runs yet", hint="record one with `gatebook run -- CMD`")
    from gatebook.liveness import current

    return current(store, picked)


def _write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same directory, renamed
    over it: readers never see half a file. Errors are one line (exit 2)."""
    import tempfile

    if path.is_dir():
        raise UsageError(f"--out {path}: is a directory", hint="give a file name, e.g. CHANGELOG.md")
    directory = path.parent if str(path.parent) else Path(".")
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        if path.exists():
            try:
                os.chmod(tmp_name, path.stat().st_mode & 0o7777)
            except OSError:
                pass
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}",
                         hint="check the directory exists and is writable") from None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    return path
