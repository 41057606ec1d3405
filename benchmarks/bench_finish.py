"""3. Finish-to-durable: how long ``gb.finish()`` takes after a burst of logging.

100,000 points (20,000 calls of 5 floats) are logged as fast as possible right after
the run's first flush, then ``gb.finish()`` is timed until it returns. When it has
returned the points must be committed: a separate ``sqlite3`` connection counts them.

Variants (each its own fresh ledger, repeated, median reported):

* ``default``: the writer flushes every 0.2 s, so part of the burst may already be
  written when finish() starts;
* ``worst``: GATEBOOK_FLUSH_INTERVAL=1000, so the writer never flushes during the burst
  and all 100,000 points are pending at finish().

For reference, in each repetition: the raw sqlite3 insert of the same 100,000 rows (as
in benchmark 2), and a by-hand split of the work finish() does, timed on the same data:
turning the queued log() calls into rows (``Run._fill``), then ``store.write`` of them.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import log, parse_args, perf, sqlite_count, sqlite_url, summary_stats, write_result  # noqa: E402

N_POINTS = 100_000
KEYS = 5


def once(gb, db, interval: str) -> dict[str, float]:
    os.environ["GATEBOOK_FLUSH_INTERVAL"] = interval
    run = gb.init(name=f"bench-finish-{interval}", store=sqlite_url(db))
    run.flush()
    log_ = gb.log
    t0 = perf()
    for i in range(N_POINTS // KEYS):
        v = i * 0.001
        log_({"loss": v, "acc": v, "lr": v, "grad_norm": v, "throughput": v}, step=i)
    t1 = perf()
    queued_calls = len(run._queue)  # approximate: log() items not yet taken by the writer
    written_before = sqlite_count(db, "SELECT count(*) FROM gb_metrics WHERE run_id = ?", (run.id,))
    t2 = perf()
    gb.finish()
    finish_s = perf() - t2
    stored = sqlite_count(db, "SELECT count(*) FROM gb_metrics WHERE run_id = ?", (run.id,))
    status = sqlite_count(db, "SELECT count(*) FROM gb_runs WHERE id = ? AND status = 'finished'", (run.id,))
    run._store.close()
    return {"finish_s": finish_s, "log_s": t1 - t0, "pending_points": queued_calls * KEYS,
            "written_before": written_before, "stored": stored, "status_ok": status}


def breakdown(gb, db) -> dict[str, float]:
    """Where finish() time goes, done by hand on the same data: the writer's conversion of
    queued log() calls into rows, then one store.write() of those rows (uses internals)."""
    from gatebook.store.base import WriteBatch

    os.environ["GATEBOOK_FLUSH_INTERVAL"] = "1000"
    run = gb.init(name="bench-finish-breakdown", store=sqlite_url(db))
    run.flush()
    for i in range(N_POINTS // KEYS):
        v = i * 0.001
        gb.log({"loss": v, "acc": v, "lr": v, "grad_norm": v, "throughput": v}, step=i)
    items = []
    while run._queue:
        items.append(run._queue.popleft())
    t0 = perf()
    batch = WriteBatch()
    run._fill(batch, items)
    t1 = perf()
    run._store.write(batch)
    t2 = perf()
    gb.finish()
    run._store.close()
    return {"fill_s": t1 - t0, "write_s": t2 - t1}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    reps = 2 if args.quick else 5
    os.chdir(args.workdir)
    os.environ["GATEBOOK_STORE"] = sqlite_url(args.workdir / "default.db")

    import gatebook as gb
    from bench_ingest import metrics_ddl, raw_once
    from gatebook.ids import new_run_id

    ddl = metrics_ddl(args.workdir)
    rid, ts = new_run_id(), time.time()
    rows = [(rid, key, i, i * 0.001, ts + i * 1e-6) for i in range(N_POINTS // KEYS)
            for key in ("loss", "acc", "lr", "grad_norm", "throughput")]
    results: dict[str, list[dict[str, float]]] = {"default": [], "worst": []}
    raw, parts = [], []
    for rep in range(reps):  # interleaved
        for variant, interval in (("default", "0.2"), ("worst", "1000")):
            r = once(gb, args.workdir / f"{variant}{rep}.db", interval)
            results[variant].append(r)
            log(f"{variant} rep {rep}: finish {r['finish_s']:.3f} s, pending ~{r['pending_points']}, "
                f"stored {r['stored']}")
        raw.append(raw_once(args.workdir / f"raw{rep}.db", ddl, rows)[0])
        parts.append(breakdown(gb, args.workdir / f"parts{rep}.db"))
        log(f"raw sqlite3 {N_POINTS} rows: {raw[-1]:.3f} s; by hand: rows built in {parts[-1]['fill_s']:.3f} s, "
            f"written in {parts[-1]['write_s']:.3f} s")
    values: dict[str, float | bool] = {"n_points": N_POINTS}
    values["raw_median_s"] = summary_stats(raw)["median"]
    values["fill_median_s"] = summary_stats([p["fill_s"] for p in parts])["median"]
    values["write_median_s"] = summary_stats([p["write_s"] for p in parts])["median"]
    details = {}
    for variant, rs in results.items():
        fs = summary_stats([r["finish_s"] for r in rs])
        values[f"{variant}_finish_median_s"] = fs["median"]
        values[f"{variant}_finish_max_s"] = fs["max"]
        values[f"{variant}_pending_median"] = summary_stats([r["pending_points"] for r in rs])["median"]
        values[f"{variant}_log_median_s"] = summary_stats([r["log_s"] for r in rs])["median"]
        values[f"{variant}_all_durable"] = all(r["stored"] == N_POINTS and r["status_ok"] == 1 for r in rs)
        details[variant] = rs
    details["raw_s"] = raw
    details["breakdown"] = parts
    write_result(args.out, values, details)


if __name__ == "__main__":
    main()
