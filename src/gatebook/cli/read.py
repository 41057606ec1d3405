"""`gatebook ls`, `gatebook show`, `gatebook tail`."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from gatebook.cli.common import (
    ago,
    duration,
    emit_json,
    json_option,
    open_ledger,
    store_option,
)
from gatebook.records import RunStatus
from gatebook.render.styles import status_style
from gatebook.render.text import event_text
from gatebook.selection import parse_since


@click.command("ls")
@click.argument("name_glob", required=False, metavar="[NAME_GLOB]")
@click.option("--tag", "-t", "tags", multiple=True, help="Only runs with this tag (repeatable: all of them).")
@click.option("--status", "-s", "statuses", multiple=True,
              type=click.Choice([s.value for s in RunStatus]), help="Only runs in this status (repeatable).")
@click.option("--group", "-g", help="Only runs of this group.")
@click.option("--since", help="Only runs started since: 2h, 3d, 1w, 2026-11-01.")
@click.option("--sort", default="-created", show_default=True,
              help="created, name, status, duration or id; a leading - sorts descending.")
@click.option("--limit", "-n", type=click.IntRange(min=0), default=50, show_default=True,
              help="At most N runs (0: all).")
@store_option
@json_option
def ls_cmd(name_glob: str | None, tags: tuple[str, ...], statuses: tuple[str, ...], group: str | None,
           since: str | None, sort: str, limit: int, as_json: bool) -> int:
    """List runs, newest first. NAME_GLOB filters names with * and ?."""
    from gatebook.liveness import current
    from gatebook.store.base import RunQuery

    store = open_ledger()
    query = RunQuery(name_glob=name_glob, tags=tags, statuses=statuses, group=group,
                     since=parse_since(since) if since else None, sort=sort, limit=limit)
    runs = current(store, store.list_runs(query))
    if statuses:  # a run found lost just now is no longer "running"
        runs = [r for r in runs if r.status.value in statuses]
    if as_json:
        from gatebook.views import ls_row

        emit_json({"runs": [ls_row(r) for r in runs]})
        return 0
    if not runs:
        click.echo("no runs" + (" match" if (name_glob or tags or statuses or group or since) else " yet"), err=True)
        return 0
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("id", "name", "status", "started", "duration", "exit", "parent", "tags"):
        table.add_column(col, no_wrap=col in ("id", "started"))
    now = time.time()
    for r in runs:
        style = status_style(r.status) or "default"
        dur = r.duration if r.ended_at else (now - r.created_at if r.status is RunStatus.RUNNING else None)
        table.add_row(r.id, r.name or "", f"[{style}]{r.status.value}[/]", ago(r.created_at, now), duration(dur),
                      "" if r.exit_code is None else str(r.exit_code), (r.parent_id or "")[:11], ",".join(r.tags))
    from gatebook.cli.common import console

    console().print(table)
    return 0


@click.command("show")
@click.argument("run")
@click.option("--patch", is_flag=True, help="Print only the run's dirty-tree patch (apply it with `git apply`).")
@click.option("--packages", is_flag=True, help="List every installed package too.")
@store_option
@json_option
def show_cmd(run: str, patch: bool, packages: bool, as_json: bool) -> int:
    """Show RUN (an id, id prefix or name): provenance, params, metrics, summary, notes."""
    from gatebook.liveness import resolve_current
    from gatebook.views import run_document

    store = open_ledger()
    rec = resolve_current(store, run)
    if patch:
        content = store.artifact_content(rec.id, "patch")
        if content is None:
            from gatebook.errors import NotFoundError

            raise NotFoundError(f"run {rec.label} has no patch (its git tree was clean or not a git repository)")
        sys.stdout.write(content.decode("utf-8", "replace"))
        return 0
    doc = run_document(store, rec)
    if as_json:
        emit_json(doc)
        return 0
    _render_show(doc, packages=packages)
    return 0


def _render_show(doc: dict[str, Any], *, packages: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    from gatebook.cli.common import console
    from gatebook.serialize import format_number

    con = console()
    style = status_style(doc["status"]) or "default"
    title = f"[bold]{doc['name'] or '(unnamed)'}[/]  {doc['id']}  [{style}]{doc['status']}[/]"
    if doc["exit_code"] is not None:
        title += f"  exit {doc['exit_code']}"
    con.print(title)
    if doc["reason"]:
        con.print(f"  reason: {doc['reason']}")
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold", no_wrap=True)
    info.add_column()

    def row(label: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            info.add_row(label, str(value))

    import shlex

    row("command", shlex.join(doc["command"]) if doc["command"] else None)
    row("cwd", doc["cwd"])
    row("replicate", doc["replicate"])
    where = (f"  on {doc['host']}" if doc["host"] else "") + (f" as {doc['user']}" if doc["user"] else "")
    row("started", f"{doc['created_at']}{where}")  # an imported run may know neither
    if doc["duration"] is not None:
        row("duration", duration(doc["duration"]))
    if doc["parent"]:
        row("parent", f"{doc['parent']['name'] or ''} ({doc['parent']['id']})".strip())
    row("group", doc["group"])
    row("tags", ", ".join(doc["tags"]))
    git = doc["git"]
    if git["commit"]:
        dirty = " [yellow]dirty[/]" if git["dirty"] else ""
        row("git", f"{git['commit'][:12]} on {git['branch'] or '(detached)'}{dirty}")
        row("remote", git["remote"])
    if git["dirty_files"]:
        row("dirty files", ", ".join(git["dirty_files"][:12]) + (" ..." if len(git["dirty_files"]) > 12 else ""))
        row("", "the full diff: gatebook show " + doc["id"] + " --patch")
    if git["parent_commit"]:
        row("changed vs parent", ", ".join(git["files_changed"][:12]) or "(none)")
    py = doc["env"]["python"]
    if py:
        row("python", f"{py.get('version')} {py.get('executable')}")
    row("packages", f"{len(doc['env']['packages'])} installed" if doc["env"]["packages"] else None)
    sysinfo = doc["system"]
    if sysinfo:
        gpus = ", ".join(g.get("name", "?") for g in doc["gpus"]) or "none"
        row("machine", f"{sysinfo.get('cpu_count')} CPUs, GPUs: {gpus}")
    row("seeds", ", ".join(f"{k}={v}" for k, v in doc["seeds"].items()))
    con.print(info)

    if doc["params"]:
        con.print("\n[bold]params[/]")
        t = Table(box=None, pad_edge=False)
        t.add_column("key")
        t.add_column("value")
        t.add_column("from", style="bright_black")
        sources = doc["params_by_source"]
        for key, value in doc["params"].items():
            origin = next((s for s in ("api", "argv", "config") if key in sources.get(s, {})), "")
            t.add_row(key, _short(value), origin)
        con.print(t)
    if doc.get("intended_mismatches"):
        con.print("\n[bold yellow]intended vs reported[/]  (the run reported a config that disagrees "
                  "with what it was asked for)")
        for m in doc["intended_mismatches"]:
            who = "the command" if m["source"] == "argv" else "the config file"
            con.print(escape(f"  {m['key']}: {who} asked for {_short(m['intended'], 60)}, "
                             f"the run reported {_short(m['reported'], 60)}"))
    if doc["metrics"]:
        con.print("\n[bold]metrics[/]")
        t = Table(box=None, pad_edge=False)
        for col in ("key", "last", "min", "max", "last step", "points"):
            t.add_column(col, justify="left" if col == "key" else "right")
        for key, m in doc["metrics"].items():
            t.add_row(key, format_number(m["last"]), format_number(m["min"]) if m["min"] is not None else "NaN",
                      format_number(m["max"]) if m["max"] is not None else "NaN",
                      "" if m["last_step"] is None else str(m["last_step"]), str(m["count"]))
        con.print(t)
    if doc["summary"]:
        con.print("\n[bold]summary[/]")
        for key, value in doc["summary"].items():
            con.print(f"  {key}: {_short(value)}")
    if doc["notes"]:
        con.print("\n[bold]notes[/]")
        for n in doc["notes"]:
            con.print(f"  {n['ts']}  {n['text']}")
    if doc["artifacts"]:
        from gatebook.render.artifacts import lineage_lines, size_text

        con.print("\n[bold]artifacts[/]")
        for a in doc["artifacts"]:
            digest = f"  sha256 {a['sha256'][:12]}" if a["sha256"] else ""
            con.print(escape(f"  [{a['kind']}] {a['path']}  {size_text(a['size'])}{digest}"))
            for line in lineage_lines(a.get("derived_from") or ()):
                con.print(escape(f"      {line}"), style="dim")
    if doc["events"]:
        con.print("\n[bold]history[/]")
        for e in doc["events"]:
            con.print(escape(f"  {e['ts']}  {event_text(e)}"))
    if packages and doc["env"]["packages"]:
        con.print("\n[bold]packages[/]")
        for name, version in doc["env"]["packages"].items():
            con.print(f"  {name}=={version}")


def _short(value: Any, width: int = 80) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


@click.command("tail")
@click.argument("run")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output while the run is running.")
@click.option("--lines", "-n", "lines", type=click.IntRange(min=0), default=0,
              help="Only the last N lines of what is recorded so far (0: all).")
@click.option("--stream", type=click.Choice(["stdout", "stderr", "both"]), default="both", show_default=True)
@store_option
@json_option
def tail_cmd(run: str, follow: bool, lines: int, stream: str, as_json: bool) -> int:
    """Print RUN's recorded output (stdout and stderr interleaved as they came)."""
    import json

    from gatebook.capture.stored import MARKER_STREAM
    from gatebook.capture.terminal import Terminal
    from gatebook.liveness import current

    store = open_ledger()
    rec = store.resolve_run(run)
    chunks = store.output(rec.id)
    if lines and chunks:
        chunks = _last_lines(chunks, lines)
    last = chunks[-1][0] if chunks else -1
    # Each stream is shown as a terminal shows it: a ledger written before redraws were collapsed
    # at capture holds raw progress-bar redraws; this prints their final state only.
    screens: dict[str, Terminal] = {}

    def emit(items: list[Any]) -> None:
        for seq, ts, st, data in items:
            if stream != "both" and st not in (stream, MARKER_STREAM):
                continue
            if as_json:
                sys.stdout.write(json.dumps({"seq": seq, "ts": ts, "stream": st, "text": data}) + "\n")
            elif st == MARKER_STREAM:  # gatebook's own note (where a capped output was cut)
                sys.stderr.write(data)
            else:
                (sys.stdout if st == "stdout" else sys.stderr).write(screens.setdefault(st, Terminal()).feed(data))
        sys.stdout.flush()
        sys.stderr.flush()

    def end() -> None:
        for st, screen in screens.items():
            (sys.stdout if st == "stdout" else sys.stderr).write(screen.close())
        sys.stdout.flush()
        sys.stderr.flush()

    if not follow:
        emit(chunks)
        end()
        return 0
    # Following: a line still being drawn (a progress bar) is stored as it stands and rewritten
    # until it ends; it is the newest chunk of its stream and does not end with a newline. Such a
    # chunk is held back and printed once final (a newer chunk of its stream came, it ends its
    # line, or the run ended); a held chunk that disappeared was replaced by a newer one.
    held: dict[str, int] = {}  # stream -> seq

    def settle(new: list[Any], ended: bool) -> None:
        ready: list[Any] = []
        for st, seq in list(held.items()):
            found = store.output(rec.id, after_seq=seq - 1, limit=1)
            now = found[0] if found and found[0][0] == seq else None
            if now is None:
                del held[st]
            elif ended or now[3].endswith("\n") or any(c[2] == st for c in new):
                ready.append(now)
                del held[st]
        newest = {c[2]: c[0] for c in new}
        for c in new:
            seq, _ts, st, data = c
            if not ended and newest[st] == seq and st != MARKER_STREAM and not data.endswith("\n"):
                held[st] = seq
            else:
                ready.append(c)
        emit(sorted(ready, key=lambda c: c[0]))

    settle(chunks, False)
    while True:
        rec = current(store, [store.get_run(rec.id)])[0]
        running = rec.status is RunStatus.RUNNING
        new = store.output(rec.id, after_seq=last)
        if new:
            last = new[-1][0]
        if new or held:
            settle(new, not running and not new)
        if not running and not new:
            break
        if not new:
            time.sleep(0.2)
    end()
    return 0


def _last_lines(chunks: list[Any], n: int) -> list[Any]:
    """Keep what holds the last ``n`` lines; lines may span chunks (a print is often
    several writes), so newlines are counted across chunk boundaries."""
    out: list[Any] = []
    need = n
    for idx in range(len(chunks) - 1, -1, -1):
        seq, ts, st, data = chunks[idx]
        body = data[:-1] if idx == len(chunks) - 1 and data.endswith("\n") else data
        pos = len(body)
        while need > 0:
            pos = body.rfind("\n", 0, pos)
            if pos < 0:
                break
            need -= 1
        if need == 0 and pos >= 0:
            out.append((seq, ts, st, data[pos + 1:]))
            break
        out.append((seq, ts, st, data))
    return list(reversed(out))
