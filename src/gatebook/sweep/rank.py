"""A sweep's result as data: its trials ranked (``gatebook compare``'s model) and its JSON documents.

``gatebook sweep run`` (once its trials ended) and ``gatebook sweep show`` rank the trials' runs
here; :mod:`gatebook.render.sweep` turns the ranking into the table a person reads.

A replicate set (the runs of one trial over ``repeat`` / ``seeds``) is one row, named after the
trial (``<sweep>-<trial>``), whose metric values are the means over its runs' last values; the
columns ``n`` (runs with the objective) and, where :func:`gatebook.stats.mean_interval` exists,
``<objective> ±`` (the 95 % interval's half-width) follow, and the ``--json`` document lists each
set under ``replicates``.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence, cast

from gatebook.errors import UsageError
from gatebook.records import RunRecord
from gatebook.render.text import iso
from gatebook.sweep.plan import Plan, TrialState, fingerprint_of, replicate_of

if TYPE_CHECKING:
    from gatebook.gates.spec import Gate
    from gatebook.project_config import ProjectConfig
    from gatebook.store.base import Store
    from gatebook.sweep.spec import SweepSpec


def sweep_metrics(objective: str | None, gates: Sequence[Gate]) -> list[str]:
    from gatebook.gates.checks import metrics_of

    keys = [objective] if objective else []
    for gate in gates:
        for check in gate.checks:
            for key in metrics_of(check):
                if key not in keys:
                    keys.append(key)
    return keys


def ranking(store: Store, runs: Sequence[RunRecord], *, objective: str | None, gates: Sequence[Gate],
            baseline: RunRecord | None, pconf: ProjectConfig, metrics: Sequence[str] | None = None,
            sort: str | None = None) -> Any:
    """The sweep's ranked comparison (``gatebook compare``'s model), or None without runs."""
    from gatebook.analysis.compare import build_comparison

    if not runs:
        return None
    sets = replicate_sets(runs)
    if sets:
        store = cast("Store", _SetStore(store, sets))
        runs = [_set_run(members) for members in sets.values()] + [r for r in runs if replicate_of(r) is None]
    stats = store.metric_stats([r.id for r in ([baseline] if baseline else []) + list(runs)])
    have = {k for per in stats.values() for k in per}
    if metrics:
        keys: list[str] | None = list(metrics)
    else:
        keys = [k for k in sweep_metrics(objective, gates) if k in have] or None
    sort_key = sort or (objective if objective in have else None)
    try:
        comp = build_comparison(store, runs, metrics=keys, baseline=baseline, pconf=pconf,
                                gates=tuple(g.name for g in gates), sort=sort_key, first_as_baseline=False)
    except UsageError:
        if metrics or sort:
            raise
        # no trial logged a metric yet: the table still lists the trials and their status
        comp = build_comparison(store, runs, metrics=None, baseline=baseline, pconf=pconf,
                                gates=tuple(g.name for g in gates), sort=None, first_as_baseline=False)
    if comp.sort is None:  # no objective: rank by the first column that has a direction
        from gatebook.analysis.compare import sort_rows

        ranked = next((m for m in comp.metrics if m.direction), None)
        if ranked is not None:
            comp.rows = sort_rows(comp.rows, ranked.key, ranked.direction)
            comp.sort = ranked.key
    if sets:
        _set_columns(comp, sets, store, objective if objective in have else comp.sort)
    return comp


# -- replicate sets -------------------------------------------------------------------------------


def replicate_sets(runs: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    """The runs of each replicate key (runs without one are left out), in the order first seen."""
    out: dict[str, list[RunRecord]] = {}
    for run in runs:
        key = replicate_of(run)
        if key is not None:
            out.setdefault(key, []).append(run)
    return out


def _set_run(members: Sequence[RunRecord]) -> RunRecord:
    """The row of a set: its first run, named after the trial (``-s<seed>`` dropped)."""
    first = members[0]
    return replace(first, name=re.sub(r"-s-?\d+$", "", first.name or "") or first.name)


def _mean_stats(per_run: Sequence[Any]) -> Any:
    from gatebook.records import MetricStats

    lasts = [s.last for s in per_run]
    mins = [s.min for s in per_run if s.min is not None]
    maxes = [s.max for s in per_run if s.max is not None]
    steps = [s.last_step for s in per_run if s.last_step is not None]
    return MetricStats(last=sum(lasts) / len(lasts), min=min(mins) if mins else None,
                       max=max(maxes) if maxes else None, last_step=max(steps) if steps else None,
                       count=len(per_run))


class _SetStore:
    """The store as the comparison reads it: a set's row (its first run's id) has the set's means."""

    def __init__(self, store: Store, sets: Mapping[str, Sequence[RunRecord]]) -> None:
        self._store = store
        self.sets = {members[0].id: [r.id for r in members] for members in sets.values()}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def metric_stats(self, run_ids: Any) -> dict[str, dict[str, Any]]:
        ids = list(run_ids)
        every = list(dict.fromkeys(ids + [m for i in ids for m in self.sets.get(i, [])]))
        stats = self._store.metric_stats(every)
        out = {i: stats.get(i, {}) for i in ids}
        for i in ids:
            if i in self.sets:
                per_key: dict[str, list[Any]] = {}
                for member in self.sets[i]:
                    for key, s in stats.get(member, {}).items():
                        per_key.setdefault(key, []).append(s)
                out[i] = {k: _mean_stats(v) for k, v in per_key.items()}
        return out


