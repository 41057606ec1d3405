"""The store contract suite, run against the SQL store on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

# the contract's plain asserts get pytest's detailed failure messages
if "gatebook.testing.store_contract" not in sys.modules:
    pytest.register_assert_rewrite("gatebook.testing.store_contract")

from gatebook.store import open_store  # noqa: E402
from gatebook.store.base import Store  # noqa: E402
from gatebook.store.dialects import sqlite_path  # noqa: E402
from gatebook.testing.store_contract import StoreContract  # noqa: E402


def _open_sqlite_handles(db: Path) -> int:
    """File descriptors of this process open on the SQLite ledger (db, -wal, -shm)."""
    names = {str(db), f"{db}-wal", f"{db}-shm", f"{db}-journal"}
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") in names:
                count += 1
        except OSError:
            continue
    return count


def _pg_backends(url: str) -> int:
    """Server connections to the store's database, other than the probing one."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname="postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (u.database,),
        ).fetchone()
    return int(row[0]) if row else 0


class TestSQLStoreContract(StoreContract):
    @pytest.fixture
    def store(self, store_url: str) -> Iterator[Store]:
        s = open_store(store_url)
        try:
            yield s
        finally:
            s.close()

    def connections_in_use(self, store: Store) -> int | None:
        url = store.url
        pool_out = store.engine.pool.checkedout()  # type: ignore[attr-defined]
        if url.startswith("sqlite"):
            path = sqlite_path(url)
            if path is None or not Path("/proc/self/fd").is_dir():
                return pool_out
            return max(pool_out, _open_sqlite_handles(path.resolve()))
        # a server backend exits a moment after its client disconnects: wait for it
        pool = store.engine.pool  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        while True:
            backends = _pg_backends(url)
            if backends <= pool.checkedin() + pool.checkedout() or time.monotonic() > deadline:
                return max(pool_out, backends)
            time.sleep(0.05)
