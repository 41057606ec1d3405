"""Runs side by side as data: one row per run, one column per metric, deltas against a baseline.

This is the comparison data model that ``gatebook compare``, sweeps and the reports share.
:func:`build_comparison` reads the store (one ``metric_stats`` call for all the runs; gate
verdicts, when asked for, come from those stats when every check reads only a last / min /
max / best value, else from each run's series of the gates' metrics) and hands plain numbers
to :func:`assemble`, which is pure. ``Comparison.to_dict()`` is the stable ``compare --json``
document; ``gatebook.render.compare`` turns a :class:`Comparison` into a terminal table,
Markdown or CSV.

The value shown for a metric is its ``last`` (the value at the highest step, see
``Store.metric_stats``). Deltas are ``value - baseline value``; ``delta_pct`` divides by
``|baseline value|``. "Better", "worse" and "best" follow the metric's direction from
``gatebook.yaml`` (``metrics.higher_is_better`` / ``lower_is_better``); a metric without
a declared direction gets deltas but no colour and no best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping, NamedTuple, Sequence

from gatebook.analysis.verdicts import GateCell, judge_rows
from gatebook.errors import UsageError
from gatebook.records import Direction, DirectionOf, MetricStats, RunRecord

if TYPE_CHECKING:
    from gatebook.project_config import ProjectConfig
    from gatebook.store.base import Store

VALUE = "last"
"""Which aggregate of a metric the comparison shows (documented in the JSON as ``value``)."""

DEFAULT_CAP = 8
"""At most this many columns when they are guessed from the metrics the runs share."""

AXIS_KEYS = frozenset({"step", "epoch", "global_step", "iteration", "iter"})
"""Keys that are axes rather than results: never picked as default columns."""

Change = Literal["better", "worse", "same"]


# -- the data model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    key: str
    direction: Direction | None

    @property
    def arrow(self) -> str:
        return {"higher": "↑", "lower": "↓"}.get(self.direction or "", "")

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "direction": self.direction}


class Cell(NamedTuple):
    """One run's value of one metric (``value`` None: the run never logged it)."""

    value: float | None
    step: int | None = None
    delta: float | None = None
    delta_pct: float | None = None
    change: Change | None = None
    best: bool = False

    @property
    def missing(self) -> bool:
        return self.value is None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "step": self.step, "delta": self.delta, "delta_pct": self.delta_pct,
                "change": self.change, "best": self.best}


MISSING = Cell(None)


@dataclass(frozen=True)
class Row:
    run: RunRecord
    is_baseline: bool
    cells: Mapping[str, Cell]
    verdicts: Mapping[str, GateCell] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.run.name or self.run.id

    def to_dict(self) -> dict[str, Any]:
        from gatebook.render.text import iso

        return {
            "id": self.run.id, "name": self.run.name, "status": self.run.status.value,
            "created_at": iso(self.run.created_at), "baseline": self.is_baseline,
            "metrics": {k: c.to_dict() for k, c in self.cells.items()},
            "verdicts": {g: v.to_dict() for g, v in self.verdicts.items()},
        }


@dataclass
class Comparison:
    metrics: list[Metric]
    rows: list[Row]
    baseline: RunRecord | None = None
    baseline_from: str | None = None  # "--baseline" | "gate NAME" | "first run"
    metrics_from: str = "shared"  # "--metric" | "primary" | "gates" | "shared" | "common"
    other_metrics: list[str] = field(default_factory=list)
    gates: list[str] = field(default_factory=list)
    gate_baselines: dict[str, RunRecord | None] = field(default_factory=dict)
    sort: str | None = None

    @property
    def keys(self) -> list[str]:
        return [m.key for m in self.metrics]

    def row(self, ref: str) -> Row:
        """The row of a run by id or name (tests and callers)."""
        for row in self.rows:
            if ref in (row.run.id, row.run.name):
                return row
        raise KeyError(ref)

    def to_dict(self) -> dict[str, Any]:
        base = None
        if self.baseline is not None:
            base = {"id": self.baseline.id, "name": self.baseline.name, "from": self.baseline_from}
        return {
            "value": VALUE,
            "metrics": [m.to_dict() for m in self.metrics],
            "metrics_from": self.metrics_from,
            "other_metrics": list(self.other_metrics),
            "baseline": base,
            "sort": self.sort,
            "gates": [{"name": g, "baseline": _ref(self.gate_baselines.get(g))} for g in self.gates],
            "runs": [r.to_dict() for r in self.rows],
        }


