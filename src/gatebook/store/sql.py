"""The one Store implementation, on SQLAlchemy Core: the schema, and the parts put together.

Backend errors are translated in :mod:`gatebook.store.sql_base`; runs, writes, reads and aliases
live in :mod:`.sql_runs`, :mod:`.sql_writes`, :mod:`.sql_reads` and :mod:`.sql_aliases`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from gatebook.errors import SchemaVersionError
from gatebook.store import schema as t
from gatebook.store.dialects import Dialect, dialect_for
from gatebook.store.sql_aliases import SQLAliases
from gatebook.store.sql_reads import SQLReads
from gatebook.store.sql_runs import SQLRuns
from gatebook.store.sql_writes import SQLWrites


class SQLStore(SQLRuns, SQLWrites, SQLReads, SQLAliases):
    """A ledger in a SQL database (SQLite or PostgreSQL)."""

    def __init__(self, url: str, *, migrate: bool | None = None) -> None:
        self.url = url
        self.dialect: Dialect = dialect_for(url)
        self._where = self.dialect.describe(url)
        self.engine = self.dialect.make_engine(url)
        auto = self.dialect.name == "sqlite" if migrate is None else migrate
        self._ensure_schema(auto_migrate=auto)

    # -- schema ---------------------------------------------------------------------------
    def schema_version(self) -> int:
        """The ledger's schema version (0: empty). Retried while another process is
        creating or upgrading the schema (its lock can briefly refuse even readers)."""

        def attempt() -> int:
            with self.engine.connect() as conn:
                return _read_version(conn)

        return self._retrying(attempt, "read")

    def _ensure_schema(self, *, auto_migrate: bool) -> None:
        current = self.schema_version()
        if current == t.SCHEMA_VERSION:
            return
        if current > t.SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the ledger {self._where} uses schema v{current}, "
                f"newer than this gatebook knows (v{t.SCHEMA_VERSION})",
                hint="upgrade gatebook: pip install -U gatebook",
            )
        if current > 0 and not auto_migrate:
            raise SchemaVersionError(
                f"the ledger {self._where} uses schema v{current}; this gatebook needs v{t.SCHEMA_VERSION}",
                hint="run: gatebook migrate (every client must then use this gatebook version)",
            )
        if current > 0:
            self._backup(current)
        self.migrate()

    def _backup(self, version: int) -> None:
        """Keep a copy of an SQLite ledger before upgrading it (``ledger.db.v1.bak``)."""
        from gatebook.store.dialects import sqlite_path

        path = sqlite_path(self.url) if self.dialect.name == "sqlite" else None
        if path is None:
            return
        target = path.with_name(f"{path.name}.v{version}.bak")
        if target.exists():
            return
        import sqlite3

        try:
            # VACUUM cannot run inside a transaction, and every Connection begins one:
            # run it on the driver connection (in autocommit mode, see SQLiteDialect).
            raw = self.engine.raw_connection()
            try:
                raw.driver_connection.execute("VACUUM INTO ?", (str(target),))  # type: ignore[union-attr]
            finally:
                raw.close()
        except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
            if target.exists():  # another process made the backup at the same moment
                return
            raise self._translate(exc, "back up") from None

    def migrate(self) -> tuple[int, int]:
        """Apply pending migrations; returns (version before, version after)."""
        from gatebook.store.migrations import all_migrations

        def apply(conn: Connection) -> tuple[int, int]:
            self.dialect.lock_for_migration(conn)
            before = _read_version(conn)
            if before > t.SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"the ledger {self._where} uses schema v{before}, newer than this gatebook (v{t.SCHEMA_VERSION})",
                    hint="upgrade gatebook: pip install -U gatebook",
                )
            for mod in all_migrations():
                if mod.VERSION > before:
                    mod.upgrade(conn)
            self.dialect.upsert(conn, t.meta, [{"key": "schema_version", "value": str(t.SCHEMA_VERSION)}], ["key"])
            return before, t.SCHEMA_VERSION

        return self._write(apply)


def _read_version(conn: Connection) -> int:
    from sqlalchemy import inspect

    if not inspect(conn).has_table("gb_meta"):
        return 0
    value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "schema_version")).scalar_one_or_none()
    return int(value) if value is not None else 0
