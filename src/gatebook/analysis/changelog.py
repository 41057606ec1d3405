"""The change log as data: one row per run, what changed against its parent, its metrics, why it stopped.

What a row says (``gatebook.render.changelog`` writes it as the Markdown table
``Date & Run`` | ``Key changes`` | ``Files touched`` | one per metric | ``Notes``):

- *Key changes*: the params that differ from the parent run's (``lr 0.001 → 0.0005``,
  ``+warmup=100`` added, ``-dropout`` removed), prefixed ``vs PARENT:`` when the parent is
  not the row just above; a run without a parent lists its main params (those given on
  the command line, else all of them) after ``no parent:``. The run's notes follow.
- *Files touched*: the files changed since the parent run's commit plus the uncommitted
  ones (marked ``*``), as recorded when the run started.
- metric columns: the run's last value (or best, ``stat="best"``), **bold** when it is
  the best so far (the best of its row and every row above, by the metric's direction;
  ties too; never for a metric of unknown direction).
- *Notes*: why the run did not finish normally, and the final verdict of its live gates.

:func:`load` reads the store in a few batched queries; :func:`build` is pure (store data
in, :class:`ChangeLog` out); :meth:`ChangeLog.to_dict` is the ``changelog --json`` document.
The output is deterministic: the same ledger gives the same bytes.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from gatebook.records import MetricStats, RunRecord, RunStatus

if TYPE_CHECKING:
    from gatebook.store.base import Store

DirectionOf = Callable[[str], "str | None"]

MAX_VALUE_CHARS = 40
"""A param value longer than this is cut (with …) in the Markdown."""
DEFAULT_METRIC_COUNT = 3
"""Metric columns chosen when neither --metric nor ``metrics.primary`` says which."""
AXIS_KEYS = frozenset({"epoch", "step", "global_step", "iter", "iteration", "time", "timestamp", "_step",
                       "_runtime", "_timestamp", "batch", "trainer/global_step"})
"""Keys that count steps rather than measure anything: never default columns."""

STAT_CHOICES = ("last", "best")


# -- the data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One param difference: ``changed`` (old → new), ``added``, ``removed``, or ``param``
    (a param of a run without a parent)."""

    kind: str
    key: str
    old: Any = None
    new: Any = None

    @property
    def text(self) -> str:
        """As shown in the Markdown: long values cut with …."""
        return self.render(MAX_VALUE_CHARS)

    def render(self, limit: int = 0) -> str:
        if self.kind == "changed":
            return f"{self.key} {format_param(self.old, limit)} → {format_param(self.new, limit)}"
        if self.kind == "added":
            return f"+{self.key}={format_param(self.new, limit)}"
        if self.kind == "removed":
            return f"-{self.key}"
        return f"{self.key}={format_param(self.new, limit)}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "from": self.old, "to": self.new, "text": self.render(0)}


@dataclass(frozen=True)
class RunData:
    """What the change log needs to know about one run (read by :func:`load`)."""

    run: RunRecord
    params_by_source: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    notes: Sequence[str] = ()
    events: Sequence[Any] = ()  # EventRow-like: .kind, .step, .data (stop and verdict events)
    stats: Mapping[str, MetricStats] = field(default_factory=dict)
    summary: Mapping[str, Any] = field(default_factory=dict)  # only the keys of missing metric columns


@dataclass(frozen=True)
class ParentData:
    """A parent outside the selection: its name and params."""

    id: str
    name: str | None
    params_by_source: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricCell:
    value: float | None  # None: the run has no such metric
    best_so_far: bool = False


@dataclass
class Row:
    id: str
    name: str | None
    date: str
    created_at: float
    status: str
    parent_id: str | None
    parent_name: str | None
    parent_found: bool
    parent_above: bool
    changes: list[Change]
    run_notes: list[str]
    files: list[tuple[str, bool]]  # (path, uncommitted)
    metrics: dict[str, MetricCell]
    notes: list[str]


@dataclass
class ChangeLog:
    rows: list[Row]
    metrics: list[str]
    directions: dict[str, str | None]
    stat: str = "last"

    def to_dict(self) -> dict[str, Any]:
        from gatebook.render.text import iso

        return {
            "metrics": list(self.metrics),
            "directions": {k: self.directions.get(k) for k in self.metrics},
            "stat": self.stat,
            "runs": [{
                "id": r.id,
                "name": r.name,
                "date": r.date,
                "created_at": iso(r.created_at),
                "status": r.status,
                "parent": {"id": r.parent_id, "name": r.parent_name} if r.parent_id else None,
                "changes": [c.to_dict() for c in r.changes],
                "run_notes": list(r.run_notes),
                "files": [{"path": p, "dirty": d} for p, d in r.files],
                "metrics": {k: {"value": c.value, "best_so_far": c.best_so_far} for k, c in r.metrics.items()},
                "notes": list(r.notes),
            } for r in self.rows],
        }


# -- building (pure) -----------------------------------------------------------------------------------


