"""What differs between SQLite and PostgreSQL, and nothing else.

Each dialect makes its engine (pragmas, driver), bulk-inserts metric points the
fastest way its driver allows, upserts, and says which errors are worth a retry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from sqlalchemy import Table, create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

from gatebook.errors import MissingExtraError, StoreError
from gatebook.store.urls import check_sqlite_writable, redact_store_url, store_backend

_METRIC_COLUMNS = "run_id, key, step, value, ts"


class Dialect:
    name = "base"

    def make_engine(self, url: str) -> Engine:  # pragma: no cover - abstract
        raise NotImplementedError

    def insert_metrics(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        raise NotImplementedError  # pragma: no cover

    def upsert(self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
        raise NotImplementedError  # pragma: no cover

    def insert_ignore(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError  # pragma: no cover

    def merge_metric_stats(self, conn: Connection, table: Table, rows: list[dict[str, Any]], merge: Any) -> None:
        """Insert ``rows`` into ``table`` (keys run_id, key); on a conflict set the columns
        to ``merge(stored_columns, excluded_columns)``."""
        stmt = self._insert(table)
        conn.execute(stmt.on_conflict_do_update(index_elements=["run_id", "key"],
                                                set_=merge(table.c, stmt.excluded)), rows)

    def _insert(self, table: Table) -> Any:
        raise NotImplementedError  # pragma: no cover

    def lock_for_migration(self, conn: Connection) -> None:
        """Serialise schema creation between processes (inside a transaction)."""

    def unindexed(self, column: Any) -> Any:
        """``column`` in a WHERE clause the planner should not pick an index for."""
        return column

    def is_retryable(self, exc: BaseException) -> bool:
        return False

    def describe(self, url: str) -> str:
        return url


class SQLiteDialect(Dialect):
    """SQLite in WAL mode: readers never wait for writers; writers take the write lock
    up front (BEGIN IMMEDIATE) and wait for each other up to ``busy_timeout``."""

    name = "sqlite"
    busy_timeout_ms = 30_000

    def unindexed(self, column: Any) -> Any:
        from sqlalchemy import literal_column

        return literal_column(f"+{column.name}")  # SQLite's way of saying: not through an index

    def make_engine(self, url: str) -> Engine:
        path = sqlite_path(url)
        if path is not None:
            check_sqlite_writable(path)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": self.busy_timeout_ms / 1000})
        busy = self.busy_timeout_ms

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {int(busy)}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            # name globs are case-sensitive, as in the shell and on PostgreSQL
            cur.execute("PRAGMA case_sensitive_like = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("gb_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def insert_metrics(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(f"INSERT INTO gb_metrics ({_METRIC_COLUMNS}) VALUES (?, ?, ?, ?, ?)", rows)
        finally:
            cursor.close()

    def _insert(self, table: Table) -> Any:
        from sqlalchemy.dialects.sqlite import insert

        return insert(table)

    def upsert(self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
        from sqlalchemy.dialects.sqlite import insert

        stmt = insert(table)
        update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), rows)

    def insert_ignore(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        from sqlalchemy.dialects.sqlite import insert

        conn.execute(insert(table).on_conflict_do_nothing(), rows)

    def is_retryable(self, exc: BaseException) -> bool:
        text = str(getattr(exc, "orig", exc)).lower()
        return "locked" in text or "busy" in text

    def describe(self, url: str) -> str:
        path = sqlite_path(url)
        return str(path) if path else url


class PostgresDialect(Dialect):
    """PostgreSQL through psycopg 3; metric points go in with COPY."""

    name = "postgresql"

    def make_engine(self, url: str) -> Engine:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise MissingExtraError("psycopg", "postgres", "a PostgreSQL store") from None
        try:
            # every accepted spelling (postgres://, postgresql+psycopg2://...) goes through psycopg 3
            sa_url = make_url(url).set(drivername="postgresql+psycopg")
            return create_engine(sa_url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
        except (ArgumentError, ValueError, TypeError):  # e.g. a port that is not a number
            raise StoreError(f"cannot parse the store URL {self.describe(url)!r}",
                             hint="use postgresql://USER[:PASSWORD]@HOST[:PORT]/DB") from None

    def insert_metrics(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        raw = conn.connection.driver_connection  # a psycopg.Connection
        with raw.cursor() as cur:  # type: ignore[union-attr]
            with cur.copy(f"COPY gb_metrics ({_METRIC_COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    def _insert(self, table: Table) -> Any:
        from sqlalchemy.dialects.postgresql import insert

        return insert(table)

    def upsert(self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
        from sqlalchemy.dialects.postgresql import insert

        # Several rows with the same key in one statement would make ON CONFLICT fail.
        dedup: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            dedup[tuple(row[k] for k in keys)] = row
        stmt = insert(table)
        update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), list(dedup.values()))

    def insert_ignore(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        from sqlalchemy.dialects.postgresql import insert

        conn.execute(insert(table).on_conflict_do_nothing(), rows)

    def lock_for_migration(self, conn: Connection) -> None:
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7412001)")

    def is_retryable(self, exc: BaseException) -> bool:
        code = getattr(getattr(exc, "orig", exc), "sqlstate", None)
        return code in ("40001", "40P01")  # serialization failure, deadlock

    def describe(self, url: str) -> str:
        return redact_store_url(url)


DIALECTS: dict[str, type[Dialect]] = {
    "sqlite": SQLiteDialect,
    "postgresql": PostgresDialect,
}


def dialect_for(url: str) -> Dialect:
    """The dialect for a store URL; a scheme or driver gatebook cannot use is a StoreError
    naming the form to use (:func:`gatebook.store.urls.store_backend` holds the rules)."""
    return DIALECTS[store_backend(url)]()


def sqlite_path(url: str) -> Path | None:
    """The file of a sqlite URL (None for an in-memory database)."""
    try:
        db = make_url(url).database
    except (ArgumentError, ValueError):
        raise StoreError(f"cannot parse the store URL {redact_store_url(url)!r}",
                         hint="use sqlite:///PATH or a plain path") from None
    if not db or db == ":memory:":
        return None
    return Path(db)