def set_documents(store: Any, sets: Mapping[str, Sequence[RunRecord]], objective: str | None) -> list[dict[str, Any]]:
    """Each set's ``{"name", "replicate", "n", "mean", "half_width", "runs"}`` on ``objective``
    (``half_width`` null without gatebook.stats or with fewer than 2 values)."""
    raw = store._store if isinstance(store, _SetStore) else store
    ids = [r.id for members in sets.values() for r in members]
    stats = raw.metric_stats(ids) if objective and ids else {}
    docs = []
    for key, members in sets.items():
        values = [s.last for r in members if (s := stats.get(r.id, {}).get(objective or "")) is not None]
        mean = sum(values) / len(values) if values else None
        docs.append({"name": _set_run(members).name, "replicate": key, "n": len(values), "mean": mean,
                     "half_width": _half_width(values), "runs": [r.id for r in members]})
    return docs


def _half_width(values: Sequence[float]) -> float | None:
    """The half-width of the 95 % interval of the mean (:func:`gatebook.stats.mean_interval`), None
    below two finite values."""
    from gatebook.stats import mean_interval

    finite = [v for v in values if math.isfinite(v)]
    return mean_interval(finite, 0.95).half_width() if len(finite) >= 2 else None


def _set_columns(comp: Any, sets: Mapping[str, Sequence[RunRecord]], store: Any, objective: str | None) -> None:
    """Add ``n`` and ``<objective> ±`` columns to the rows of sets (other rows: missing)."""
    from gatebook.analysis.compare import MISSING, Cell, Metric

    docs = {d["runs"][0]: d for d in set_documents(store, sets, objective)}
    widths = any(d["half_width"] is not None for d in docs.values())
    comp.metrics.append(Metric("n", None))
    if widths and objective:
        comp.metrics.append(Metric(f"{objective} ±", None))
    rows = []
    for row in comp.rows:
        doc = docs.get(row.run.id)
        cells = dict(row.cells)
        cells["n"] = Cell(float(doc["n"])) if doc else MISSING
        if widths and objective:
            width = doc["half_width"] if doc else None
            cells[f"{objective} ±"] = Cell(width) if width is not None else MISSING
        rows.append(replace(row, cells=cells))
    comp.rows = rows


def result_document(plan: Plan, trials: Sequence[TrialState], comparison: Any) -> dict[str, Any]:
    counts: dict[str, int] = {"total": len(trials), "skipped": sum(1 for t in trials if t.skipped)}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    doc: dict[str, Any] = {"sweep": plan.name, "trials": [t.to_dict() for t in trials], "counts": counts,
           "ranking": comparison.to_dict() if comparison is not None else None}
    sets: dict[str, list[TrialState]] = {}
    for t in trials:
        if t.replicate is not None:
            sets.setdefault(t.replicate, []).append(t)
    if sets:
        doc["replicates"] = replicates = []
        for key, members in sets.items():
            values = [t.objective for t in members if t.objective is not None]
            replicates.append({"name": f"{plan.name}-{members[0].trial.replicate}", "replicate": key,
                                      "n": len(values), "mean": sum(values) / len(values) if values else None,
                                      "half_width": _half_width(values), "runs": [t.run_id for t in members]})
    return doc


