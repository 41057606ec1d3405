"""Exact curves: a long series reduced to at most N buckets that keep every spike and every NaN (pure).

A chart cannot draw a million points, and sampling (one point in 500) hides the one spike
that matters. :func:`reduce_series` cuts the x range into ``buckets`` equal slices and keeps,
per non-empty slice, its first and last x, the minimum and the maximum (with their x), the
last value (with its x) and how many points were not finite (NaN, +inf, -inf). A chart draws
``min``..``max`` as a band and ``last`` as the line, so a single 1e6 among a million zeros is
the maximum of its bucket and always shows. A series of at most ``buckets`` points comes back
whole, in the same columns (min = max = last = the value).

Non-finite values are never averaged in, and never dropped silently: in the columns they are
``None`` (JSON ``null``: uPlot breaks the line there), each bucket counts them in ``nan``, and
``nan_x`` lists where they are: every non-finite point's x when the series is whole, the
first one's x in each bucket that has any when it is reduced.

The x rule is :meth:`gatebook.report.charts.Curve.xy`'s (``gatebook plot``): the step, sorted
by step (stable); or, when some point was logged without a step, the point's number in
logging order (1, 2, ...) for every point. No I/O. The reduction is numpy (the ``ui`` extra;
this module is imported only by ``gatebook ui``): bucket edges by ``searchsorted``, each
bucket's minimum and maximum by ``reduceat`` and the first point holding them by a
``searchsorted`` over the points equal to them, so a million points take milliseconds.
Inputs may be lists or numpy arrays; the output columns are plain Python lists of Python
numbers (JSON as before).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter, le
from typing import Any, Iterable, Sequence

import numpy as np

Number = float | int
Xs = Sequence[Number] | np.ndarray
"""x values: a list, or a numpy array (what :class:`gatebook.ui.series.SeriesCache` keeps)."""
Ys = Sequence[float] | np.ndarray

COLUMNS = ("x", "x_first", "min", "min_x", "max", "max_x", "last", "nan")
"""The per-bucket columns, in :meth:`Buckets.to_dict` order."""


@dataclass
class Buckets:
    """A series (or the part of it in a range) as columns, one entry per non-empty bucket.

    ``x``: the x of the bucket's last point (where ``last`` is drawn); ``x_first``: the x of
    its first point (``x_first``..``x`` is the x range the bucket covers); ``min`` / ``max``:
    its finite extremes (``None`` when it has no finite point) at ``min_x`` / ``max_x`` (the
    first point holding them); ``last``: its last value (``None`` when not finite); ``nan``:
    how many of its points are NaN or infinite. ``nan_x``: where non-finite points are (see
    the module docstring). ``points``: how many points went in; ``reduced``: whether they were
    bucketed (False: one bucket per point, the series whole)."""

    points: int = 0
    reduced: bool = False
    x: list[Number] = field(default_factory=list)
    x_first: list[Number] = field(default_factory=list)
    min: list[float | None] = field(default_factory=list)
    min_x: list[Number | None] = field(default_factory=list)
    max: list[float | None] = field(default_factory=list)
    max_x: list[Number | None] = field(default_factory=list)
    last: list[float | None] = field(default_factory=list)
    nan: list[int] = field(default_factory=list)
    nan_x: list[Number] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.x)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"points": self.points, "reduced": self.reduced}
        out.update({name: getattr(self, name) for name in COLUMNS})
        out["nan_x"] = self.nan_x
        return out


def series_xy(points: Sequence[Sequence[Any]]) -> tuple[list[Number], list[float], bool]:
    """x and y of ``(step, value, ...)`` points in logging order (the store's triples do too),
    by the x rule above, and whether x is the point number. Values are kept as they are
    (NaN and infinities included)."""
    return columns_xy(list(map(itemgetter(0), points)), list(map(itemgetter(1), points)))


def columns_xy(steps: list[Any], values: list[float]) -> tuple[list[Number], list[float], bool]:
    """:func:`series_xy` of the points as two columns (``Store.metric_points`` gives them);
    the lists may be returned as they are (already in step order), never changed in place."""
    if not steps:
        return [], [], False
    try:  # one pass for both questions: a None among the steps cannot be compared
        in_order = all(map(le, steps, islice(steps, 1, None))) and steps[0] is not None
    except TypeError:
        in_order = False
    if in_order is False and None in steps:
        return list(range(1, len(values) + 1)), values, True
    if not in_order:
        order = sorted(range(len(steps)), key=steps.__getitem__)  # stable: equal steps keep logging order
        steps = [steps[i] for i in order]
        values = [values[i] for i in order]
    return steps, values, False


def columns_arrays(steps: Sequence[Any], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray, bool]:
    """:func:`columns_xy` as numpy arrays (x int64, y float64): the same x rule, stable sort."""
    ys = np.fromiter(values, dtype=np.float64, count=len(values))
    if len(ys) == 0:
        return np.zeros(0, dtype=np.int64), ys, False
    try:
        xs = np.fromiter(steps, dtype=np.int64, count=len(steps))
    except TypeError:  # a None among the steps: every point by its number, in logging order
        return np.arange(1, len(ys) + 1, dtype=np.int64), ys, True
    if len(xs) > 1 and bool((xs[1:] < xs[:-1]).any()):
        order = np.argsort(xs, kind="stable")  # equal steps keep logging order
        xs, ys = xs[order], ys[order]
    return xs, ys, False


def window(xs: Xs, ys: Ys, start: Number | None = None, end: Number | None = None) -> tuple[Xs, Ys]:
    """The points with ``start <= x <= end`` (either bound may be None) of x-sorted columns
    (lists, or numpy arrays: then views)."""
    if start is None and end is None:
        return xs, ys
    if isinstance(xs, np.ndarray):
        a = 0 if start is None else int(np.searchsorted(xs, start, side="left"))
        b = len(xs) if end is None else int(np.searchsorted(xs, end, side="right"))
    else:
        a = 0 if start is None else bisect_left(xs, start)
        b = len(xs) if end is None else bisect_right(xs, end)
    if b <= a:
        return [], []
    return xs[a:b], ys[a:b]


def reduce_series(xs: Xs, ys: Ys, buckets: int = 2000) -> Buckets:
    """At most ``buckets`` buckets over ``xs[0]..xs[-1]`` (``xs`` sorted, as :func:`series_xy`
    gives); the series whole when it has no more than ``buckets`` points."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    n = len(xs)
    x = np.asarray(xs)
    y = np.asarray(ys, dtype=np.float64)
    if n <= buckets:
        return _whole(x, y)
    x0, x1 = x[0].item(), x[-1].item()
    width = (x1 - x0) / buckets
    # Bucket k holds x0 + k*width <= x < x0 + (k+1)*width; the last one ends at x1 inclusive.
    if width > 0:
        cuts = np.searchsorted(x, x0 + np.arange(1, buckets, dtype=np.float64) * width, side="left")
        edges = np.concatenate(([0], cuts, [n]))
        starts = edges[:-1][edges[1:] > edges[:-1]]  # the non-empty buckets, back to back
    else:
        starts = np.zeros(1, dtype=np.intp)
    ends = np.append(starts[1:], n)
    finite = np.isfinite(y)
    all_finite = bool(finite.all())
    lo_y = y if all_finite else np.where(finite, y, np.inf)
    hi_y = y if all_finite else np.where(finite, y, -np.inf)
    mn_i = _first_equal(lo_y, np.minimum.reduceat(lo_y, starts), starts, ends)
    mx_i = _first_equal(hi_y, np.maximum.reduceat(hi_y, starts), starts, ends)
    out = Buckets(points=n, reduced=True, x=x[ends - 1].tolist(), x_first=x[starts].tolist())
    if all_finite:
        out.min, out.min_x = y[mn_i].tolist(), x[mn_i].tolist()
        out.max, out.max_x = y[mx_i].tolist(), x[mx_i].tolist()
        out.last = y[ends - 1].tolist()
        out.nan = [0] * len(starts)
        return out
    has_finite = np.logical_or.reduceat(finite, starts)
    out.min, out.min_x = _masked(y[mn_i], has_finite), _masked(x[mn_i], has_finite)
    out.max, out.max_x = _masked(y[mx_i], has_finite), _masked(x[mx_i], has_finite)
    out.last = _masked(y[ends - 1], finite[ends - 1])
    bad = np.flatnonzero(~finite)
    out.nan = np.add.reduceat((~finite).astype(np.int64), starts).tolist()
    first_bad = np.searchsorted(bad, starts, side="left")  # each bucket's first non-finite point, if any
    hit = first_bad < len(bad)
    hit[hit] = bad[first_bad[hit]] < ends[hit]
    out.nan_x = x[bad[first_bad[hit]]].tolist()
    return out


def _first_equal(v: np.ndarray, per_bucket: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per bucket, the index of its first point whose value equals the bucket's ``per_bucket``
    value (its min or max: -0.0 == 0.0, so ties go to the first point, as Python's ``min``)."""
    at = np.flatnonzero(v == np.repeat(per_bucket, ends - starts))
    return at[np.searchsorted(at, starts, side="left")]


def _masked(column: np.ndarray, keep: np.ndarray) -> list[Any]:
    """``column`` as a list with None where ``keep`` is False."""
    out: list[Any] = column.tolist()
    for i in np.flatnonzero(~keep).tolist():
        out[i] = None
    return out


def _whole(x: np.ndarray, y: np.ndarray) -> Buckets:
    """Every point as its own bucket (a short series, or a zoomed-in range)."""
    finite = np.isfinite(y)
    xcol: list[Number] = x.tolist()
    column = _masked(y, finite)
    at = _masked(x, finite)
    return Buckets(points=len(xcol), reduced=False, x=xcol, x_first=list(xcol), min=column, min_x=at,
                   max=list(column), max_x=list(at), last=list(column), nan=(~finite).astype(np.int64).tolist(),
                   nan_x=x[~finite].tolist())


def reduce_points(points: Iterable[Sequence[Any]], buckets: int = 2000, *, start: Number | None = None,
                  end: Number | None = None) -> tuple[Buckets, bool]:
    """Points ``(step, value, ...)`` in logging order -> the buckets of those with x in
    ``start..end``, and whether x is the point number (see :func:`series_xy`)."""
    rows = points if isinstance(points, (list, tuple)) else list(points)
    xs, ys, indexed = columns_arrays(list(map(itemgetter(0), rows)), list(map(itemgetter(1), rows)))
    xs_in, ys_in = window(xs, ys, start, end)
    return reduce_series(xs_in, ys_in, buckets), indexed
