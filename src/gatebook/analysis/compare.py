"""Runs side by side: one row per run, one column per metric, deltas against a baseline.

This is the comparison data model that ``gatebook compare``, the change log and the
reports share. :func:`build_comparison` reads the store (one ``metric_stats`` call for
all the runs; gate verdicts, when asked for, come from those stats when every check reads
only a last / min / max / best value, else from each run's series of the gates' metrics)
and hands plain numbers to :func:`assemble`, which is pure. The renderers
(:func:`render_markdown`, :func:`render_csv`, :func:`render_table`) only format a
:class:`Comparison`; ``Comparison.to_dict()`` is the stable ``compare --json`` document.

The value shown for a metric is its ``last`` (the value at the highest step, see
``Store.metric_stats``). Deltas are ``value - baseline value``; ``delta_pct`` divides by
``|baseline value|``. "Better", "worse" and "best" follow the metric's direction from
``gatebook.yaml`` (``metrics.higher_is_better`` / ``lower_is_better``); a metric without
a declared direction gets deltas but no colour and no best.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping, NamedTuple, Sequence

from gatebook.errors import UsageError
from gatebook.records import Direction, DirectionOf, MetricStats, RunRecord
from gatebook.serialize import format_number

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
class GateCell:
    """A gate's verdict for one run, and the reasons of its checks that did not pass."""

    verdict: str
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reasons": list(self.reasons)}


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


