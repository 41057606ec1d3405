"""The throw-away PostgreSQL server used by the suite really works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest

from gatebook.testing.pgserver import find_pg_bindir

# Read at import: the autouse fixture in conftest.py clears GATEBOOK_* for each test.
_SKIP_POSTGRES = os.environ.get("GATEBOOK_TEST_SKIP_POSTGRES", "") == "1"


@pytest.mark.postgres
def test_find_pg_bindir_has_server_binaries() -> None:
    bindir = find_pg_bindir()
    if bindir is None and _SKIP_POSTGRES:
        pytest.skip("no PostgreSQL server binaries and GATEBOOK_TEST_SKIP_POSTGRES=1")
    assert bindir is not None, "run scripts/ensure-postgres.sh"
    assert (bindir / "initdb").exists()
    assert (bindir / "pg_ctl").exists()


@pytest.mark.postgres
def test_select_one(pg_url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(pg_url, connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.postgres
def test_each_pg_url_is_its_own_database(pg_server, pg_url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    other = pg_server.new_database("t_other_for_isolation")
    assert other != pg_url
    with psycopg.connect(pg_url, connect_timeout=10, autocommit=True) as a, psycopg.connect(
        other, connect_timeout=10, autocommit=True
    ) as b:
        name_a = a.execute("SELECT current_database()").fetchone()[0]
        name_b = b.execute("SELECT current_database()").fetchone()[0]
        assert name_a != name_b
        a.execute("CREATE TABLE only_here (x int)")
        assert b.execute("SELECT to_regclass('only_here')").fetchone() == (None,)


@pytest.mark.postgres
def test_two_pg_url_fixtures_differ(pg_server, pg_url: str) -> None:
    # A second fresh database, the way the fixture makes one, is different from this one.
    second = pg_server.new_database(f"t_{uuid4().hex[:12]}")
    assert second != pg_url
    assert pg_url.startswith(f"postgresql://postgres@127.0.0.1:{pg_server.port}/t_")


@pytest.mark.postgres
def test_server_url_points_at_gatebook_test(pg_server) -> None:
    assert pg_server.url.endswith("/gatebook_test")


def test_store_url(store_url: str, request: pytest.FixtureRequest) -> None:
    backend = request.node.callspec.params["store_url"]
    prefix = {"sqlite": "sqlite:///", "postgres": "postgresql://"}[backend]
    assert store_url.startswith(prefix)


def test_git_project_trains(git_project: Path) -> None:
    out = subprocess.run(
        [sys.executable, "train.py", "--epochs", "4", "--lr", "0.05"],
        cwd=git_project, capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    rows = [json.loads(line.removeprefix("gatebook: ")) for line in out.splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    losses = [r["loss"] for r in rows]
    assert losses == sorted(losses, reverse=True) and len(set(losses)) == 4
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=git_project, capture_output=True, text=True,
        timeout=30, check=True,
    ).stdout
    assert status == ""
