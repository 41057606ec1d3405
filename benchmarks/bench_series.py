"""11. Exact curves: a 1,000,000-point series reduced to 2,000 buckets for the dashboard.

One run with one metric of 1,000,000 points (steps 0..999,999, a single 1e6 spike among
small values, one NaN), written through gatebook's own store (``WriteBatch``, 100,000
points a transaction). Timed in this process (the work of an API request, no HTTP), interleaved,
median of REPEATS after a warm-up round:

- ``document``: ``gatebook.ui.series.series_document(store, run, key, buckets=2000)``: the
  store read (``Store.metric_series``) plus the reduction;
- ``read``: ``Store.metric_series(run, [key])`` alone;
- ``reduce``: ``gatebook.buckets.reduce_points`` on points already read (the pure part);
- ``raw_sqlite``: the limit: plain sqlite3 reading the same rows
  (``SELECT step, value FROM gb_metrics WHERE run_id=? AND key=? ORDER BY ts, id``);
- ``raw_by_step``: plain sqlite3, the same rows in step order straight off the (run_id, key,
  step) index (no sort of a million rows by ts): what a store read in x order could approach;
- ``zoom``: ``series_document(..., start=500000, end=500999)`` (the whole series read, then sliced);
- ``raw_range``: plain sqlite3 reading only those 1,000 rows through the (run_id, key, step)
  index: what a ranged store read (``metric_series_range``) could approach;
- ``points``: ``Store.metric_points(run, key)`` alone (the columns read the document uses);
- ``points_range``: ``Store.metric_points(run, key, start=500000, end=500999)`` (the ranged read).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import log, parse_args, perf, round_robin, sqlite_url, summary_stats, write_result  # noqa: E402

N_POINTS = 1_000_000
SPIKE_STEP = 777_777
NAN_STEP = 123_456
KEY = "train/loss"
BUCKETS = 2000
ZOOM = (500_000, 500_999)


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


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 3 if args.quick else 7
    db = args.workdir / "series.db"
    run_id, build_s = build(db)
    log(f"ledger: {N_POINTS:,} points built in {build_s:.1f} s ({db.stat().st_size / 1e6:.0f} MB)")

    from gatebook.buckets import reduce_points
    from gatebook.store import open_store
    from gatebook.ui.series import series_document

    store = open_store(sqlite_url(db))
    run = store.get_run(run_id)
    points = store.metric_series(run_id, [KEY])[KEY]
    con = sqlite3.connect(str(db))
    sql = "SELECT step, value FROM gb_metrics WHERE run_id=? AND key=? ORDER BY ts, id"
    sql_step = "SELECT step, value FROM gb_metrics WHERE run_id=? AND key=? ORDER BY step"
    sql_range = "SELECT step, value FROM gb_metrics WHERE run_id=? AND key=? AND step BETWEEN ? AND ? ORDER BY step"
    variants = {
        "document": lambda: timed(lambda: series_document(store, run, KEY, buckets=BUCKETS)),
        "read": lambda: timed(lambda: store.metric_series(run_id, [KEY])),
        "reduce": lambda: timed(lambda: reduce_points(points, BUCKETS)),
        "raw_sqlite": lambda: timed(lambda: con.execute(sql, (run_id, KEY)).fetchall()),
        "raw_by_step": lambda: timed(lambda: con.execute(sql_step, (run_id, KEY)).fetchall()),
        "zoom": lambda: timed(lambda: series_document(store, run, KEY, buckets=BUCKETS, start=ZOOM[0], end=ZOOM[1])),
        "raw_range": lambda: timed(lambda: con.execute(sql_range, (run_id, KEY, *ZOOM)).fetchall()),
        "points": lambda: timed(lambda: store.metric_points(run_id, KEY)),
        "points_range": lambda: timed(lambda: store.metric_points(run_id, KEY, start=ZOOM[0], end=ZOOM[1])),
    }
    times = round_robin(variants, repeats, warmup=1)
    stats = {name: summary_stats(ts) for name, ts in times.items()}
    for name, s in stats.items():
        log(f"{name}: median {s['median'] * 1e3:.1f} ms  (min {s['min'] * 1e3:.1f} ms)")

    doc = series_document(store, run, KEY, buckets=BUCKETS)
    peak = max(m for m in doc["max"] if m is not None)
    zoom = series_document(store, run, KEY, buckets=BUCKETS, start=ZOOM[0], end=ZOOM[1])
    con.close()
    store.close()
    values: dict[str, float | int | bool] = {name: s["median"] for name, s in stats.items()}
    values.update({f"{name}_min": s["min"] for name, s in stats.items()})
    values.update({"points": doc["points"], "buckets_out": len(doc["x"]), "spike_kept": peak == 1e6,
                   "spike_x": doc["max_x"][doc["max"].index(peak)], "nan_x": doc["nan_x"],
                   "zoom_points": len(zoom["x"]), "zoom_reduced": zoom["reduced"], "build_s": build_s,
                   "ledger_mb": db.stat().st_size / 1e6})
    write_result(args.out, values, {"seconds": stats})


if __name__ == "__main__":
    main()
