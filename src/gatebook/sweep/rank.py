"""A sweep's result as data: its trials ranked (``gatebook compare``'s model) and its JSON documents.

``gatebook sweep run`` (once its trials ended) and ``gatebook sweep show`` rank the trials' runs
here; :mod:`gatebook.render.sweep` turns the ranking into the table a person reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from gatebook.errors import UsageError
from gatebook.records import RunRecord
from gatebook.render.text import iso
from gatebook.sweep.plan import Plan, TrialState, fingerprint_of

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
    return comp


def result_document(plan: Plan, trials: Sequence[TrialState], comparison: Any) -> dict[str, Any]:
    counts: dict[str, int] = {"total": len(trials), "skipped": sum(1 for t in trials if t.skipped)}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    return {"sweep": plan.name, "trials": [t.to_dict() for t in trials], "counts": counts,
            "ranking": comparison.to_dict() if comparison is not None else None}


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
    return {"sweep": sweep, "ranking": comparison.to_dict() if comparison is not None else None}, comparison
