"""A comparison (``gatebook.analysis.compare.Comparison``) as text: a terminal table, Markdown, CSV.

``compare --json`` is ``Comparison.to_dict()``; everything else a person reads is made here:
values with their deltas against the baseline (green better, red worse by the metric's
direction), the best value per column in bold, a run's status and a gate's tier in the
palette's colours (``gatebook.render.styles``), and the one-line legend.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from gatebook.analysis.compare import MISSING, VALUE, Cell, Comparison, Metric
from gatebook.analysis.verdicts import GateCell
from gatebook.render import markdown as md
from gatebook.render.styles import CHANGE_STYLE, status_style, tier_style
from gatebook.render.table import Layout, Piece, format_text, layout, rich_text
from gatebook.serialize import format_number


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


def header(m: Metric) -> str:
    """A metric's column header: its key and the arrow of its direction."""
    return f"{m.key} {m.arrow}" if m.arrow else m.key


def _verdict_text(cell: GateCell | None) -> str:
    return "" if cell is None else cell.verdict


# -- Markdown and CSV ------------------------------------------------------------------------------


def render_markdown(comparison: Comparison, *, with_legend: bool = True) -> str:
    """A GitHub Markdown table (best values in bold), then a one-line legend."""
    comp = comparison
    head = ["run", "id", "status", *(header(m) for m in comp.metrics), *(f"gate {g}" for g in comp.gates)]
    lines = [md.row([md.text(h) for h in head]),
             "|" + "|".join(["---"] * 3 + ["---:"] * len(comp.metrics) + [":---:"] * len(comp.gates)) + "|"]
    for row in comp.rows:
        name = md.text(row.run.name or "") + (" *(baseline)*" if row.is_baseline else "")
        cells = [name, md.code(row.run.id), row.run.status.value]
        for m in comp.metrics:
            c = row.cells.get(m.key, MISSING)
            value, delta = cell_text(c)
            if value and c.best:
                value = f"**{value}**"
            cells.append(f"{value} ({delta})" if delta else value)
        cells += [_verdict_text(row.verdicts.get(g)) for g in comp.gates]
        lines.append(md.row(cells))
    text = "\n".join(lines) + "\n"
    if with_legend:
        text += "\n" + md.line_start(md.text(legend(comp))) + "\n"
    return text


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


# -- the terminal table ----------------------------------------------------------------------------


def table_cells(comparison: Comparison) -> tuple[list[str], list[str], list[list[list[Piece]]]]:
    """The table as headers, justifications and, per row and column, styled pieces of text."""
    comp = comparison
    heads = ["run", "id", "status", *(header(m) for m in comp.metrics), *(f"gate {g}" for g in comp.gates)]
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
        cells: list[list[Piece]] = [name, [(row.run.id, "")], [(status, status_style(status))]]
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
            cells.append([(v.verdict, tier_style(v.verdict))] if v else [])
        rows.append(cells)
    return heads, justify, rows


def _layout(comparison: Comparison) -> Layout:
    return layout(*table_cells(comparison))


def format_table(comparison: Comparison, *, color: bool = False) -> str:
    """The table as text: columns two spaces apart, metric values right-aligned, the delta
    green (better) or red (worse), the best value per column bold (ANSI codes with ``color``).

    Built by hand rather than with ``rich.table``: a thousand runs render in milliseconds.
    """
    return format_text(_layout(comparison), color=color)


def render_table(comparison: Comparison) -> Any:
    """The same table as a rich renderable (a ``rich.text.Text``), for ``console.print``."""
    return rich_text(_layout(comparison))


def format_with_legend(comparison: Comparison, *, color: bool = False, empty: str) -> str:
    """The terminal table, then the legend dimmed (``empty`` instead when there is no metric column)."""
    note = legend(comparison) if comparison.metrics else empty
    return format_table(comparison, color=color) + (f"\x1b[2m{note}\x1b[0m" if color else note) + "\n"
