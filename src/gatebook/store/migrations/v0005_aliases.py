"""Aliases and their audit trail; artifact lineage (``derived_from``) and the hash index it is read by."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text, text
from sqlalchemy.engine import Connection

VERSION = 5
DESCRIPTION = "aliases, their audit trail, artifact lineage"


def upgrade(conn: Connection) -> None:
    md = MetaData()
    Table(
        "gb_aliases", md,
        Column("name", String(255), primary_key=True),
        Column("run_id", String(32), nullable=False),
        Column("since", Float, nullable=False),
        Column("by", String(255), nullable=False),
        Column("verdict", String(16)),
        Column("forced", Boolean, nullable=False),
        Column("reason", Text),
    )
    Table(
        "gb_alias_events", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("alias", String(255), nullable=False),
        Column("ts", Float, nullable=False),
        Column("by", String(255), nullable=False),
        Column("action", String(16), nullable=False),
        Column("from_run", String(32)),
        Column("to_run", String(32)),
        Column("verdict", String(16)),
        Column("forced", Boolean, nullable=False),
        Column("reason", Text),
        Column("data", Text),
        Index("ix_gb_alias_events_alias", "alias", "id"),
    )
    md.create_all(conn)
    # Existing artifacts have no recorded lineage (NULL reads as none).
    conn.execute(text("ALTER TABLE gb_artifacts ADD COLUMN derived_from TEXT"))
    conn.execute(text("CREATE INDEX ix_gb_artifacts_sha256 ON gb_artifacts (sha256)"))