def _ref(run: RunRecord | None) -> dict[str, Any] | None:
    return None if run is None else {"id": run.id, "name": run.name}


# -- reading the store ---------------------------------------------------------------------------


def build_comparison(store: Store, runs: Sequence[RunRecord], *, metrics: Sequence[str] | None = None,
                     baseline: RunRecord | str | None = None, pconf: ProjectConfig | None = None,
                     gates: Sequence[str] = (),
                     sort: str | None = None, cap: int = DEFAULT_CAP, first_as_baseline: bool = True) -> Comparison:
    """Compare ``runs`` (in this order) on ``metrics``.

    ``metrics`` None picks the columns: ``metrics.primary`` from the project config, then
    the metrics the gates' checks read (``gates`` when given, else every declared gate),
    keeping those some run has; when none is left, the metrics every run shares (at most
    ``cap``, metrics with a declared direction first; axes such as ``epoch`` skipped).
    An explicit metric, or ``sort``, that no run has is a UsageError naming the metrics the
    runs do have, closest first.

    ``baseline`` (a run or a reference) is the first row; it is added when not among
    ``runs``. None takes the baseline declared by the first of ``gates`` that has one,
    else the first run (else none, with ``first_as_baseline`` false: no deltas; a sweep's
    trials are peers). ``gates`` adds one verdict per gate and row, judged like
    ``gatebook gate`` with ``baseline`` when it was given (else each gate's own baseline,
    else the comparison's baseline).
    """
    from gatebook.project_config import ProjectConfig

    pconf = pconf if pconf is not None else ProjectConfig()
    runs = list(runs)
    if not runs and baseline is None:
        raise UsageError("no runs to compare")
    gate_objs = _gate_objects(pconf, gates)

    base_run: RunRecord | None
    base_from: str | None
    if baseline is not None:
        base_run = store.resolve_run(baseline) if isinstance(baseline, str) else baseline
        base_from = "--baseline"
    else:
        declared = next((g for g in gate_objs if g.baseline), None) if gates else None
        if declared is not None:
            from gatebook.errors import NotFoundError

            try:
                base_run = store.resolve_run(declared.baseline)
            except NotFoundError as exc:
                raise NotFoundError(f"gate {declared.name}'s baseline: {exc.message}", hint=exc.hint) from None
            base_from = f"gate {declared.name}"
        elif first_as_baseline:
            base_run, base_from = runs[0], "first run"
        else:
            base_run, base_from = None, None
    ordered = runs if base_run is None else [base_run] + [r for r in runs if r.id != base_run.id]

    stats = store.metric_stats([r.id for r in ordered])
    keys, source, others = choose_metrics(stats, ordered, explicit=metrics, pconf=pconf, gates=gate_objs,
                                          sort=sort, cap=cap)

    verdicts: dict[str, dict[str, GateCell]] = {}
    gate_bases: dict[str, RunRecord | None] = {}
    if gates:
        verdicts, gate_bases = judge_rows(store, pconf, list(dict.fromkeys(gates)), ordered, stats,
                                           override=base_run.id if baseline is not None and base_run else None,
                                           fallback=base_run.id if base_run is not None else None)
    comp = assemble(ordered, stats, keys, baseline_id=base_run.id if base_run is not None else None,
                    direction_of=pconf.metrics.direction,
                    verdicts=verdicts, sort=sort)
    comp.baseline_from = base_from
    comp.metrics_from = source
    comp.other_metrics = others
    comp.gates = list(dict.fromkeys(gates))
    comp.gate_baselines = gate_bases
    return comp


