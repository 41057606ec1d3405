"""Helpers shared by the benchmark scripts (timing, subprocesses, result files).

Every ``bench_*.py`` script is run by ``run_all.py`` in its own Python process as::

    python benchmarks/bench_NAME.py --workdir DIR --out RESULT.json [--quick]

and writes a JSON document ``{"values": {...}, "details": {...}, "notes": [...]}``.
``values`` holds plain numbers (seconds, counts, rates); ``run_all.py`` turns them into
the tables of RESULTS.md. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV_BIN = Path(sys.executable).parent  # run_all.py runs on the venv's python
PYTHON = sys.executable
GATEBOOK_EXE = str(VENV_BIN / "gatebook")

perf = time.perf_counter


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def summary_stats(values: Sequence[float]) -> dict[str, float]:
    """median, min, max, mean and the raw list (for the JSON details)."""
    vals = list(values)
    return {
        "median": float(statistics.median(vals)),
        "min": float(min(vals)),
        "max": float(max(vals)),
        "mean": float(statistics.fmean(vals)),
        "n": len(vals),
        "all": [round(v, 6) for v in vals],
    }


def percentile(values: Sequence[float], pct: float) -> float:
    vals = sorted(values)
    if not vals:
        return float("nan")
    k = (len(vals) - 1) * pct / 100.0
    lo = int(k)
    hi = min(lo + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)


def sqlite_url(path: Path | str) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def child_env(base: Mapping[str, str] | None = None, **extra: str | None) -> dict[str, str]:
    """A copy of the environment with ``extra`` applied (a None value removes a variable)."""
    env = dict(os.environ if base is None else base)
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def time_command(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
                 stdout: Any = subprocess.DEVNULL, stderr: Any = subprocess.DEVNULL,
                 timeout: float = 120.0) -> tuple[float, float]:
    """(wall seconds from spawn to exit, CPU seconds user+sys of it and its waited-for
    descendants) of one subprocess run. The CPU time is much less sensitive than the
    wall time to other load on a shared machine."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = perf()
    proc = subprocess.run(list(argv), env=dict(env) if env is not None else None, cwd=cwd,
                          stdout=stdout, stderr=stderr, timeout=timeout, check=False)
    dt = perf() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"command failed with exit {proc.returncode}: {' '.join(argv)}")
    return dt, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def split_wall_cpu(times: Mapping[str, Sequence[tuple[float, float]]]) -> tuple[dict[str, dict[str, Any]],
                                                                           dict[str, dict[str, Any]]]:
    """{name: [(wall, cpu), ...]} -> ({name: summary of walls}, {name: summary of cpus})."""
    wall = {name: summary_stats([w for w, _c in ts]) for name, ts in times.items()}
    cpu = {name: summary_stats([c for _w, c in ts]) for name, ts in times.items()}
    return wall, cpu


def round_robin(variants: Mapping[str, Callable[[], Any]], repeats: int, warmup: int = 0) -> dict[str, list[Any]]:
    """Run each variant ``repeats`` times, interleaved (A B C A B C ...), so slow drifts
    of a shared machine hit every variant alike. ``warmup`` untimed rounds first."""
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    out: dict[str, list[Any]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            out[name].append(fn())
    return out


def sqlite_count(db_path: Path | str, sql: str, params: Sequence[Any] = ()) -> int:
    """A count read through a separate, plain sqlite3 connection."""
    import sqlite3

    con = sqlite3.connect(str(db_path))
    try:
        return int(con.execute(sql, tuple(params)).fetchone()[0])
    finally:
        con.close()


def parse_args(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--workdir", required=True, type=Path, help="scratch directory (a temp dir)")
    ap.add_argument("--out", required=True, type=Path, help="where to write the JSON result")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (for trying the scripts)")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    return args


def write_result(out: Path, values: Mapping[str, Any], details: Mapping[str, Any] | None = None,
                 notes: Sequence[str] = ()) -> None:
    out.write_text(json.dumps({"values": dict(values), "details": dict(details or {}), "notes": list(notes)},
                              indent=2, default=str))


def log(msg: str) -> None:
    """Progress on stderr (run_all shows it live)."""
    print(f"    {msg}", file=sys.stderr, flush=True)
