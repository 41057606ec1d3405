"""11. Exact curves: a 1,000,000-point series reduced to 2,000 buckets for the dashboard.

One run with one metric of 1,000,000 points (steps 0..999,999, a single 1e6 spike among
small values, one NaN), written through gatebook's own store (``WriteBatch``, 100,000
points a transaction). Timed in this process (the work of an API request, no HTTP), interleaved,
median of REPEATS after a warm-up round. A server keeps one ``gatebook.ui.series.SeriesCache``:

- ``cold``: ``series_document(store, run, key, buckets=2000, cache=SeriesCache())``: the first
  request, cache empty (the whole read through ``Store.metric_points``, the columns to numpy,
  the cursor check, the reduction);
- ``warm`` (also written as ``document``, the target line): the same with the server's cache
  filled and nothing new (one ``metric_points_after`` from the cursor, then the reduction);
- ``tick``: 1,000 new points appended to the ledger (untimed), then the document: the tail
  read, the append and the reduction (a live chart's request);
- ``zoom``: the warm document of ``start=500000, end=500999``: 1,000 points at full resolution;
- ``reduce``: ``gatebook.buckets.reduce_series`` on the cached numpy columns (the pure part);
- ``reduce_lists``: ``gatebook.buckets.reduce_points`` on the points as ``(step, value, ts)``
  tuples (what the reduction alone cost before numpy: the tuples to columns included);
- ``nocache``: ``series_document`` without a cache (every request reads the series whole);
- ``read``: ``Store.metric_series(run, [key])`` alone;
- ``raw_sqlite``: the limit: plain sqlite3 reading the same rows
  (``SELECT step, value FROM gb_metrics WHERE run_id=? AND key=? ORDER BY ts, id``);
- ``raw_by_step``: plain sqlite3, the same rows in step order straight off the (run_id, key,
  step) index: what a store read in x order could approach (the floor of ``cold``);
- ``raw_range``: plain sqlite3 reading only the zoom's 1,000 rows through that index;
- ``metric_points``: ``Store.metric_points(run, key)`` alone (the columns read ``cold`` makes);
- ``points_range``: ``Store.metric_points(run, key, start=500000, end=500999)`` (the ranged read).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import log, parse_args, perf, round_robin, sqlite_url, summary_stats, write_result  # noqa: E402

N_POINTS = 1_000_000
SPIKE_STEP = 777_777
NAN_STEP = 123_456
KEY = "train/loss"
BUCKETS = 2000
ZOOM = (500_000, 500_999)
TICK = 1_000


def build(db) -> tuple[str, float]:
    from gatebook.store import open_store
    from gatebook.store.base import WriteBatch
    from gatebook.testing.store_contract.common import make_run

    t0 = perf()
    now = time.time()
    with open_store(sqlite_url(db)) as store:
        run_id = store.create_run(make_run(name="long"))
        for lo in range(0, N_POINTS, 100_000):
            batch = WriteBatch()
            for step in range(lo, lo + 100_000):
                value = 1e6 if step == SPIKE_STEP else (float("nan") if step == NAN_STEP else 1.0 / (1 + step))
                batch.metrics.append((run_id, KEY, step, value, now + step * 1e-3))
            store.write(batch)
    return run_id, perf() - t0


def timed(fn) -> float:
    t0 = perf()
    fn()
    return perf() - t0


class Ticker:
    """Appends ``TICK`` points past the last step (as a live run would), untimed."""

    def __init__(self, store: Any, run_id: str) -> None:
        self.store, self.run_id, self.next_step = store, run_id, N_POINTS

    def tick(self) -> None:
        from gatebook.store.base import WriteBatch

        now = time.time()
        batch = WriteBatch(metrics=[(self.run_id, KEY, s, 1.0 / (1 + s), now) for s in
                                    range(self.next_step, self.next_step + TICK)])
        self.store.write(batch)
        self.next_step += TICK


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 3 if args.quick else 7
    db = args.workdir / "series.db"
    run_id, build_s = build(db)
    log(f"ledger: {N_POINTS:,} points built in {build_s:.1f} s ({db.stat().st_size / 1e6:.0f} MB)")

    from gatebook.buckets import reduce_points, reduce_series
    from gatebook.store import open_store
    from gatebook.ui.series import SeriesCache, series_document

    store = open_store(sqlite_url(db))
    run = store.get_run(run_id)
    points = store.metric_series(run_id, [KEY])[KEY][:N_POINTS]
    cache = SeriesCache()
    ticker = Ticker(store, run_id)
    series_document(store, run, KEY, buckets=BUCKETS, cache=cache)  # the server has seen the series
    con = sqlite3.connect(str(db))
    sql = "SELECT step, value FROM gb_metrics WHERE run_id=? AND key=? ORDER BY ts, id"
    sql_step = "SELECT step, value FROM gb_metrics WHERE run_id=? AND key=? ORDER BY step"
    sql_range = "SELECT step, value FROM gb_metrics WHERE run_id=? AND key=? AND step BETWEEN ? AND ? ORDER BY step"

    def tick() -> float:
        ticker.tick()
        return timed(lambda: series_document(store, run, KEY, buckets=BUCKETS, cache=cache))

    def reduce_cached() -> float:
        got = cache.columns(store, run, KEY)
        assert got is not None
        return timed(lambda: reduce_series(got[0], got[1], BUCKETS))

    variants = {
        "cold": lambda: timed(lambda: series_document(store, run, KEY, buckets=BUCKETS, cache=SeriesCache())),
        "warm": lambda: timed(lambda: series_document(store, run, KEY, buckets=BUCKETS, cache=cache)),
        "tick": tick,
        "zoom": lambda: timed(lambda: series_document(store, run, KEY, buckets=BUCKETS, start=ZOOM[0], end=ZOOM[1],
                                                      cache=cache)),
        "reduce": reduce_cached,
        "reduce_lists": lambda: timed(lambda: reduce_points(points, BUCKETS)),
        "nocache": lambda: timed(lambda: series_document(store, run, KEY, buckets=BUCKETS)),
        "read": lambda: timed(lambda: store.metric_series(run_id, [KEY])),
        "raw_sqlite": lambda: timed(lambda: con.execute(sql, (run_id, KEY)).fetchall()),
        "raw_by_step": lambda: timed(lambda: con.execute(sql_step, (run_id, KEY)).fetchall()),
        "raw_range": lambda: timed(lambda: con.execute(sql_range, (run_id, KEY, *ZOOM)).fetchall()),
        "metric_points": lambda: timed(lambda: store.metric_points(run_id, KEY)),
        "points_range": lambda: timed(lambda: store.metric_points(run_id, KEY, start=ZOOM[0], end=ZOOM[1])),
    }
    times = round_robin(variants, repeats, warmup=1)
    stats = {name: summary_stats(ts) for name, ts in times.items()}
    for name, s in stats.items():
        log(f"{name}: median {s['median'] * 1e3:.1f} ms  (min {s['min'] * 1e3:.1f} ms)")

    doc = series_document(store, run, KEY, buckets=BUCKETS, cache=cache)
    fresh = series_document(store, run, KEY, buckets=BUCKETS)
    peak = max(m for m in doc["max"] if m is not None)
    zoom = series_document(store, run, KEY, buckets=BUCKETS, start=ZOOM[0], end=ZOOM[1], cache=cache)
    con.close()
    store.close()
    values: dict[str, Any] = {name: s["median"] for name, s in stats.items()}
    values.update({f"{name}_min": s["min"] for name, s in stats.items()})
    values["document"] = values["warm"]  # the target line: a request once the server has seen the series
    values.update({"points": doc["points"], "buckets_out": len(doc["x"]), "spike_kept": peak == 1e6,
                   "spike_x": doc["max_x"][doc["max"].index(peak)], "nan_x": doc["nan_x"],
                   "zoom_points": len(zoom["x"]), "zoom_reduced": zoom["reduced"], "build_s": build_s,
                   "ledger_mb": db.stat().st_size / 1e6, "tick_points": TICK,
                   "cache_matches_fresh_read": doc == fresh, "full_reads": cache.full_reads})
    write_result(args.out, values, {"seconds": stats})


if __name__ == "__main__":
    main()
