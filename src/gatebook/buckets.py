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
logging order (1, 2, ...) for every point. Pure Python, no I/O, no numpy: one C-speed pass
per bucket (``min``, ``max``, ``index`` on a slice), bucket edges by bisection.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter, le
from typing import Any, Iterable, Sequence

Number = float | int

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


def window(xs: Sequence[Number], ys: Sequence[float], start: Number | None = None,
           end: Number | None = None) -> tuple[Sequence[Number], Sequence[float]]:
    """The points with ``start <= x <= end`` (either bound may be None) of x-sorted columns."""
    if start is None and end is None:
        return xs, ys
    a = 0 if start is None else bisect_left(xs, start)
    b = len(xs) if end is None else bisect_right(xs, end)
    if b <= a:
        return [], []
    return xs[a:b], ys[a:b]


def reduce_series(xs: Sequence[Number], ys: Sequence[float], buckets: int = 2000) -> Buckets:
    """At most ``buckets`` buckets over ``xs[0]..xs[-1]`` (``xs`` sorted, as :func:`series_xy`
    gives); the series whole when it has no more than ``buckets`` points."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    n = len(xs)
    if n <= buckets:
        return _whole(xs, ys)
    out = Buckets(points=n, reduced=True)
    x0, x1 = xs[0], xs[-1]
    width = (x1 - x0) / buckets
    # Bucket k holds x0 + k*width <= x < x0 + (k+1)*width; the last one ends at x1 inclusive.
    edges = [0] if width > 0 else [0, n]
    if width > 0:
        lo = 0
        for k in range(1, buckets):
            lo = bisect_left(xs, x0 + k * width, lo)
            edges.append(lo)
        edges.append(n)
    all_finite = math.isfinite(sum(ys))  # one C pass: a NaN or an infinity makes the sum non-finite
    add_x, add_first = out.x.append, out.x_first.append
    add_min, add_min_x, add_max, add_max_x = out.min.append, out.min_x.append, out.max.append, out.max_x.append
    add_last, add_nan = out.last.append, out.nan.append
    for a, b in zip(edges, islice(edges, 1, None), strict=False):
        if b <= a:
            continue
        chunk = ys[a:b]
        add_x(xs[b - 1])
        add_first(xs[a])
        if all_finite or math.isfinite(sum(chunk)):
            lo_v, hi_v = min(chunk), max(chunk)
            add_min(lo_v)
            add_min_x(xs[a + chunk.index(lo_v)])
            add_max(hi_v)
            add_max_x(xs[a + chunk.index(hi_v)])
            add_last(chunk[-1])
            add_nan(0)
            continue
        mn, mn_i, mx, mx_i, bad, first_bad = _scan(chunk)
        add_min(mn)
        add_min_x(None if mn_i < 0 else xs[a + mn_i])
        add_max(mx)
        add_max_x(None if mx_i < 0 else xs[a + mx_i])
        last = chunk[-1]
        add_last(last if math.isfinite(last) else None)
        add_nan(bad)
        if bad:
            out.nan_x.append(xs[a + first_bad])
    return out


def _scan(chunk: Sequence[float]) -> tuple[float | None, int, float | None, int, int, int]:
    """The finite min and max of a bucket with their offsets (-1: none), how many values are
    not finite and the first one's offset: the slow path, only for buckets a sum flagged."""
    isfinite = math.isfinite
    mn = mx = None
    mn_i = mx_i = first_bad = -1
    bad = 0
    for i, v in enumerate(chunk):
        if not isfinite(v):
            if not bad:
                first_bad = i
            bad += 1
        elif mn is None:
            mn = mx = v
            mn_i = mx_i = i
        elif v < mn:
            mn, mn_i = v, i
        elif v > mx:  # type: ignore[operator]
            mx, mx_i = v, i
    return mn, mn_i, mx, mx_i, bad, first_bad


def _whole(xs: Sequence[Number], ys: Sequence[float]) -> Buckets:
    """Every point as its own bucket (a short series, or a zoomed-in range)."""
    isfinite = math.isfinite
    column: list[float | None] = [y if isfinite(y) else None for y in ys]
    xcol = list(xs)
    at: list[Number | None] = [x if y is not None else None for x, y in zip(xcol, column, strict=True)]
    return Buckets(points=len(xcol), reduced=False, x=xcol, x_first=list(xcol), min=column, min_x=at,
                   max=list(column), max_x=list(at), last=list(column),
                   nan=[0 if y is not None else 1 for y in column],
                   nan_x=[x for x, y in zip(xcol, column, strict=True) if y is None])


def reduce_points(points: Iterable[Sequence[Any]], buckets: int = 2000, *, start: Number | None = None,
                  end: Number | None = None) -> tuple[Buckets, bool]:
    """Points ``(step, value, ...)`` in logging order -> the buckets of those with x in
    ``start..end``, and whether x is the point number (see :func:`series_xy`)."""
    xs, ys, indexed = series_xy(points if isinstance(points, (list, tuple)) else list(points))
    xs_in, ys_in = window(xs, ys, start, end)
    return reduce_series(xs_in, ys_in, buckets), indexed
