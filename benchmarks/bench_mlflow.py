"""2b. MLflow (the peer) logging metrics into a SQLite tracking store.

Runs in its own process, so MLflow's imports never share an interpreter with
gatebook's. ``mlflow.set_tracking_uri("sqlite:///.../mlflow.db")``; creating the
experiment and the run (which runs MLflow's alembic migrations on the fresh file) and
a few warm-up calls happen before any clock starts.

* ``MlflowClient().log_metric`` single calls (one point each);
* ``MlflowClient().log_batch`` with batches of 1,000 metrics (MLflow's per-request
  maximum).

Network is ruled out: the tracking URI is a local file, telemetry is disabled, and
async logging and system-metrics logging are off.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import log, parse_args, perf, sqlite_count, summary_stats, write_result  # noqa: E402

NO_NETWORK_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}

KEYS = ("loss", "acc", "lr", "grad_norm", "throughput")


def offline_mlflow_env() -> None:
    """No network, no inherited tracking settings: MLflow writes only to the local file."""
    os.environ.update(NO_NETWORK_ENV)
    for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        os.environ.pop(k, None)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    n_single = 100 if args.quick else 300
    n_batches = 5 if args.quick else 20
    offline_mlflow_env()
    os.chdir(args.workdir)
    db = args.workdir / "mlflow.db"

    t_imp = perf()
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric
    import_s = perf() - t_imp

    # set-up, not timed as logging: migrations on the fresh file, experiment, run
    t_setup = perf()
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    client = MlflowClient()
    exp_id = client.create_experiment("gatebook-bench", artifact_location=(args.workdir / "mlartifacts").as_uri())
    run_id = client.create_run(exp_id).info.run_id
    setup_s = perf() - t_setup
    for i in range(10):  # warm-up
        client.log_metric(run_id, "warmup", float(i), step=i)
    client.log_batch(run_id, metrics=[Metric("warmup_b", float(i), int(time.time() * 1000), i) for i in range(100)])
    log(f"mlflow {mlflow.__version__}: import {import_s:.2f} s, set-up {setup_s:.2f} s")

    # single log_metric calls
    per_call = []
    t0 = perf()
    for i in range(n_single):
        c0 = perf()
        client.log_metric(run_id, KEYS[i % len(KEYS)], i * 0.001, step=i // len(KEYS))
        per_call.append(perf() - c0)
    single_total = perf() - t0
    log(f"log_metric: {n_single} calls in {single_total:.2f} s")

    # log_batch, 1,000 metrics per call
    per_batch = []
    step0 = n_single
    t0 = perf()
    for b in range(n_batches):
        now_ms = int(time.time() * 1000)
        metrics = [Metric(KEYS[j % len(KEYS)], j * 0.001, now_ms, step0 + b * 200 + j // len(KEYS))
                   for j in range(1000)]
        c0 = perf()
        client.log_batch(run_id, metrics=metrics)
        per_batch.append(perf() - c0)
    batch_total = perf() - t0
    log(f"log_batch: {n_batches} x 1000 in {batch_total:.2f} s")
    client.set_terminated(run_id)

    stored = sqlite_count(db, "SELECT count(*) FROM metrics WHERE run_uuid = ? AND key != 'warmup' "
                              "AND key != 'warmup_b'", (run_id,))
    single, batch = summary_stats(per_call), summary_stats(per_batch)
    values = {
        "version": mlflow.__version__,
        "import_s": import_s,
        "setup_s": setup_s,
        "single_calls": n_single,
        "single_median_s": single["median"],
        "single_rate": n_single / sum(per_call),
        "batch_points": n_batches * 1000,
        "batch_median_s": batch["median"],
        "batch_rate": n_batches * 1000 / sum(per_batch),
        "points_expected": n_single + n_batches * 1000,
        "points_stored": stored,
    }
    details = {"log_metric_s": single, "log_batch_s": batch}
    write_result(args.out, values, details)


if __name__ == "__main__":
    main()