def build(runs: Sequence[RunData], *, metrics: Sequence[str], direction_of: DirectionOf,
          parents: Mapping[str, ParentData] | None = None, stat: str = "last") -> ChangeLog:
    """The change log of ``runs`` (any order: rows come oldest first) with ``metrics`` columns.

    ``parents`` holds the parents that are not among ``runs`` (a parent found in neither
    is reported as not found).
    """
    from gatebook.views import merged_params

    if stat not in STAT_CHOICES:
        raise ValueError(f"stat must be one of {STAT_CHOICES}")
    parents = dict(parents or {})
    ordered = sorted(runs, key=lambda d: (d.run.created_at, d.run.id))
    by_id = {d.run.id: d for d in ordered}
    merged: dict[str, dict[str, Any]] = {}

    def params_of(run_id: str, by_source: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        if run_id not in merged:
            merged[run_id] = merged_params({k: dict(v) for k, v in by_source.items()})
        return merged[run_id]

    directions = {k: direction_of(k) for k in metrics}
    best: dict[str, float] = {}
    rows: list[Row] = []
    previous_id: str | None = None
    for data in ordered:
        run = data.run
        params = params_of(run.id, data.params_by_source)
        parent_name: str | None = None
        parent_found = False
        if run.parent_id:
            if run.parent_id in by_id:
                p = by_id[run.parent_id]
                parent_name, parent_found = p.run.name, True
                changes = diff_params(*_comparable(p.params_by_source, data.params_by_source))
            elif run.parent_id in parents:
                pd = parents[run.parent_id]
                parent_name, parent_found = pd.name, True
                changes = diff_params(*_comparable(pd.params_by_source, data.params_by_source))
            else:
                changes = []
        else:
            main = dict(data.params_by_source.get("argv") or {}) or params
            changes = [Change("param", k, None, v) for k, v in sorted(main.items())]
        git = (run.provenance or {}).get("git") or {}
        dirty = set(git.get("dirty_files") or [])
        files = sorted(set(git.get("files_changed") or []) | dirty)
        cells: dict[str, MetricCell] = {}
        for key in metrics:
            value = metric_value(data, key, stat, directions[key])
            is_best = False
            direction = directions[key]
            if value is not None and direction in ("higher", "lower") and not math.isnan(value):
                prev = best.get(key)
                if prev is None or (value >= prev if direction == "higher" else value <= prev):
                    best[key] = value
                    is_best = True
            cells[key] = MetricCell(value, is_best)
        rows.append(Row(
            id=run.id, name=run.name, date=utc_date(run.created_at), created_at=run.created_at,
            status=run.status.value, parent_id=run.parent_id, parent_name=parent_name,
            parent_found=parent_found, parent_above=bool(run.parent_id) and run.parent_id == previous_id,
            changes=changes, run_notes=[n for n in data.notes if n.strip()],
            files=[(f, f in dirty) for f in files], metrics=cells,
            notes=status_notes(run, data.events),
        ))
        previous_id = run.id
    return ChangeLog(rows=rows, metrics=list(metrics), directions=directions, stat=stat)


def _comparable(old: Mapping[str, Mapping[str, Any]],
                new: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both runs' merged params over the sources both recorded (config file, command line,
    API): a run that only printed metric lines has no API params, and its parent's are not
    "removed" for that. Without a shared source, everything each has."""
    from gatebook.views import merged_params

    shared = {k for k, v in old.items() if v} & {k for k, v in new.items() if v}
    if not shared:
        return merged_params({k: dict(v) for k, v in old.items()}), merged_params({k: dict(v) for k, v in new.items()})
    return (merged_params({k: dict(old[k]) for k in shared}), merged_params({k: dict(new[k]) for k in shared}))


def diff_params(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Changed, added and removed params, in key order."""
    out: list[Change] = []
    for key in sorted(set(old) | set(new)):
        if key not in new:
            out.append(Change("removed", key, old[key], None))
        elif key not in old:
            out.append(Change("added", key, None, new[key]))
        elif not same_value(old[key], new[key]):
            out.append(Change("changed", key, old[key], new[key]))
    return out


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:  # pragma: no cover - exotic values never come out of JSON
        return repr(a) == repr(b)


def metric_value(data: RunData, key: str, stat: str, direction: str | None) -> float | None:
    """The value of a metric column for one run: from its metrics, else its summary."""
    s = data.stats.get(key)
    if s is not None:
        if stat == "best" and direction == "higher" and s.max is not None:
            return s.max
        if stat == "best" and direction == "lower" and s.min is not None:
            return s.min
        return s.last
    value = data.summary.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def status_notes(run: RunRecord, events: Iterable[Any]) -> list[str]:
    """Why the run did not simply finish, and the final verdict of its live gates."""
    notes: list[str] = []
    events = list(events)
    reason = (run.reason or "").strip()
    status = run.status
    if status is RunStatus.STOPPED:
        stop = next((e for e in reversed(events) if e.kind == "stop"), None)
        data = dict(stop.data or {}) if stop is not None else {}
        by = str(data.get("by") or "")
        reason = str(data.get("reason") or reason).strip()
        if by.startswith("gate "):
            prefix = by + ": "
            rest = reason[len(prefix):] if reason.startswith(prefix) else reason
            notes.append(f"stopped by {by}" + (f": {rest}" if rest else ""))
        elif by:
            default = f"stopped by {by}"
            notes.append(default if reason in ("", default) else f"{default}: {reason}")
        else:
            notes.append("stopped" + (f": {reason}" if reason else ""))
    elif status is not RunStatus.FINISHED:
        notes.append(status.value + (f": {reason}" if reason else ""))
    verdict = next((e for e in reversed(events) if e.kind == "verdict"), None)
    if verdict is not None and verdict.data:
        gates = verdict.data.get("gates") or {}
        if gates:
            notes.append("gates: " + ", ".join(f"{name} {tier}" for name, tier in gates.items()))
        elif verdict.data.get("verdict"):
            notes.append(f"gates: {verdict.data['verdict']}")
    return notes


def choose_metrics(stats: Iterable[Mapping[str, Any]], direction_of: DirectionOf,
                   count: int = DEFAULT_METRIC_COUNT) -> list[str]:
    """The ``count`` metric keys most runs logged (ties: keys with a known direction
    first, then by name); step counters such as ``epoch`` are left out."""
    seen: dict[str, int] = {}
    for per_run in stats:
        for key in per_run:
            if key.lower() not in AXIS_KEYS:
                seen[key] = seen.get(key, 0) + 1
    ranked = sorted(seen, key=lambda k: (-seen[k], direction_of(k) is None, k))
    return ranked[:count]


# -- formatting --------------------------------------------------------------------------------------


def utc_date(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).strftime("%Y-%m-%d")


def format_param(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A param value, short: ``0.0005``, ``1e-5``, ``true``, ``adam``, ``[1,2]``."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = compact_float(value)
    elif isinstance(value, str):
        text = value if value else '""'
    else:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str, ensure_ascii=False)
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def compact_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"  # never "-0"
    text = f"{value:.6g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}e{int(exp)}"
    return text


# -- reading the store --------------------------------------------------------------------------------


def load(store: Store, runs: Sequence[RunRecord], *, metrics: Sequence[str] | None, primary: Sequence[str],
         direction_of: DirectionOf, stat: str = "last") -> ChangeLog:
    """Read what :func:`build` needs for ``runs`` (full records: their provenance) and build.

    Queries: one batch for the metric stats (500 runs a query), one for the names of
    parents outside the selection (and their params), then per run its params and notes;
    events only for runs that had live gates or were stopped, summaries only for runs
    missing a column's metric. ``metrics`` empty: ``primary``, else the most common keys;
    an explicit metric no selected run logged (nor has in its summary) is a UsageError.
    """
    from gatebook.errors import UsageError
    from gatebook.store.base import RunQuery

    ids = [r.id for r in runs]
    stats = store.metric_stats(ids)
    explicit = bool(metrics)
    if metrics:
        columns = list(dict.fromkeys(metrics))
    elif primary:
        columns = list(dict.fromkeys(primary))
    else:
        columns = choose_metrics(stats.values(), direction_of)
    summaries: dict[str, dict[str, Any]] = {}
    for run in runs:
        missing = [k for k in columns if k not in stats.get(run.id, {})]
        if missing:
            values = store.summary(run.id)
            summaries[run.id] = {k: values[k] for k in missing if k in values}
    if explicit:
        known = {k for s in stats.values() for k in s} | {k for s in summaries.values() for k in s}
        unknown = [k for k in columns if k not in known]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], sorted(known), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see `gatebook show RUN` for the keys a run logged"
            raise UsageError(f"--metric {unknown[0]}: no selected run logged it", hint=hint)
    selected = set(ids)
    outside = sorted({r.parent_id for r in runs if r.parent_id and r.parent_id not in selected})
    parents: dict[str, ParentData] = {}
    for i in range(0, len(outside), 500):
        for p in store.list_runs(RunQuery(ids=tuple(outside[i:i + 500]), sort="created")):
            parents[p.id] = ParentData(p.id, p.name, store.params(p.id))
    with_events = [r.id for r in runs if r.status is RunStatus.STOPPED
                   or ((r.provenance or {}).get("gatebook") or {}).get("gates")]
    params = _per_run(store, "params", ids)
    notes = _per_run(store, "notes", ids)
    events = _per_run(store, "events", with_events, kinds=["stop", "verdict"])
    data = [RunData(
        run=run,
        params_by_source=params.get(run.id) or {},
        notes=[n.text for n in notes.get(run.id) or ()],
        events=events.get(run.id) or (),
        stats=stats.get(run.id, {}),
        summary=summaries.get(run.id, {}),
    ) for run in runs]
    return build(data, metrics=columns, direction_of=direction_of, parents=parents, stat=stat)


def _per_run(store: Store, what: str, ids: Sequence[str], **kwargs: Any) -> dict[str, Any]:
    """``{run_id: store.WHAT(run_id, **kwargs)}`` through the store's batched read
    ``WHAT_many`` (a few queries for all runs, not one per run)."""
    return dict(getattr(store, f"{what}_many")(list(ids), **kwargs))
