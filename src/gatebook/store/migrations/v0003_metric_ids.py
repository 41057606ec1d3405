"""Metric points get a sequence id, so live readers (gates, tails) fetch only new points.

No index on (run_id, id): it would cost every insert a third b-tree (a third of the raw
insert rate here); a live reader scans the id range written since its last poll instead
(the primary key), which holds only a fraction of a second of points.

SQLite cannot add a primary key to a table, so the table is rebuilt (the id becomes
the rowid alias, which costs nothing on insert); PostgreSQL adds an identity column.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

VERSION = 3
DESCRIPTION = "metric point ids"


def upgrade(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(text(
            "CREATE TABLE gb_metrics_v3 (id INTEGER NOT NULL PRIMARY KEY, run_id VARCHAR(32) NOT NULL, "
            "key VARCHAR(512) NOT NULL, step INTEGER, value FLOAT, ts FLOAT NOT NULL)"))
        conn.execute(text(
            "INSERT INTO gb_metrics_v3 (run_id, key, step, value, ts) "
            "SELECT run_id, key, step, value, ts FROM gb_metrics ORDER BY rowid"))
        conn.execute(text("DROP TABLE gb_metrics"))
        conn.execute(text("ALTER TABLE gb_metrics_v3 RENAME TO gb_metrics"))
        conn.execute(text("CREATE INDEX ix_gb_metrics_run_key ON gb_metrics (run_id, key, step)"))
    else:
        conn.execute(text("ALTER TABLE gb_metrics ADD COLUMN id BIGSERIAL PRIMARY KEY"))
