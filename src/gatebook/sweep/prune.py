"""The median pruner of a sweep, as a pure function of the trials' series (no ledger, no clock).

A running trial is pruned at its latest step ``k`` when at least ``min_trials`` other trials
(running or ended) have a value at that same step, ``k`` is past the warm-up, and the trial's
value is worse than their median (higher for a lower-is-better metric, lower for a
higher-is-better one). A value equal to the median is kept. The sweep runner reads the series
from the ledger and records the stops; this module only decides.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Iterable, Mapping

Series = Mapping[int, float]
"""``{step: value}`` of the pruner's metric for one trial (NaN points left out)."""


@dataclass(frozen=True)
class MedianPrune:
    """``prune: {median: {metric, warmup, min_trials}}`` with the metric's direction."""

    metric: str
    warmup: int
    min_trials: int
    direction: str  # "higher" | "lower"


@dataclass(frozen=True)
class PruneDecision:
    """Prune run ``run_id``: its ``value`` at ``step`` is worse than the ``median`` of ``others`` trials."""

    run_id: str
    step: int
    value: float
    median: float
    others: int

    def reason(self, metric: str) -> str:
        return (f"median pruner: {metric} {self.value:g} worse than the median {self.median:g} of "
                f"{self.others} trials at step {self.step}")


def median_decisions(prune: MedianPrune, running: Iterable[str],
                     series: Mapping[str, Series]) -> list[PruneDecision]:
    """The running trials (by run id, in order) that the median rule prunes now; ``series`` holds
    every trial with a run so far, running or ended."""
    out: list[PruneDecision] = []
    for run_id in running:
        mine = series.get(run_id) or {}
        if not mine:
            continue
        step = max(mine)
        if step < prune.warmup:
            continue
        others = [s[step] for rid, s in series.items() if rid != run_id and step in s]
        if len(others) < prune.min_trials:
            continue
        med = statistics.median(others)
        value = mine[step]
        worse = value > med if prune.direction == "lower" else value < med
        if worse:
            out.append(PruneDecision(run_id=run_id, step=step, value=value, median=med, others=len(others)))
    return out
