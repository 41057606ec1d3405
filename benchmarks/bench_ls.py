"""6. ``gatebook ls`` over a ledger of 10,000 runs.

The ledger is built by ``gatebook.testing.bulk.bulk_runs``: gatebook's own store, its schema and
its row encoding (``gatebook.store.sql_runs._run_values``), in bulk transactions so it takes
seconds, not minutes: 10,000 finished / failed / interrupted / stopped runs (no
``running`` ones, so ``ls`` never has to reconcile and the ledger does not change
between repetitions) with names (200 distinct), groups, 0-3 tags, a command line, a
~2 KB provenance document, two status events, 3 params, a summary value and 3
metrics x 10 steps each (300,000 points).

Timed as subprocesses with stdout to /dev/null, interleaved, median of REPEATS after a
warm-up run of each: ``gatebook ls`` (default limit 50, a rich table) and
``gatebook ls --limit 0 --json`` (all 10,000 runs as JSON).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    GATEBOOK_EXE, child_env, log, parse_args, perf, round_robin, split_wall_cpu, sqlite_url, time_command,
    write_result,
)

N_RUNS = 10_000


def build_ledger(db) -> dict[str, float]:
    from gatebook.store import open_store
    from gatebook.testing.bulk import bulk_runs

    t0 = perf()
    store = open_store(sqlite_url(db))
    bulk_runs(store, N_RUNS, seed=42)
    count = store.count_runs()
    store.close()
    return {"build_s": perf() - t0, "runs": count}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 3 if args.quick else 5
    db = args.workdir / "ledger.db"
    os.chdir(args.workdir)
    built = build_ledger(db)
    log(f"ledger: {built['runs']} runs built in {built['build_s']:.1f} s ({db.stat().st_size / 1e6:.0f} MB)")
    env = child_env(GATEBOOK_STORE=sqlite_url(db), GATEBOOK_RUN_ID=None)
    cmds = {
        "ls_default": [GATEBOOK_EXE, "ls"],
        "ls_all_json": [GATEBOOK_EXE, "ls", "--limit", "0", "--json"],
    }
    variants = {name: (lambda argv=argv: time_command(argv, env=env, cwd=args.workdir)) for name, argv in cmds.items()}
    times = round_robin(variants, repeats, warmup=1)
    stats, cpu = split_wall_cpu(times)
    for name, s in stats.items():
        log(f"{name}: median {s['median']:.3f} s  {s['all']}  (CPU median {cpu[name]['median']:.3f} s)")

    out = subprocess.run(cmds["ls_all_json"], env=env, cwd=args.workdir, capture_output=True, check=True).stdout
    listed = len(json.loads(out)["runs"])
    shown = subprocess.run(cmds["ls_default"], env=env, cwd=args.workdir, capture_output=True, check=True).stdout
    values = {name: s["median"] for name, s in stats.items()}
    values.update({f"{name}_min": s["min"] for name, s in stats.items()})
    values.update({f"{name}_cpu": s["median"] for name, s in cpu.items()})
    values.update({"runs": built["runs"], "build_s": built["build_s"], "json_runs_listed": listed,
                   "json_bytes": len(out), "default_lines": shown.decode().count("\n"),
                   "ledger_mb": db.stat().st_size / 1e6})
    write_result(args.out, values, {"seconds": stats, "cpu_seconds": cpu})


if __name__ == "__main__":
    main()
