"""8. ``gatebook compare`` and ``gatebook changelog`` over 1,000 runs with 20 metrics each.

The ledger is built through gatebook's own store (its schema, its write path, so the
per-key aggregates are maintained as in real use): 1,000 finished runs in group
``bench``, 20 metrics x 10 steps each (200,000 points), 3 params, every 10th run a child
of the previous one, a ``gatebook.yaml`` declaring 4 primary metrics and directions.

Measured, interleaved, median of REPEATS:

* the commands as a user runs them (subprocess, output to /dev/null):
  ``gatebook compare --group bench --format json`` and
  ``gatebook changelog --group bench --out changelog.md``, and ``gatebook --version``
  for the interpreter + CLI start-up they both pay;
* the commands' own work: ``gatebook.cli.main([...])`` called in a process that has
  already imported everything (what is left once start-up is paid);
* the limit: raw sqlite3 reading every run's last value per key from the points with a
  window function (what a hand-written script does), same file, same process.

The peer, in its own process (``bench_compare_mlflow.py``): the same 1,000 runs x 20
metrics x 10 steps and 3 params logged into MLflow's SQLite store, then
``mlflow.search_runs`` over the experiment (one DataFrame with every run's latest
metrics and params: the data compare and the change log need).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    GATEBOOK_EXE, child_env, log, parse_args, perf, round_robin, split_wall_cpu, sqlite_url, time_command,
    write_result,
)

N_RUNS = 1000
N_STEPS = 10
KEYS = [f"val_m{k:02d}" for k in range(10)] + [f"loss_{k:02d}" for k in range(10)]
GATEBOOK_YAML = """\
metrics:
  primary: [val_m00, val_m01, loss_00, loss_01]
  higher_is_better: ["val_*"]
  lower_is_better: ["loss*"]
"""


def build_ledger(db) -> dict[str, float]:
    from gatebook.ids import new_run_id
    from gatebook.records import RunRecord, RunStatus
    from gatebook.store import open_store
    from gatebook.store.base import WriteBatch

    rng = random.Random(7)
    t0 = perf()
    store = open_store(sqlite_url(db))
    now = time.time()
    prev = None
    for i in range(N_RUNS):
        created = now - 3600 - (N_RUNS - i) * 90.0 + rng.random()
        rid = new_run_id(created)
        lr = rng.choice([0.1, 0.01, 0.001])
        store.create_run(RunRecord(
            id=rid, name=f"exp-{i:04d}", status=RunStatus.FINISHED, created_at=created, ended_at=created + 60,
            exit_code=0, parent_id=prev if i % 10 else None, group="bench", source="wrapper",
            command=("python", "train.py", "--lr", str(lr)), cwd="/home/user/proj",
            provenance={"git": {"commit": f"{i:040x}", "dirty": False, "dirty_files": [],
                                "files_changed": ["train.py"] if i % 10 else []}}))
        batch = WriteBatch()
        for step in range(N_STEPS):
            for key in KEYS:
                batch.metrics.append((rid, key, step, rng.random(), created + step))
        batch.params.append((rid, "argv", {"lr": lr, "epochs": 10, "seed": i % 5}))
        store.write(batch)
        prev = rid
    store.close()
    return {"build_s": perf() - t0}


def raw_last_values(db) -> int:
    con = sqlite3.connect(str(db))
    try:
        rows = con.execute(
            "SELECT run_id, key, value FROM (SELECT run_id, key, value, ROW_NUMBER() OVER "
            "(PARTITION BY run_id, key ORDER BY step DESC, ts DESC) AS rn FROM gb_metrics) WHERE rn = 1").fetchall()
    finally:
        con.close()
    return len(rows)


def in_process(argv: list[str]) -> float:
    from gatebook.cli import main

    buf = io.StringIO()
    t0 = perf()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        code = main(argv)
    if code != 0:
        raise RuntimeError(f"gatebook {' '.join(argv)} exited {code}")
    return perf() - t0


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 3 if args.quick else 7
    work = args.workdir
    os.chdir(work)
    (work / "gatebook.yaml").write_text(GATEBOOK_YAML)
    db = work / "ledger.db"
    built = build_ledger(db)
    log(f"ledger: {N_RUNS} runs x {len(KEYS)} metrics x {N_STEPS} steps built in {built['build_s']:.1f} s")
    os.environ["GATEBOOK_STORE"] = sqlite_url(db)
    env = child_env(GATEBOOK_STORE=sqlite_url(db), GATEBOOK_RUN_ID=None)
    out_md = str(work / "changelog.md")
    compare_argv = ["compare", "--group", "bench", "--format", "json"]
    changelog_argv = ["changelog", "--group", "bench", "--out", out_md]

    # warm the in-process imports once
    import gatebook.analysis.changelog  # noqa: F401
    import gatebook.analysis.compare  # noqa: F401
    import gatebook.render.changelog  # noqa: F401
    import gatebook.store.sql  # noqa: F401
    in_process(compare_argv)
    in_process(changelog_argv)

    variants = {
        "cli_compare": lambda: time_command([GATEBOOK_EXE, *compare_argv], env=env, cwd=work),
        "cli_changelog": lambda: time_command([GATEBOOK_EXE, *changelog_argv], env=env, cwd=work),
        "cli_version": lambda: time_command([GATEBOOK_EXE, "--version"], env=env, cwd=work),
    }
    times = round_robin(variants, repeats, warmup=1)
    stats, cpu = split_wall_cpu(times)
    inproc = round_robin({"work_compare": lambda: in_process(compare_argv),
                          "work_changelog": lambda: in_process(changelog_argv),
                          "raw_last_values": lambda: (lambda t0: (raw_last_values(db), perf() - t0)[1])(perf())},
                         repeats)
    values: dict[str, float] = {name: s["median"] for name, s in stats.items()}
    values.update({f"{name}_cpu": s["median"] for name, s in cpu.items()})
    for name, samples in inproc.items():
        values[name] = sorted(samples)[len(samples) // 2]
    values.update({"runs": N_RUNS, "metrics": len(KEYS), "steps": N_STEPS, "build_s": built["build_s"],
                   "raw_rows": raw_last_values(db), "changelog_lines": open(out_md).read().count("\n")})
    for k in ("cli_compare", "cli_changelog", "cli_version", "work_compare", "work_changelog", "raw_last_values"):
        log(f"{k}: {values[k]:.3f} s")
    write_result(args.out, values, {"seconds": stats, "cpu_seconds": cpu, "in_process": inproc})


if __name__ == "__main__":
    main()
