"""Per run and key, the aggregates readers want (count, min, max, last), kept up to date
by every write, so comparing 1,000 runs reads 1,000 x keys rows instead of every point.
Existing points are summarised once here."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, text
from sqlalchemy.engine import Connection

VERSION = 4
DESCRIPTION = "metric aggregates per run and key"


def upgrade(conn: Connection) -> None:
    md = MetaData()
    Table(
        "gb_metric_stats", md,
        Column("run_id", String(32), primary_key=True),
        Column("key", String(512), primary_key=True),
        Column("n", Integer, nullable=False),
        Column("vmin", Float),
        Column("vmax", Float),
        Column("last_step", Integer),
        Column("last_value", Float),
        Column("last_ts", Float, nullable=False),
    )
    md.create_all(conn)
    last = ("SELECT m.{col} FROM gb_metrics m WHERE m.run_id = a.run_id AND m.key = a.key "
            "AND ((a.ms IS NOT NULL AND m.step = a.ms) OR (a.ms IS NULL AND m.step IS NULL)) "
            "ORDER BY m.ts DESC, m.id DESC LIMIT 1")
    conn.execute(text(
        "INSERT INTO gb_metric_stats (run_id, key, n, vmin, vmax, last_step, last_value, last_ts) "
        f"SELECT a.run_id, a.key, a.n, a.lo, a.hi, a.ms, ({last.format(col='value')}), ({last.format(col='ts')}) "
        "FROM (SELECT run_id, key, count(*) AS n, min(value) AS lo, max(value) AS hi, max(step) AS ms "
        "FROM gb_metrics GROUP BY run_id, key) a"))
