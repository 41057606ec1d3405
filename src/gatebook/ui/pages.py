"""The dashboard's pages: each gathers its data with the calls the CLI and the JSON API make, then draws it.

``/`` (runs), ``/runs/{ref}``, ``/compare?runs=&baseline=``, ``/sweeps``, ``/sweeps/{name}``,
``/aliases``; ``/runs/{ref}/patch`` and ``/runs/{ref}/artifacts/{n}`` download what the run
recorded (gatebook.ui.downloads). The HTML is gatebook.ui.html and gatebook.ui.run_html; the
numbers are those of ``ls``, ``show``, ``gate``, ``compare`` and ``sweep show``, so a page and
the command never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gatebook.errors import UsageError

if TYPE_CHECKING:
    from starlette.requests import Request

    from gatebook.analysis.compare import Comparison
    from gatebook.records import RunRecord
    from gatebook.ui.app import Context

PER_PAGE = 100
"""Runs per page of the runs table."""
MAX_CHARTS = 24
"""A run page draws at most this many metrics (the first by name; the table lists them all)."""
OUTPUT_TAIL = 300
"""The run page shows the output's last chunks (lines), then the live ones."""
STORE_SORTS = ("created", "name", "status", "duration", "id")


@dataclass
class RunsView:
    params: dict[str, str]
    sort: str
    rows: list[dict[str, Any]]
    metric_keys: list[str]
    param_keys: list[str]
    total: int
    page: int
    pages: int
    columns: list[tuple[str, str]] = field(default_factory=list)