def _gate_objects(pconf: ProjectConfig, names: Sequence[str]) -> list[Any]:
    """The Gate objects of ``names`` (every declared gate when empty, for default columns)."""
    from gatebook.gates.spec import select_gates

    if names:
        return select_gates(pconf.gates, list(names), pconf.source)
    return [spec.to_gate(name) for name, spec in (pconf.gates or {}).items()]


# -- choosing the columns ------------------------------------------------------------------------


def choose_metrics(stats: Mapping[str, Mapping[str, MetricStats]], runs: Sequence[RunRecord], *,
                   explicit: Sequence[str] | None = None, pconf: ProjectConfig | None = None, gates: Sequence[Any] = (),
                   sort: str | None = None, cap: int = DEFAULT_CAP) -> tuple[list[str], str, list[str]]:
    """The metric columns, where they came from, and the runs' other metrics (not shown)."""
    from gatebook.gates.checks import metrics_of

    counts: dict[str, int] = {}
    for run in runs:
        for key in stats.get(run.id, {}):
            counts[key] = counts.get(key, 0) + 1
    have = set(counts)

    def check_known(key: str, what: str) -> None:
        if key not in have:
            raise UsageError(_unknown_metric_message(key, what, sorted(have), len(runs)))

    chosen: list[str] = []
    if explicit:
        for item in explicit:
            parts = [item] if item in have or "," not in item else [p.strip() for p in item.split(",") if p.strip()]
            for key in parts:
                check_known(key, "--metric")
                if key not in chosen:
                    chosen.append(key)
        source = "--metric"
    else:
        primary = list(pconf.metrics.primary) if pconf is not None else []
        chosen = [k for k in dict.fromkeys(primary) if k in have]
        source = "primary"
        from_gates: list[str] = []
        for gate in gates:
            for check in gate.checks:
                for key in metrics_of(check):
                    if key in have and key not in chosen and key not in from_gates:
                        from_gates.append(key)
        room = max(cap, len(chosen)) - len(chosen)
        if from_gates and room > 0:
            if not chosen:
                source = "gates"
            chosen += from_gates[:room]
        if not chosen:
            chosen, source = _shared(counts, len(runs), pconf, cap)
    if sort is not None:
        check_known(sort, "--sort")
        if sort not in chosen:
            chosen.append(sort)
    others = sorted(k for k in have if k not in chosen)
    return chosen, source, others


def _shared(counts: Mapping[str, int], n_runs: int, pconf: ProjectConfig | None, cap: int) -> tuple[list[str], str]:
    """The metrics every run has (else those most runs have), directed ones first."""
    direction = pconf.metrics.direction if pconf is not None else (lambda key: None)
    candidates = [k for k in counts if k not in AXIS_KEYS] or list(counts)
    shared = [k for k in candidates if counts[k] == n_runs]
    source = "shared"
    if not shared:
        shared, source = candidates, "common"
    ranked = sorted(shared, key=lambda k: (-counts[k], direction(k) is None, k))
    return ranked[:cap], source


def _unknown_metric_message(key: str, what: str, have: list[str], n_runs: int) -> str:
    from gatebook.gates.evaluate import closest_keys

    whom = "the selected run" if n_runs == 1 else f"none of the {n_runs} runs compared"
    if not have:
        return f"{what} {key!r}: {whom} logged any metric" if n_runs > 1 else \
            f"{what} {key!r}: the selected run logged no metric at all"
    shown = closest_keys(key, have, n=8)
    more = f" (and {len(have) - len(shown)} more)" if len(have) > len(shown) else ""
    if n_runs == 1:
        return f"{what} {key!r}: the selected run never logged it; it has: {', '.join(shown)}{more}"
    return f"{what} {key!r}: {whom} logged it; they have: {', '.join(shown)}{more}"


