"""Choosing runs for the commands that read many (compare, changelog, report, plot).

``select_runs(store, refs, tags=, group=, last=)``: each ref is a run id, id prefix or name
(the latest run of that name), or a name glob with ``*`` / ``?`` (every matching run,
oldest first); ``--tag`` / ``--group`` add every run with those; ``--last N`` keeps the N
newest of the result (or of the whole ledger when nothing else was given). Runs come
back in a stable order: the order the refs were given, then by creation time; each run
once. An unknown ref or an empty selection is one clear error (exit 2).
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from typing import Sequence

from gatebook.errors import NotFoundError, UsageError
from gatebook.records import RunRecord
from gatebook.store.base import RunQuery, Store

GLOB_CHARS = ("*", "?", "[")


def select_runs(store: Store, refs: Sequence[str] = (), *, tags: Sequence[str] = (), group: str | None = None,
                last: int | None = None, full: bool = True) -> list[RunRecord]:
    """The runs ``refs`` / ``tags`` / ``group`` / ``last`` select (see the module docstring)."""
    if last is not None and last < 1:
        raise UsageError(f"--last {last}: give a positive number of runs")
    picked: list[RunRecord] = []
    seen: set[str] = set()

    def add(runs: Sequence[RunRecord]) -> None:
        for run in runs:
            if run.id not in seen:
                seen.add(run.id)
                picked.append(run)

    for ref in refs:
        if any(ch in ref for ch in GLOB_CHARS):
            matches = store.list_runs(RunQuery(name_glob=ref, sort="created"), full=full)
            if not matches:
                raise NotFoundError(f"no run name matches {ref!r}", hint="see `gatebook ls` for run names")
            add(matches)
        else:
            add([store.resolve_run(ref)])
    if tags or group:
        matches = store.list_runs(RunQuery(tags=tuple(tags), group=group, sort="created"), full=full)
        if not matches:
            what = " and ".join(([f"tag {', '.join(tags)}"] if tags else []) + ([f"group {group}"] if group else []))
            raise NotFoundError(f"no run has {what}", hint="see `gatebook ls --tag T --group G`")
        add(matches)
    if last is not None:
        if not (refs or tags or group):
            add(list(reversed(store.list_runs(RunQuery(sort="-created", limit=last), full=full))))
        picked = sorted(picked, key=lambda r: (r.created_at, r.id))[-last:]
    if not picked:
        raise UsageError("no runs selected", hint="give run ids or names, a name glob, --tag, --group or --last N")
    return picked


def select_timeline(store: Store, refs: Sequence[str] = (), *, tags: Sequence[str] = (), group: str | None = None,
                    last: int | None = None, since: float | None = None, since_text: str | None = None
                    ) -> list[RunRecord]:
    """Runs oldest first, as the change log lists them: those ``refs`` / ``tags`` / ``group`` select
    (else the whole ledger), started at or after ``since``, the newest ``last`` of them; lost ones
    marked. Nothing left is a UsageError naming ``since_text`` when it was given."""
    from gatebook.liveness import current

    if refs or tags or group:
        picked = select_runs(store, refs, tags=tags, group=group)
        if since is not None:
            picked = [r for r in picked if r.created_at >= since]
    else:  # the whole ledger (the newest N of it with --last)
        picked = store.list_runs(RunQuery(since=since, sort="-created", limit=last or 0), full=True)
    picked = sorted(picked, key=lambda r: (r.created_at, r.id))
    if last is not None:
        picked = picked[-last:]
    if not picked:
        if since_text:
            raise UsageError(f"no selected run started since {since_text}", hint="see `gatebook ls`")
        raise UsageError("no runs yet", hint="record one with `gatebook run -- CMD`")
    return current(store, picked)


_REL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|days|w|week|weeks)\s*$", re.I)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400,
          "days": 86400, "w": 604800, "week": 604800, "weeks": 604800}


def parse_since(value: float | str | _dt.datetime, now: float | None = None, *, option: str = "--since") -> float:
    """``--since`` as seconds since the epoch: ``2h``, ``3d``, ``1w``, ``2026-11-01`` or an ISO
    datetime (a naive one is local time); a number or a datetime (the read API) is taken as is.
    Anything else is a UsageError naming ``option``."""
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value)
    m = _REL.match(text)
    if m:
        return (time.time() if now is None else now) - float(m.group(1)) * _UNITS[m.group(2).lower()]
    try:
        return _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a time",
                         hint="use a duration like 2h, 3d, 1w or a date like 2026-11-01") from None
