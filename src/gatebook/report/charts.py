"""A chart as data: each run's curve of one metric and the gates' thresholds on it, read from the ledger.

:func:`build_charts` reads the series of the chosen runs and turns the gates' checks on each
metric into :class:`Threshold` lines (numeric thresholds; baseline-relative ones when a
baseline run is given). No matplotlib here: :mod:`gatebook.report.plot` draws a :class:`Chart`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

if TYPE_CHECKING:
    from gatebook.gates.spec import Gate
    from gatebook.store.base import Store

Point = tuple["int | None", float]


@dataclass(frozen=True)
class Curve:
    """One run's series of one metric, in logging order."""

    run_id: str
    label: str
    points: tuple[Point, ...]
    baseline: bool = False

    def xy(self) -> tuple[list[float], list[float], bool, list[float]]:
        """x and y for drawing, sorted by step, with non-finite y as NaN (so the line
        breaks there); whether x is the point number (1, 2, ...: some point has no step);
        and the x of the non-finite points."""
        indexed = any(s is None for s, _ in self.points)
        if indexed:
            pairs = [(float(i + 1), v) for i, (_, v) in enumerate(self.points)]
        else:
            pairs = sorted(((float(s), v) for s, v in self.points), key=lambda p: p[0])  # type: ignore[arg-type]
        xs = [x for x, _ in pairs]
        ys = [v if math.isfinite(v) else math.nan for _, v in pairs]
        return xs, ys, indexed, [x for x, v in pairs if not math.isfinite(v)]

    def finite_values(self) -> list[float]:
        return [v for _, v in self.points if math.isfinite(v)]


@dataclass(frozen=True)
class Threshold:
    """A check's threshold on a chart: a horizontal line, or a point for ``@ epoch N``."""

    gate: str
    check: str
    label: str
    value: float
    at: float | None = None
    band: str = "pass"  # "pass" | "marginal"

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "check": self.check, "label": self.label, "value": self.value,
                "at": self.at, "band": self.band}


@dataclass
class Chart:
    """What one chart shows: a metric's curves and thresholds."""

    metric: str
    curves: list[Curve]
    thresholds: list[Threshold] = field(default_factory=list)
    direction: str | None = None
    missing: list[str] = field(default_factory=list)  # labels of runs without this metric
    skipped: list[str] = field(default_factory=list)  # checks not drawn, with why

    def values(self) -> list[float]:
        return [v for c in self.curves for v in c.finite_values()]


# -- gathering -------------------------------------------------------------------------------------


def run_labels(runs: Sequence[Any]) -> dict[str, str]:
    """A legend label per run id: its name, with a short id when names repeat; the id when unnamed."""
    names = [r.name for r in runs]
    out: dict[str, str] = {}
    for r in runs:
        if not r.name:
            out[r.id] = r.id
        elif names.count(r.name) > 1:
            out[r.id] = f"{r.name} ({r.id[:7]})"
        else:
            out[r.id] = r.name
    return out


def build_charts(store: Store, runs: Sequence[Any], metrics: Sequence[str], *, gates: Sequence[Gate] = (),
                 baseline: Any | None = None, gate_baselines: Mapping[str, Any] | None = None,
                 direction_of: Callable[[str], Any] = lambda k: None,
                 labels: Mapping[str, str] | None = None) -> list[Chart]:
    """One :class:`Chart` per metric over ``runs`` (and the ``baseline`` run, drawn too when
    it is not among them), with the thresholds of ``gates``' checks on that metric.

    A baseline-relative threshold reads ``gate_baselines[gate]`` (a ``BaselineData``, as
    ``prepare_gates`` gives) when the gate is there, else the ``baseline`` run."""
    everyone = list(runs) + ([baseline] if baseline is not None and baseline.id not in {r.id for r in runs} else [])
    labels = dict(labels or run_labels(everyone))
    wanted = list(dict.fromkeys([*metrics, "epoch"]))
    series = {r.id: store.metric_series(r.id, wanted) for r in everyone}
    default_base = None
    if baseline is not None:
        from gatebook.gates.setup import BaselineData, load_series

        default_base = BaselineData(label=baseline.name or baseline.id, series=load_series(store, baseline.id))
    bases = {g.name: (gate_baselines[g.name] if gate_baselines is not None and g.name in gate_baselines
                      else default_base) for g in gates}
    epoch_points = next((pts for r in everyone for pts in [series[r.id].get("epoch")]
                         if pts and any(s is not None and s != v for s, v, _ in pts)), None)
    charts = []
    for metric in metrics:
        curves, missing = [], []
        for r in everyone:
            pts = series[r.id].get(metric)
            label = labels.get(r.id, r.id)
            is_base = baseline is not None and r.id == baseline.id
            if is_base:
                label += " (baseline)"
            if not pts:
                missing.append(label)
                continue
            curves.append(Curve(r.id, label, tuple((s, v) for s, v, _ in pts), baseline=is_base))
        thresholds, skipped = gate_thresholds(gates, metric, baselines=bases, direction_of=direction_of,
                                              epoch_points=epoch_points)
        charts.append(Chart(metric, curves, thresholds, direction_of(metric), missing, skipped))
    return charts


