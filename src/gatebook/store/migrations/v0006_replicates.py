"""Replicate sets: the runs of one config repeated over seeds share a ``replicate`` key (issue 14)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

VERSION = 6
DESCRIPTION = "replicate sets (runs of one config over several seeds)"


def upgrade(conn: Connection) -> None:
    # Existing runs belong to no set (NULL).
    conn.execute(text("ALTER TABLE gb_runs ADD COLUMN replicate VARCHAR(64)"))
    conn.execute(text("CREATE INDEX ix_gb_runs_replicate ON gb_runs (replicate)"))
