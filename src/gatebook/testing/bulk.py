"""A big ledger in seconds: thousands of realistic finished runs written in bulk (tests and benchmarks).

:func:`bulk_runs` writes ``n`` ended runs (finished, failed, interrupted, stopped; never
``running``, so readers never reconcile them) through the store's own schema and row encoding,
in one write transaction for the runs, tags and events and one :class:`WriteBatch` for their
params, summaries and metrics. Names repeat (200 distinct), groups hold 500 runs, runs carry
0-3 tags, a command line, a ~2 KB provenance document and ``steps`` points of loss, acc and lr.
Deterministic for a ``seed``, except the ids and times, which are drawn from ``time.time()``.
"""

from __future__ import annotations

import json
import random
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gatebook.store.base import Store

STATUSES = (["finished"] * 14) + (["failed"] * 3) + ["interrupted", "stopped"]
TAGS = ("baseline", "ablation", "sweep", "gpu", "debug", "prod")


def provenance(i: int) -> dict[str, Any]:
    return {
        "git": {"commit": f"{i:040x}", "branch": "main", "remote": "git@example.invalid:team/proj.git",
                "dirty": i % 3 == 0, "root": "/home/user/proj", "dirty_files": ["train.py"] if i % 3 == 0 else []},
        "python": {"version": "3.11.7", "implementation": "CPython", "executable": "/home/user/proj/.venv/bin/python"},
        "packages": {f"package-{k:02d}": f"{k}.{i % 7}.0" for k in range(40)},
        "gpus": [],
        "system": {"platform": "Linux-6.1-x86_64", "cpu_count": 8, "memory_gb": 31.3, "hostname": "bench-host"},
        "env": {"CUDA_VISIBLE_DEVICES": "0", "WANDB_API_KEY": "***"},
    }


def bulk_runs(store: Store, n: int, *, seed: int = 42, steps: int = 10) -> list[str]:
    """Write ``n`` ended runs into ``store`` (a SQL store); their ids, oldest first."""
    from sqlalchemy import insert

    from gatebook.ids import new_run_id
    from gatebook.records import RunRecord, RunStatus
    from gatebook.store import schema as t
    from gatebook.store.base import WriteBatch
    from gatebook.store.sql_runs import _run_values

    rng = random.Random(seed)
    now = time.time()
    runs: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for i in range(n):
        created = now - 3600.0 - (n - i) * 90.0 + rng.random()  # every run ended in the past
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
            heartbeat_at=created + dur, source="wrapper" if i % 2 else "api", provenance=provenance(i),
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

    def put(conn: Any) -> None:
        conn.execute(insert(t.runs), runs)
        if tag_rows:
            conn.execute(insert(t.tags), tag_rows)
        conn.execute(insert(t.events), events)

    store._write(put)  # type: ignore[attr-defined]  # the SQL store's write transaction (BEGIN IMMEDIATE, retries)
    batch = WriteBatch()
    for r in runs:
        rid, ts = r["id"], r["created_at"]
        for step in range(steps):
            for key in ("loss", "acc", "lr"):
                batch.metrics.append((rid, key, step, rng.random(), ts + step))
        batch.params.append((rid, "argv", {"lr": float(r["command"].split('"')[7]), "epochs": 10, "seed": 0}))
        batch.summary.append((rid, {"best_acc": rng.random()}))
    store.write(batch)
    return ids
