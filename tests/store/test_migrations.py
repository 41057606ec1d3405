"""Schema migrations: they build exactly ``schema.metadata``; old ledgers are upgraded
(SQLite automatically, with a backup; PostgreSQL only on request); newer ledgers are
refused; concurrent first opens of a fresh SQLite ledger create the schema once."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from gatebook.errors import SchemaVersionError
from gatebook.ids import new_run_id
from gatebook.records import AliasEvent, Artifact, RunStatus
from gatebook.store import open_store, schema
from gatebook.store.dialects import dialect_for
from gatebook.store.migrations import all_migrations
from gatebook.store.sql import SQLStore

T0 = 1_700_000_000.0


def _engine(url: str) -> Engine:
    return dialect_for(url).make_engine(url)


def _expected_schema() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, table in schema.metadata.tables.items():
        out[name] = {
            "columns": {c.name: bool(c.nullable) for c in table.columns},
            "primary_key": sorted(c.name for c in table.primary_key.columns),
            "indexes": {ix.name: ([c.name for c in ix.columns], bool(ix.unique)) for ix in table.indexes},
        }
    return out


def _actual_schema(engine: Engine) -> dict[str, Any]:
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for name in insp.get_table_names():
        out[name] = {
            "columns": {c["name"]: bool(c["nullable"]) for c in insp.get_columns(name)},
            "primary_key": sorted(insp.get_pk_constraint(name)["constrained_columns"]),
            "indexes": {ix["name"]: (list(ix["column_names"]), bool(ix["unique"])) for ix in insp.get_indexes(name)},
        }
    return out


def _apply(url: str, upto: int | None = None) -> None:
    """Apply the migrations (all, or those up to version ``upto``), one transaction each."""
    engine = _engine(url)
    try:
        for mod in all_migrations():
            if upto is not None and mod.VERSION > upto:
                break
            with engine.begin() as conn:
                mod.upgrade(conn)
    finally:
        engine.dispose()


# -- (a) migrations build exactly the declared schema ------------------------------------------


def test_migrations_are_numbered_and_reach_the_schema_version() -> None:
    mods = all_migrations()
    assert [m.VERSION for m in mods] == list(range(1, len(mods) + 1))
    assert mods[-1].VERSION == schema.SCHEMA_VERSION
    assert all(isinstance(m.DESCRIPTION, str) and m.DESCRIPTION for m in mods)


def test_all_migrations_give_exactly_the_declared_schema(store_url: str) -> None:
    _apply(store_url)
    engine = _engine(store_url)
    try:
        actual = _actual_schema(engine)
    finally:
        engine.dispose()
    expected = _expected_schema()
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert actual[name] == expected[name], f"table {name} differs from schema.py"


def test_open_store_on_an_empty_database_gives_the_declared_schema(store_url: str) -> None:
    store = open_store(store_url)
    try:
        assert store.schema_version() == schema.SCHEMA_VERSION  # type: ignore[attr-defined]
    finally:
        store.close()
    _assert_current_schema(store_url)


def _assert_current_schema(url: str) -> None:
    """The tables are exactly schema.py's and gb_meta holds one row: the current version."""
    engine = _engine(url)
    try:
        assert _actual_schema(engine) == _expected_schema()
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT key, value FROM gb_meta")).all()
        assert [tuple(r) for r in rows] == [("schema_version", str(schema.SCHEMA_VERSION))]
    finally:
        engine.dispose()


# -- an old (v1) ledger -------------------------------------------------------------------------


