"""Fixtures shared by the whole suite.

- ``pytest_configure``: every cache a test can touch (``GATEBOOK_CACHE_DIR``, ``XDG_CACHE_HOME``,
  ``MPLCONFIGDIR``) points into one temp dir made for this session, removed at its end, so
  nothing left in ``~/.cache`` by an earlier command changes what a test sees.
- ``_clean_gatebook_env`` (autouse): every test starts with no ``GATEBOOK_*`` variable set but
  the session's ``GATEBOOK_CACHE_DIR``.
- ``pg_server`` (session): one real throw-away PostgreSQL server for the whole run.
- ``pg_url`` (function): a fresh, empty database on that server for each test.
- ``store_url`` (function, parametrized ``sqlite``/``postgres``): a store URL for each backend.
- ``git_project`` (function): a temporary git repository with one commit holding ``train.py``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from uuid import uuid4

import pytest

from tests.helpers import git, git_init

if TYPE_CHECKING:
    from gatebook.testing.pgserver import PostgresServer

# Read once at import time: the autouse fixture below clears GATEBOOK_* for every test.
_SKIP_POSTGRES = os.environ.get("GATEBOOK_TEST_SKIP_POSTGRES", "") == "1"
_SESSION_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Point every cache at a temp dir of this session (children inherit it)."""
    root = tempfile.mkdtemp(prefix="gatebook-test-caches-")
    _SESSION_CACHE.append(root)
    os.environ["GATEBOOK_CACHE_DIR"] = os.path.join(root, "gatebook")
    os.environ["XDG_CACHE_HOME"] = os.path.join(root, "xdg")
    os.environ["MPLCONFIGDIR"] = os.path.join(root, "matplotlib")


def pytest_unconfigure(config: pytest.Config) -> None:
    for root in _SESSION_CACHE:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _clean_gatebook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every GATEBOOK_* variable but the session's cache dir; tests set what they need."""
    for name in list(os.environ):
        if name.startswith("GATEBOOK_") and name != "GATEBOOK_CACHE_DIR":
            monkeypatch.delenv(name, raising=False)


# -- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server started once per session (about 1.5 s)."""
    from gatebook.testing.pgserver import PostgresServer, find_pg_bindir

    if find_pg_bindir() is None:
        msg = (
            "PostgreSQL server binaries (initdb, pg_ctl) not found: run "
            "`bash scripts/ensure-postgres.sh` (installs Debian's postgresql package), "
            "or set GATEBOOK_TEST_SKIP_POSTGRES=1 to skip the PostgreSQL tests"
        )
        if _SKIP_POSTGRES:
            pytest.skip(msg)
        pytest.fail(msg, pytrace=False)
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """URL of a fresh, empty database on the session server."""
    return pg_server.new_database(f"t_{uuid4().hex[:12]}")


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL for each backend; only the postgres case starts the server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return request.getfixturevalue("pg_url")


# -- a real git project with a tiny training script --------------------------------------------

TRAIN_PY = textwrap.dedent(
    '''\
    """A tiny, deterministic "training" script (stdlib only)."""
    import argparse
    import json
    import math


    def main():
        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float, default=0.1)
        parser.add_argument("--epochs", type=int, default=3)
        args = parser.parse_args()
        for epoch in range(1, args.epochs + 1):
            loss = round(2.0 * math.exp(-(0.05 + 5.0 * abs(args.lr)) * epoch), 6)
            val_acc = round(1.0 - loss / 2.5, 6)
            line = json.dumps({"epoch": epoch, "loss": loss, "val_acc": val_acc})
            print("gatebook: " + line, flush=True)


    if __name__ == "__main__":
        main()
    '''
)


@pytest.fixture
def git_project(tmp_path: Path) -> Path:
    """A temporary git repository with one commit containing ``train.py``.

    ``python train.py [--lr F] [--epochs N]`` prints, for epoch 1..N, a line
    ``gatebook: {"epoch": E, "loss": L, "val_acc": A}`` with the loss strictly decreasing.
    The working directory is not changed.
    """
    project = tmp_path / "project"
    project.mkdir()
    git_init(project)
    (project / "train.py").write_text(TRAIN_PY)
    git(project, "add", "train.py")
    git(project, "commit", "-q", "-m", "initial commit: train.py")
    return project