# -- the pure core -------------------------------------------------------------------------------


def assemble(runs: Sequence[RunRecord], stats: Mapping[str, Mapping[str, MetricStats]], keys: Sequence[str], *,
             baseline_id: str | None, direction_of: DirectionOf = lambda key: None,
             verdicts: Mapping[str, Mapping[str, GateCell]] | None = None, sort: str | None = None) -> Comparison:
    """Rows of values, deltas, changes and best marks; pure (no store, no printing).

    ``runs`` come in display order (the baseline is put first unless ``sort`` orders
    the rows by a metric: best first by its direction, highest first when it has none;
    NaN, then runs without the metric, last).
    """
    metrics = [Metric(k, direction_of(k)) for k in keys]
    base_stats = stats.get(baseline_id, {}) if baseline_id else {}
    verdicts = verdicts or {}
    ordered = list(runs)
    if baseline_id is not None:
        ordered.sort(key=lambda r: r.id != baseline_id)  # stable: the baseline first, the rest as given
    raw: list[dict[str, Cell]] = []
    for run in ordered:
        mine = stats.get(run.id, {})
        cells: dict[str, Cell] = {}
        for m in metrics:
            s = mine.get(m.key)
            if s is None:
                cells[m.key] = MISSING
                continue
            if run.id == baseline_id:
                cells[m.key] = Cell(s.last, s.last_step)
                continue
            b = base_stats.get(m.key)
            cells[m.key] = _cell(s, b.last if b is not None else None, m.direction)
        raw.append(cells)
    # best per column: by direction, among the finite values, when two runs or more have one
    for m in metrics:
        if m.direction is None:
            continue
        values = [v for c in raw if (v := c[m.key].value) is not None and not math.isnan(v)]
        if len(values) < 2:
            continue
        top = max(values) if m.direction == "higher" else min(values)
        for cells in raw:
            c = cells[m.key]
            if c.value is not None and c.value == top:
                cells[m.key] = c._replace(best=True)
    rows = [Row(run, run.id == baseline_id, cells, dict(verdicts.get(run.id, {})))
            for run, cells in zip(ordered, raw, strict=False)]
    if sort is not None:
        rows = sort_rows(rows, sort, direction_of(sort))
    baseline = next((r for r in ordered if r.id == baseline_id), None)
    return Comparison(metrics=metrics, rows=rows, baseline=baseline, sort=sort)


def _cell(s: MetricStats, base: float | None, direction: Direction | None) -> Cell:
    value = s.last
    if base is None or not (math.isfinite(value) and math.isfinite(base)):
        return Cell(value, s.last_step)
    delta = _tidy(value - base)
    pct = _tidy(delta / abs(base) * 100.0) if base != 0 else None
    change: Change | None = None
    if direction is not None:
        if math.isclose(value, base, rel_tol=1e-9, abs_tol=1e-12):
            change = "same"
        elif (value > base) == (direction == "higher"):
            change = "better"
        else:
            change = "worse"
    return Cell(value, s.last_step, delta, pct, change)


def _tidy(x: float) -> float:
    """``0.02``, not ``0.020000000000000018``."""
    return float(f"{x:.12g}")


def sort_rows(rows: Sequence[Row], key: str, direction: Direction | None) -> list[Row]:
    """Best first by ``direction`` (highest first without one); NaN, then missing, last."""

    def rank(row: Row) -> tuple[int, float]:
        value = row.cells.get(key, MISSING).value
        if value is None:
            return (2, 0.0)
        if math.isnan(value):
            return (1, 0.0)
        return (0, value if direction == "lower" else -value)

    return sorted(rows, key=rank)


# -- walking a comparison ------------------------------------------------------------------------


def iter_cells(comparison: Comparison) -> Iterable[tuple[Row, Metric, Cell]]:
    """Every (row, metric, cell), row by row (for callers that build their own views)."""
    for row in comparison.rows:
        for m in comparison.metrics:
            yield row, m, row.cells.get(m.key, MISSING)
