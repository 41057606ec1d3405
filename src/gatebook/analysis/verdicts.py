"""The gate columns of a comparison: every run judged through the one judge, from stats when they suffice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from gatebook.records import MetricStats, RunRecord

if TYPE_CHECKING:
    from gatebook.project_config import ProjectConfig
    from gatebook.store.base import Store


@dataclass(frozen=True)
class GateCell:
    """A gate's verdict for one run, and the reasons of its checks that did not pass."""

    verdict: str
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reasons": list(self.reasons)}



def judge_rows(store: Store, pconf: ProjectConfig, names: list[str], rows: Sequence[RunRecord],
                stats: Mapping[str, Mapping[str, MetricStats]], *, override: str | None,
                fallback: str | None) -> tuple[dict[str, dict[str, GateCell]], dict[str, RunRecord | None]]:
    """Per run id, per gate, the verdict (the same judge and baselines as `gatebook gate`)."""
    from gatebook.gates.checks import metrics_of
    from gatebook.gates.evaluate import Tier
    from gatebook.gates.setup import load_series, prepare_gates

    # each gate's baseline: --baseline, else its own `baseline:`, else the comparison's
    gating = prepare_gates(store, pconf, names, override, fallback=fallback)
    wanted: list[str] = []
    for gate in gating.gates:
        for check in gate.checks:
            wanted += [k for k in metrics_of(check) if k not in wanted]
    from_stats = stats_suffice(gating.gates)
    out: dict[str, dict[str, GateCell]] = {}
    for run in rows:
        mine = stats.get(run.id, {})
        if any(k not in mine for k in wanted):
            series = load_series(store, run.id)  # exactly what `gatebook gate` reads (summary values too)
        elif from_stats:
            series = series_from_stats(mine, wanted)
        else:
            series = _series(store, run.id, [*wanted, "epoch"])
        cells: dict[str, GateCell] = {}
        for gate in gating.gates:
            result = gating.judge_gate(gate, series, finished=run.status.is_terminal)
            reasons = tuple(c.reason for c in result.checks if c.tier is not Tier.PASS)
            cells[gate.name] = GateCell(result.tier.value, reasons)
        out[run.id] = cells
    return out, {g.name: gating.baseline_runs.get(g.name) if g.uses_baseline else None for g in gating.gates}


def stats_suffice(gates: Sequence[Any]) -> bool:
    """Whether every check reads only a series' last, min, max or best (no ``@``, no mean,
    no window): then a run's ``metric_stats`` give the same tiers as its full series."""
    for gate in gates:
        for check in gate.checks:
            for cond in (check.condition, check.marginal):
                if cond is None:
                    continue
                agg = cond.operand.agg
                if cond.at is not None or agg.kind == "mean" or agg.window is not None:
                    return False
    return True


def series_from_stats(
    stats: Mapping[str, MetricStats], keys: Sequence[str]
) -> dict[str, list[tuple[int | None, float]]]:
    """A stand-in series per key, from its stats: the min and max points, then the last, all at
    the last step, so the judge's last, min, max and best (and the step it reports) are the
    run's own. Only for checks without ``@``, ``mean`` or ``of last K`` (see stats_suffice)."""
    out: dict[str, list[tuple[int | None, float]]] = {}
    for key in keys:
        s = stats.get(key)
        if s is None:
            continue
        points = [(s.last_step, v) for v in (s.min, s.max) if v is not None]
        points.append((s.last_step, s.last))
        out[key] = points
    return out


def _series(store: Store, run_id: str, keys: Sequence[str]) -> dict[str, list[tuple[int | None, float]]]:
    """The run's series of ``keys`` only (a check's tier reads no other key)."""
    return {k: [(st, v) for st, v, _ in pts] for k, pts in store.metric_series(run_id, keys).items()}
