"""Run every gatebook benchmark on this machine and write benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run_all.py [--quick] [--only NAME ...] [--keep]

Each benchmark is a ``bench_*.py`` script run in its own Python process (so imports,
threads and memory of one never distort another; MLflow never shares an interpreter
with gatebook) inside one temporary directory: every ledger and database lives there,
never in the repository, and the directory is removed at the end (``--keep`` keeps it).
See benchmarks/README.md for what each one measures. Timings are reported, never
asserted: the exit status is 0 even when targets are missed (1 only if a benchmark
could not run).

The benchmark processes get a cleaned environment: no GATEBOOK_* variables (each
benchmark sets GATEBOOK_STORE to its own temp ledger), no PYTHONUNBUFFERED (the
wrapper benchmark sets it where it belongs), and a bytecode cache
(PYTHONPYCACHEPREFIX=benchmarks/.work/pycache, git-ignored) even when the calling
shell has PYTHONDONTWRITEBYTECODE=1, so start-up times are those of an installed
package rather than of re-compiling every module on every start.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
PYCACHE = HERE / ".work" / "pycache"

# name -> (script, timeout seconds, title)
BENCHES: dict[str, tuple[str, float, str]] = {
    "startup": ("bench_startup.py", 240, "5. Start-up"),
    "log_call": ("bench_log_call.py", 300, "1. `gb.log` call cost"),
    "ingest": ("bench_ingest.py", 300, "2. Ingest throughput"),
    "mlflow": ("bench_mlflow.py", 400, "2b. MLflow peer"),
    "finish": ("bench_finish.py", 300, "3. Finish-to-durable"),
    "wrapper": ("bench_wrapper.py", 600, "4. Wrapper overhead"),
    "ls": ("bench_ls.py", 300, "6. `gatebook ls` over 10,000 runs"),
    "gate_stop": ("bench_gate_stop.py", 300, "7. Live gate stop latency"),
    "compare": ("bench_compare.py", 600, "8. Compare and change log over 1,000 runs"),
    "compare_mlflow": ("bench_compare_mlflow.py", 900, "8b. MLflow search_runs peer"),
    "sweep": ("bench_sweep.py", 900, "9. Sweep scheduling overhead"),
    "promote": ("bench_promote.py", 600, "10. Promotion and the read API"),
    "series": ("bench_series.py", 600, "11. Exact curves: 1,000,000 points to 2,000 buckets"),
    "ui": ("bench_ui.py", 600, "12. Dashboard"),
    "hooks": ("bench_hooks.py", 300, "13. Framework hooks: log path cost"),
    "tb_import": ("bench_tb_import.py", 600, "14. TensorBoard import"),
    "mlflow_import": ("bench_mlflow_import.py", 900, "15. MLflow import"),
    "stats": ("bench_stats.py", 300, "16. Evidence: a 10 vs 10 set judged with a bootstrap"),
    "sweep_search": ("bench_sweep_search.py", 600, "17. Adaptive search: the scheduler's overhead per trial"),
}

QUOTED_LOG_COSTS = (("trackio", 18e-6), ("wandb (offline)", 186e-6), ("MLflow", 7.5e-3))


# -- running ----------------------------------------------------------------------------------

def bench_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEBOOK_", "MLFLOW_"))}
    for key in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME", "PYTHONSTARTUP",
                "PYTHONDEVMODE", "PYTHONTRACEMALLOC", "PYTHONASYNCIODEBUG", "PYTHONWARNINGS"):
        env.pop(key, None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    return env


def run_bench(name: str, workroot: Path, env: dict[str, str], quick: bool) -> dict[str, Any]:
    script, timeout, _title = BENCHES[name]
    workdir = workroot / name
    out = workroot / f"{name}.json"
    argv = [sys.executable, str(HERE / script), "--workdir", str(workdir), "--out", str(out)]
    if quick:
        argv.append("--quick")
    print(f"== {name} ({script})", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=str(workroot), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    killed = []

    def kill() -> None:
        killed.append(True)
        try:
            os.killpg(proc.pid, 9)
        except OSError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        tail = (tail + [line.rstrip()])[-25:]
    code = proc.wait()
    timer.cancel()
    elapsed = time.perf_counter() - t0
    if code != 0 or not out.exists():
        why = f"timed out after {timeout:.0f} s" if killed else f"exit code {code}"
        print(f"!! {name} failed: {why}", flush=True)
        return {"error": why, "tail": tail, "elapsed_s": elapsed}
    result = json.loads(out.read_text())
    result["elapsed_s"] = elapsed
    print(f"   ({elapsed:.1f} s)", flush=True)
    return result


# -- formatting -------------------------------------------------------------------------------

def fs(x: float | None) -> str:
    """Seconds, in a readable unit."""
    if x is None:
        return "n/a"
    ax = abs(x)
    if ax < 1e-3:
        return f"{x * 1e6:.2f} µs"
    if ax < 1.0:
        return f"{x * 1e3:.1f} ms"
    return f"{x:.2f} s"


def fr(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f} points/s"


def fx(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.0f}×" if x >= 100 else f"{x:.2f}×"


def met(ok: bool | None) -> str:
    return "—" if ok is None else ("**yes**" if ok else "**NO**")


def div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


Row = tuple[str, str, str, str, str, str]


class Report:
    def __init__(self) -> None:
        self.sections: list[str] = []
        self.summary: list[tuple[str, str, str, bool | None]] = []  # (bench, measurement, value, met)

    def table(self, title: str, intro: str, rows: list[Row], notes: list[str], headline: list[int]) -> None:
        out = [f"## {title}", ""]
        if intro:
            out += [intro, ""]
        out += ["| measurement | value | limit / peer value | ratio | target | met |",
                "|---|---|---|---|---|---|"]
        out += [f"| {' | '.join(r)} |" for r in rows]
        if notes:
            out.append("")
            out += [f"- {n}" for n in notes]
        self.sections.append("\n".join(out) + "\n")
        for i in headline:
            r = rows[i]
            ok = None if r[5] == "—" else r[5] == "**yes**"
            self.summary.append((title, r[0], f"{r[1]} (target {r[4]}, ratio {r[3]})", ok))

    def failed(self, title: str, res: dict[str, Any]) -> None:
        tail = "\n".join(res.get("tail", [])[-15:])
        self.sections.append(f"## {title}\n\nThe benchmark could not run: {res['error']}.\n\n```\n{tail}\n```\n")
        self.summary.append((title, "(benchmark failed)", res["error"], False))


def v(res: dict[str, Any] | None, key: str) -> Any:
    if not res or "values" not in res:
        return None
    return res["values"].get(key)


def section_log_call(rep: Report, r: dict[str, Any], mlflow: dict[str, Any] | None) -> None:
    med = v(r, "per_call_median_s")
    rows: list[Row] = [
        (f"`gb.log({{5 floats}}, step=i)`: median per call over batches of 1,000 ({v(r, 'calls'):,} calls)",
         fs(med), "—", "—", "≤ 5 µs", met(med <= 5e-6)),
        ("same: mean over all calls (includes GIL hand-offs to the writer thread)", fs(v(r, "per_call_mean_s")),
         "—", "—", "—", "—"),
        ("same: 90th percentile of the batches", fs(v(r, "per_call_p90_s")), "—", "—", "—", "—"),
        ("same loop calling a no-op (loop + dict literal + call): median", fs(v(r, "baseline_median_s")),
         "—", "—", "—", "—"),
        ("`gb.log` net of that baseline: median", fs(v(r, "net_median_s")), "—", "—", "—", "—"),
        (f"`gb.finish()` afterwards ({v(r, 'points_expected'):,} points logged; what was still queued)",
         fs(v(r, "finish_after_s")), "—", "—", "—", "—"),
    ]
    quoted = ", ".join(f"{name} {fs(cost)} (gatebook {fx(cost / med)} cheaper)" for name, cost in QUOTED_LOG_COSTS)
    notes = [f"Quoted references from the issue, **not measured here**: {quoted}.",
             f"All {v(r, 'points_stored'):,} of {v(r, 'points_expected'):,} points were in the ledger after finish()."]
    ml = v(mlflow, "single_median_s")
    if ml is not None:
        notes.append(f"Measured here (benchmark 2b): MLflow `MlflowClient.log_metric` into SQLite, median "
                     f"{fs(ml)} per call (one point), i.e. {fx(ml / med)} a `gb.log` call of 5 points.")
    rep.table("1. `gb.log` call cost", "The background writer runs as usual (flush every 0.2 s).", rows, notes, [0])


def section_ingest(rep: Report, r: dict[str, Any], ml: dict[str, Any] | None) -> None:
    n = v(r, "n_points")
    gb_rate, raw_rate = v(r, "gb_rate"), v(r, "raw_rate")
    ml_single, ml_batch = v(ml, "single_rate"), v(ml, "batch_rate")
    ratio_raw = div(gb_rate, raw_rate)
    ratio_single = div(gb_rate, ml_single)
    rows: list[Row] = [
        (f"gatebook: {n:,} points via `gb.log` (5 per call) → `gb.finish()` returned",
         fr(gb_rate), f"raw sqlite3: {fr(raw_rate)}", fx(ratio_raw), "≥ 0.50× raw",
         met(None if ratio_raw is None else ratio_raw >= 0.5)),
        ("gatebook vs. MLflow `log_metric` (single calls)", fr(gb_rate), f"MLflow: {fr(ml_single)}",
         fx(ratio_single), "≥ 100×", met(None if ratio_single is None else ratio_single >= 100)),
        ("gatebook vs. MLflow `log_batch` (1,000 metrics per call)", fr(gb_rate), f"MLflow: {fr(ml_batch)}",
         fx(div(gb_rate, ml_batch)), "—", "—"),
        (f"raw sqlite3 `executemany` of the same {n:,} rows, one transaction (the limit)", fr(raw_rate),
         "—", "—", "—", "—"),
        ("gatebook wall time (median), of which in `gb.finish()`",
         f"{fs(v(r, 'gb_median_s'))} ({fs(v(r, 'gb_finish_median_s'))} in finish)",
         f"raw: {fs(v(r, 'raw_median_s'))}", fx(div(v(r, 'gb_median_s'), v(r, 'raw_median_s'))), "—", "—"),
        ("gatebook cold: clock starts right after `gb.init()` (provenance capture overlaps)",
         fr(v(r, "gb_cold_rate")), f"raw sqlite3: {fr(raw_rate)}", fx(div(v(r, 'gb_cold_rate'), raw_rate)),
         "—", "—"),
    ]
    if ml and "values" in ml:
        rows += [
            ("MLflow `log_metric`: median per call", fs(v(ml, "single_median_s")), "—", "—", "—", "—"),
            ("MLflow `log_batch` of 1,000: median per call", fs(v(ml, "batch_median_s")), "—", "—", "—", "—"),
        ]
    notes = [f"All points present after finish: gatebook {'yes' if v(r, 'gb_rows_ok') and v(r, 'gb_cold_rows_ok') else 'NO'}, "
             f"raw {'yes' if v(r, 'raw_rows_ok') else 'NO'}"
             + (f", MLflow {v(ml, 'points_stored'):,}/{v(ml, 'points_expected'):,}" if ml and 'values' in ml else "")
             + "."]
    if ml and "values" in ml:
        notes.append(f"MLflow {v(ml, 'version')}, SQLite backend, own process; its import ({fs(v(ml, 'import_s'))}) "
                     f"and set-up incl. alembic migrations ({fs(v(ml, 'setup_s'))}) are excluded. "
                     f"{v(ml, 'single_calls')} `log_metric` calls, {v(ml, 'batch_points'):,} points via `log_batch`.")
    elif ml is not None:
        notes.append(f"MLflow benchmark failed: {ml.get('error')}.")
    rep.table("2. Ingest throughput (end to end)",
              "Median of the repetitions; each uses a fresh database file.", rows, notes, [0, 1])


def section_finish(rep: Report, r: dict[str, Any], ingest: dict[str, Any] | None) -> None:
    n = v(r, "n_points")
    raw_floor = v(r, "raw_median_s")
    rows: list[Row] = []
    for variant, label in (("default", "default flush interval (0.2 s)"),
                           ("worst", "worst case, GATEBOOK_FLUSH_INTERVAL=1000 (all pending)")):
        t = v(r, f"{variant}_finish_median_s")
        rows.append((f"`gb.finish()` after {n:,} points, {label}: median", fs(t),
                     f"raw sqlite3 insert of the {n:,} rows: {fs(raw_floor)}", fx(div(t, raw_floor)),
                     "≤ 0.2 s", met(t <= 0.2)))
    for variant in ("default", "worst"):
        rows.append((f"{variant}: slowest repetition / points pending at finish (median) / the logging burst",
                     f"{fs(v(r, f'{variant}_finish_max_s'))} / {v(r, f'{variant}_pending_median'):,.0f} / "
                     f"{fs(v(r, f'{variant}_log_median_s'))}", "—", "—", "—", "—"))
    rows += [
        (f"by hand, same data: queued calls → {n:,} rows (`Run._fill`)", fs(v(r, "fill_median_s")),
         "—", "—", "—", "—"),
        (f"by hand, same data: `store.write` of the {n:,} rows (SQLAlchemy transaction, executemany, commit)",
         fs(v(r, "write_median_s")), f"raw sqlite3: {fs(raw_floor)}", fx(div(v(r, "write_median_s"), raw_floor)),
         "—", "—"),
    ]
    ok = v(r, "default_all_durable") and v(r, "worst_all_durable")
    notes = [f"Durability check (a separate sqlite3 connection right after finish() returned: "
             f"{n:,} points and status `finished`): {'passed in every repetition' if ok else 'FAILED'}.",
             "The raw sqlite3 insert (same DDL, pragmas, one transaction, rows pre-built) is measured in the "
             "same process, interleaved with the gatebook repetitions."]
    rep.table("3. Finish-to-durable", "", rows, notes, [0, 1])


def section_wrapper(rep: Report, r: dict[str, Any]) -> None:
    lines = v(r, "lines")
    bu, bb, w = v(r, "bare_unbuffered"), v(r, "bare_buffered"), v(r, "wrapped")
    bum, wm = v(r, "bare_unbuffered_metrics"), v(r, "wrapped_metrics")
    rows: list[Row] = [
        (f"`gatebook run --quiet -- python child.py` ({lines:,} lines)", fs(w),
         f"bare, PYTHONUNBUFFERED=1: {fs(bu)}", fx(div(w, bu)), "≤ 1.5× bare (unbuffered)",
         met(None if div(w, bu) is None else div(w, bu) <= 1.5)),
        ("same vs. bare with Python's normal buffered stdout", fs(w), f"bare, buffered: {fs(bb)}",
         fx(div(w, bb)), "—", "—"),
        (f"with 1,000 `gatebook:` metric lines among the {lines:,}", fs(wm), f"bare, unbuffered: {fs(bum)}",
         fx(div(wm, bum)), "≤ 1.5× bare (unbuffered)", met(None if div(wm, bum) is None else div(wm, bum) <= 1.5)),
        ("fixed cost: `gatebook run --quiet -- python -c pass`", fs(v(r, "wrapped_pass")),
         f"bare: {fs(v(r, 'bare_pass'))}", fx(div(v(r, 'wrapped_pass'), v(r, 'bare_pass'))), "—", "—"),
    ]
    notes = [f"Metric points recorded from the metric-line child: {v(r, 'metric_points_stored'):,} of "
             f"{v(r, 'metric_points_expected'):,}.",
             f"Output stored per wrapped run of the plain child: {v(r, 'output_chunks_per_run'):,} chunks, "
             f"{v(r, 'output_chars_per_run') / 1e6:.1f} M characters; the ledger held "
             f"{v(r, 'ledger_bytes') / 1e6:.0f} MB after all runs.",
             "Bare = the child's stdout on a pipe read (and discarded) by the benchmark process, 64 KiB reads.",
             "Median CPU time (user+sys, all processes involved): "
             + "; ".join(f"{k.replace('_', ' ')} {fs(v(r, k + '_cpu'))}" for k in (
                 "bare_buffered", "bare_unbuffered", "wrapped", "bare_unbuffered_metrics", "wrapped_metrics",
                 "bare_pass", "wrapped_pass")) + "."]
    rep.table("4. Wrapper overhead (`gatebook run`)", "Median of the interleaved runs of each variant.", rows,
              notes, [0, 2])


def section_startup(rep: Report, r: dict[str, Any]) -> None:
    base = v(r, "python_pass")
    ig, gh = v(r, "import_gatebook"), v(r, "gatebook_help")
    rows: list[Row] = [
        ("`python -c pass` (interpreter start-up, subtracted below)", fs(base), "—", "—", "—", "—"),
        ('`python -c "import gatebook"`', fs(ig), f"python -c pass: {fs(base)}", fx(div(ig, base)), "≤ 0.1 s",
         met(ig <= 0.1)),
        ('`import gatebook`, net of `python -c pass`', fs(v(r, "import_gatebook_net")), "—", "—", "(info)", "—"),
        ("`gatebook --help` (the venv's console script)", fs(gh), f"python -c pass: {fs(base)}", fx(div(gh, base)),
         "≤ 0.15 s", met(gh <= 0.15)),
        ("`gatebook --help`, net of `python -c pass`", fs(v(r, "gatebook_help_net")), "—", "—", "(info)", "—"),
        ("`gatebook --version`", fs(v(r, "gatebook_version")), "—", "—", "—", "—"),
        ('`python -c "import gatebook.store.sql"` (what the first `gb.init()` / any ledger command imports)',
         fs(v(r, "import_store")), "—", "—", "—", "—"),
    ]
    notes = [f"Median of {v(r, 'repeats')} interleaved runs after 2 warm-up rounds.",
             "Less sensitive to other load on the machine: fastest run (wall) / median CPU time (user+sys): "
             + "; ".join(f"{label} {fs(v(r, key + '_min'))} / {fs(v(r, key + '_cpu'))}" for key, label in (
                 ("python_pass", "`python -c pass`"), ("import_gatebook", "`import gatebook`"),
                 ("gatebook_help", "`gatebook --help`"), ("import_store", "`import gatebook.store.sql`")))
             + "."]
    prof = (r.get("details") or {}).get("importtime") or {}
    for name, p in prof.items():
        heavy = ", ".join(f"{mod} {us / 1000:.0f} ms" for mod, us in p.get("heaviest", [])[:8])
        notes.append(f"`-X importtime` of {name}: {p.get('modules')} modules, self-time total "
                     f"{p.get('total_import_us', 0) / 1000:.0f} ms; largest cumulative: {heavy}.")
    rep.table("5. Start-up", "", rows, notes, [1, 3])


def section_ls(rep: Report, r: dict[str, Any]) -> None:
    d, j = v(r, "ls_default"), v(r, "ls_all_json")
    rows: list[Row] = [
        ("`gatebook ls` (default limit 50, table to /dev/null)", fs(d), "—", "—", "≤ 0.5 s", met(d <= 0.5)),
        ("`gatebook ls --limit 0 --json > /dev/null` (all runs)", fs(j), "—", "—", "≤ 0.5 s", met(j <= 0.5)),
    ]
    notes = [f"Ledger: {v(r, 'runs'):,} runs (300,000 metric points, tags, params, summaries, ~2 KB provenance "
             f"each), {v(r, 'ledger_mb'):.0f} MB, built in {fs(v(r, 'build_s'))}; `--json` listed "
             f"{v(r, 'json_runs_listed'):,} runs ({v(r, 'json_bytes') / 1e6:.1f} MB of JSON), the table "
             f"{v(r, 'default_lines')} lines.",
             "Median of 5 interleaved runs after a warm-up run of each. Fastest run (wall) / median CPU time "
             f"(user+sys): `ls` {fs(v(r, 'ls_default_min'))} / {fs(v(r, 'ls_default_cpu'))}; `ls --limit 0 --json` "
             f"{fs(v(r, 'ls_all_json_min'))} / {fs(v(r, 'ls_all_json_cpu'))}."]
    rep.table("6. `gatebook ls` over a 10,000-run ledger", "", rows, notes, [0, 1])


def section_gate_stop(rep: Report, r: dict[str, Any]) -> None:
    poll = v(r, "poll_interval_s")
    rows: list[Row] = []
    for mode, label in (("api", "`gb.log` + flush (point in the ledger) → SIGTERM in the child"),
                        ("stdout", "`gatebook:` line printed → SIGTERM in the child")):
        med, worst = v(r, f"{mode}_median_s"), v(r, f"{mode}_max_s")
        rows.append((f"{label}: median / max of {v(r, f'{mode}_n')}", f"{fs(med)} / {fs(worst)}",
                     f"poll interval: {fs(poll)}", fx(div(med, poll)), "≤ 1 s (max)",
                     met(None if worst is None else worst <= 1.0)))
    notes = ["An `on_fail: stop` gate (`val >= 0.5 @ step 3`) under `gatebook run --gate g`; the child logs every "
             "50 ms and notes when its SIGTERM handler runs. The supervisor polls the ledger every flush interval "
             "(0.2 s) for new points (a cursor query), judges, then signals before recording the stop.",
             "No peer stops runs live: the seeds' monitor scripts polled `history.json` every 2 minutes "
             "(60 s on average, 120 s worst)."]
    rep.table("7. Live gate stop latency", "", rows, notes, [0, 1])


def section_compare(rep: Report, r: dict[str, Any], ml: dict[str, Any] | None) -> None:
    ml_df = v(ml, "search_runs_df_s")
    raw = v(r, "raw_last_values")
    rows: list[Row] = []
    for name, label, target in (("compare", "`gatebook compare --group bench --format json`", 0.3),
                                ("changelog", "`gatebook changelog --group bench --out changelog.md`", 1.0)):
        work, cli = v(r, f"work_{name}"), v(r, f"cli_{name}")
        rows.append((f"{label}: the command's work (in a process that has imported gatebook)", fs(work),
                     f"MLflow `search_runs` (DataFrame): {fs(ml_df)}", fx(div(work, ml_df)),
                     f"≤ {target:g} s, faster than MLflow",
                     met(None if work is None or ml_df is None else work <= target and work < ml_df)))
        rows.append((f"{label}: as a user runs it (subprocess, start-up included)", fs(cli),
                     f"raw sqlite3 last values from the points: {fs(raw)}", fx(div(cli, raw)), "(info)", "—"))
    rows += [
        ("`gatebook --version` (interpreter + CLI start-up, no ledger)", fs(v(r, "cli_version")), "—", "—", "—", "—"),
        ("MLflow `MlflowClient.search_runs` (entities, no DataFrame)", fs(v(ml, "search_runs_entities_s")), "—", "—",
         "—", "—"),
    ]
    notes = [f"{v(r, 'runs'):,} runs x {v(r, 'metrics')} metrics x {v(r, 'steps')} steps (200,000 points), 3 params, "
             f"parent chains, built through gatebook's store in {fs(v(r, 'build_s'))}; the change log has "
             f"{v(r, 'changelog_lines')} lines.",
             "gatebook reads per-run, per-key aggregates kept up to date by every write (schema v4), so compare "
             "reads 20,000 rows, not 200,000 points; the raw sqlite3 line computes the last values from the points "
             "with a window function, as a hand-written script would.",
             (f"MLflow {v(ml, 'version')}: the same runs logged with `log_batch` into its SQLite store in "
              f"{fs(v(ml, 'build_s'))} (not timed); `search_runs` returns every run's latest metrics and params "
              "(MLflow keeps a latest-metrics table too); its import is excluded." if ml and "values" in ml else
              f"MLflow benchmark failed: {(ml or {}).get('error')}.")]
    rep.table("8. Compare and change log over 1,000 runs", "", rows, notes, [0, 2])


def section_sweep(rep: Report, r: dict[str, Any]) -> None:
    bare = v(r, "bare_s")
    n = v(r, "trials")
    per_bare = div(bare, n)
    rows: list[Row] = []
    per = v(r, "sweep_p1_per_trial_overhead_s")
    rows.append(("local runner, parallel 1: overhead per trial (beyond its command)", fs(per),
                 f"the command bare: {fs(per_bare)}", "—", "≤ 0.3 s per trial", met(None if per is None else per <= 0.3)))
    rows.append(("local runner: fixed cost of a sweep (start-up, plan, ranked table)", fs(v(r, "fixed_s")), "—", "—",
                 "—", "—"))
    for p in (1, 2):
        whole = v(r, f"sweep_p{p}_s")
        rows.append((f"local runner, {n} trials, parallel {p}: whole sweep", fs(whole), f"bare loop: {fs(bare)}",
                     fx(div(whole, bare)), "—", "—"))
    if v(r, "ray_p1_s") is not None:
        per_ray = v(r, "ray_p1_per_trial_overhead_s")
        rows.append(("Ray backend, parallel 1: overhead per trial (beyond its command)", fs(per_ray),
                     f"the command bare: {fs(per_bare)}", "—", "—", "—"))
        rows.append(("Ray backend: fixed cost of a sweep (connect to the cluster, plan, ranked table)",
                     fs(v(r, "ray_fixed_s")), "—", "—", "—", "—"))
        rows.append((f"Ray backend, {n} trials, parallel 1: whole sweep", fs(v(r, "ray_p1_s")),
                     f"bare loop: {fs(bare)}", fx(div(v(r, "ray_p1_s"), bare)), "—", "—"))
        rows.append(("starting the local Ray cluster (`ray start --head`, once, not in the figures above)",
                     fs(v(r, "ray_cluster_start_s")), "—", "—", "—", "—"))
    notes = ["The trials' command is `python -c \"import sys\" I`, so nearly all of a trial's time is its recording: "
             "the run, its params, provenance (git commit and status of the repository the sweep runs in, the "
             "interpreter's packages: cached per environment) and the end of the run. Overhead per trial = "
             "(12-trial sweep - 1-trial sweep) / 11 - the bare command; the fixed cost is the 1-trial sweep "
             "minus its command.",
             "Local trials run the wrapper of `gatebook run` in a thread of the sweep process (no interpreter "
             "start-up per trial); a Ray trial runs `python -m gatebook run` as a process on its node, so it "
             "pays that start-up (~0.9 s here) plus Ray's task scheduling.",
             "MLflow has no sweep runner: no peer figure."]
    notes += list(r.get("notes") or []) if r else []
    rep.table("9. Sweep scheduling overhead (local runner and Ray backend)", "", rows, notes, [0])


def section_promote(rep: Report, r: dict[str, Any]) -> None:
    pro, gate, py = v(r, "promote"), v(r, "gate"), v(r, "python_pass")
    api, raw = v(r, "ledger_to_pandas"), v(r, "raw_sqlite3")
    rows: list[Row] = [
        ("`gatebook promote RUN --to champion --json` (judged against the holder, moved, audited)", fs(pro),
         f"`gatebook gate RUN --baseline HOLDER --json`: {fs(gate)}", fx(div(pro, gate)), "—", "—"),
        ("same, net of `python -c pass`", fs(None if pro is None or py is None else pro - py),
         f"`gate`, net: {fs(None if gate is None or py is None else gate - py)}", "—", "—", "—"),
        (f"`Ledger(url).runs(last=1000).to_pandas()` on a {v(r, 'runs') or 0:,}-run ledger: the work", fs(api),
         f"raw sqlite3, same columns, same DataFrame: {fs(raw)}", fx(div(api, raw)), "≤ 0.5 s",
         met(None if api is None else api <= 0.5)),
    ]
    notes = [f"Promotion: {v(r, 'promote_calls')} `promote` calls alternating two runs that pass against each "
             f"other, so every call moves the alias ({v(r, 'moves_recorded')} moves in the audit trail). Median of "
             "interleaved subprocess runs after a warm-up; the gate is the same judgment without the alias write.",
             f"Read API: in one process that has imported gatebook and pandas; {v(r, 'columns')} columns "
             f"(raw: {v(r, 'raw_columns')}). MLflow's `search_runs(...).to_pandas()` peer: benchmark 8b reads "
             "1,000 runs through MLflow's own store."]
    rep.table("10. Promotion and the read API", "", rows, notes, [0, 2])


def section_series(rep: Report, r: dict[str, Any]) -> None:
    cold, warm, tick, red = v(r, "cold"), v(r, "warm"), v(r, "tick"), v(r, "reduce")
    raw, raw_step, zoom, raw_range = v(r, "raw_sqlite"), v(r, "raw_by_step"), v(r, "zoom"), v(r, "raw_range")
    rows: list[Row] = [
        ("`GET /api/runs/{ref}/series/{key}?buckets=2000` of a 1,000,000-point series, the server has seen it "
         "(SeriesCache: one tail read from the cursor + the reduction)", fs(warm),
         f"raw sqlite3 reading the same rows: {fs(raw)}", fx(div(warm, raw)), "≤ 100 ms",
         met(None if warm is None else warm <= 0.1)),
        (f"a live tick: {v(r, 'tick_points') or 0:,} new points in the ledger, then the document", fs(tick), "—", "—",
         "—", "—"),
        ("first request (cache empty): the whole read + the reduction", fs(cold),
         f"raw sqlite3, same rows in step order: {fs(raw_step)}", fx(div(cold, raw_step)), "—", "—"),
        ("of which the reduction alone (numpy, columns already in memory)", fs(red), "—", "—", "≤ 20 ms",
         met(None if red is None else red <= 0.02)),
        ("zoom: a 1,000-point range at full resolution (cache warm)", fs(zoom),
         f"raw sqlite3, that range by index: {fs(raw_range)}", fx(div(zoom, raw_range)), "—", "—"),
    ]
    notes = [f"{v(r, 'points'):,} points in {v(r, 'buckets_out')} buckets; the single spike kept: {v(r, 'spike_kept')} "
             f"(at x={v(r, 'spike_x')}); NaN marked at {v(r, 'nan_x')}; zoom returned {v(r, 'zoom_points')} points "
             f"whole; cached document equal to a fresh read: {v(r, 'cache_matches_fresh_read')}. "
             f"Ledger {v(r, 'ledger_mb'):.0f} MB.",
             f"Reads alone: `Store.metric_points` {fs(v(r, 'metric_points'))} (a 1,000-point range: "
             f"{fs(v(r, 'points_range'))}); without a cache every request costs {fs(v(r, 'nocache'))}. The reduction "
             f"on (step, value, ts) tuples, columns built from them: {fs(v(r, 'reduce_lists'))}."]
    rep.table("11. Exact curves: 1,000,000 points to 2,000 buckets", "", rows, notes, [0, 1])


def section_ui(rep: Report, r: dict[str, Any]) -> None:
    def fs_or(x: float | None, why: str | None) -> str:
        return f"n/a ({why})" if why else fs(x)

    def under(x: float | None, limit: float, why: str | None) -> str:
        return met(None if why or x is None else x <= limit)

    call, http, raw = v(r, "api_call"), v(r, "api_http"), v(r, "raw_sqlite")
    paint_na, live_na = v(r, "paint_na"), v(r, "live_na")
    page, static = v(r, "page_visible_s"), v(r, "static_visible_s")
    live = v(r, "live_s")
    n = v(r, "runs") or 0
    rows: list[Row] = [
        (f"`GET /api/runs?limit=0` ({n:,} runs) in-process (`gatebook.ui.app.call`)", fs(call),
         f"raw sqlite3 `SELECT * FROM gb_runs`: {fs(raw)}", fx(div(call, raw)), "≤ 300 ms", under(call, 0.3, None)),
        ("same over HTTP: a running `gatebook ui` (uvicorn), kept-alive connection, whole body read", fs(http),
         f"raw sqlite3: {fs(raw)}", fx(div(http, raw)), "≤ 300 ms", under(http, 0.3, None)),
        ("raw sqlite3 rows as dicts through `json.dumps` (context)", fs(v(r, "raw_sqlite_json")), "—", "—", "—", "—"),
        ("`GET /` (the runs page's HTML) in-process (context: the server's share of the first paint)",
         fs(v(r, "page_call")), "—", "—", "—", "—"),
        (f"runs page `/` ({n:,} runs), headless Chromium: navigation start → first `#runs tbody tr` painted",
         fs_or(page, paint_na), f"static HTML of the same page from disk: {fs_or(static, paint_na)}",
         "—" if paint_na else fx(div(page, static)), "≤ 1 s", under(page, 1.0, paint_na)),
        ("same: first contentful paint / `page.goto(url, wait_until=\"load\")` wall",
         "n/a" if paint_na else f"{fs(v(r, 'page_fcp_s'))} / {fs(v(r, 'page_goto_s'))}",
         "n/a" if paint_na else f"static: {fs(v(r, 'static_fcp_s'))} / {fs(v(r, 'static_goto_s'))}", "—", "—", "—"),
        ("a point logged (`Store.log_metrics`) → drawn on the open run page (`data-last-x`): median of "
         f"{v(r, 'live_points') or 5}", fs_or(live, live_na),
         "n/a" if live_na else f"the write alone: {fs(v(r, 'live_write_s'))}",
         "—" if live_na else fx(div(live, v(r, "live_write_s"))), "≤ 1 s", under(live, 1.0, live_na)),
    ]
    notes = [f"Ledger: benchmark 6's ({n:,} runs, {v(r, 'ledger_mb') or 0:.0f} MB, built in {fs(v(r, 'build_s'))}); "
             f"the API listed {v(r, 'api_runs_listed') or 0:,} runs in-process and "
             f"{v(r, 'api_http_runs_listed') or 0:,} over HTTP ({(v(r, 'api_bytes') or 0) / 1e6:.1f} MB of JSON). "
             "Fastest in-process / HTTP: "
             f"{fs(v(r, 'api_call_min'))} / {fs(v(r, 'api_http_min'))}."]
    if paint_na is None and page is not None:
        notes.append(f"Runs page: {v(r, 'page_rows_in_dom')} rows in the DOM, `#runs-count` "
                     f"{v(r, 'page_runs_count')!r}; HTML served {v(r, 'page_html_bytes') or 0:,} bytes, the static "
                     f"copy (rendered DOM, scripts removed, stylesheets inlined) {v(r, 'static_bytes') or 0:,} bytes. "
                     f"The page's first byte came {fs(v(r, 'page_ttfb_s'))} after navigation start (the server "
                     "rendering `/`). "
                     "Painted = max(first contentful paint, the animation frame after the first row entered the DOM); "
                     f"Chromium {v(r, 'chromium')}, a fresh context per load.")
    if live_na is None and live is not None:
        notes.append(f"Live: worst of {v(r, 'live_points')} {fs(v(r, 'live_max_s'))}; seen by Playwright after "
                     f"{fs(v(r, 'live_wall_s'))} (median, includes its polling); the chart's `data-points` went "
                     f"{v(r, 'live_data_points')}.")
    notes += list(r.get("notes") or [])
    rep.table("12. Dashboard", "", rows, notes, [0, 1, 4, 6])


def section_hooks(rep: Report, r: dict[str, Any]) -> None:
    base = v(r, "gb_log_median_s")
    rows: list[Row] = [(f"`gb.log({{5 floats}}, step=i)`: median per call over {v(r, 'repeats')} batches of "
                        f"{v(r, 'batch') or 0:,}", fs(base), "—", "—", "—", "—")]
    for key, label in (("lightning", "Lightning"), ("transformers", "Hugging Face"), ("keras", "Keras")):
        med, ratio = v(r, f"{key}_median_s"), v(r, f"{key}_ratio")
        if med is None:
            continue
        rows.append((f"{label}: `{v(r, f'{key}_path')}` with the same dict", fs(med), f"`gb.log`: {fs(base)}",
                     fx(ratio), "≤ 2×", met(None if ratio is None else ratio <= 2.0)))
    notes = ["One process, one run; the paths interleaved in batches of 1,000 calls, the writer flushed (untimed) "
             "before each batch. Lightning's `log_metrics` includes its `rank_zero_only` wrapper; the Hugging "
             "Face `on_log` gets a real `TrainerState` and `TrainerControl`; Keras's `on_epoch_end` includes "
             "the stop check it makes at every epoch end.",
             "What the frameworks do before calling the hook (Lightning's logger connector turning tensors "
             "into floats, the Trainer's rounding of the logs) is theirs and not counted."]
    notes += list(r.get("notes") or [])
    rep.table("13. Framework hooks: log path cost", "", rows, notes, list(range(1, len(rows))))


def section_tb_import(rep: Report, r: dict[str, Any]) -> None:
    imp, read, acc, cli = v(r, "import"), v(r, "read"), v(r, "accumulator"), v(r, "cli")
    rows: list[Row] = [
        (f"`import_tensorboard`: {v(r, 'points') or 0:,} scalars read, CRC-checked and written to a fresh ledger",
         fs(imp), f"tensorboard `EventAccumulator(size_guidance={{SCALARS: 0}})`, read only: {fs(acc)}",
         fx(div(imp, acc)), "faster than the peer", met(None if imp is None or acc is None else imp < acc)),
        ("of which gatebook's event-file reader alone (framing, CRCs, decoding)", fs(read),
         f"the same peer: {fs(acc)}", fx(div(read, acc)), "—", "—"),
        ("`gatebook import tensorboard DIR --json` (a process: start-up included)", fs(cli), "—", "—", "—", "—"),
    ]
    notes = [f"One event file of {v(r, 'file_mb') or 0:.1f} MB written by `torch.utils.tensorboard.SummaryWriter."
             f"add_scalar` (4 tags x 25,000 steps) in {fs(v(r, 'build_s'))} (untimed); both readers gave the same "
             f"(step, value, wall time) points: {v(r, 'same_points')}.",
             f"Median of {v(r, 'repeats')} interleaved runs after a warm-up round; the import opens a fresh SQLite "
             "ledger each time (untimed)."]
    rep.table("14. TensorBoard import: 100,000 scalars", "", rows, notes, [0])


def section_mlflow_import(rep: Report, r: dict[str, Any]) -> None:
    ml = v(r, "mlflow_history_s")
    read, imp = v(r, "gatebook_read_s"), v(r, "gatebook_import_s")
    rows: list[Row] = [
        ("gatebook reads every point (`read_runs`: MLflow's SQLite read directly, one pass)", fs(read),
         f"MLflow `search_runs` + `get_metric_history` per run and key: {fs(ml)}", fx(div(read, ml)),
         "faster than MLflow", met(None if read is None or ml is None else read < ml)),
        ("gatebook imports them (`import_mlflow`: read + one transaction per run, fresh ledger)", fs(imp),
         f"MLflow reading alone: {fs(ml)}", fx(div(imp, ml)), "faster than MLflow's read",
         met(None if imp is None or ml is None else imp < ml)),
        ("the same import again (nothing new: idempotent, nothing written)", fs(v(r, "gatebook_reimport_s")),
         "—", "—", "—", "—"),
        ("`gatebook import mlflow --tracking-uri ... --json` as a user runs it (subprocess, start-up included)",
         fs(v(r, "cli_import_s")), "—", "—", "—", "—"),
    ]
    notes = [f"{v(r, 'runs') or 0:,} runs x {v(r, 'metrics')} metrics x {v(r, 'steps')} steps = "
             f"{v(r, 'points') or 0:,} points, written by MLflow {v(r, 'version')} (`log_batch`) into its SQLite "
             f"store in {fs(v(r, 'build_s'))} (not timed). Every reader returned every point (checked).",
             "MLflow's read runs in the benchmark's own process after one warm-up pass; gatebook's in a separate "
             "process (so the two never share an interpreter). Median of the repetitions."]
    rep.table("15. MLflow import: 200 runs x 20 metrics x 100 steps", "", rows, notes, [0, 1])


def section_stats(rep: Report, r: dict[str, Any]) -> None:
    rows: list[Row] = []
    for key, label, peer in (("bca", "BCa", "BCa"), ("percentile", "percentile", "percentile")):
        med, sp = v(r, f"{key}_median_s"), v(r, f"scipy_{key}_median_s")
        rows.append((f"`diff_interval(a, b, method=\"bootstrap-{key}\")`: 10 vs 10 runs, "
                     f"{v(r, 'resamples') or 0:,} resamples, 95 % ({label})", fs(med),
                     f"`scipy.stats.bootstrap(method=\"{peer}\")`: {fs(sp)}", fx(div(med, sp)), "≤ 50 ms",
                     met(None if med is None else med <= 0.05)))
    rows += [
        ("the first BCa call in a fresh process (its lazy `import numpy` included)", fs(v(r, "cold_first_call_s")),
         "—", "—", "—", "—"),
        ("`diff_interval` of 3 vs 3 runs (Welch's t, pure-Python t quantile: the small-n path)",
         fs(v(r, "welch_median_s")), "—", "—", "—", "—"),
        ("one `t_quantile(0.975, 7.31)` (incomplete beta by continued fraction, Newton on the log tail)",
         fs(v(r, "t_quantile_median_s")), "—", "—", "—", "—"),
    ]
    notes = [f"Median of {v(r, 'repeats')} interleaved calls after a warm-up round, on {v(r, 'cpus')} CPUs; fastest "
             f"BCa call {fs(v(r, 'bca_min_s'))}, percentile {fs(v(r, 'percentile_min_s'))}. The cold row is the "
             f"median of separate processes (`import gatebook.stats` itself: {fs(v(r, 'cold_import_stats_s'))}).",
             f"Same answer as the peer: with scipy given `numpy.random.default_rng(0)` and gatebook seed 0 both draw "
             f"the same resamples; BCa {v(r, 'bca_interval')} vs scipy {v(r, 'bca_scipy_interval')} (endpoints "
             f"apart by {v(r, 'bca_gap_of_width') or 0:.1e} of the width), percentile {v(r, 'percentile_interval')} "
             f"vs {v(r, 'percentile_scipy_interval')} ({v(r, 'percentile_gap_of_width') or 0:.1e}).",
             f"Below 10 runs a side the gate uses Welch's t instead, e.g. 3 vs 3: {v(r, 'welch_interval')}."]
    rep.table("16. Evidence: a 10 vs 10 set judged with a bootstrap", "", rows, notes, [0, 1])


def section_sweep_search(rep: Report, r: dict[str, Any]) -> None:
    over = v(r, "search_overhead_per_trial_s")
    rows: list[Row] = [
        ("search (TPE), 12 trials, parallel 1: overhead per trial beyond the grid's", fs(over),
         f"grid per trial: {fs(v(r, 'grid_per_trial_s'))}", "—", "≤ 20 ms per trial",
         met(None if over is None else over <= 0.020)),
        ("search: per trial (asked, run, told)", fs(v(r, "search_per_trial_s")), "—", "—", "—", "—"),
        ("search: fixed cost beyond the grid's (importing Optuna, the study)", fs(v(r, "search_fixed_extra_s")),
         "—", "—", "—", "—"),
        ("whole sweeps: grid / search, 12 trials", f"{fs(v(r, 'grid_s'))} / {fs(v(r, 'search_s'))}",
         "—", "—", "—", "—"),
    ]
    notes = ["The same near-empty command (`python score.py X`, printing one metric) as a 12-value grid and as "
             "`search: {optuna: {sampler: tpe, n: 12}}`; per trial = (12-trial sweep - 1-trial sweep) / 11 for "
             "each, the overhead is the difference (the ask, the tell, the params recorded for replay)."]
    notes += list(r.get("notes") or []) if r else []
    rep.table("17. Adaptive search: the scheduler's overhead per trial", "", rows, notes, [0])


SECTIONS: dict[str, tuple[str, Callable[..., None], tuple[str, ...]]] = {
    # name -> (title, renderer, other results it uses)
    "log_call": ("1. `gb.log` call cost", section_log_call, ("mlflow",)),
    "ingest": ("2. Ingest throughput (end to end)", section_ingest, ("mlflow",)),
    "finish": ("3. Finish-to-durable", section_finish, ("ingest",)),
    "wrapper": ("4. Wrapper overhead (`gatebook run`)", section_wrapper, ()),
    "startup": ("5. Start-up", section_startup, ()),
    "ls": ("6. `gatebook ls` over a 10,000-run ledger", section_ls, ()),
    "gate_stop": ("7. Live gate stop latency", section_gate_stop, ()),
    "compare": ("8. Compare and change log over 1,000 runs", section_compare, ("compare_mlflow",)),
    "sweep": ("9. Sweep scheduling overhead (local runner and Ray backend)", section_sweep, ()),
    "promote": ("10. Promotion and the read API", section_promote, ()),
    "series": ("11. Exact curves: 1,000,000 points to 2,000 buckets", section_series, ()),
    "ui": ("12. Dashboard", section_ui, ()),
    "hooks": ("13. Framework hooks: log path cost", section_hooks, ()),
    "tb_import": ("14. TensorBoard import: 100,000 scalars", section_tb_import, ()),
    "mlflow_import": ("15. MLflow import: 200 runs x 20 metrics x 100 steps", section_mlflow_import, ()),
    "stats": ("16. Evidence: a 10 vs 10 set judged with a bootstrap", section_stats, ()),
    "sweep_search": ("17. Adaptive search: the scheduler's overhead per trial", section_sweep_search, ()),
}


def version_of(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def header(started: _dt.datetime, total_s: float, load_before: tuple[float, ...], quick: bool,
           ran: list[str]) -> str:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        affinity = os.cpu_count()
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else ()
    lines = [
        "# gatebook benchmarks: results",
        "",
        "Produced by `make bench` (`benchmarks/run_all.py`); see `benchmarks/README.md` for what each number "
        "means. Timings are medians of repeated measurements taken on this machine in this one run; "
        "nothing is asserted.",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- Python: {platform.python_version()} ({platform.python_implementation()}), {sys.executable}",
        f"- platform: {platform.platform()}",
        f"- CPUs: {os.cpu_count()} (usable by this process: {affinity})",
        f"- load average (1/5/15 min) before: {' / '.join(f'{x:.2f}' for x in load_before)}; after: "
        f"{' / '.join(f'{x:.2f}' for x in load_after)}",
        f"- gatebook {version_of('gatebook')}, mlflow {version_of('mlflow')}, SQLAlchemy {version_of('SQLAlchemy')}, "
        f"SQLite {sqlite3.sqlite_version}",
        f"- benchmarks run: {', '.join(ran)}{' (--quick: fewer repetitions)' if quick else ''}; "
        f"total wall time {total_s:.0f} s",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (for trying the scripts)")
    ap.add_argument("--only", nargs="*", choices=list(BENCHES), help="run only these benchmarks")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory (ledgers, JSON results)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="the Markdown file to write")
    args = ap.parse_args()

    names = [n for n in BENCHES if not args.only or n in args.only]
    started = _dt.datetime.now(_dt.timezone.utc)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else ()
    PYCACHE.mkdir(parents=True, exist_ok=True)
    workroot = Path(tempfile.mkdtemp(prefix="gatebook-bench-"))
    env = bench_env()
    print(f"gatebook benchmarks in {workroot} (python {platform.python_version()}, {os.cpu_count()} CPUs)",
          flush=True)
    t0 = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    try:
        for name in names:
            results[name] = run_bench(name, workroot, env, args.quick)
    finally:
        total = time.perf_counter() - t0
        if args.keep:
            print(f"kept {workroot}")
        else:
            shutil.rmtree(workroot, ignore_errors=True)

    rep = Report()
    for name, (title, render, uses) in SECTIONS.items():
        if name not in results:
            continue
        res = results[name]
        if "error" in res:
            rep.failed(title, res)
            continue
        render(rep, res, *(results.get(u) for u in uses))
    if "mlflow" in results and "error" in results["mlflow"] and "ingest" not in results:
        rep.failed(BENCHES["mlflow"][2], results["mlflow"])

    summary = ["## Summary", "", "| benchmark | measurement | value | met |", "|---|---|---|---|"]
    summary += [f"| {b} | {m} | {val} | {met(ok)} |" for b, m, val, ok in rep.summary]
    doc = header(started, total, load_before, args.quick, names) + "\n" + "\n".join(summary) + "\n\n" + \
        "\n".join(rep.sections)
    doc += "\nRaw numbers (every repetition) are in the per-benchmark JSON files (`run_all.py --keep`).\n"
    args.out.write_text(doc)

    print("\n== summary (targets are reported, not asserted)")
    for b, m, val, ok in rep.summary:
        flag = {True: "met   ", False: "MISSED", None: "      "}[ok]
        print(f"  [{flag}] {b}: {m}: {val}")
    print(f"\nwrote {args.out} ({total:.0f} s)")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
