"""A change log (``gatebook.analysis.changelog.ChangeLog``) as the Markdown table researchers keep.

Columns: ``Date & Run`` | ``Key changes`` | ``Files touched`` | one per metric | ``Notes``,
then a one-line legend. Run names are escaped like every other Markdown output
(``gatebook.render.markdown.text``); notes and param changes keep their own Markdown and
are only made safe for a table cell (``|`` escaped, line breaks as ``<br>``). The output
is deterministic: the same change log gives the same bytes.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from gatebook.analysis.changelog import ChangeLog, Row, compact_float
from gatebook.render import markdown as md

MAX_CHANGES = 12
"""Changes shown in a Markdown cell (the JSON has them all)."""
MAX_BASE_PARAMS = 8
"""Params shown for a run without a parent."""
MAX_FILES = 10
"""Files shown in a Markdown cell."""

EMPTY = "–"


def render_markdown(log: ChangeLog) -> str:
    """The change log as a GitHub Markdown table, oldest run first, then the legend."""
    arrows = {"higher": " ↑", "lower": " ↓"}
    header = ["Date & Run", "Key changes", "Files touched"]
    header += [md.text(k) + arrows.get(log.directions.get(k) or "", "") for k in log.metrics]
    header.append("Notes")
    align = ["---", "---", "---"] + ["---:"] * len(log.metrics) + ["---"]
    formatters = {k: number_formatter([r.metrics[k].value for r in log.rows]) for k in log.metrics}
    lines = [md.row(header), md.row(align)]
    for r in log.rows:
        values = []
        for k in log.metrics:
            c = r.metrics[k]
            text = EMPTY if c.value is None else formatters[k](c.value)
            values.append(f"**{text}**" if c.best_so_far else text)
        lines.append(md.row([_run_cell(r), _changes_cell(r), _files_cell(r), *values, _notes_cell(r)]))
    legend = ["**bold**: best so far (↑ higher, ↓ lower is better)" if any(
        log.directions.get(k) for k in log.metrics) else "",
        f"metric values: {'last value' if log.stat == 'last' else 'best value'} of each run"
        if log.metrics else "",
        "`file`\\*: uncommitted changes"]
    return "\n".join(lines) + "\n\n" + " · ".join(p for p in legend if p) + "\n"


def number_formatter(values: Sequence[float | None]) -> Callable[[float], str]:
    """One format for a whole column: integers as integers, else the same number of
    decimals for every value: enough for 4 significant digits of the smallest value (at
    most 6), fewer when no value needs them; 4 significant digits each when the values
    are very large or very small."""
    finite = [v for v in values if v is not None and math.isfinite(v)]

    def special(v: float) -> str | None:
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return None

    if finite and all(float(v).is_integer() and abs(v) < 1e15 for v in finite):
        return lambda v: special(v) or str(int(v))
    nonzero = [abs(v) for v in finite if v != 0]
    if not nonzero:
        return lambda v: special(v) or f"{v:.4g}"
    lo, hi = min(nonzero), max(nonzero)
    if hi >= 1e6 or lo < 1e-4:
        return lambda v: special(v) or compact_float(float(f"{v:.4g}"))
    cap = max(0, min(6, 3 - math.floor(math.log10(lo))))
    # no more decimals than the values need: 0.2, 1.5 stay 0.2, 1.5 (not 0.2000, 1.5000)
    decimals = max(len(f"{v:.{cap}f}".rstrip("0").partition(".")[2]) for v in finite)

    def fmt(v: float) -> str:
        text = special(v) or f"{v:.{decimals}f}"
        return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text  # no "-0.00"
    return fmt


def _run_cell(r: Row) -> str:
    return f"{r.date} – {md.text(r.name)} ({r.id})" if r.name else f"{r.date} – {r.id}"


def _label(name: str | None, run_id: str) -> str:
    return f"{md.text(name)} ({run_id})" if name else run_id


def _changes_cell(r: Row) -> str:
    if r.parent_id and not r.parent_found:
        text = md.cell(f"parent {r.parent_id} not found")
    elif r.parent_id:
        items = [c.text for c in r.changes]
        body = md.cell(_capped(items, MAX_CHANGES)) if items else "same params"
        text = body if r.parent_above else f"vs {_label(r.parent_name, r.parent_id)}: {body}"
    else:
        items = [c.text for c in r.changes]
        text = md.cell("no parent" + (f": {_capped(items, MAX_BASE_PARAMS)}" if items else ""))
    return "<br>".join([text] + [md.cell(n) for n in r.run_notes])


def _capped(items: Sequence[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", … +{len(items) - limit} more" if len(items) > limit else "")


def _files_cell(r: Row) -> str:
    if not r.files:
        return EMPTY
    shown = [md.code(path) + ("\\*" if dirty else "") for path, dirty in r.files[:MAX_FILES]]
    more = len(r.files) - MAX_FILES
    return ", ".join(shown) + (f", … +{more} more" if more > 0 else "")


def _notes_cell(r: Row) -> str:
    return md.cell("; ".join(r.notes)) if r.notes else ""