def _build_v1_ledger(url: str) -> str:
    """A ledger at schema v1 holding one finished run with tags, params, metrics, summary,
    a note and output, written with plain SQL. Returns the run id."""
    _apply(url, upto=1)
    run_id = new_run_id(T0)
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO gb_meta (key, value) VALUES ('schema_version', '1')"))
            conn.execute(
                text(
                    "INSERT INTO gb_runs (id, name, status, created_at, ended_at, exit_code, group_name,"
                    " command, cwd, host, user_name, pid, source, provenance)"
                    " VALUES (:id, 'old-run', 'finished', :created, :ended, 0, 'g', :command, '/w', 'h', 'u',"
                    " 42, 'wrapper', :prov)"
                ),
                {"id": run_id, "created": T0, "ended": T0 + 60, "command": '["python","train.py"]',
                 "prov": '{"git":{"commit":"abc"}}'},
            )
            conn.execute(text("INSERT INTO gb_tags (run_id, tag) VALUES (:r, 'legacy'), (:r, 'v1')"), {"r": run_id})
            conn.execute(text("INSERT INTO gb_params (run_id, source, key, value) VALUES (:r, 'config', 'lr', '0.1')"),
                         {"r": run_id})
            conn.execute(
                text("INSERT INTO gb_metrics (run_id, key, step, value, ts) VALUES (:r, 'loss', :s, :v, :ts)"),
                [{"r": run_id, "s": s, "v": v, "ts": T0 + s} for s, v in enumerate([1.0, 0.5, None, 0.25])],
            )
            conn.execute(text("INSERT INTO gb_summary (run_id, key, value) VALUES (:r, 'best', '0.25')"),
                         {"r": run_id})
            conn.execute(text("INSERT INTO gb_notes (run_id, ts, text) VALUES (:r, :ts, 'old note')"),
                         {"r": run_id, "ts": T0})
            conn.execute(text("INSERT INTO gb_output (run_id, seq, ts, stream, data) "
                              "VALUES (:r, 0, :ts, 'stdout', 'hi')"),
                         {"r": run_id, "ts": T0})
    finally:
        engine.dispose()
    return run_id


def _assert_v1_data_readable(store: Any, run_id: str) -> None:
    run = store.get_run(run_id)
    assert (run.name, run.status, run.created_at, run.ended_at, run.exit_code) == (
        "old-run", RunStatus.FINISHED, T0, T0 + 60, 0)
    assert run.command == ("python", "train.py") and set(run.tags) == {"legacy", "v1"}
    assert run.provenance == {"git": {"commit": "abc"}}
    assert store.resolve_run("old-run").id == run_id
    stats = store.metric_stats([run_id])[run_id]["loss"]
    assert (stats.last, stats.min, stats.max, stats.last_step, stats.count) == (0.25, 0.25, 1.0, 3, 4)
    series = store.metric_series(run_id)["loss"]
    assert [s for s, _, _ in series] == [0, 1, 2, 3] and math.isnan(series[2][1])
    assert store.params(run_id) == {"config": {"lr": 0.1}}
    assert store.summary(run_id) == {"best": 0.25}
    assert [n.text for n in store.notes(run_id)] == ["old note"]
    assert store.output(run_id) == [(0, T0, "stdout", "hi")]
    # the v2 table works: old runs have no events, new status changes are recorded
    assert store.events(run_id) == []
    assert store.set_status(run_id, RunStatus.STOPPED, reason="test", only_if=None)
    assert [e.data["status"] for e in store.events(run_id)] == ["stopped"]


def _version_in(url: str) -> int:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT value FROM gb_meta WHERE key = 'schema_version'")).scalar_one())
    finally:
        engine.dispose()


def test_old_sqlite_ledger_is_upgraded_automatically_with_a_backup(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    url = f"sqlite:///{db}"
    run_id = _build_v1_ledger(url)
    assert _version_in(url) == 1

    store = open_store(url)
    try:
        assert store.schema_version() == schema.SCHEMA_VERSION  # type: ignore[attr-defined]
        _assert_v1_data_readable(store, run_id)
    finally:
        store.close()
    assert _version_in(url) == schema.SCHEMA_VERSION
    engine = _engine(url)
    try:
        assert _actual_schema(engine) == _expected_schema()
    finally:
        engine.dispose()

    backup = tmp_path / "ledger.db.v1.bak"
    assert backup.is_file()
    with sqlite3.connect(backup) as conn:  # the backup is the untouched v1 ledger
        assert conn.execute("SELECT value FROM gb_meta WHERE key = 'schema_version'").fetchone() == ("1",)
        assert conn.execute("SELECT id, name FROM gb_runs").fetchall() == [(run_id, "old-run")]
        assert conn.execute("SELECT count(*) FROM gb_metrics").fetchone() == (4,)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "gb_events" not in tables
    conn.close()

    # opening again is a no-op: no second backup, data still there
    mtime = backup.stat().st_mtime_ns
    with open_store(url) as again:
        assert again.get_run(run_id).status is RunStatus.STOPPED
    assert backup.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.glob("*.bak")) == ["ledger.db.v1.bak"]


