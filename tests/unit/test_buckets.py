"""The bucket reducer: spikes, last values, NaN and infinities, steps or point numbers, ranges."""

from __future__ import annotations

import json
import math
import random
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatebook.buckets import Buckets, reduce_points, reduce_series, series_xy, window
from gatebook.report.charts import Curve

INF = math.inf


def test_a_single_spike_among_a_million_zeros_is_a_bucket_max() -> None:
    n = 1_000_000
    points = [(i, 0.0) for i in range(n)]
    points[654_321] = (654_321, 1e6)
    t0 = time.perf_counter()
    out, indexed = reduce_points(points, 2000)
    took = time.perf_counter() - t0
    assert not indexed and out.reduced and out.points == n
    assert len(out) == 2000
    k = out.max.index(1e6)
    assert out.max_x[k] == 654_321 and out.x_first[k] <= 654_321 <= out.x[k]
    assert [m for m in out.max if m != 0.0] == [1e6] and set(out.min) == {0.0} and sum(out.nan) == 0
    assert took < 2.0  # the benchmark measures it properly; this only catches a quadratic slip


def test_a_negative_spike_is_a_bucket_min_too() -> None:
    xs = list(range(10_000))
    ys = [1.0] * 10_000
    ys[17] = -5.0
    out = reduce_series(xs, ys, 100)
    assert out.min[0] == -5.0 and out.min_x[0] == 17 and out.max[0] == 1.0


def test_each_bucket_keeps_its_first_x_its_last_value_and_where_it_is() -> None:
    xs = list(range(100))
    ys = [float(x * x % 7) for x in xs]
    out = reduce_series(xs, ys, 10)
    assert out.x_first == list(range(0, 100, 10)) and out.x == list(range(9, 100, 10))
    assert out.last == [ys[x] for x in out.x]
    for k, first in enumerate(out.x_first):
        chunk = ys[first:first + 10]
        assert out.min[k] == min(chunk) and out.max[k] == max(chunk)
        assert out.min_x[k] == first + chunk.index(min(chunk)) and out.max_x[k] == first + chunk.index(max(chunk))


def test_no_bucket_is_empty_and_sparse_steps_fall_in_their_slice() -> None:
    xs = [0, 1, 2, 3, 1000]
    out = reduce_series(xs, [1.0, 2.0, 3.0, 4.0, 5.0], 4)
    assert out.reduced and out.x_first == [0, 1000] and out.x == [3, 1000] and out.last == [4.0, 5.0]
    assert out.max == [4.0, 5.0]


def test_nan_and_infinities_are_counted_marked_and_never_averaged() -> None:
    xs = list(range(40))
    ys = [1.0] * 40
    ys[3], ys[5], ys[12], ys[19], ys[25] = math.nan, INF, -INF, math.nan, 9.0
    ys[30:40] = [math.nan] * 10
    out = reduce_series(xs, ys, 4)
    assert out.nan == [2, 2, 0, 10]
    assert out.nan_x == [3, 12, 30]  # the first non-finite point of each bucket that has any
    assert out.min[:3] == [1.0, 1.0, 1.0] and out.max[:3] == [1.0, 1.0, 9.0] and out.max_x[2] == 25
    assert out.last == [1.0, None, 1.0, None]  # a non-finite last value breaks the line
    assert out.min[3] is None and out.max[3] is None and out.min_x[3] is None  # nothing finite: a gap


def test_a_whole_series_keeps_every_non_finite_point_as_a_gap() -> None:
    out = reduce_series([1, 2, 3, 4], [0.5, math.nan, INF, 0.25], 10)
    assert not out.reduced and out.points == 4
    assert out.last == [0.5, None, None, 0.25] and out.min == out.max == out.last
    assert out.nan == [0, 1, 1, 0] and out.nan_x == [2, 3] and out.min_x == [1, None, None, 4]
    assert out.x == out.x_first == [1, 2, 3, 4]


