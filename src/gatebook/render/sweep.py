"""A sweep as a person reads it: the live progress line, the trials' status table, the ranked table.

:mod:`gatebook.sweep` returns data (:class:`~gatebook.sweep.executor.Progress`, the ledger's runs,
a :class:`~gatebook.analysis.compare.Comparison`); the colours are :mod:`gatebook.render.styles`'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from gatebook.render.styles import status_style
from gatebook.render.text import duration

if TYPE_CHECKING:
    from gatebook.analysis.compare import Comparison
    from gatebook.records import RunRecord
    from gatebook.sweep.executor import Progress

NO_METRIC = "no trial logged any metric"
FAILED = ("failed", "lost", "error")
"""Statuses the progress line counts as failed."""


def progress_text(progress: Progress) -> Any:
    """The live view (a ``rich.text.Text``): the counts on one line, the best trial so far on the next."""
    from rich.text import Text

    c = progress.counts
    failed = sum(c.get(s, 0) for s in FAILED)
    text = Text()
    text.append(f"sweep {progress.sweep}: ", style="bold")
    text.append(f"{c.get('finished', 0)} done", style=status_style("finished"))
    text.append(f" / {c.get('running', 0)} running / ")
    text.append(f"{c.get('stopped', 0)} stopped", style=status_style("stopped"))
    text.append(" / ")
    text.append(f"{failed} failed", style=status_style("failed") if failed else "")
    if c.get("interrupted"):
        text.append(" / ")
        text.append(f"{c['interrupted']} interrupted", style=status_style("interrupted"))
    text.append(f" / {c.get('pending', 0)} pending (of {progress.total})")
    if progress.best is not None and progress.objective:
        text.append(f"\nbest {progress.objective} {progress.best[1]:g} ({progress.best[0]})", style="bold")
    if progress.stopping:
        text.append("\ninterrupted: waiting for the running trials to stop", style=status_style("interrupted"))
    return text


def counts_text(counts: Mapping[str, int]) -> str:
    """``2 finished, 1 stopped``: the counts by status, statuses in alphabetical order."""
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def run_summary(sweep: str, counts: Mapping[str, int], *, interrupted: bool) -> str:
    """The last line of ``gatebook sweep run``."""
    return f"sweep {sweep}: {counts_text(counts)}" + (" (interrupted)" if interrupted else "")


def status_table(trials: Sequence[RunRecord]) -> Any:
    """``gatebook sweep status``: each trial's latest run (a ``rich.table.Table``)."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("name", "id", "status", "duration", "reason"):
        table.add_column(col)
    for r in trials:
        st = r.status.value
        style = status_style(st)
        table.add_row(r.name or "", r.id, f"[{style}]{st}[/]" if style else st,
                      duration((r.ended_at - r.created_at) if r.ended_at else None), r.reason or "")
    return table


def status_summary(sweep: str, trials: Sequence[RunRecord], counts: Mapping[str, int]) -> str:
    """The line under ``gatebook sweep status``'s table."""
    return f"sweep {sweep}: {len(trials)} trials: {counts_text(counts)}"


def ranked_table(comparison: Comparison, *, color: bool = False) -> str:
    """The sweep's ranked table and its legend, as ``gatebook compare`` prints them."""
    from gatebook.render.compare import format_with_legend

    return format_with_legend(comparison, color=color, empty=NO_METRIC)