def gate_thresholds(gates: Sequence[Gate], metric: str, *, baselines: Mapping[str, Any] | None = None,
                    direction_of: Callable[[str], Any] = lambda k: None,
                    epoch_points: Sequence[tuple[Any, ...]] | None = None) -> tuple[list[Threshold], list[str]]:
    """The thresholds of the checks on ``metric`` (pass and marginal bands; both bounds of
    ``between``), and the checks left out with why (a baseline check without a baseline).
    ``baselines`` maps a gate's name to its baseline (``.label``, ``.series``) or None."""
    out: list[Threshold] = []
    skipped: list[str] = []
    for gate in gates:
        base = (baselines or {}).get(gate.name)
        for check in gate.checks:
            if check.condition.operand.metric != metric:
                continue
            text = str(check)
            if check.uses_baseline and base is None:
                skipped.append(f"{gate.name}: {text} (compares with a baseline; pass --baseline RUN)")
                continue
            for band, cond in (("pass", check.condition), ("marginal", check.marginal)):
                if cond is None:
                    continue
                found = _threshold_of(gate.name, cond, base.series if base is not None else None,
                                      base.label if base is not None else "baseline", direction_of)
                if found is None:
                    skipped.append(f"{gate.name}: {text} (its threshold cannot be computed)")
                    break
                values, shown = found
                if check.marginal is None:
                    label = f"{gate.name}: {text}"
                else:
                    label = f"{gate.name}: {cond} ({band})"
                if cond.uses_baseline:
                    label += f" (=\u00a0{shown})"  # no-break space: the wrap keeps "(= 1.035)" whole
                at = None
                if cond.at is not None:
                    at = float(_at_step(cond.at, epoch_points))
                for i, value in enumerate(values):
                    out.append(Threshold(gate.name, text, label if i == 0 else "", value, at, band))
    return out, skipped


def _threshold_of(gate_name: str, cond: Any, baseline_series: Mapping[str, Any] | None, baseline_label: str,
                  direction_of: Callable[[str], Any]) -> tuple[list[float], str] | None:
    """The threshold's number(s), computed by the judge itself (baseline arithmetic included)."""
    from gatebook.gates.checks import Check
    from gatebook.gates.evaluate import evaluate
    from gatebook.gates.spec import Gate
    step = cond.at.n if cond.at is not None else 0
    probe = {cond.operand.metric: [(step, 0.0)]}  # any observed value: only the threshold is read
    result = evaluate(Gate(gate_name, (Check(cond),)), probe, baseline_series, direction_of=direction_of,
                      baseline_label=baseline_label).checks[0]
    threshold = result.threshold
    if threshold is None:
        return None
    values = list(threshold) if isinstance(threshold, tuple) else [threshold]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return None
    return [float(v) for v in values], " .. ".join(f"{float(v):.4g}" for v in values)


def _at_step(at: Any, epoch_points: Sequence[tuple[Any, ...]] | None) -> int:
    """The x of ``@ epoch N``: N, or the first step at epoch N when epochs are logged
    against another step axis (global steps)."""
    if at.unit != "epoch" or not epoch_points:
        return int(at.n)
    steps = sorted((p[0], p[1]) for p in epoch_points if p[0] is not None and math.isfinite(p[1]))
    for s, e in steps:
        if e >= at.n:
            return int(s)
    return int(at.n)


def slug(text: str) -> str:
    """A file-name-safe form of a metric key: ``val/loss`` -> ``val_loss``, ``r@5`` -> ``r_5``."""
    out = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "metric"
    return out[:80]


def unique_slugs(keys: Sequence[str]) -> dict[str, str]:
    """A distinct slug per key (``-2``, ``-3`` ... when two keys give the same one)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for key in keys:
        base = slug(key)
        name, n = base, 2
        while name.lower() in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name.lower())
        out[key] = name
    return out