def trial_runs(store: Store, trials: Sequence[TrialState]) -> list[RunRecord]:
    """The runs the trials recorded (a trial whose wrapper never created its run is left out)."""
    runs = []
    for t in trials:
        if t.run_id:
            try:
                runs.append(store.get_run(t.run_id))
            except Exception:  # the wrapper never created it
                pass
    return runs


def status_document(sweep: str, trials: Sequence[RunRecord], attempts: dict[str, int]) -> dict[str, Any]:
    """``gatebook sweep status --json``: counts by status and each trial's latest run."""
    return {"sweep": sweep, "counts": {"total": len(trials), **status_counts(trials)},
            "trials": [{"name": r.name, "run_id": r.id, "status": r.status.value,
                        "fingerprint": fingerprint_of(r), "attempts": attempts.get(fingerprint_of(r) or "", 1),
                        "exit_code": r.exit_code, "reason": r.reason, "created_at": iso(r.created_at),
                        "duration": (r.ended_at - r.created_at) if r.ended_at else None}
                       for r in trials]}


def status_counts(trials: Sequence[RunRecord]) -> dict[str, int]:
    """How many of the runs are in each status, in the order first seen."""
    counts: dict[str, int] = {}
    for r in trials:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    return counts


def sweep_baseline(store: Store, trials: Sequence[RunRecord], override: str | None) -> RunRecord | None:
    """The run a sweep's table shows deltas against: ``--baseline`` (``override``, which must
    exist), else the baseline its trials ran their gates with, else their parent run (a playbook
    sweep's failed run); a recorded one that no longer exists is left out."""
    from gatebook.errors import NotFoundError

    recorded = [((r.provenance or {}).get("gatebook") or {}).get("baseline") for r in trials]
    ref = override or next((b for b in recorded if b), None) or next((r.parent_id for r in trials if r.parent_id),
                                                                      None)
    if not ref:
        return None
    try:
        return store.resolve_run(ref)
    except NotFoundError as exc:
        if override:
            raise NotFoundError(f"--baseline: {exc.message}", hint=exc.hint) from None
        return None


def show_document(store: Store, pconf: ProjectConfig, sweep: str, *, spec: SweepSpec | None = None,
                  gates: Sequence[str] = (), metrics: Sequence[str] = (), sort: str | None = None,
                  baseline: str | None = None) -> tuple[dict[str, Any], Any]:
    """``sweep show`` as data: ``({"sweep", "ranking"}, comparison)`` — the ``--json`` document
    (``ranking`` null when no trial is ranked yet) and the comparison the table renders (or None).

    The verdict columns are ``gates``, else the sweep file's and the gates its trials ran with
    (those still declared); the ranking is by ``sort``, else the first ``metrics``, else the
    file's objective, else ``metrics.primary``."""
    from gatebook.gates.spec import select_gates
    from gatebook.sweep.plan import sweep_trials

    trials, _ = sweep_trials(store, sweep, full=True)  # an unknown sweep: NotFoundError
    supervised = [((r.provenance or {}).get("gatebook") or {}) for r in trials]
    ran_with = [g for s in supervised for g in (s.get("gates") or [])]
    names = list(gates) or list(dict.fromkeys(g for g in (list(spec.gates) if spec else []) + ran_with
                                              if g in pconf.gates))
    gate_objs = select_gates(pconf.gates, names, pconf.source) if names else []
    base = sweep_baseline(store, trials, baseline)
    objective = sort or (metrics[0] if metrics else (spec.objective if spec is not None and spec.objective else
                                                      pconf.metrics.primary[0] if pconf.metrics.primary else None))
    comparison = ranking(store, trials, objective=objective, gates=gate_objs, baseline=base, pconf=pconf,
                         metrics=list(metrics) or None, sort=sort)
    doc: dict[str, Any] = {"sweep": sweep, "ranking": comparison.to_dict() if comparison is not None else None}
    sets = replicate_sets(trials)
    if sets:
        doc["replicates"] = set_documents(store, sets, comparison.sort if comparison is not None else objective)
    return doc, comparison