def build_comparison(store: Any, runs: Sequence[RunRecord], *, metrics: Sequence[str] | None = None,
                     baseline: RunRecord | str | None = None, pconf: Any = None, gates: Sequence[str] = (),
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
        verdicts, gate_bases = _judge_rows(store, pconf, list(dict.fromkeys(gates)), ordered, stats,
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


def _gate_objects(pconf: Any, names: Sequence[str]) -> list[Any]:
    """The Gate objects of ``names`` (every declared gate when empty, for default columns)."""
    from gatebook.gates.spec import select_gates

    if names:
        return select_gates(pconf.gates, list(names), pconf.source)
    return [spec.to_gate(name) for name, spec in (pconf.gates or {}).items()]


def _judge_rows(store: Any, pconf: Any, names: list[str], rows: Sequence[RunRecord],
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
    from_stats = _stats_suffice(gating.gates)
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


def _stats_suffice(gates: Sequence[Any]) -> bool:
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
    run's own. Only for checks without ``@``, ``mean`` or ``of last K`` (see _stats_suffice)."""
    out: dict[str, list[tuple[int | None, float]]] = {}
    for key in keys:
        s = stats.get(key)
        if s is None:
            continue
        points = [(s.last_step, v) for v in (s.min, s.max) if v is not None]
        points.append((s.last_step, s.last))
        out[key] = points
    return out


def _series(store: Any, run_id: str, keys: Sequence[str]) -> dict[str, list[tuple[int | None, float]]]:
    """The run's series of ``keys`` only (a check's tier reads no other key)."""
    return {k: [(st, v) for st, v, _ in pts] for k, pts in store.metric_series(run_id, keys).items()}


# -- choosing the columns ------------------------------------------------------------------------


def choose_metrics(stats: Mapping[str, Mapping[str, MetricStats]], runs: Sequence[RunRecord], *,
                   explicit: Sequence[str] | None = None, pconf: Any = None, gates: Sequence[Any] = (),
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


def _shared(counts: Mapping[str, int], n_runs: int, pconf: Any, cap: int) -> tuple[list[str], str]:
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


# -- rendering -----------------------------------------------------------------------------------


def fmt_value(value: float | None) -> str:
    return "" if value is None else format_number(value)


def fmt_delta(delta: float | None) -> str:
    if delta is None:
        return ""
    text = fmt_value(delta)
    return text if text.startswith("-") else "+" + text


def cell_text(cell: Cell) -> tuple[str, str]:
    """The value and the delta of a cell as text (``("0.91", "+0.02")``)."""
    return fmt_value(cell.value), fmt_delta(cell.delta)


def legend(comp: Comparison) -> str:
    """One line saying what the numbers are."""
    parts = [f"values: the {VALUE} logged value"]
    if comp.baseline is not None and len(comp.rows) > 1:
        parts.append(f"(+/-): delta vs the baseline {comp.baseline.name or comp.baseline.id}")
    if any(m.direction for m in comp.metrics):
        parts.append("↑ higher / ↓ lower is better; best per column in bold")
    if comp.sort:
        parts.append(f"sorted by {comp.sort}")
    if comp.other_metrics:
        n = len(comp.other_metrics)
        parts.append(f"{n} other metric{'s' if n != 1 else ''} not shown (--metric M)")
    return "; ".join(parts)


def _header(m: Metric) -> str:
    return f"{m.key} {m.arrow}" if m.arrow else m.key


def render_markdown(comparison: Comparison, *, with_legend: bool = True) -> str:
    """A GitHub Markdown table (best values in bold), then a one-line legend."""
    comp = comparison
    head = ["run", "id", "status", *(_header(m) for m in comp.metrics), *(f"gate {g}" for g in comp.gates)]
    lines = ["| " + " | ".join(_md(h) for h in head) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * len(comp.metrics) + [":---:"] * len(comp.gates)) + "|"]
    for row in comp.rows:
        name = _md(row.run.name or "") + (" *(baseline)*" if row.is_baseline else "")
        cells = [name, f"`{row.run.id}`", row.run.status.value]
        for m in comp.metrics:
            c = row.cells.get(m.key, MISSING)
            value, delta = cell_text(c)
            if value and c.best:
                value = f"**{value}**"
            cells.append(f"{value} ({delta})" if delta else value)
        cells += [_verdict_text(row.verdicts.get(g)) for g in comp.gates]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if with_legend:
        text += "\n" + _md(legend(comp)) + "\n"
    return text


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("\n", " ")


def _verdict_text(cell: GateCell | None) -> str:
    return "" if cell is None else cell.verdict


def render_csv(comparison: Comparison) -> str:
    """CSV: id, name, status, baseline, then per metric its value, delta and delta_pct
    (full precision; NaN as ``NaN``, blank when missing), then per gate its verdict."""
    comp = comparison
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    head = ["id", "name", "status", "baseline"]
    for m in comp.metrics:
        head += [m.key, f"{m.key}_delta", f"{m.key}_delta_pct"]
    head += [f"gate:{g}" for g in comp.gates]
    writer.writerow(head)
    for row in comp.rows:
        out = [row.run.id, row.run.name or "", row.run.status.value, "true" if row.is_baseline else "false"]
        for m in comp.metrics:
            c = row.cells.get(m.key, MISSING)
            out += [_csv_num(c.value), _csv_num(c.delta), _csv_num(c.delta_pct)]
        out += [_verdict_text(row.verdicts.get(g)) for g in comp.gates]
        writer.writerow(out)
    return buf.getvalue()


def _csv_num(value: float | None) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


VERDICT_STYLE = {"PASS": "green", "MARGINAL": "yellow", "PENDING": "cyan", "FAIL": "red", "ERROR": "bold red"}
CHANGE_STYLE = {"better": "green", "worse": "red"}
STATUS_STYLE = {"running": "cyan", "finished": "green", "failed": "red", "interrupted": "yellow",
                "stopped": "magenta", "lost": "bright_black"}


Piece = tuple[str, str]  # (text, style)
_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "magenta": "35", "cyan": "36",
        "bright_black": "90", "bold red": "1;31"}


def table_cells(comparison: Comparison) -> tuple[list[str], list[str], list[list[list[Piece]]]]:
    """The table as headers, justifications and, per row and column, styled pieces of text."""
    comp = comparison
    heads = ["run", "id", "status", *(_header(m) for m in comp.metrics), *(f"gate {g}" for g in comp.gates)]
    justify = ["left"] * 3 + ["right"] * len(comp.metrics) + ["left"] * len(comp.gates)
    texts = {m.key: [cell_text(row.cells.get(m.key, MISSING)) for row in comp.rows] for m in comp.metrics}
    # value and delta in sub-columns: values right-aligned with each other, deltas after them
    vw = {k: max((len(v) for v, _ in t), default=0) for k, t in texts.items()}
    dw = {k: max((len(d) for _, d in t), default=0) for k, t in texts.items()}
    rows: list[list[list[Piece]]] = []
    for r, row in enumerate(comp.rows):
        status = row.run.status.value
        name: list[Piece] = [(row.run.name or "", "")]
        if row.is_baseline:
            name.append((" (baseline)", "dim"))
        cells: list[list[Piece]] = [name, [(row.run.id, "")], [(status, STATUS_STYLE.get(status, ""))]]
        for m in comp.metrics:
            c = row.cells.get(m.key, MISSING)
            value, delta = texts[m.key][r]
            pieces: list[Piece] = [(" " * (vw[m.key] - len(value)), ""), (value, "bold" if c.best else "")]
            if dw[m.key]:
                pieces.append((" ", ""))
                pieces.append((delta, CHANGE_STYLE.get(c.change or "", "dim")))
                pieces.append((" " * (dw[m.key] - len(delta)), ""))
            cells.append(pieces)
        for g in comp.gates:
            v = row.verdicts.get(g)
            cells.append([(v.verdict, VERDICT_STYLE.get(v.verdict, ""))] if v else [])
        rows.append(cells)
    return heads, justify, rows


def _width(pieces: list[Piece]) -> int:
    from rich.cells import cell_len

    return sum(len(t) if t.isascii() else cell_len(t) for t, _ in pieces)


def _layout(comparison: Comparison) -> tuple[list[int], list[str], list[list[tuple[int, list[Piece]]]]]:
    """Column widths, justifications and every row (the header first) as (width, pieces) cells."""
    heads, justify, rows = table_cells(comparison)
    table = [[(_width(p), p) for p in cells] for cells in [[[(h, "bold")] for h in heads], *rows]]
    widths = [max(cells[i][0] for cells in table) for i in range(len(heads))]
    return widths, justify, table


def format_table(comparison: Comparison, *, color: bool = False) -> str:
    """The table as text: columns two spaces apart, metric values right-aligned, the delta
    green (better) or red (worse), the best value per column bold (ANSI codes with ``color``).

    Built by hand rather than with ``rich.table``: a thousand runs render in milliseconds.
    """
    widths, justify, table = _layout(comparison)

    def paint(text: str, style: str) -> str:
        if not color or not style or not text:
            return text
        return f"\x1b[{_SGR.get(style, '0')}m{text}\x1b[0m"

    lines = []
    for cells in table:
        out = []
        for i, (n, pieces) in enumerate(cells):
            pad = " " * (widths[i] - n)
            body = "".join([paint(t, st) for t, st in pieces])
            out.append(pad + body if justify[i] == "right" else body + pad)
        lines.append("  ".join(out).rstrip())
    return "\n".join(lines) + "\n"


def render_table(comparison: Comparison) -> Any:
    """The same table as a rich renderable (a ``rich.text.Text``), for ``console.print``."""
    from rich.text import Text

    widths, justify, table = _layout(comparison)
    text = Text(no_wrap=True, overflow="ignore")
    for r, cells in enumerate(table):
        if r:
            text.append("\n")
        for i, (n, pieces) in enumerate(cells):
            pad = " " * (widths[i] - n)
            if i:
                text.append("  ")
            if justify[i] == "right":
                text.append(pad)
            for t, st in pieces:
                text.append(t, style=st or None)
            if justify[i] != "right" and i < len(cells) - 1:
                text.append(pad)
    return text


def iter_cells(comparison: Comparison) -> Iterable[tuple[Row, Metric, Cell]]:
    """Every (row, metric, cell), row by row (for callers that build their own views)."""
    for row in comparison.rows:
        for m in comparison.metrics:
            yield row, m, row.cells.get(m.key, MISSING)
