"""8b. MLflow (the peer) reading 1,000 runs with 20 metrics each, as compare / changelog need.

Own process (MLflow never shares an interpreter with gatebook). The same shape as
``bench_compare.py``: 1,000 runs, 20 metrics x 10 steps, 3 params, logged with
``MlflowClient.log_batch`` into a SQLite tracking store (built before any clock starts).
Timed: ``mlflow.search_runs(experiment_ids=[...], max_results=1000)`` (a DataFrame with
every run's latest metrics and params), and ``MlflowClient().search_runs`` (the entity
API, no DataFrame), median of REPEATS.
"""

from __future__ import annotations

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import log, parse_args, perf, write_result  # noqa: E402
from bench_mlflow import offline_mlflow_env  # noqa: E402

N_RUNS = 1000
N_STEPS = 10
KEYS = [f"val_m{k:02d}" for k in range(10)] + [f"loss_{k:02d}" for k in range(10)]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 3 if args.quick else 7
    offline_mlflow_env()
    os.chdir(args.workdir)
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    mlflow.set_tracking_uri(f"sqlite:///{args.workdir / 'mlflow.db'}")
    client = MlflowClient()
    exp_id = client.create_experiment("bench", artifact_location=(args.workdir / "mlartifacts").as_uri())
    rng = random.Random(7)
    t0 = perf()
    for i in range(N_RUNS):
        run_id = client.create_run(exp_id, run_name=f"exp-{i:04d}").info.run_id
        now_ms = int(time.time() * 1000)
        metrics = [Metric(key, rng.random(), now_ms + step, step) for step in range(N_STEPS) for key in KEYS]
        params = [Param("lr", str(rng.choice([0.1, 0.01, 0.001]))), Param("epochs", "10"), Param("seed", str(i % 5))]
        client.log_batch(run_id, metrics=metrics, params=params)
        client.set_terminated(run_id)
    build_s = perf() - t0
    log(f"mlflow {mlflow.__version__}: {N_RUNS} runs logged in {build_s:.1f} s")

    def df() -> float:
        t = perf()
        frame = mlflow.search_runs(experiment_ids=[exp_id], max_results=N_RUNS)
        if len(frame) != N_RUNS:
            raise RuntimeError(f"search_runs returned {len(frame)} runs")
        return perf() - t

    def entities() -> float:
        t = perf()
        runs = client.search_runs([exp_id], max_results=N_RUNS)
        if len(runs) != N_RUNS:
            raise RuntimeError(f"search_runs returned {len(runs)} runs")
        return perf() - t

    df(), entities()  # warm-up
    t_df = sorted(df() for _ in range(repeats))
    t_ent = sorted(entities() for _ in range(repeats))
    values = {"version": mlflow.__version__, "runs": N_RUNS, "build_s": build_s,
              "search_runs_df_s": t_df[len(t_df) // 2], "search_runs_entities_s": t_ent[len(t_ent) // 2]}
    log(f"search_runs (DataFrame) {values['search_runs_df_s']:.3f} s, (entities) {values['search_runs_entities_s']:.3f} s")
    write_result(args.out, values, {"df_s": t_df, "entities_s": t_ent})


if __name__ == "__main__":
    main()
