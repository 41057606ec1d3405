"""Glue between the ledger and the pure judge: load series, resolve baselines, advise.

Everything here reads the store and hands plain data to ``evaluate`` / ``playbook``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from gatebook.errors import NotFoundError, UsageError
from gatebook.gates.evaluate import DirectionOf, GateResult, Series, Tier, Verdict, evaluate, worst
from gatebook.gates.playbook import Advice, advise, tried_fixes
from gatebook.gates.spec import Gate

if TYPE_CHECKING:
    from gatebook.project_config import ProjectConfig
    from gatebook.store.base import Store


@dataclass
class BaselineData:
    """A gate's baseline run as the judge reads it: its label and its series."""

    label: str
    series: Series


@dataclass
class Gating:
    gates: list[Gate]
    baselines: dict[str, BaselineData | None]
    direction_of: DirectionOf
    baseline_id: str | None = None
    baseline_runs: dict[str, Any] = field(default_factory=dict)  # gate name -> RunRecord

    def judge_gate(self, gate: Gate, series: Series, *, finished: bool) -> GateResult:
        """One gate on a run's ``series``, against that gate's baseline (the one judge call)."""
        base = self.baselines.get(gate.name)
        return evaluate(gate, series, base.series if base else None, direction_of=self.direction_of,
                        finished=finished, baseline_label=base.label if base else "baseline")

    def judge(self, series: Series, *, finished: bool) -> Verdict:
        """Every gate on a run's ``series``: what ``gate``, ``triage``, ``compare``, ``report`` and
        live gates all call, so a run gets the same verdict everywhere."""
        results = tuple(self.judge_gate(gate, series, finished=finished) for gate in self.gates)
        return Verdict(self.worst_of(results), results)

    @staticmethod
    def worst_of(results: Sequence[GateResult]) -> Tier:
        """The verdict of several gates: the worst of theirs."""
        return worst([r.tier for r in results])


def baseline_ref_for(gate: Gate, override: str | None, fallback: str | None = None) -> str | None:
    """The one rule for which run a gate compares with: ``--baseline`` (``override``), else the
    gate's own ``baseline:``, else ``fallback`` (a command's default, e.g. compare's first run)."""
    return override or gate.baseline or fallback


def load_series(store: Store, run_id: str) -> dict[str, list[tuple[int | None, float]]]:
    """A run's series as the judge wants them; numeric summary values of keys never
    logged as points count as one point each (a final evaluation reported once)."""
    series = {k: [(s, v) for s, v, _ in pts] for k, pts in store.metric_series(run_id).items()}
    for key, value in store.summary(run_id).items():
        if key not in series and isinstance(value, (int, float)) and not isinstance(value, bool):
            series[key] = [(None, float(value))]
    return series


def prepare_gates(store: Store, pconf: ProjectConfig, names: Sequence[str], baseline_ref: str | None,
                  *, exclude: str | None = None, fallback: str | None = None) -> Gating:
    """The named gates (all declared when none), with each gate's baseline loaded.

    Each gate's baseline follows :func:`baseline_ref_for`. A gate that compares with a
    baseline and has none is a usage error, said before anything runs.
    """
    from gatebook.gates.spec import select_gates

    gates = select_gates(pconf.gates, list(names), pconf.source)
    baselines: dict[str, BaselineData | None] = {}
    runs: dict[str, Any] = {}
    cache: dict[str, tuple[Any, Series]] = {}
    for gate in gates:
        ref = baseline_ref_for(gate, baseline_ref, fallback)
        if ref is None:
            if gate.uses_baseline:
                raise UsageError(f"gate {gate.name} compares with a baseline and none is set",
                                 hint="pass --baseline RUN or add 'baseline: RUN' to the gate")
            baselines[gate.name] = None
            continue
        if ref not in cache:
            try:
                run = store.resolve_run(ref)
            except NotFoundError as exc:
                whose = "--baseline" if baseline_ref else f"gate {gate.name}'s baseline"
                raise NotFoundError(f"{whose}: {exc.message}", hint=exc.hint) from None
            if exclude is not None and run.id == exclude:
                raise UsageError(f"the baseline {ref} is the run being judged", hint="pick another baseline run")
            cache[ref] = (run, load_series(store, run.id))
        run, series = cache[ref]
        runs[gate.name] = run
        baselines[gate.name] = BaselineData(label=run.name or run.id, series=series)
    baseline_id = next((r.id for r in runs.values()), None)
    return Gating(gates, baselines, pconf.metrics.direction, baseline_id, runs)


def advice_for(store: Store, run_id: str, gate: Gate, series: Series, gating: Gating) -> Advice:
    """The playbook's diagnoses and next fix for ``run_id`` failing ``gate``."""
    from gatebook.store.base import RunQuery
    from gatebook.views import merged_params

    children = store.list_runs(RunQuery(parent_id=run_id))
    tried = tried_fixes(gate.playbook.fixes, [merged_params(store.params(c.id)) for c in children])
    base = gating.baselines.get(gate.name)
    return advise(gate, series, tried, baseline=base.series if base else None, direction_of=gating.direction_of)