def runs_view(ctx: Context, request: Request) -> RunsView:
    """The filtered runs (as ``/api/runs`` filters them), sorted by a column, a metric's last value
    (``sort=metric:KEY``) or a param (``sort=param:KEY``), one page of them with their columns."""
    from gatebook.render.text import ago, duration
    from gatebook.ui.api import filtered_runs, int_param, run_query
    from gatebook.views import ls_row, merged_params

    q = request.query_params
    params = {k: q[k] for k in ("name", "tag", "group", "status", "since", "sort", "metrics", "params") if q.get(k)}
    sort = q.get("sort") or "-created"
    field_ = sort.lstrip("-")
    by_value = field_.startswith(("metric:", "param:"))
    if not by_value and field_ not in STORE_SORTS:
        raise UsageError(f"sort={sort!r} is not a column",
                         hint="created, name, status, duration, id, metric:KEY or param:KEY; "
                              "a leading - sorts descending")
    store = ctx.store()
    page = int_param(request, "page", 1, 1) or 1
    metric_keys = [k for k in (q.get("metrics") or "").split(",") if k]
    param_keys = [k for k in (q.get("params") or "").split(",") if k]
    if by_value:  # every selected run's value is needed to sort: read them all
        runs = filtered_runs(ctx, request, sort="-created", limit=0)
        kind, _, key = field_.partition(":")
        values = _values(store, [r.id for r in runs], kind, key)
        present = [r for r in runs if values.get(r.id) is not None]
        present.sort(key=lambda r: _order(values[r.id]), reverse=sort.startswith("-"))
        runs = present + [r for r in runs if values.get(r.id) is None]  # never logged it: last
        total = len(runs)
        pages = max(1, -(-total // PER_PAGE))
        page = min(page, pages)
        shown = runs[(page - 1) * PER_PAGE: page * PER_PAGE]
    else:  # sorted by the store: count, then read one page
        total = store.count_runs(run_query(request, sort=sort))
        pages = max(1, -(-total // PER_PAGE))
        page = min(page, pages)
        shown = filtered_runs(ctx, request, sort=sort, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    ids = [r.id for r in shown]
    stats = store.metric_stats(ids) if ids else {}
    merged = {rid: merged_params(by_source) for rid, by_source in store.params_many(ids).items()} if ids else {}
    verdicts = {rid: events[-1].data.get("verdict") for rid, events in store.events_many(ids, kinds=["verdict"]).items()
                if events and events[-1].data} if ids else {}
    if not metric_keys:
        metric_keys = _default_metrics(ctx, stats)
    if not param_keys:
        param_keys = _differing(merged)
    if by_value:  # the sorted column is shown, first of its kind
        shown_keys = metric_keys if kind == "metric" else param_keys
        if key in shown_keys:
            shown_keys.remove(key)
        shown_keys.insert(0, key)
    rows = []
    for r in shown:
        doc = ls_row(r)
        doc["created_ago"], doc["duration_text"] = ago(r.created_at), duration(r.duration)
        rows.append({"run": doc, "metrics": {k: s.last for k, s in stats.get(r.id, {}).items()},
                     "params": merged.get(r.id, {}), "verdict": verdicts.get(r.id)})
    columns = [("name", "name"), ("id", "id"), ("status", "status"), ("created", "started"), ("duration", "duration"),
               ("", "group"), ("", "tags")]  # "": not sortable
    columns += [(f"metric:{k}", k) for k in metric_keys] + [(f"param:{k}", k) for k in param_keys]
    return RunsView(params, sort, rows, metric_keys, param_keys, total, page, pages, columns)


def _values(store: Any, ids: list[str], kind: str, key: str) -> dict[str, Any]:
    from gatebook.views import merged_params

    if kind == "metric":
        return {rid: per[key].last for rid, per in store.metric_stats(ids).items() if key in per}
    return {rid: merged_params(by_source).get(key) for rid, by_source in store.params_many(ids).items()}


def _order(value: Any) -> tuple[int, Any]:
    """Sort numbers before text, NaN last among numbers."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value) if value == value else (1, 0)
    return (2, str(value))


def _default_metrics(ctx: Context, stats: dict[str, dict[str, Any]]) -> list[str]:
    """The project's ``metrics.primary``, else the three keys most of the shown runs log."""
    primary = list(ctx.project_config().metrics.primary)
    if primary:
        return primary[:4]
    counts: dict[str, int] = {}
    for per in stats.values():
        for k in per:
            counts[k] = counts.get(k, 0) + 1
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]


def _differing(merged: dict[str, dict[str, Any]], limit: int = 4) -> list[str]:
    from gatebook.analysis.diff import params_that_differ

    return list(params_that_differ(merged))[:limit]


@dataclass
class RunView:
    doc: dict[str, Any]
    chart_keys: list[str]
    marks: dict[str, list[dict[str, Any]]]
    gate_doc: dict[str, Any] | None
    gate_error: str | None
    verdict: str | None
    patch: str | None
    output: str
    output_seq: int
    duration_text: str


def run_view(ctx: Context, ref: str) -> RunView:
    """One run: its ``show`` document, its verdict (``gate`` with the project's gates, the
    playbook's advice included), the thresholds to draw per metric, the patch, the output's tail."""
    from gatebook.errors import GatebookError
    from gatebook.liveness import resolve_current
    from gatebook.render.text import duration
    from gatebook.views import run_document

    store = ctx.store()
    rec = resolve_current(store, ref)
    doc = run_document(store, rec)
    gate_doc, gate_error = None, None
    pconf = ctx.project_config()
    try:
        names = gates_for_run(pconf, rec, set(doc["metrics"]))
        if names:
            from gatebook.gates.triage import gate_run

            gate_doc = gate_run(store, pconf, rec.id, names, None).to_dict()
    except GatebookError as exc:
        gate_error = f"The gates could not be judged: {exc.message}"
    patch = store.artifact_content(rec.id, "patch")
    chunks = store.output(rec.id)
    tail = chunks[-OUTPUT_TAIL:]
    keys = sorted(doc["metrics"])[:MAX_CHARTS]
    return RunView(doc, keys, gate_marks(gate_doc), gate_doc, gate_error,
                   gate_doc["verdict"] if gate_doc else None,
                   None if patch is None else patch.decode("utf-8", "replace"),
                   "".join(text for _seq, _ts, _stream, text in tail), tail[-1][0] if tail else -1,
                   duration(rec.duration) if rec.duration else "")


def gates_for_run(pconf: Any, run: RunRecord, logged: set[str]) -> list[str]:
    """The gates a run page judges: those the run ran with live (still in gatebook.yaml), else
    every gate of gatebook.yaml with a check on a metric the run logged."""
    from gatebook.gates.checks import metrics_of
    from gatebook.gates.spec import select_gates

    if not pconf.gates:
        return []
    ran_with = ((run.provenance or {}).get("gatebook") or {}).get("gates") or []
    names = [n for n in ran_with if n in pconf.gates]
    return names or [g.name for g in select_gates(pconf.gates, [], pconf.source)
                     if any(set(metrics_of(c)) & logged for c in g.checks)]


def gate_marks(gate_doc: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """Per metric, what its chart draws for each check: the threshold(s) as lines, and where the
    check was observed (``@ epoch N`` checks: at that step) as a marker coloured by tier."""
    marks: dict[str, list[dict[str, Any]]] = {}
    for gate in (gate_doc or {}).get("gates", []):
        for check in gate["checks"]:
            threshold = check["threshold"]
            lines = threshold if isinstance(threshold, list) else [threshold] if threshold is not None else []
            marks.setdefault(check["metric"], []).append({
                "gate": gate["name"], "check": check["check"], "tier": check["tier"],
                "lines": [x for x in lines if isinstance(x, (int, float))],
                "at": check["step"] if " @ " in check["check"] else None,
                "step": check["step"], "observed": check["observed"] if isinstance(check["observed"], (int, float))
                else None})
    return marks


@dataclass
class CompareView:
    comparison: Comparison
    chart_keys: list[str]
    params_differ: dict[str, dict[str, Any]]


def compare_view(ctx: Context, request: Request) -> CompareView:
    from gatebook.analysis.diff import params_that_differ
    from gatebook.ui.api import comparison_of
    from gatebook.views import merged_params

    comparison = comparison_of(ctx, request)
    if not comparison.rows:
        raise UsageError("no runs to compare", hint="pick runs on the runs page, or /compare?runs=A,B")
    ids = [row.run.id for row in comparison.rows]
    merged = {rid: merged_params(p) for rid, p in ctx.store().params_many(ids).items()}
    keys = comparison.keys or sorted({k for per in ctx.store().metric_stats(ids).values() for k in per})[:6]
    return CompareView(comparison, keys[:MAX_CHARTS], params_that_differ(merged))


@dataclass
class SweepView:
    name: str
    status: dict[str, Any]
    comparison: Any


def sweep_view(ctx: Context, name: str) -> SweepView:
    from gatebook.sweep.plan import sweep_trials
    from gatebook.sweep.rank import show_document, status_document

    store = ctx.store()
    _, comparison = show_document(store, ctx.project_config(), name)
    trials, attempts = sweep_trials(store, name)
    return SweepView(name, status_document(name, trials, attempts), comparison)


def sweeps_list(ctx: Context) -> list[dict[str, Any]]:
    """Every sweep: its name (the runs' group), how many runs by status, when the last started."""
    from gatebook.liveness import current
    from gatebook.render.text import iso
    from gatebook.store.base import RunQuery
    from gatebook.sweep.plan import SWEEP_TAG
    from gatebook.sweep.rank import status_counts

    store = ctx.store()
    by_name: dict[str, list[RunRecord]] = {}
    for r in current(store, store.list_runs(RunQuery(tags=(SWEEP_TAG,), sort="created"))):
        by_name.setdefault(r.group or "", []).append(r)
    out = []
    for name, runs in sorted(by_name.items(), key=lambda kv: -kv[1][-1].created_at):
        out.append({"name": name, "total": len(runs), "counts": status_counts(runs), "last": iso(runs[-1].created_at)})
    return [s for s in out if s["name"]]
