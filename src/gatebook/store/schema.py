"""The ledger's tables, as of the newest schema version.

Queries use these Table objects. Migrations (``gatebook.store.migrations``) create and
change the real tables; a test checks that applying every migration gives exactly
this schema. Conventions: times are float seconds since the epoch (UTC); JSON values
are TEXT; a NaN metric value is stored as NULL (SQLite cannot hold NaN), inf as inf.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 6

metadata = MetaData()

meta = Table(
    "gb_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "gb_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255)),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("exit_code", Integer),
    Column("reason", Text),
    Column("parent_id", String(32)),
    Column("group_name", String(255)),
    Column("command", Text),  # JSON list of argv
    Column("cwd", Text),
    Column("host", String(255)),
    Column("user_name", String(255)),
    Column("pid", Integer),
    Column("pid_start", Float),
    Column("heartbeat_at", Float),
    Column("source", String(16), nullable=False),
    Column("provenance", Text),  # JSON
    Column("replicate", String(64)),  # v6: the replicate set (one config over several seeds)
    Index("ix_gb_runs_name", "name", "created_at"),
    Index("ix_gb_runs_replicate", "replicate"),
    Index("ix_gb_runs_status", "status"),
    Index("ix_gb_runs_group", "group_name"),
    Index("ix_gb_runs_created", "created_at"),
)

tags = Table(
    "gb_tags",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("tag", String(255), primary_key=True),
    Index("ix_gb_tags_tag", "tag"),
)

params = Table(
    "gb_params",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("source", String(16), primary_key=True),  # config | argv | api
    Column("key", String(512), primary_key=True),
    Column("value", Text),  # JSON
)

metrics = Table(
    "gb_metrics",
    metadata,
    # v3: a sequence id (SQLite's rowid alias), so live readers fetch only new points.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(32), nullable=False),
    Column("key", String(512), nullable=False),
    Column("step", Integer),
    Column("value", Float),  # NULL means NaN
    Column("ts", Float, nullable=False),
    Index("ix_gb_metrics_run_key", "run_id", "key", "step"),
)

# v4: per run and key, the aggregates of its points, maintained by every write
# (NULL vmin/vmax: no finite point; NULL last_value: the last point is NaN).
metric_stats = Table(
    "gb_metric_stats",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("n", Integer, nullable=False),
    Column("vmin", Float),
    Column("vmax", Float),
    Column("last_step", Integer),
    Column("last_value", Float),
    Column("last_ts", Float, nullable=False),
)

summary = Table(
    "gb_summary",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("value", Text),  # JSON
)

notes = Table(
    "gb_notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), nullable=False),
    Column("ts", Float, nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_gb_notes_run", "run_id"),
)

artifacts = Table(
    "gb_artifacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), nullable=False),
    Column("path", Text, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("size", Integer),
    Column("sha256", String(64)),
    Column("ts", Float, nullable=False),
    Column("content", LargeBinary),  # kept in the ledger for small artifacts (the dirty patch)
    Column("derived_from", Text),  # v5: JSON list of {"path", "sha256", "run_id"}; NULL: none
    Index("ix_gb_artifacts_run", "run_id"),
    Index("ix_gb_artifacts_sha256", "sha256"),  # v5: lineage, which run logged a file
)

output = Table(
    "gb_output",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("ts", Float, nullable=False),
    Column("stream", String(8), nullable=False),  # stdout | stderr
    Column("data", Text, nullable=False),
)

# v2: a run's event history (status changes, gate tier changes, stops).
events = Table(
    "gb_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), nullable=False),
    Column("ts", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("step", Integer),
    Column("data", Text),  # JSON
    Index("ix_gb_events_run", "run_id", "id"),
)

# v5: aliases (a name that points at one run, moved by compare-and-set on run_id) and
# their append-only trail (every move and every refused attempt; never updated or deleted).
aliases = Table(
    "gb_aliases",
    metadata,
    Column("name", String(255), primary_key=True),  # without its "@"
    Column("run_id", String(32), nullable=False),
    Column("since", Float, nullable=False),
    Column("by", String(255), nullable=False),  # user@host
    Column("verdict", String(16)),
    Column("forced", Boolean, nullable=False),
    Column("reason", Text),
)

alias_events = Table(
    "gb_alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alias", String(255), nullable=False),
    Column("ts", Float, nullable=False),
    Column("by", String(255), nullable=False),
    Column("action", String(16), nullable=False),  # records.ALIAS_ACTIONS
    Column("from_run", String(32)),
    Column("to_run", String(32)),
    Column("verdict", String(16)),
    Column("forced", Boolean, nullable=False),
    Column("reason", Text),
    Column("data", Text),  # JSON
    Index("ix_gb_alias_events_alias", "alias", "id"),
)
