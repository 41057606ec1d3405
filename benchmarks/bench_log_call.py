"""1. The cost of one ``gb.log({5 float scalars}, step=i)`` call, as training code sees it.

The run is started and its first flush (provenance, heartbeat) awaited before timing.
Calls are timed in batches of BATCH; the per-call cost of a batch is its time / BATCH,
and the headline is the median over batches. The background writer runs as usual
(default flush interval), so batches that overlap a flush pay for the GIL it holds;
the mean over all calls and the 90th percentile show that effect.

The statement timed is the whole line a user writes, dict literal included. The same
loop calling a no-op function gives the loop + dict overhead, reported separately
(``net`` = gross - baseline).
"""

from __future__ import annotations

import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import log, parse_args, percentile, perf, sqlite_count, sqlite_url, summary_stats, write_result  # noqa: E402

BATCH = 1000


def _timed_batches(fn, batches: int) -> list[float]:
    """Per-call seconds of each batch of BATCH calls of ``fn(dict, step=i)``."""
    per_call = []
    i = 0
    for _ in range(batches):
        end = i + BATCH
        t0 = perf()
        while i < end:
            v = i * 0.001
            fn.log({"loss": v, "acc": v, "lr": v, "grad_norm": v, "throughput": v}, step=i)
            i += 1
        per_call.append((perf() - t0) / BATCH)
    return per_call


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    batches = 40 if args.quick else 200  # 200 x 1000 = 200,000 calls
    db = args.workdir / "ledger.db"
    os.environ["GATEBOOK_STORE"] = sqlite_url(db)
    os.chdir(args.workdir)

    import gatebook as gb

    run = gb.init(name="bench-log-call")
    run.flush()  # provenance and the first heartbeat are written: start from a quiet writer

    # warm-up (first dict shapes, deque growth)
    for i in range(2000):
        gb.log({"loss": 0.0, "acc": 0.0, "lr": 0.0, "grad_norm": 0.0, "throughput": 0.0}, step=-1 - i)
    run.flush()

    log(f"timing {batches} x {BATCH} gb.log calls")
    t_all = perf()
    gross = _timed_batches(gb, batches)
    total_wall = perf() - t_all
    t_fin = perf()
    gb.finish()
    finish_s = perf() - t_fin

    # the same loop calling a no-op (loop, arithmetic, dict literal, attribute lookup, call)
    noop_ns = types.SimpleNamespace(log=lambda data, step=None: None)
    baseline = _timed_batches(noop_ns, batches)

    calls = batches * BATCH
    stored = sqlite_count(db, "SELECT count(*) FROM gb_metrics WHERE run_id = ? AND step >= 0", (run.id,))
    g, b = summary_stats(gross), summary_stats(baseline)
    values = {
        "calls": calls,
        "per_call_median_s": g["median"],
        "per_call_mean_s": total_wall / calls,
        "per_call_p90_s": percentile(gross, 90),
        "per_call_min_batch_s": g["min"],
        "baseline_median_s": b["median"],
        "net_median_s": g["median"] - b["median"],
        "finish_after_s": finish_s,
        "points_expected": calls * 5,
        "points_stored": stored,
    }
    write_result(args.out, values, details={"gross_per_call_s": g, "baseline_per_call_s": b})


if __name__ == "__main__":
    main()
