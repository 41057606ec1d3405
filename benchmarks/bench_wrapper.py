"""4. Overhead of ``gatebook run`` on a command that prints a lot.

The child prints 1,000,000 lines (``print(f"line {i} some text here")``).

* bare: the child with its stdout on a pipe that this process reads (64 KiB reads)
  and discards; stderr to /dev/null. Run twice: with Python's normal block-buffered
  stdout, and with PYTHONUNBUFFERED=1, which is what ``gatebook run`` gives its child
  (so the fair comparison is bare-unbuffered);
* wrapped: ``gatebook run --quiet -- python child.py`` with the wrapper's own stdout
  and stderr to /dev/null; the clock covers the wrapper's whole life (its start-up,
  the ledger, provenance, the child, the final flush);
* the same pair for a child whose output carries 1,000 ``gatebook: {...}`` metric
  lines among the 1,000,000 (the wrapper parses them into points);
* the wrapper's fixed cost: ``gatebook run --quiet -- python -c pass`` vs. bare.

All variants run interleaved (round robin), median of REPEATS each.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    GATEBOOK_EXE, PYTHON, child_env, log, parse_args, perf, round_robin, split_wall_cpu, sqlite_count, sqlite_url,
    write_result,
)

LINES = 1_000_000
METRIC_EVERY = 1000

CHILD_PLAIN = f"""\
for i in range({LINES}):
    print(f"line {{i}} some text here")
"""

CHILD_METRICS = f"""\
for i in range({LINES}):
    if i % {METRIC_EVERY} == {METRIC_EVERY - 1}:
        print(f'gatebook: {{{{"step": {{i // {METRIC_EVERY}}}, "loss": {{1.0 / (i + 1)}}}}}}')
    else:
        print(f"line {{i}} some text here")
"""


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def bare(argv: list[str], env: dict[str, str], cwd) -> tuple[float, float]:
    """Spawn, read stdout to EOF (discarding), wait. (wall, CPU of child + this reader)."""
    c0 = _cpu(resource.RUSAGE_CHILDREN) + _cpu(resource.RUSAGE_SELF)
    t0 = perf()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=cwd, bufsize=0)
    fd = proc.stdout.fileno()
    read = os.read
    nbytes = 0
    while True:
        chunk = read(fd, 65536)
        if not chunk:
            break
        nbytes += len(chunk)
    proc.stdout.close()
    code = proc.wait()
    dt = perf() - t0
    cpu = _cpu(resource.RUSAGE_CHILDREN) + _cpu(resource.RUSAGE_SELF) - c0
    if code != 0:
        raise RuntimeError(f"bare child failed ({code}): {argv}")
    return dt, cpu


def wrapped(argv: list[str], env: dict[str, str], cwd) -> tuple[float, float]:
    """(wall, CPU of the wrapper and everything it started)."""
    c0 = _cpu(resource.RUSAGE_CHILDREN)
    t0 = perf()
    proc = subprocess.run([GATEBOOK_EXE, "run", "--quiet", "--", *argv], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env, cwd=cwd, check=False)
    dt = perf() - t0
    cpu = _cpu(resource.RUSAGE_CHILDREN) - c0
    if proc.returncode != 0:
        raise RuntimeError(f"gatebook run failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return dt, cpu


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 2 if args.quick else 3
    wd = args.workdir
    plain = wd / "child_plain.py"
    plain.write_text(CHILD_PLAIN)
    metrics = wd / "child_metrics.py"
    metrics.write_text(CHILD_METRICS)
    db = wd / "ledger.db"
    base = child_env(GATEBOOK_STORE=sqlite_url(db), GATEBOOK_RUN_ID=None, PYTHONUNBUFFERED=None)
    buffered = dict(base)
    unbuffered = child_env(base, PYTHONUNBUFFERED="1")

    variants = {
        "bare_buffered": lambda: bare([PYTHON, str(plain)], buffered, wd),
        "bare_unbuffered": lambda: bare([PYTHON, str(plain)], unbuffered, wd),
        "wrapped": lambda: wrapped([PYTHON, str(plain)], base, wd),
        "bare_unbuffered_metrics": lambda: bare([PYTHON, str(metrics)], unbuffered, wd),
        "wrapped_metrics": lambda: wrapped([PYTHON, str(metrics)], base, wd),
        "bare_pass": lambda: bare([PYTHON, "-c", "pass"], unbuffered, wd),
        "wrapped_pass": lambda: wrapped([PYTHON, "-c", "pass"], base, wd),
    }
    # one untimed round of the cheap variants (bytecode caches, the ledger's creation)
    variants["bare_pass"]()
    variants["wrapped_pass"]()
    log(f"{len(variants)} variants x {repeats} runs, interleaved")
    times = round_robin(variants, repeats)
    stats, cpu = split_wall_cpu(times)
    for name, s in stats.items():
        log(f"{name}: median {s['median']:.3f} s  {s['all']}  (CPU median {cpu[name]['median']:.2f} s)")

    # what the wrapper recorded: the metric lines of the last wrapped_metrics run, and output rows
    expected_points = LINES // METRIC_EVERY * 1  # one "loss" point per metric line (step is not stored)
    last_run = sqlite_count(db, "SELECT count(*) FROM gb_runs")
    points = sqlite_count(db, "SELECT count(*) FROM gb_metrics WHERE run_id = (SELECT run_id FROM gb_metrics "
                              "ORDER BY rowid DESC LIMIT 1)") if last_run else 0
    chunks = sqlite_count(db, "SELECT count(*) FROM gb_output WHERE run_id = (SELECT id FROM gb_runs "
                              "WHERE command LIKE '%child_plain%' ORDER BY created_at DESC LIMIT 1)")
    stored_bytes = sqlite_count(db, "SELECT coalesce(sum(length(data)), 0) FROM gb_output WHERE run_id = "
                                    "(SELECT id FROM gb_runs WHERE command LIKE '%child_plain%' "
                                    "ORDER BY created_at DESC LIMIT 1)")
    values = {name: s["median"] for name, s in stats.items()}
    values.update({f"{name}_cpu": s["median"] for name, s in cpu.items()})
    values.update({
        "lines": LINES,
        "metric_points_expected": expected_points,
        "metric_points_stored": points,
        "output_chunks_per_run": chunks,
        "output_chars_per_run": stored_bytes,
        "ledger_bytes": db.stat().st_size + sum(p.stat().st_size for p in wd.glob("ledger.db-*")),
    })
    write_result(args.out, values, {"seconds": stats, "cpu_seconds": cpu})


if __name__ == "__main__":
    main()
