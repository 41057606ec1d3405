"""10. Promotion and the read API: ``gatebook promote`` end to end; ``Ledger().runs(last=1000).to_pandas()``.

Promotion: a project with two finished runs (A, B) and a gate ``promotion`` (one absolute and
one baseline-relative check, both passing either way) that ``champion`` requires. Timed as
subprocesses, interleaved, median of REPEATS after a warm-up: ``gatebook promote X --to
champion --json`` alternating A and B (every call judges against the holder and moves the
alias: a compare-and-set and its audit event), against ``gatebook gate X --gate promotion
--baseline Y --json`` (the same judgment, nothing written: the limit) and ``python -c pass``.

Read API: the 10,000-run ledger of benchmark 6 (``bench_ls.build_ledger``); in one process
that has imported gatebook and pandas, the work of ``Ledger(url).runs(last=1000).to_pandas()``
(one row per run: id, name, status, times, ``params.*``, ``metrics.*`` last values) against
raw ``sqlite3`` reading the same columns for the same 1,000 runs and building the same
DataFrame (the limit). Median of REPEATS, interleaved.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    GATEBOOK_EXE,
    PYTHON,
    child_env,
    log,
    parse_args,
    perf,
    round_robin,
    split_wall_cpu,
    sqlite_url,
    summary_stats,
    time_command,
    write_result,
)

GATEBOOK_YAML = """\
metrics:
  higher_is_better: [acc]
gates:
  promotion:
    checks:
      - "acc >= 0.5"
      - "acc >= baseline - 0.1"
aliases:
  champion:
    gates: [promotion]
"""


def _project(root: Path) -> tuple[str, str]:
    """A project with two finished runs that each pass ``promotion`` against the other."""
    from gatebook.ids import new_run_id
    from gatebook.records import RunRecord, RunStatus
    from gatebook.store import open_store

    (root / ".gatebook").mkdir(parents=True, exist_ok=True)
    (root / "gatebook.yaml").write_text(GATEBOOK_YAML)
    store = open_store(sqlite_url(root / ".gatebook" / "ledger.db"))
    ids = []
    for name, acc in (("cand-a", 0.91), ("cand-b", 0.90)):
        now = time.time()
        rid = store.create_run(RunRecord(id=new_run_id(now), name=name, status=RunStatus.RUNNING, created_at=now))
        store.log_metrics([(rid, "acc", step, acc - 0.05 * (4 - step), now + step) for step in range(5)])
        store.set_status(rid, RunStatus.FINISHED, exit_code=0)
        ids.append(rid)
    store.close()
    return ids[0], ids[1]


def bench_promote(workdir: Path, repeats: int) -> tuple[dict, dict, dict]:
    root = workdir / "promote-project"
    a, b = _project(root)
    env = child_env(GATEBOOK_STORE=None, GATEBOOK_RUN_ID=None, GATEBOOK_DIR=None)
    turn = {"n": 0}

    def promote() -> tuple[float, float]:
        run = a if turn["n"] % 2 == 0 else b
        turn["n"] += 1
        return time_command([GATEBOOK_EXE, "promote", run, "--to", "champion", "--json"], env=env, cwd=root)

    variants = {
        "promote": promote,
        "gate": lambda: time_command([GATEBOOK_EXE, "gate", a, "--gate", "promotion", "--baseline", b, "--json"],
                                     env=env, cwd=root),
        "python_pass": lambda: time_command([PYTHON, "-c", "pass"], env=env, cwd=root),
    }
    times = round_robin(variants, repeats, warmup=1)
    stats, cpu = split_wall_cpu(times)
    for name, s in stats.items():
        log(f"{name}: median {s['median']:.3f} s  {s['all']}  (CPU median {cpu[name]['median']:.3f} s)")
    from gatebook.store import open_store

    store = open_store(sqlite_url(root / ".gatebook" / "ledger.db"))
    moves = len([e for e in store.alias_events("champion") if e.action == "moved"])
    store.close()
    return stats, cpu, {"moves_recorded": moves, "promote_calls": turn["n"]}


def _raw_frame(db: Path, n: int):  # the limit: plain sqlite3, the same columns, the same DataFrame
    import json
    import sqlite3

    import pandas as pd

    con = sqlite3.connect(str(db))
    try:
        runs = con.execute("SELECT id, name, status, created_at, ended_at FROM gb_runs "
                           "ORDER BY created_at DESC LIMIT ?", (n,)).fetchall()
        ids = [r[0] for r in runs]
        marks = ",".join("?" * len(ids))
        rows = {r[0]: {"id": r[0], "name": r[1], "status": r[2], "created_at": r[3],
                       "duration": (r[4] - r[3]) if r[4] is not None else None} for r in runs}
        for rid, key, value in con.execute(f"SELECT run_id, key, value FROM gb_params WHERE run_id IN ({marks})",
                                           ids):
            rows[rid][f"params.{key}"] = json.loads(value)
        for rid, key, last in con.execute(
                f"SELECT run_id, key, last_value FROM gb_metric_stats WHERE run_id IN ({marks})", ids):
            rows[rid][f"metrics.{key}"] = last
    finally:
        con.close()
    return pd.DataFrame(list(rows.values()))


def bench_read_api(workdir: Path, repeats: int) -> tuple[dict, dict]:
    import bench_ls

    db = workdir / "ledger10k.db"
    built = bench_ls.build_ledger(db)
    log(f"ledger: {built['runs']} runs built in {built['build_s']:.1f} s")
    import pandas  # noqa: F401  (imported once, as in a notebook)

    from gatebook import Ledger

    url = sqlite_url(db)

    def api() -> float:
        t0 = perf()
        with Ledger(url) as ledger:
            frame = ledger.runs(last=1000).to_pandas()
        assert len(frame) == 1000, len(frame)
        return perf() - t0

    def raw() -> float:
        t0 = perf()
        frame = _raw_frame(db, 1000)
        assert len(frame) == 1000, len(frame)
        return perf() - t0

    times = round_robin({"ledger_to_pandas": api, "raw_sqlite3": raw}, repeats, warmup=1)
    stats = {name: summary_stats(v) for name, v in times.items()}
    for name, s in stats.items():
        log(f"{name}: median {s['median']:.3f} s  {s['all']}")
    with Ledger(url) as ledger:
        columns = list(ledger.runs(last=1000).to_pandas().columns)
    return stats, {"runs": built["runs"], "columns": len(columns), "raw_columns": len(_raw_frame(db, 1000).columns)}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 3 if args.quick else 7
    p_stats, p_cpu, p_info = bench_promote(args.workdir, repeats)
    r_stats, r_info = bench_read_api(args.workdir, 3 if args.quick else 5)
    values = {name: s["median"] for name, s in p_stats.items()}
    values.update({f"{name}_min": s["min"] for name, s in p_stats.items()})
    values.update({f"{name}_cpu": s["median"] for name, s in p_cpu.items()})
    values.update(p_info)
    values.update({name: s["median"] for name, s in r_stats.items()})
    values.update({f"{name}_min": s["min"] for name, s in r_stats.items()})
    values.update(r_info)
    write_result(args.out, values, {"promote": p_stats, "read_api": r_stats})


if __name__ == "__main__":
    main()
