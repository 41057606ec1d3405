"""Nothing lost: 8 OS processes log 100,000 points each through ``gatebook.log`` into one
ledger at the same time, on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gatebook.records import RunStatus
from gatebook.store import open_store
from tests.helpers import clean_env

PROCESSES = 8
POINTS = 100_000

_SCRIPT = textwrap.dedent(
    f"""
    import sys
    import gatebook as gb
    n = int(sys.argv[1])
    run = gb.init(name=f"p{{n}}")
    for i in range({POINTS}):
        gb.log({{"x": float(i)}}, step=i)
    gb.finish()
    print(run.id)
    """
)


@pytest.mark.slow
def test_eight_processes_lose_nothing(store_url: str, tmp_path: Path) -> None:
    env = clean_env()
    env["GATEBOOK_STORE"] = store_url
    workdir = tmp_path / "work"  # not a git repository: provenance capture stays cheap
    workdir.mkdir()
    started = time.monotonic()
    procs = [
        subprocess.Popen([sys.executable, "-c", _SCRIPT, str(n)], cwd=workdir, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(PROCESSES)
    ]
    try:
        results = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    elapsed = time.monotonic() - started
    print(f"\n{PROCESSES} processes x {POINTS} points on {store_url.split(':')[0]}: {elapsed:.1f} s")

    run_ids = []
    for n, (p, (out, err)) in enumerate(zip(procs, results, strict=False)):
        assert p.returncode == 0, f"process {n} exited {p.returncode}:\n{err}"
        assert "locked" not in err.lower(), f"process {n}:\n{err}"
        assert "Traceback" not in err, f"process {n}:\n{err}"
        run_ids.append(out.strip().splitlines()[-1])

    with open_store(store_url) as store:
        runs = {r.id: r for r in store.list_runs()}
        assert sorted(runs) == sorted(run_ids)
        assert sorted(r.name or "" for r in runs.values()) == sorted(f"p{n}" for n in range(PROCESSES))
        assert all(r.status is RunStatus.FINISHED for r in runs.values())
        stats = store.metric_stats(run_ids)
    total = 0
    for run_id in run_ids:
        x = stats[run_id]["x"]
        assert x.count == POINTS, f"run {runs[run_id].name}: {x.count} points, expected {POINTS}"
        assert (x.last, x.min, x.max, x.last_step) == (POINTS - 1.0, 0.0, POINTS - 1.0, POINTS - 1)
        total += x.count
    assert total == PROCESSES * POINTS
    assert elapsed < 120, f"{elapsed:.1f} s is far too slow"