def test_a_huge_finite_sum_does_not_pass_for_a_nan() -> None:
    xs = list(range(20))
    ys = [1e308] * 20  # the sum overflows: the slow path must still find no NaN
    out = reduce_series(xs, ys, 2)
    assert out.nan == [0, 0] and out.nan_x == [] and out.max == [1e308, 1e308]


def test_steps_none_use_the_point_number_as_plot_does() -> None:
    points = [(None, 1.0), (5, 2.0), (3, math.nan), (None, 4.0)]
    xs, ys, indexed = series_xy(points)
    curve_x, _ys, curve_indexed, curve_nan = Curve("r", "r", tuple(points)).xy()
    assert indexed is curve_indexed is True and xs == [1, 2, 3, 4] == curve_x
    assert ys[:2] == [1.0, 2.0] and math.isnan(ys[2])
    only = series_xy([(None, 7.0)])
    assert only[0] == [1] and only[2] is True


def test_unordered_steps_are_sorted_stably_as_plot_does() -> None:
    points = [(3, 30.0, 0.0), (1, 10.0, 0.0), (2, 20.0, 0.0), (1, 11.0, 0.0)]  # the store's triples work too
    xs, ys, indexed = series_xy(points)
    curve_x, curve_y, _, _ = Curve("r", "r", tuple((s, v) for s, v, _ in points)).xy()
    assert not indexed and xs == [1, 1, 2, 3] == curve_x and ys == [10.0, 11.0, 20.0, 30.0] == curve_y


def test_a_range_is_sliced_inclusively_at_full_resolution() -> None:
    xs = list(range(0, 1000, 2))
    ys = [float(x) for x in xs]
    sub_x, sub_y = window(xs, ys, 100, 110)
    assert list(sub_x) == [100, 102, 104, 106, 108, 110] and list(sub_y) == [100.0, 102.0, 104.0, 106.0, 108.0, 110.0]
    assert list(window(xs, ys, 101, 101)[0]) == [] and list(window(xs, ys, None, 3)[0]) == [0, 2]
    assert list(window(xs, ys, 995, None)[0]) == [996, 998]
    out, _ = reduce_points([(x, y) for x, y in zip(xs, ys, strict=True)], 50, start=100, end=110)
    assert not out.reduced and out.x == [100, 102, 104, 106, 108, 110]
    zoomed, _ = reduce_points([(x, y) for x, y in zip(xs, ys, strict=True)], 10, start=100, end=300)
    assert zoomed.reduced and zoomed.points == 101 and zoomed.x_first[0] == 100 and zoomed.x[-1] == 300


def test_more_buckets_than_points_gives_the_series_whole() -> None:
    out = reduce_series([1, 2, 3], [3.0, 1.0, 2.0], 2000)
    assert not out.reduced and out.x == [1, 2, 3] and out.last == [3.0, 1.0, 2.0]
    exact = reduce_series(list(range(5)), [0.0] * 5, 5)
    assert not exact.reduced and len(exact) == 5


def test_an_empty_series_gives_no_buckets() -> None:
    out, indexed = reduce_points([], 10)
    assert out == Buckets() and len(out) == 0 and not indexed
    assert out.to_dict()["x"] == [] and out.to_dict()["points"] == 0


def test_all_points_on_one_step_make_one_bucket() -> None:
    out = reduce_series([7] * 10, [float(i) for i in range(10)], 3)
    assert out.reduced and out.x == [7] and out.min == [0.0] and out.max == [9.0] and out.last == [9.0]


def test_buckets_must_be_positive() -> None:
    with pytest.raises(ValueError):
        reduce_series([1], [1.0], 0)


