"""The series document a dashboard chart reads: one run's metric, bucketed or at full resolution.

``GET /api/runs/{ref}/series/{key}?buckets=&start=&end=`` answers :func:`series_document`.
The reduction is :mod:`gatebook.buckets` (every spike and every NaN kept); zooming asks again
with ``start``/``end`` and gets the visible range whole once it holds no more than
``buckets`` points.

A server keeps one :class:`SeriesCache`: each series is read whole once, then only what was
stored since (a storage cursor), so a chart's next request costs the reduction, not the read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from gatebook.buckets import Number, columns_arrays, reduce_series, window
from gatebook.errors import NotFoundError, UsageError
from gatebook.records import RunStatus

if TYPE_CHECKING:
    from gatebook.records import RunRecord
    from gatebook.store.base import Store

class _Series:
    """One cached series: x and y in x order (numpy, with room to grow), whether x is the
    point number, the storage cursor it is current to, and whether its points are final."""

    __slots__ = ("cursor", "final", "held", "indexed", "n", "xbuf", "ybuf")

    def __init__(self, xs: np.ndarray, ys: np.ndarray, indexed: bool, cursor: int) -> None:
        self.xbuf, self.ybuf, self.n = xs, ys, len(xs)
        self.indexed, self.cursor, self.final = indexed, cursor, False
        self.held = 0  # the points the cache counts for it

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        return self.xbuf[: self.n], self.ybuf[: self.n]

    def append(self, steps: Sequence[int], values: Sequence[float]) -> None:
        """Points past the end (the caller checked that x stays sorted). Grows by a quarter;
        views handed out earlier keep seeing the points they had."""
        k, end = len(steps), self.n + len(steps)
        if end > len(self.xbuf):
            size = max(end + end // 4, 1024)
            xbuf, ybuf = np.empty(size, dtype=np.int64), np.empty(size, dtype=np.float64)
            xbuf[: self.n], ybuf[: self.n] = self.columns()
            self.xbuf, self.ybuf = xbuf, ybuf
        self.xbuf[self.n:end] = steps
        self.ybuf[self.n:end] = values
        self.n += k


class SeriesCache:
    """Per ``(run id, key)``, the series' x and y columns, kept current incrementally.

    :meth:`columns` reads a series whole once (``Store.metric_points``), then on each call
    only the points stored since (``Store.metric_points_after`` from the entry's cursor).
    New points whose steps keep x sorted (each step at least the last x) are appended.
    Anything else — a point without a step, a step going back, a series numbered by point
    (no steps) that grows — drops the entry and reads it whole again: correctness over
    cleverness. A run that is no longer running is checked once more, then its series is
    final and never read again. Memory is bounded: least recently used entries go once the
    cache holds more than ``max_points`` points (an entry larger than that is served, not
    kept). Thread-safe: one lock for the table, one per entry for its reads."""

    def __init__(self, max_points: int = 20_000_000) -> None:
        self.max_points = max_points
        self._entries: OrderedDict[tuple[str, str], _Series] = OrderedDict()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()
        self.total = 0
        self.full_reads = 0  # how many whole reads were made (tests and the benchmark look)

    def __len__(self) -> int:
        return len(self._entries)

    def columns(self, store: Store, run: RunRecord, key: str) -> tuple[np.ndarray, np.ndarray, bool] | None:
        """x (int64), y (float64) and whether x is the point number, current as of now; None
        when the run has no point of ``key`` (not cached: it may come)."""
        ident = (run.id, key)
        with self._lock:
            lock = self._locks.setdefault(ident, threading.Lock())
        with lock:
            with self._lock:
                entry = self._entries.get(ident)
            final = run.status is not RunStatus.RUNNING  # read before the points: they are complete
            if entry is None:
                entry = self._load(store, run.id, key)
            elif not entry.final:
                entry = self._refresh(store, run.id, key, entry)
            if entry is None:
                with self._lock:
                    self._drop(ident)
                    self._locks.pop(ident, None)
                return None
            entry.final = final
            xs, ys = entry.columns()
            self._keep(ident, entry)
        return xs, ys, entry.indexed

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.total = 0

    # -- reads -------------------------------------------------------------------------------
    def _load(self, store: Store, run_id: str, key: str) -> _Series | None:
        """The series whole, with a cursor it is exactly current to. The cursor is taken
        first, then the step-ordered read; the points stored since the cursor are read
        back: none, or all past the read's last step, means the read and the cursor agree.
        Otherwise (a write landed between the two, or steps out of order) once more, then
        the slower read that gives points and cursor together."""
        self.full_reads += 1
        for _ in range(2):
            cursor = store.points_cursor()
            steps, values = store.metric_points(run_id, key)
            if not steps:
                return None
            xs, ys, indexed = columns_arrays(steps, values)
            entry = _Series(xs, ys, indexed, cursor)
            if self._apply(store, run_id, key, entry, fresh=True):
                return entry
        everything, cursor = store.metric_points_after(run_id, 0, keys=[key])
        if not everything:
            return None
        ts = np.asarray([p[3] for p in everything], dtype=np.float64)
        steps_l: list[Any] = [p[1] for p in everything]
        values_l = [p[2] for p in everything]
        if None in steps_l:  # numbered in logging order: (ts, id), as metric_points gives them
            order = np.argsort(ts, kind="stable").tolist()
            steps_l, values_l = [steps_l[i] for i in order], [values_l[i] for i in order]
        xs, ys, indexed = columns_arrays(steps_l, values_l)
        return _Series(xs, ys, indexed, cursor)

    def _refresh(self, store: Store, run_id: str, key: str, entry: _Series) -> _Series | None:
        if self._apply(store, run_id, key, entry):
            return entry
        with self._lock:
            self._drop((run_id, key))
        return self._load(store, run_id, key)

    @staticmethod
    def _apply(store: Store, run_id: str, key: str, entry: _Series, fresh: bool = False) -> bool:
        """Append the points stored after the entry's cursor; False when they cannot be
        appended (the entry must be read whole again). ``fresh``: the entry was just read
        whole, and the read may already hold some of these points: then a step equal to its
        last x cannot be told from one it has, and is refused too."""
        points, cursor = store.metric_points_after(run_id, entry.cursor, keys=[key])
        if points:
            if entry.indexed or any(p[1] is None for p in points):
                return False
            steps: list[int] = [p[1] for p in points]  # type: ignore[misc]
            last = int(entry.xbuf[entry.n - 1]) if entry.n else None
            if last is not None and (steps[0] < last or (fresh and steps[0] == last)):
                return False
            if any(b < a for a, b in zip(steps, steps[1:], strict=False)):
                return False
            entry.append(steps, [p[2] for p in points])
        entry.cursor = cursor
        return True

    # -- memory ------------------------------------------------------------------------------
    def _keep(self, ident: tuple[str, str], entry: _Series) -> None:
        with self._lock:
            self._drop(ident)
            self._entries[ident] = entry
            entry.held = entry.n
            self.total += entry.n
            while self.total > self.max_points and self._entries:
                self._drop(next(iter(self._entries)), evict=True)

    def _drop(self, ident: tuple[str, str], evict: bool = False) -> None:
        """(The table lock held.)"""
        if evict:
            self._locks.pop(ident, None)
        old = self._entries.pop(ident, None)
        if old is not None:
            self.total -= old.held


def series_document(store: Store, run: RunRecord, key: str, *, buckets: int = 2000,
                    start: Number | None = None, end: Number | None = None,
                    cache: SeriesCache | None = None) -> dict[str, Any]:
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
    the run's keys, closest first. With a ``cache`` the series comes from it (read whole
    once per server, then only its new points); without, it is read whole."""
    if buckets < 1:
        raise UsageError(f"buckets must be at least 1, not {buckets}")
    if start is not None and end is not None and start > end:
        raise UsageError(f"the range start {start} is after its end {end}")
    # The whole series in x order as two columns; a zoom needs it too, for the document's
    # points, range and indexed (a ranged read alone cannot tell them), then keeps its
    # window by bisection.
    if cache is not None:
        got = cache.columns(store, run, key)
    else:
        steps, values = store.metric_points(run.id, key)
        got = columns_arrays(steps, values) if steps else None
    if got is None:
        from gatebook.gates.evaluate import closest_keys

        have = sorted(store.metric_stats([run.id]).get(run.id, {}))
        shown = ", ".join(closest_keys(key, have, n=8)) if have else "none"
        raise NotFoundError(f"run {run.label} never logged {key!r}", hint=f"it has: {shown}")
    xs, ys, indexed = got
    xs_in, ys_in = window(xs, ys, start, end)
    reduced = reduce_series(xs_in, ys_in, buckets)
    doc: dict[str, Any] = {
        "run": {"id": run.id, "name": run.name}, "key": key, "indexed": indexed, "points": len(xs),
        "in_range": reduced.points, "range": [xs[0].item(), xs[-1].item()], "start": start, "end": end,
        "buckets": buckets,
    }
    body = reduced.to_dict()
    del body["points"]
    doc.update(body)
    return doc
