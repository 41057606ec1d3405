"""Exactly one wins: 6 OS processes move one alias from the same holder at the same moment
(compare-and-set on the holder), on SQLite and on PostgreSQL; the trail gets one 'moved' event."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from gatebook.records import AliasEvent
from gatebook.store import open_store
from gatebook.testing.store_contract import make_run
from tests.helpers import clean_env, wait_for

PROCESSES = 6
T0 = 1_700_000_000.0

# Each process opens the store and warms its connection, says it is ready, then waits for the
# go file, so that every move starts within a few milliseconds of the others.
_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from gatebook.records import AliasEvent
    from gatebook.store import open_store
    url, alias, holder, run_id, ready, go = sys.argv[1:7]
    store = open_store(url)
    assert store.get_alias(alias).run_id == holder
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.001)
    event = AliasEvent(id=0, alias=alias, ts=time.time(), by=f"p{os.getpid()}@test", action="moved",
                       from_run=holder, to_run=run_id, verdict="PASS", data={"pid": os.getpid()})
    won = store.move_alias(alias, run_id, expected=holder, event=event)
    store.close()
    print("won" if won else "lost")
    """
)


def test_concurrent_processes_moving_one_alias_exactly_one_wins(store_url: str, tmp_path: Path) -> None:
    alias = "champion"
    with open_store(store_url) as store:
        holder = make_run(name="holder", created_at=T0)
        store.create_run(holder)
        candidates = [store.create_run(make_run(name=f"c{i}", created_at=T0 + 1 + i)) for i in range(PROCESSES)]
        assert store.move_alias(alias, holder.id, expected=None, event=AliasEvent(
            id=0, alias=alias, ts=T0, by="me@test", action="moved", from_run=None, to_run=holder.id, verdict="PASS"))

    go = tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(PROCESSES)]
    procs = [
        subprocess.Popen([sys.executable, "-c", _SCRIPT, store_url, alias, holder.id, run_id, str(ready[i]), str(go)],
                         env=clean_env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i, run_id in enumerate(candidates)
    ]
    try:
        wait_for(lambda: all(r.exists() for r in ready) or any(p.poll() is not None for p in procs),
                 timeout=120, what="every process ready")
        go.touch()
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    outcomes = {}
    for run_id, p, (out, err) in zip(candidates, procs, results, strict=True):
        assert p.returncode == 0, f"process for {run_id} exited {p.returncode}:\n{err}"
        assert "Traceback" not in err and "locked" not in err.lower(), err
        outcomes[run_id] = out.strip()
    winners = [r for r, o in outcomes.items() if o == "won"]
    assert len(winners) == 1 and sorted(outcomes.values()) == ["lost"] * (PROCESSES - 1) + ["won"], outcomes

    with open_store(store_url) as store:
        assert store.get_alias(alias).run_id == winners[0]  # type: ignore[union-attr]
        trail = store.alias_events(alias)
        assert [(e.action, e.from_run, e.to_run) for e in trail] == [
            ("moved", None, holder.id), ("moved", holder.id, winners[0])]
        assert store.resolve_run(f"@{alias}").id == winners[0]