@pytest.mark.postgres
def test_old_postgres_ledger_needs_gatebook_migrate(pg_url: str) -> None:
    run_id = _build_v1_ledger(pg_url)
    with pytest.raises(SchemaVersionError) as info:
        open_store(pg_url)
    message = str(info.value)
    assert "gatebook migrate" in message
    assert "v1" in message and f"v{schema.SCHEMA_VERSION}" in message
    # nothing was changed
    assert _version_in(pg_url) == 1
    engine = _engine(pg_url)
    try:
        assert "gb_events" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()

    store = SQLStore(pg_url, migrate=True)
    try:
        assert store.schema_version() == schema.SCHEMA_VERSION
        _assert_v1_data_readable(store, run_id)
    finally:
        store.close()
    assert _version_in(pg_url) == schema.SCHEMA_VERSION
    with open_store(pg_url) as again:  # now opens without asking
        assert again.get_run(run_id).status is RunStatus.STOPPED
    engine = _engine(pg_url)
    try:
        assert _actual_schema(engine) == _expected_schema()
    finally:
        engine.dispose()


# -- a v4 ledger (before aliases and artifact lineage) ---------------------------------------------


def _build_v4_ledger(url: str) -> str:
    """A ledger at schema v4 holding one finished run with metric points and their aggregates,
    an event and two artifacts (one with content), written with plain SQL. Returns the run id."""
    _apply(url, upto=4)
    run_id = new_run_id(T0)
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO gb_meta (key, value) VALUES ('schema_version', '4')"))
            conn.execute(text("INSERT INTO gb_runs (id, name, status, created_at, ended_at, exit_code, source)"
                              " VALUES (:id, 'v4-run', 'finished', :created, :ended, 0, 'api')"),
                         {"id": run_id, "created": T0, "ended": T0 + 60})
            conn.execute(text("INSERT INTO gb_metrics (run_id, key, step, value, ts)"
                              " VALUES (:r, 'auprc', :s, :v, :ts)"),
                         [{"r": run_id, "s": s, "v": v, "ts": T0 + s} for s, v in enumerate([0.2, 0.3074])])
            conn.execute(text("INSERT INTO gb_metric_stats (run_id, key, n, vmin, vmax, last_step, last_value,"
                              " last_ts) VALUES (:r, 'auprc', 2, 0.2, 0.3074, 1, 0.3074, :ts)"),
                         {"r": run_id, "ts": T0 + 1})
            conn.execute(text("INSERT INTO gb_events (run_id, ts, kind, data) VALUES (:r, :ts, 'status', :d)"),
                         {"r": run_id, "ts": T0, "d": '{"status":"finished"}'})
            conn.execute(text("INSERT INTO gb_artifacts (run_id, path, kind, size, sha256, ts, content)"
                              " VALUES (:r, :p, :k, :n, :h, :ts, :c)"),
                         [{"r": run_id, "p": "/ckpt/epoch_14.ckpt", "k": "checkpoint", "n": 10, "h": "a" * 64,
                           "ts": T0 + 2, "c": None},
                          {"r": run_id, "p": "git.patch", "k": "patch", "n": 4, "h": "b" * 64, "ts": T0 + 3,
                           "c": b"diff"}])
    finally:
        engine.dispose()
    return run_id


