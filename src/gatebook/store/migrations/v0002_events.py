"""A run's event history: status changes, gate tier changes, stops."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import Connection

VERSION = 2
DESCRIPTION = "run events"


def upgrade(conn: Connection) -> None:
    md = MetaData()
    Table(
        "gb_events", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(32), nullable=False),
        Column("ts", Float, nullable=False),
        Column("kind", String(32), nullable=False),
        Column("step", Integer),
        Column("data", Text),
        Index("ix_gb_events_run", "run_id", "id"),
    )
    md.create_all(conn)
