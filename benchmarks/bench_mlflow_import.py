"""15. MLflow import: 200 runs x 20 metrics x 100 steps, against MLflow's own get_metric_history.

MLflow (its client, ``log_batch``) writes the runs into its SQLite tracking store first (not
timed). Then, reading the same data:

* MLflow's own way, in this process: ``MlflowClient.search_runs`` over the experiment, then
  ``get_metric_history`` for every run and key (4,000 calls): what a hand-written exporter does;
* gatebook, in a separate process (so MLflow's imports never share an interpreter with it):
  ``read_runs`` (MLflow's SQLite read directly, one pass), the whole ``import_mlflow`` into a fresh
  ledger (read + one transaction per run), and the same again with nothing new (idempotent re-run);
* ``gatebook import mlflow --tracking-uri ... --json`` as a user runs it (subprocess, start-up
  included), into a fresh ledger.

Every reader must return all 400,000 points (checked). No network: the tracking URI is a local file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    GATEBOOK_EXE,
    PYTHON,
    child_env,
    log,
    parse_args,
    perf,
    sqlite_url,
    summary_stats,
    write_result,
)
from bench_mlflow import offline_mlflow_env  # noqa: E402

GATEBOOK_SIDE = textwrap.dedent("""\
    import json, sys, time
    from gatebook.importers.mlflow import import_mlflow
    from gatebook.importers.mlflow_read import read_runs
    from gatebook.store import open_store

    uri, ledger_dir, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = {"read": [], "import": [], "reimport": [], "points": 0}
    for i in range(repeats):
        t = time.perf_counter(); runs = read_runs(uri); out["read"].append(time.perf_counter() - t)
        out["points"] = sum(len(p) for r in runs for p in r.metrics.values())
        with open_store(f"sqlite:///{ledger_dir}/import-{i}.db") as store:
            t = time.perf_counter(); res = import_mlflow(store, uri); out["import"].append(time.perf_counter() - t)
            assert res.points == out["points"], (res.points, out["points"])
            t = time.perf_counter(); again = import_mlflow(store, uri)
            out["reimport"].append(time.perf_counter() - t)
            assert again.points == 0 and again.count("unchanged") == len(res.runs)
    print(json.dumps(out))
""")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n_runs = 20 if args.quick else 200
    n_keys, n_steps = 20, 100
    repeats = 2 if args.quick else 3
    offline_mlflow_env()
    os.chdir(args.workdir)
    db = args.workdir / "mlflow.db"
    uri = f"sqlite:///{db}"

    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(uri)
    t_build = perf()
    exp = client.create_experiment("bench")
    base = 1_700_000_000_000
    for r in range(n_runs):
        run = client.create_run(exp, run_name=f"run-{r:03d}", start_time=base + r)
        points = [Metric(f"m{k:02d}", (r + k + s) / 1000.0, base + r * 1000 + s, s)
                  for k in range(n_keys) for s in range(n_steps)]
        for i in range(0, len(points), 1000):  # MLflow's per-request maximum
            client.log_batch(run.info.run_id, metrics=points[i:i + 1000],
                             params=[Param("lr", "0.1"), Param("seed", str(r))] if i == 0 else [])
        client.set_terminated(run.info.run_id, "FINISHED", end_time=base + r * 1000 + n_steps)
    build_s = perf() - t_build
    expected = n_runs * n_keys * n_steps
    log(f"MLflow wrote {n_runs} runs, {expected:,} points in {build_s:.1f} s")

    def mlflow_read() -> float:
        t = perf()
        got = 0
        runs = client.search_runs([exp], max_results=50000)
        for run in runs:
            for key in run.data.metrics:
                got += len(client.get_metric_history(run.info.run_id, key))
        dt = perf() - t
        assert got == expected, (got, expected)
        return dt

    mlflow_read()  # warm-up (SQLAlchemy's compiled statements, page cache)
    ml_times = [mlflow_read() for _ in range(repeats)]
    log(f"MLflow search_runs + get_metric_history: {min(ml_times):.2f} s")

    env = child_env(GATEBOOK_STORE=None)
    ledgers = args.workdir / "ledgers"
    ledgers.mkdir(exist_ok=True)
    proc = subprocess.run([PYTHON, "-c", GATEBOOK_SIDE, uri, str(ledgers), str(repeats)], env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    gb = json.loads(proc.stdout)
    assert gb["points"] == expected, gb["points"]

    cli_times = []
    for i in range(repeats):
        cli_env = child_env(env, GATEBOOK_STORE=sqlite_url(ledgers / f"cli-{i}.db"))
        t = perf()
        done = subprocess.run([GATEBOOK_EXE, "import", "mlflow", "--tracking-uri", uri, "--json"], env=cli_env,
                              capture_output=True, text=True, timeout=900, check=False)
        cli_times.append(perf() - t)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-3000:])
        assert json.loads(done.stdout)["points"] == expected
    log(f"gatebook read {min(gb['read']):.2f} s, import {min(gb['import']):.2f} s, cli {min(cli_times):.2f} s")

    ml, read, imp = summary_stats(ml_times), summary_stats(gb["read"]), summary_stats(gb["import"])
    write_result(args.out, {
        "runs": n_runs, "metrics": n_keys, "steps": n_steps, "points": expected, "version": mlflow.__version__,
        "build_s": build_s, "mlflow_history_s": ml["median"], "gatebook_read_s": read["median"],
        "gatebook_import_s": imp["median"], "gatebook_reimport_s": summary_stats(gb["reimport"])["median"],
        "cli_import_s": summary_stats(cli_times)["median"],
    }, {"mlflow_history": ml, "gatebook_read": read, "gatebook_import": imp, "reimport": gb["reimport"],
        "cli_import": cli_times})


if __name__ == "__main__":
    main()