def _naive(xs: list[int], ys: list[float], k: int) -> dict[str, list]:
    """Point by point: bucket j holds x0 + j*width <= x < x0 + (j+1)*width (the last one closed)."""
    width = (xs[-1] - xs[0]) / k
    groups: dict[int, list[tuple[int, float]]] = {}
    for x, y in zip(xs, ys, strict=True):
        j = sum(1 for e in range(1, k) if xs[0] + e * width <= x) if width else 0
        groups.setdefault(j, []).append((x, y))
    out: dict[str, list] = {c: [] for c in ("x", "x_first", "min", "min_x", "max", "max_x", "last", "nan")}
    for j in sorted(groups):
        pts = groups[j]
        fin = [(x, y) for x, y in pts if math.isfinite(y)]
        lo = min(fin, key=lambda p: p[1]) if fin else (None, None)
        hi = max(fin, key=lambda p: p[1]) if fin else (None, None)
        out["x"].append(pts[-1][0])
        out["x_first"].append(pts[0][0])
        out["min"].append(lo[1])
        out["min_x"].append(lo[0])
        out["max"].append(hi[1])
        out["max_x"].append(hi[0])
        out["last"].append(pts[-1][1] if math.isfinite(pts[-1][1]) else None)
        out["nan"].append(len(pts) - len(fin))
    return out


def test_random_series_match_a_naive_point_by_point_reduction() -> None:
    rng = random.Random(3)
    for _ in range(60):
        n = rng.randint(1, 400)
        xs = sorted(rng.randint(0, rng.choice([5, 1000])) for _ in range(n))
        ys = [rng.choice([math.nan, INF, -INF]) if rng.random() < 0.1 else float(rng.randint(-3, 3))
              for _ in range(n)]
        k = rng.randint(1, 50)
        out = reduce_series(xs, ys, k)
        assert out.points == n and len(out) <= k and out.reduced == (n > k)
        if out.reduced:
            got = {c: getattr(out, c) for c in ("x", "x_first", "min", "min_x", "max", "max_x", "last", "nan")}
            assert got == _naive(xs, ys, k)
        assert sum(out.nan) == sum(not math.isfinite(y) for y in ys)


def _reference(xs: list[int], ys: list[float], k: int) -> dict[str, Any]:
    """The obvious version of the documented rules, one point at a time (no numpy)."""
    n = len(xs)
    if n <= k:
        fin = [math.isfinite(y) for y in ys]
        col = [y if f else None for y, f in zip(ys, fin, strict=True)]
        at = [x if f else None for x, f in zip(xs, fin, strict=True)]
        return {"points": n, "reduced": False, "x": xs, "x_first": xs, "min": col, "min_x": at, "max": col,
                "max_x": at, "last": col, "nan": [0 if f else 1 for f in fin],
                "nan_x": [x for x, f in zip(xs, fin, strict=True) if not f]}
    out: dict[str, Any] = {"points": n, "reduced": True, **_naive(xs, ys, k), "nan_x": []}
    width = (xs[-1] - xs[0]) / k
    for first in out["x_first"]:  # each bucket's first non-finite point
        j = sum(1 for e in range(1, k) if xs[0] + e * width <= first) if width else 0
        bad = [x for x, y in zip(xs, ys, strict=True) if not math.isfinite(y)
               and (sum(1 for e in range(1, k) if xs[0] + e * width <= x) if width else 0) == j]
        if bad:
            out["nan_x"].append(bad[0])
    return out


VALUES = st.one_of(st.sampled_from([math.nan, INF, -INF, 0.0, -0.0, 1.0, -1.0, 1e308, -1e308]),
                   st.floats(allow_nan=False, allow_infinity=False, width=32))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-50, 400), VALUES), min_size=1, max_size=120), st.integers(1, 40),
       st.booleans())
def test_the_numpy_reducer_equals_the_obvious_one(points: list[tuple[int, float]], k: int, arrays: bool) -> None:
    xs, ys, _ = series_xy(points)  # duplicate steps sorted stably, as the store gives them
    got = reduce_series(np.asarray(xs), np.asarray(ys), k) if arrays else reduce_series(xs, ys, k)
    doc, want = got.to_dict(), _reference(list(xs), list(ys), k)
    assert json.dumps(doc) == json.dumps(want)  # NaN-free, -0.0 kept apart from 0.0
    assert all(type(v) is int for v in doc["x"] + doc["x_first"] + doc["nan"] + doc["nan_x"])
    assert all(v is None or type(v) is float for c in ("min", "max", "last") for v in doc[c])
