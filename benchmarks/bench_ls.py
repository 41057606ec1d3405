"""6. ``gatebook ls`` over a ledger of 10,000 runs.

The ledger is built through gatebook's own store (``open_store``), its schema and its
row encoding (``gatebook.store.sql_runs._run_values``), in bulk transactions so it takes
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
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    GATEBOOK_EXE, child_env, log, parse_args, perf, round_robin, split_wall_cpu, sqlite_url, time_command,
    write_result,
)

N_RUNS = 10_000
STATUSES = (["finished"] * 14) + (["failed"] * 3) + ["interrupted", "stopped"]
TAGS = ("baseline", "ablation", "sweep", "gpu", "debug", "prod")


def _provenance(i: int) -> dict:
    return {
        "git": {"commit": f"{i:040x}", "branch": "main", "remote": "git@example.invalid:team/proj.git",
                "dirty": i % 3 == 0, "root": "/home/user/proj", "dirty_files": ["train.py"] if i % 3 == 0 else []},
        "python": {"version": "3.11.7", "implementation": "CPython", "executable": "/home/user/proj/.venv/bin/python"},
        "packages": {f"package-{k:02d}": f"{k}.{i % 7}.0" for k in range(40)},
        "gpus": [],
        "system": {"platform": "Linux-6.1-x86_64", "cpu_count": 8, "memory_gb": 31.3, "hostname": "bench-host"},
        "env": {"CUDA_VISIBLE_DEVICES": "0", "WANDB_API_KEY": "***"},
    }


def build_ledger(db) -> dict[str, float]:
    from sqlalchemy import insert

    from gatebook.ids import new_run_id
    from gatebook.records import RunRecord, RunStatus
    from gatebook.store import open_store
    from gatebook.store import schema as t
    from gatebook.store.base import WriteBatch
    from gatebook.store.sql_runs import _run_values

    rng = random.Random(42)
    t0 = perf()
    store = open_store(sqlite_url(db))
    now = time.time()
    runs, tag_rows, events = [], [], []
    for i in range(N_RUNS):
        created = now - 3600.0 - (N_RUNS - i) * 90.0 + rng.random()  # every run ended in the past
        status = RunStatus(STATUSES[i % len(STATUSES)])
        dur = 30.0 + rng.random() * 3000
        tags = tuple(sorted(rng.sample(TAGS, i % 4)))
        rec = RunRecord(
            id=new_run_id(created), name=f"exp-{i % 200:03d}", status=status, created_at=created,
            ended_at=created + dur, exit_code=0 if status is RunStatus.FINISHED else 1,
            reason=None if status is RunStatus.FINISHED else "exit code 1",
            parent_id=runs[-1]["id"] if i % 10 == 9 else None, group=f"sweep-{i // 500:02d}", tags=tags,
            command=("python", "train.py", "--lr", f"{rng.choice([0.1, 0.01, 0.001])}", "--epochs", "10"),
            cwd="/home/user/proj", host="bench-host", user="bench", pid=100000 + i, pid_start=created,
            heartbeat_at=created + dur, source="wrapper" if i % 2 else "api", provenance=_provenance(i),
        )
        runs.append(_run_values(rec))
        tag_rows.extend({"run_id": rec.id, "tag": tag} for tag in tags)
        events.append({"run_id": rec.id, "ts": created, "kind": "status", "step": None,
                       "data": json.dumps({"status": "running"})})
        events.append({"run_id": rec.id, "ts": created + dur, "kind": "status", "step": None,
                       "data": json.dumps({"status": status.value, "exit_code": rec.exit_code})})
    ids = [r["id"] for r in runs]
    if len(set(ids)) != len(ids):
        raise RuntimeError("duplicate run ids generated")

    def put(conn):
        conn.execute(insert(t.runs), runs)
        conn.execute(insert(t.tags), tag_rows)
        conn.execute(insert(t.events), events)

    store._write(put)  # the store's own write transaction (BEGIN IMMEDIATE, retries)
    batch = WriteBatch()
    for r in runs:
        rid, ts = r["id"], r["created_at"]
        for step in range(10):
            for key in ("loss", "acc", "lr"):
                batch.metrics.append((rid, key, step, rng.random(), ts + step))
        batch.params.append((rid, "argv", {"lr": float(r["command"].split('"')[7]), "epochs": 10, "seed": 0}))
        batch.summary.append((rid, {"best_acc": rng.random()}))
    store.write(batch)
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
