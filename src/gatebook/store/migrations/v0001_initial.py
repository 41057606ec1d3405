"""The first schema: runs, tags, params, metrics, summary, notes, artifacts, output."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text
from sqlalchemy.engine import Connection

VERSION = 1
DESCRIPTION = "initial schema"


def upgrade(conn: Connection) -> None:
    md = MetaData()
    Table("gb_meta", md, Column("key", String(64), primary_key=True), Column("value", Text, nullable=False))
    Table(
        "gb_runs", md,
        Column("id", String(32), primary_key=True),
        Column("name", String(255)),
        Column("status", String(16), nullable=False),
        Column("created_at", Float, nullable=False),
        Column("ended_at", Float),
        Column("exit_code", Integer),
        Column("reason", Text),
        Column("parent_id", String(32)),
        Column("group_name", String(255)),
        Column("command", Text),
        Column("cwd", Text),
        Column("host", String(255)),
        Column("user_name", String(255)),
        Column("pid", Integer),
        Column("pid_start", Float),
        Column("heartbeat_at", Float),
        Column("source", String(16), nullable=False),
        Column("provenance", Text),
        Index("ix_gb_runs_name", "name", "created_at"),
        Index("ix_gb_runs_status", "status"),
        Index("ix_gb_runs_group", "group_name"),
        Index("ix_gb_runs_created", "created_at"),
    )
    Table(
        "gb_tags", md,
        Column("run_id", String(32), primary_key=True),
        Column("tag", String(255), primary_key=True),
        Index("ix_gb_tags_tag", "tag"),
    )
    Table(
        "gb_params", md,
        Column("run_id", String(32), primary_key=True),
        Column("source", String(16), primary_key=True),
        Column("key", String(512), primary_key=True),
        Column("value", Text),
    )
    Table(
        "gb_metrics", md,
        Column("run_id", String(32), nullable=False),
        Column("key", String(512), nullable=False),
        Column("step", Integer),
        Column("value", Float),
        Column("ts", Float, nullable=False),
        Index("ix_gb_metrics_run_key", "run_id", "key", "step"),
    )
    Table(
        "gb_summary", md,
        Column("run_id", String(32), primary_key=True),
        Column("key", String(512), primary_key=True),
        Column("value", Text),
    )
    Table(
        "gb_notes", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(32), nullable=False),
        Column("ts", Float, nullable=False),
        Column("text", Text, nullable=False),
        Index("ix_gb_notes_run", "run_id"),
    )
    Table(
        "gb_artifacts", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(32), nullable=False),
        Column("path", Text, nullable=False),
        Column("kind", String(64), nullable=False),
        Column("size", Integer),
        Column("sha256", String(64)),
        Column("ts", Float, nullable=False),
        Column("content", LargeBinary),
        Index("ix_gb_artifacts_run", "run_id"),
    )
    Table(
        "gb_output", md,
        Column("run_id", String(32), primary_key=True),
        Column("seq", Integer, primary_key=True),
        Column("ts", Float, nullable=False),
        Column("stream", String(8), nullable=False),
        Column("data", Text, nullable=False),
    )
    md.create_all(conn)