def _assert_v4_data_readable_and_v5_usable(store: Any, run_id: str) -> None:
    run = store.get_run(run_id)
    assert (run.name, run.status, run.ended_at) == ("v4-run", RunStatus.FINISHED, T0 + 60)
    stats = store.metric_stats([run_id])[run_id]["auprc"]
    assert (stats.last, stats.count, stats.last_step) == (0.3074, 2, 1)
    assert [e.data for e in store.events(run_id)] == [{"status": "finished"}]
    assert store.artifacts(run_id) == [Artifact("/ckpt/epoch_14.ckpt", "checkpoint", 10, "a" * 64, T0 + 2),
                                       Artifact("git.patch", "patch", 4, "b" * 64, T0 + 3)]
    assert store.artifact_content(run_id, "patch") == b"diff"
    assert store.find_artifacts("a" * 64) == [(run_id, store.artifacts(run_id)[0])]
    # the v5 tables work
    assert store.list_aliases() == [] and store.alias_events() == []
    event = AliasEvent(id=0, alias="champion", ts=T0 + 99, by="me@host", action="moved", from_run=None,
                       to_run=run_id, verdict="PASS")
    assert store.move_alias("champion", run_id, expected=None, event=event)
    assert store.resolve_run("@champion").id == run_id
    assert [e.to_run for e in store.alias_events("champion")] == [run_id]


def test_v4_sqlite_ledger_is_upgraded_to_aliases_with_its_data(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    url = f"sqlite:///{db}"
    run_id = _build_v4_ledger(url)
    assert _version_in(url) == 4
    with open_store(url) as store:
        _assert_v4_data_readable_and_v5_usable(store, run_id)
    _assert_current_schema(url)
    backup = tmp_path / "ledger.db.v4.bak"
    with sqlite3.connect(backup) as conn:  # the untouched v4 ledger
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "gb_aliases" not in tables and "gb_metric_stats" in tables
        assert conn.execute("SELECT count(*) FROM gb_artifacts").fetchone() == (2,)
    conn.close()


@pytest.mark.postgres
def test_v4_postgres_ledger_is_upgraded_to_aliases_with_its_data(pg_url: str) -> None:
    run_id = _build_v4_ledger(pg_url)
    with pytest.raises(SchemaVersionError):
        open_store(pg_url)
    assert _version_in(pg_url) == 4
    with SQLStore(pg_url, migrate=True) as store:
        _assert_v4_data_readable_and_v5_usable(store, run_id)
    _assert_current_schema(pg_url)


# -- (d) a ledger from a newer gatebook ----------------------------------------------------------


def test_newer_ledger_is_refused(store_url: str) -> None:
    open_store(store_url).close()  # a ledger with the current schema
    newer = schema.SCHEMA_VERSION + 1
    engine = _engine(store_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE gb_meta SET value = :v WHERE key = 'schema_version'"), {"v": str(newer)})
    finally:
        engine.dispose()
    for attempt in (lambda: open_store(store_url), lambda: SQLStore(store_url, migrate=True),
                    lambda: SQLStore(store_url, migrate=False)):
        with pytest.raises(SchemaVersionError) as info:
            attempt()
        message = str(info.value)
        assert "upgrade gatebook" in message
        assert f"v{newer}" in message
    assert _version_in(store_url) == newer  # left alone


# -- (e) two processes creating a fresh SQLite ledger at the same moment -------------------------

_OPEN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from gatebook.store import open_store
    from gatebook.store.base import RunQuery
    from gatebook.records import RunRecord, RunStatus
    from gatebook.ids import new_run_id
    url, start = sys.argv[1], float(sys.argv[2])
    time.sleep(max(0.0, start - time.time()))
    store = open_store(url)
    store.create_run(RunRecord(id=new_run_id(), name=sys.argv[3], status=RunStatus.RUNNING,
                               created_at=time.time()))
    print(store.schema_version())
    store.close()
    """
)


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_first_open_of_a_sqlite_ledger(tmp_path: Path, round_: int) -> None:
    db = tmp_path / "fresh" / "ledger.db"
    url = f"sqlite:///{db}"
    start = time.time() + 1.5  # both interpreters are up and imported by then
    procs = [
        subprocess.Popen([sys.executable, "-c", _OPEN_SCRIPT, url, str(start), f"p{i}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results, strict=False):
        assert p.returncode == 0, err
        assert out.strip() == str(schema.SCHEMA_VERSION)
        assert "Traceback" not in err and "locked" not in err
    with open_store(url) as store:
        assert sorted(r.name or "" for r in store.list_runs()) == ["p0", "p1"]
    _assert_current_schema(url)
    assert not list(db.parent.glob("*.bak"))  # a fresh ledger is not "upgraded"
