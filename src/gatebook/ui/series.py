"""The series document a dashboard chart reads: one run's metric, bucketed or at full resolution.

``GET /api/runs/{ref}/series/{key}?buckets=&start=&end=`` answers :func:`series_document`.
The reduction is :mod:`gatebook.buckets` (every spike and every NaN kept); zooming asks again
with ``start``/``end`` and gets the visible range whole once it holds no more than
``buckets`` points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gatebook.buckets import Number, columns_xy, reduce_series, window
from gatebook.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from gatebook.records import RunRecord
    from gatebook.store.base import Store


def series_document(store: Store, run: RunRecord, key: str, *, buckets: int = 2000,
                    start: Number | None = None, end: Number | None = None) -> dict[str, Any]:
    """One run's series of ``key`` with x in ``start..end`` (inclusive; None: open), as columns::

        {"run": {"id", "name"}, "key", "indexed": bool,   # x is the point number (no steps)
         "points": total points of the series, "in_range": points in start..end,
         "range": [first x, last x] of the whole series,  # the chart's zoom-out extent
         "start", "end",                                  # as asked
         "buckets": the limit asked, "reduced": bool,     # False: one entry per point
         "x", "x_first", "min", "min_x", "max", "max_x", "last", "nan",  # one entry per bucket
         "nan_x"}                                         # where non-finite points are

    uPlot reads ``[x, last, min, max]`` (the line, and min..max as a band); ``null`` in
    ``last`` breaks the line, ``nan_x`` places the NaN markers. Column meanings:
    :class:`gatebook.buckets.Buckets`. An unknown key raises :class:`NotFoundError` naming
    the run's keys, closest first."""
    if buckets < 1:
        raise UsageError(f"buckets must be at least 1, not {buckets}")
    if start is not None and end is not None and start > end:
        raise UsageError(f"the range start {start} is after its end {end}")
    # One read of the whole series in x order as two columns (Store.metric_points); a zoom
    # reads it too, for the document's points, range and indexed (a ranged read alone
    # cannot tell them), then keeps its window by bisection.
    steps, values = store.metric_points(run.id, key)
    if not steps:
        from gatebook.gates.evaluate import closest_keys

        have = sorted(store.metric_stats([run.id]).get(run.id, {}))
        shown = ", ".join(closest_keys(key, have, n=8)) if have else "none"
        raise NotFoundError(f"run {run.label} never logged {key!r}", hint=f"it has: {shown}")
    xs, ys, indexed = columns_xy(steps, values)
    xs_in, ys_in = window(xs, ys, start, end)
    reduced = reduce_series(xs_in, ys_in, buckets)
    doc: dict[str, Any] = {
        "run": {"id": run.id, "name": run.name}, "key": key, "indexed": indexed, "points": len(xs),
        "in_range": reduced.points, "range": [xs[0], xs[-1]] if xs else None, "start": start, "end": end,
        "buckets": buckets,
    }
    body = reduced.to_dict()
    del body["points"]
    doc.update(body)
    return doc
