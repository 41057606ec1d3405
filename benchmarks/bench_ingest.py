"""2. End-to-end ingest throughput of gatebook vs. the raw sqlite3 limit.

gatebook: N points = N/5 calls of ``gb.log({5 floats}, step=i)`` then ``gb.finish()``;
rate = N / (first log -> finish returned). The run is created and its first flush
(provenance) awaited before the clock starts; a "cold" variant starts the clock right
after ``gb.init()`` (provenance capture then overlaps the logging).

raw limit: the same N rows ``(run_id, key, step, value, ts)`` inserted with one
``executemany`` in one transaction with the stdlib ``sqlite3`` module into a fresh
file holding gb_metrics with exactly gatebook's DDL (table + index, copied from
``sqlite_master`` of a gatebook ledger), journal_mode=WAL, synchronous=NORMAL.
The rows are built before the clock starts.

Raw and gatebook repetitions alternate; every repetition uses a fresh database file.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import log, parse_args, perf, sqlite_count, sqlite_url, summary_stats, write_result  # noqa: E402

KEYS = ("loss", "acc", "lr", "grad_norm", "throughput")


def gatebook_once(gb, db, n_points: int, *, cold: bool = False) -> tuple[float, int, float]:
    """(seconds first log -> finish returned, points stored, seconds spent in finish)."""
    calls = n_points // len(KEYS)
    run = gb.init(name="bench-ingest", store=sqlite_url(db))
    if not cold:
        run.flush()
    log_ = gb.log
    t0 = perf()
    for i in range(calls):
        v = i * 0.001
        log_({"loss": v, "acc": v, "lr": v, "grad_norm": v, "throughput": v}, step=i)
    t1 = perf()
    gb.finish()
    t2 = perf()
    stored = sqlite_count(db, "SELECT count(*) FROM gb_metrics WHERE run_id = ?", (run.id,))
    run._store.close()
    return t2 - t0, stored, t2 - t1


def metrics_ddl(workdir) -> list[str]:
    """gatebook's own CREATE TABLE / CREATE INDEX statements for gb_metrics."""
    from gatebook.store import open_store

    db = workdir / "ddl-source.db"
    open_store(sqlite_url(db)).close()
    con = sqlite3.connect(str(db))
    try:
        rows = con.execute("SELECT type, sql FROM sqlite_master WHERE tbl_name = 'gb_metrics' AND sql IS NOT NULL "
                           "ORDER BY type DESC").fetchall()  # table first, then index
    finally:
        con.close()
    return [sql for _type, sql in rows]


def raw_once(path, ddl: list[str], rows: list[tuple]) -> tuple[float, int]:
    con = sqlite3.connect(str(path), isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    for stmt in ddl:
        con.execute(stmt)
    t0 = perf()
    con.execute("BEGIN")
    con.executemany("INSERT INTO gb_metrics (run_id, key, step, value, ts) VALUES (?, ?, ?, ?, ?)", rows)
    con.execute("COMMIT")
    dt = perf() - t0
    con.close()
    return dt, sqlite_count(path, "SELECT count(*) FROM gb_metrics")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n_points = 200_000
    reps = 2 if args.quick else 5
    os.chdir(args.workdir)
    os.environ["GATEBOOK_STORE"] = sqlite_url(args.workdir / "default.db")

    import gatebook as gb
    from gatebook.ids import new_run_id

    # raw sqlite3 limit
    ddl = metrics_ddl(args.workdir)
    run_id = new_run_id()
    ts = time.time()
    rows = [(run_id, key, i, i * 0.001, ts + i * 1e-6) for i in range(n_points // len(KEYS)) for key in KEYS]
    raw_times, raw_counts = [], []
    gb_times, gb_finish, gb_counts = [], [], []
    for rep in range(reps):  # interleaved, so drifting load on a shared machine hits both alike
        dt, count = raw_once(args.workdir / f"raw{rep}.db", ddl, rows)
        raw_times.append(dt)
        raw_counts.append(count)
        gdt, gcount, fin = gatebook_once(gb, args.workdir / f"gb{rep}.db", n_points)
        gb_times.append(gdt)
        gb_finish.append(fin)
        gb_counts.append(gcount)
        log(f"rep {rep}: raw sqlite3 {dt:.3f} s; gatebook {gdt:.3f} s (finish {fin:.3f} s), {gcount} points stored")
    cold_dt, cold_count, _ = gatebook_once(gb, args.workdir / "gb-cold.db", n_points, cold=True)
    log(f"gatebook cold: {cold_dt:.3f} s")

    raw_s, gb_s = summary_stats(raw_times), summary_stats(gb_times)
    values = {
        "n_points": n_points,
        "raw_median_s": raw_s["median"],
        "raw_rate": n_points / raw_s["median"],
        "raw_rows_ok": all(c == n_points for c in raw_counts),
        "gb_median_s": gb_s["median"],
        "gb_rate": n_points / gb_s["median"],
        "gb_finish_median_s": summary_stats(gb_finish)["median"],
        "gb_rows_ok": all(c == n_points for c in gb_counts),
        "gb_cold_s": cold_dt,
        "gb_cold_rate": n_points / cold_dt,
        "gb_cold_rows_ok": cold_count == n_points,
    }
    write_result(args.out, values, details={"raw_s": raw_s, "gatebook_s": gb_s, "gatebook_finish_s": gb_finish,
                                            "ddl": ddl})


if __name__ == "__main__":
    main()
