"""The one Store implementation, on SQLAlchemy Core. Backend errors are translated here."""

from __future__ import annotations

import difflib
import json
import math
import random
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from gatebook import serialize
from gatebook.errors import AmbiguousRunError, NotFoundError, SchemaVersionError, StoreError
from gatebook.ids import claim_run_id, looks_like_id_prefix, new_run_id
from gatebook.records import Artifact, MetricStats, Note, RunRecord, RunStatus
from gatebook.store import schema as t
from gatebook.store.base import EventRow, OutputChunk, RunQuery, Store, WriteBatch
from gatebook.store.dialects import Dialect, dialect_for

_RETRY_SECONDS = 300.0
_ID_ATTEMPTS = 16  # fresh ids tried when a new run's id is taken
_RUN_FIELDS = {
    "name": "name", "parent_id": "parent_id", "group": "group_name", "command": "command",
    "cwd": "cwd", "host": "host", "user": "user_name", "pid": "pid", "pid_start": "pid_start",
    "heartbeat_at": "heartbeat_at", "source": "source", "created_at": "created_at",
    "ended_at": "ended_at", "exit_code": "exit_code", "reason": "reason",
}
_SORTS = {
    "created": t.runs.c.created_at, "name": t.runs.c.name, "status": t.runs.c.status,
    "duration": t.runs.c.ended_at - t.runs.c.created_at, "id": t.runs.c.id,
}


class SQLStore(Store):
    """A ledger in a SQL database (SQLite or PostgreSQL)."""

    def __init__(self, url: str, *, migrate: bool | None = None) -> None:
        self.url = url
        self.dialect: Dialect = dialect_for(url)
        self._where = self.dialect.describe(url)
        self.engine = self.dialect.make_engine(url)
        auto = self.dialect.name == "sqlite" if migrate is None else migrate
        self._ensure_schema(auto_migrate=auto)

    # -- plumbing -------------------------------------------------------------------------
    def _translate(self, exc: BaseException, doing: str) -> StoreError:
        orig = getattr(exc, "orig", None) or exc
        msg = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        if "unable to open database" in msg or "readonly" in msg or "read-only" in msg:
            hint = "check that the ledger path is writable or point GATEBOOK_STORE elsewhere"
        elif "could not connect" in msg.lower() or "connection" in msg.lower():
            hint = "check that the server is running and the store URL is right"
        else:
            hint = "check the store URL and that the ledger is not damaged"
        return StoreError(f"cannot {doing} the ledger {self._where}: {msg}", hint=hint)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except (SQLAlchemyError, OSError) as exc:
            if isinstance(exc, StoreError):  # pragma: no cover
                raise
            raise self._translate(exc, "read") from None

    def _write(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(conn, *args)`` in a write transaction, retrying lock conflicts."""

        def attempt() -> Any:
            with self.engine.connect().execution_options(gb_write=True) as conn:
                with conn.begin():
                    return fn(conn, *args)

        return self._retrying(attempt, "write to")

    def _retrying(self, attempt: Any, doing: str) -> Any:
        """``attempt()``, again (with backoff, up to ``_RETRY_SECONDS``) while the ledger is
        locked or busy; other errors are translated at once."""
        deadline = time.monotonic() + _RETRY_SECONDS
        delay = 0.01
        retryable = (OperationalError, DBAPIError, self.engine.dialect.loaded_dbapi.Error)
        while True:
            try:
                return attempt()
            except IntegrityError as exc:
                raise self._translate(exc, doing) from None
            except retryable as exc:  # the driver's own errors too: the bulk insert bypasses SQLAlchemy
                if self.dialect.is_retryable(exc) and time.monotonic() < deadline:
                    time.sleep(delay * (1 + random.random()))
                    delay = min(delay * 2, 0.5)
                    continue
                raise self._translate(exc, doing) from None
            except (SQLAlchemyError, OSError) as exc:
                raise self._translate(exc, doing) from None

    def close(self) -> None:
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------------------
    def schema_version(self) -> int:
        """The ledger's schema version (0: empty). Retried while another process is
        creating or upgrading the schema (its lock can briefly refuse even readers)."""

        def attempt() -> int:
            with self.engine.connect() as conn:
                return _read_version(conn)

        return self._retrying(attempt, "read")

    def _ensure_schema(self, *, auto_migrate: bool) -> None:
        current = self.schema_version()
        if current == t.SCHEMA_VERSION:
            return
        if current > t.SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the ledger {self._where} uses schema v{current}, "
                f"newer than this gatebook knows (v{t.SCHEMA_VERSION})",
                hint="upgrade gatebook: pip install -U gatebook",
            )
        if current > 0 and not auto_migrate:
            raise SchemaVersionError(
                f"the ledger {self._where} uses schema v{current}; this gatebook needs v{t.SCHEMA_VERSION}",
                hint="run: gatebook migrate (every client must then use this gatebook version)",
            )
        if current > 0:
            self._backup(current)
        self.migrate()

    def _backup(self, version: int) -> None:
        """Keep a copy of an SQLite ledger before upgrading it (``ledger.db.v1.bak``)."""
        from gatebook.store.dialects import sqlite_path

        path = sqlite_path(self.url) if self.dialect.name == "sqlite" else None
        if path is None:
            return
        target = path.with_name(f"{path.name}.v{version}.bak")
        if target.exists():
            return
        import sqlite3

        try:
            # VACUUM cannot run inside a transaction, and every Connection begins one:
            # run it on the driver connection (in autocommit mode, see SQLiteDialect).
            raw = self.engine.raw_connection()
            try:
                raw.driver_connection.execute("VACUUM INTO ?", (str(target),))  # type: ignore[union-attr]
            finally:
                raw.close()
        except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
            if target.exists():  # another process made the backup at the same moment
                return
            raise self._translate(exc, "back up") from None

    def migrate(self) -> tuple[int, int]:
        """Apply pending migrations; returns (version before, version after)."""
        from gatebook.store.migrations import all_migrations

        def apply(conn: Connection) -> tuple[int, int]:
            self.dialect.lock_for_migration(conn)
            before = _read_version(conn)
            if before > t.SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"the ledger {self._where} uses schema v{before}, newer than this gatebook (v{t.SCHEMA_VERSION})",
                    hint="upgrade gatebook: pip install -U gatebook",
                )
            for mod in all_migrations():
                if mod.VERSION > before:
                    mod.upgrade(conn)
            self.dialect.upsert(conn, t.meta, [{"key": "schema_version", "value": str(t.SCHEMA_VERSION)}], ["key"])
            return before, t.SCHEMA_VERSION

        return self._write(apply)

    # -- runs -----------------------------------------------------------------------------
    def create_run(self, run: RunRecord, *, keep_id: bool = False) -> str:
        values = _run_values(run)
        # Only a taken id is retried: ON CONFLICT (id) DO NOTHING inserts no row for it (and
        # leaves the transaction usable); any other integrity error still raises.
        insert = self.dialect._insert(t.runs).on_conflict_do_nothing(index_elements=["id"])

        # An SQLite ledger's ids are claimed among this machine's processes (ids.claim_run_id):
        # `gatebook run` hands its command an id it claimed before the run exists (keep_id)
        ledger = None
        if self.dialect.name == "sqlite" and not keep_id:
            from gatebook.store.dialects import sqlite_path

            ledger = sqlite_path(self.url)

        def fresh(run_id: str | None = None) -> str:
            if ledger is None:
                return run_id or new_run_id(run.created_at)
            return claim_run_id(ledger, run.created_at, run_id)

        def do(conn: Connection) -> str:
            run_id = fresh(run.id)
            for _ in range(_ID_ATTEMPTS):
                result = conn.execute(insert.values({**values, "id": run_id}),
                                      execution_options={"preserve_rowcount": True})
                if result.rowcount:
                    break
                if keep_id:
                    raise StoreError(f"cannot write to the ledger {self._where}: the run id {run_id} is taken",
                                     hint="another run has it (drawn in the same millisecond): start this one again")
                run_id = fresh()
            else:  # pragma: no cover - 1 chance in 32,768 to the power _ID_ATTEMPTS
                raise StoreError(f"cannot write to the ledger {self._where}: no free run id after "
                                 f"{_ID_ATTEMPTS} tries", hint="try again")
            if run.tags:
                self.dialect.insert_ignore(conn, t.tags, [{"run_id": run_id, "tag": tag} for tag in run.tags])
            conn.execute(t.events.insert().values(
                run_id=run_id, ts=run.created_at, kind="status", step=None,
                data=serialize.dumps({"status": run.status.value})))
            return run_id

        return str(self._write(do))

    def update_run(self, run_id: str, **fields: Any) -> None:
        values: dict[str, Any] = {}
        provenance = fields.pop("provenance", None)
        for key, value in fields.items():
            col = _RUN_FIELDS.get(key)
            if col is None:
                raise ValueError(f"update_run: unknown field {key!r}")
            values[col] = serialize.dumps(list(value)) if key == "command" else value

        def do(conn: Connection) -> None:
            row_values = dict(values)
            if provenance is not None:
                old = conn.execute(select(t.runs.c.provenance).where(t.runs.c.id == run_id)).scalar_one_or_none()
                merged = serialize.loads(old, {}) or {}
                merged.update(serialize.to_jsonable(provenance))
                row_values["provenance"] = serialize.dumps(merged)
            if row_values:
                conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(**row_values))
        self._write(do)

    def set_status(self, run_id: str, status: RunStatus, *, exit_code: int | None = None,
                   reason: str | None = None, ended_at: float | None = None,
                   only_if: Sequence[RunStatus] | None = (RunStatus.RUNNING,)) -> bool:
        now = time.time()
        values: dict[str, Any] = {"status": status.value}
        if status.is_terminal:
            values["ended_at"] = ended_at if ended_at is not None else now
        if exit_code is not None:
            values["exit_code"] = exit_code
        if reason is not None:
            values["reason"] = reason

        def do(conn: Connection) -> bool:
            stmt = update(t.runs).where(t.runs.c.id == run_id)
            if only_if is not None:
                stmt = stmt.where(t.runs.c.status.in_([s.value for s in only_if]))
            changed = conn.execute(stmt.values(**values)).rowcount > 0
            if changed:
                data: dict[str, Any] = {"status": status.value}
                if reason:
                    data["reason"] = reason
                if exit_code is not None:
                    data["exit_code"] = exit_code
                conn.execute(t.events.insert().values(run_id=run_id, ts=now, kind="status", step=None,
                                                      data=serialize.dumps(data)))
            return changed
        return bool(self._write(do))

    def get_run(self, run_id: str) -> RunRecord:
        with self._read() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
            if row is None:
                raise NotFoundError(f"no run with id {run_id!r}", hint="see `gatebook ls`")
            return self._with_tags(conn, [row], full=True)[0]

    def resolve_run(self, ref: str) -> RunRecord:
        ref = ref.strip()
        if not ref:
            raise NotFoundError("an empty run reference", hint="give a run id, id prefix or name")
        with self._read() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.id == ref)).first()
            if row is None:
                row = conn.execute(
                    select(t.runs).where(t.runs.c.name == ref)
                    .order_by(t.runs.c.created_at.desc(), t.runs.c.id.desc()).limit(1)
                ).first()
            if row is None and looks_like_id_prefix(ref.lower()):
                rows = conn.execute(
                    select(t.runs).where(t.runs.c.id.like(ref.lower() + "%")).order_by(t.runs.c.id).limit(6)
                ).all()
                if len(rows) > 1:
                    ids = ", ".join(r.id for r in rows[:5])
                    raise AmbiguousRunError(f"run prefix {ref!r} matches several runs ({ids})",
                                            hint="type more characters of the id")
                row = rows[0] if rows else None
            if row is None:
                names = [n for (n,) in conn.execute(
                    select(t.runs.c.name).where(t.runs.c.name.is_not(None)).distinct().limit(5000))]
                close = difflib.get_close_matches(ref, names, n=3, cutoff=0.6)
                hint = f"did you mean {', '.join(close)}?" if close else "see `gatebook ls` for run ids and names"
                raise NotFoundError(f"no run matches {ref!r} (by id, name or id prefix)", hint=hint)
            return self._with_tags(conn, [row], full=True)[0]

    def list_runs(self, query: RunQuery = RunQuery(), *, full: bool = False) -> list[RunRecord]:
        cols = [c for c in t.runs.c if full or c.name != "provenance"]
        stmt = select(*cols)
        conds: list[ColumnElement[bool]] = []
        if query.name_glob:
            if any(ch in query.name_glob for ch in "*?["):
                conds.append(t.runs.c.name.like(_glob_to_like(query.name_glob), escape="\\"))
            else:
                conds.append(t.runs.c.name == query.name_glob)
        for tag in query.tags:
            conds.append(exists().where(and_(t.tags.c.run_id == t.runs.c.id, t.tags.c.tag == tag)))
        if query.statuses:
            conds.append(t.runs.c.status.in_(list(query.statuses)))
        if query.group:
            conds.append(t.runs.c.group_name == query.group)
        if query.parent_id:
            conds.append(t.runs.c.parent_id == query.parent_id)
        if query.since is not None:
            conds.append(t.runs.c.created_at >= query.since)
        if query.ids:
            conds.append(t.runs.c.id.in_(list(query.ids)))
        if conds:
            stmt = stmt.where(and_(*conds))
        key = query.sort or "-created"
        desc = key.startswith("-")
        col = _SORTS.get(key.lstrip("-+"))
        if col is None:
            raise StoreError(f"cannot sort by {key.lstrip('-+')!r}", hint=f"use one of: {', '.join(_SORTS)}")
        stmt = stmt.order_by((col.desc() if desc else col.asc()).nulls_last(),
                             t.runs.c.id.desc() if desc else t.runs.c.id.asc())
        if query.limit:
            stmt = stmt.limit(query.limit)
        with self._read() as conn:
            rows = conn.execute(stmt).all()
            return self._with_tags(conn, rows, full=full)

    def count_runs(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.runs)).scalar_one())

    def _with_tags(self, conn: Connection, rows: Sequence[Row[Any]], *, full: bool) -> list[RunRecord]:
        if not rows:
            return []
        tags: dict[str, list[str]] = {}
        ids = [r.id for r in rows]
        for chunk in _chunks(ids, 500):
            for run_id, tag in conn.execute(
                select(t.tags.c.run_id, t.tags.c.tag).where(t.tags.c.run_id.in_(chunk)).order_by(t.tags.c.tag)
            ):
                tags.setdefault(run_id, []).append(tag)
        return [_to_record(r, tuple(tags.get(r.id, ())), full=full) for r in rows]

    # -- writes ---------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> None:
        if batch:
            self._write(self._apply, batch)

    def _apply(self, conn: Connection, b: WriteBatch) -> None:
        _strip_nul(b)
        if b.metrics:
            rows = b.metrics
            if any(v is not None and v != v for _, _, _, v, _ in rows):  # NaN is stored as NULL
                rows = [(r, k, s, None if v is None or v != v else v, ts) for (r, k, s, v, ts) in rows]
            self.dialect.insert_metrics(conn, rows)
            self._update_metric_stats(conn, rows)
        if b.params:
            rows_p = [{"run_id": run_id, "source": source, "key": key, "value": serialize.dumps(value)}
                      for run_id, source, flat in b.params for key, value in flat.items()]
            if rows_p:
                self.dialect.upsert(conn, t.params, rows_p, ["run_id", "source", "key"])
        if b.summary:
            rows_s = [{"run_id": run_id, "key": key, "value": serialize.dumps(value)}
                      for run_id, values in b.summary for key, value in values.items()]
            if rows_s:
                self.dialect.upsert(conn, t.summary, rows_s, ["run_id", "key"])
        if b.notes:
            conn.execute(t.notes.insert(), [{"run_id": r, "ts": ts, "text": text} for r, ts, text in b.notes])
        if b.artifacts:
            conn.execute(t.artifacts.insert(), [
                {"run_id": a.run_id, "path": a.path, "kind": a.kind, "size": a.size, "sha256": a.sha256,
                 "ts": a.ts, "content": a.content} for a in b.artifacts])
        for run_id, seqs in b.output_deletes:
            o = t.output
            wanted = sorted(set(seqs))
            for i in range(0, len(wanted), 500):
                conn.execute(delete(o).where(o.c.run_id == run_id, o.c.seq.in_(wanted[i:i + 500])))
        if b.output:
            rows_o = [{"run_id": run_id, "seq": seq, "ts": ts, "stream": stream, "data": data}
                      for run_id, chunks in b.output for (seq, ts, stream, data) in chunks]
            if rows_o:
                self.dialect.upsert(conn, t.output, rows_o, ["run_id", "seq"])
        if b.events:
            conn.execute(t.events.insert(), [
                {"run_id": e.run_id, "ts": e.ts, "kind": e.kind, "step": e.step,
                 "data": serialize.dumps(e.data) if e.data is not None else None} for e in b.events])
        if b.tags:
            rows_t = [{"run_id": run_id, "tag": tag} for run_id, tags in b.tags for tag in tags]
            if rows_t:
                self.dialect.insert_ignore(conn, t.tags, rows_t)
        for run_id, ts in b.heartbeats:
            conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(heartbeat_at=ts))

    def _update_metric_stats(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Fold a batch of points into ``gb_metric_stats``: the batch's own aggregates per run
        and key, merged with the stored ones in one upsert (so concurrent writers of one run
        never lose an update). "Last" is the point at the highest step, later ``ts`` winning
        ties; a point without a step is last only while the series has no steps at all."""
        agg: dict[tuple[str, str], list[Any]] = {}
        for run_id, key, step, value, ts in rows:
            a = agg.get((run_id, key))
            if a is None:
                agg[(run_id, key)] = [1, value, value, step, value, ts]
                continue
            a[0] += 1
            if value is not None:
                if a[1] is None or value < a[1]:
                    a[1] = value
                if a[2] is None or value > a[2]:
                    a[2] = value
            if _newer(step, ts, a[3], a[5]):
                a[3], a[4], a[5] = step, value, ts
        st = t.metric_stats
        values = [{"run_id": r, "key": k, "n": a[0], "vmin": a[1], "vmax": a[2], "last_step": a[3],
                   "last_value": a[4], "last_ts": a[5]} for (r, k), a in agg.items()]
        self.dialect.merge_metric_stats(conn, st, values, _metric_stats_merge)

    # -- reads ----------------------------------------------------------------------------
    def metric_stats(self, run_ids: Iterable[str]) -> dict[str, dict[str, MetricStats]]:
        ids = list(dict.fromkeys(run_ids))
        out: dict[str, dict[str, MetricStats]] = {r: {} for r in ids}
        if not ids:
            return out
        st = t.metric_stats
        with self._read() as conn:
            for chunk in _chunks(ids, 500):
                for run_id, key, n, vmin, vmax, last_step, last_value in conn.execute(
                    select(st.c.run_id, st.c.key, st.c.n, st.c.vmin, st.c.vmax, st.c.last_step, st.c.last_value)
                    .where(st.c.run_id.in_(chunk)).order_by(st.c.run_id, st.c.key)
                ):
                    out[run_id][key] = MetricStats(
                        last=math.nan if last_value is None else float(last_value),
                        min=None if vmin is None else float(vmin),
                        max=None if vmax is None else float(vmax),
                        last_step=None if last_step is None else int(last_step),
                        count=int(n),
                    )
        return out

    def metric_series(
        self, run_id: str, keys: Sequence[str] | None = None
    ) -> dict[str, list[tuple[int | None, float, float]]]:
        m = t.metrics
        stmt = select(m.c.key, m.c.step, m.c.value, m.c.ts).where(m.c.run_id == run_id)
        if keys:
            stmt = stmt.where(m.c.key.in_(list(keys)))
        out: dict[str, list[tuple[int | None, float, float]]] = {}
        with self._read() as conn:
            for key, step, value, ts in conn.execute(stmt.order_by(m.c.ts, m.c.id)):
                out.setdefault(key, []).append((step, math.nan if value is None else float(value), ts))
        return out

    def metric_points_after(self, run_id: str, after: int = 0, keys: Sequence[str] | None = None,
                            limit: int = 0) -> tuple[list[tuple[str, int | None, float, float]], int]:
        # The cursor is a global point id. First the highest id stored (all smaller ids are
        # committed: SQLite has one writer at a time), then this run's points up to it: the
        # first read through the (run_id, key, step) index, later ones by scanning the id
        # range written since the previous read (the primary key), never the run's history.
        m = t.metrics
        with self._read() as conn:
            top = conn.execute(select(func.max(m.c.id))).scalar_one_or_none() or 0
            if top <= after:
                return [], after
            cols = (m.c.id, m.c.key, m.c.step, m.c.value, m.c.ts)
            if after <= 0:
                stmt = select(*cols).where(m.c.run_id == run_id, m.c.id <= top)
            else:
                stmt = select(*cols).where(m.c.id > after, m.c.id <= top,
                                           self.dialect.unindexed(m.c.run_id) == run_id)
            if keys:
                stmt = stmt.where(m.c.key.in_(list(keys)))
            stmt = stmt.order_by(m.c.id)
            if limit:
                stmt = stmt.limit(limit)
            rows = conn.execute(stmt).all()
        points = [(key, step, math.nan if value is None else float(value), ts) for _, key, step, value, ts in rows]
        cursor = rows[-1][0] if limit and len(rows) == limit else top
        return points, cursor

    def params_many(self, run_ids: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
        ids = list(dict.fromkeys(run_ids))
        out: dict[str, dict[str, dict[str, Any]]] = {r: {} for r in ids}
        p = t.params
        with self._read() as conn:
            for chunk in _chunks(ids, 500):
                for run_id, source, key, value in conn.execute(
                    select(p.c.run_id, p.c.source, p.c.key, p.c.value).where(p.c.run_id.in_(chunk))
                    .order_by(p.c.run_id, p.c.key)
                ):
                    out[run_id].setdefault(source, {})[key] = serialize.loads(value)
        return out

    def notes_many(self, run_ids: Sequence[str]) -> dict[str, list[Note]]:
        ids = list(dict.fromkeys(run_ids))
        out: dict[str, list[Note]] = {r: [] for r in ids}
        n = t.notes
        with self._read() as conn:
            for chunk in _chunks(ids, 500):
                for run_id, ts, text in conn.execute(
                    select(n.c.run_id, n.c.ts, n.c.text).where(n.c.run_id.in_(chunk)).order_by(n.c.id)
                ):
                    out[run_id].append(Note(text=text, ts=ts))
        return out

    def events_many(self, run_ids: Sequence[str], kinds: Sequence[str] | None = None) -> dict[str, list[EventRow]]:
        ids = list(dict.fromkeys(run_ids))
        out: dict[str, list[EventRow]] = {r: [] for r in ids}
        e = t.events
        with self._read() as conn:
            for chunk in _chunks(ids, 500):
                stmt = select(e.c.run_id, e.c.ts, e.c.kind, e.c.step, e.c.data).where(e.c.run_id.in_(chunk))
                if kinds:
                    stmt = stmt.where(e.c.kind.in_(list(kinds)))
                for run_id, ts, kind, step, data in conn.execute(stmt.order_by(e.c.id)):
                    out[run_id].append(EventRow(run_id=run_id, ts=ts, kind=kind, step=step, data=serialize.loads(data)))
        return out

    def params(self, run_id: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        with self._read() as conn:
            for source, key, value in conn.execute(
                select(t.params.c.source, t.params.c.key, t.params.c.value)
                .where(t.params.c.run_id == run_id).order_by(t.params.c.key)
            ):
                out.setdefault(source, {})[key] = serialize.loads(value)
        return out

    def summary(self, run_id: str) -> dict[str, Any]:
        with self._read() as conn:
            return {k: serialize.loads(v) for k, v in conn.execute(
                select(t.summary.c.key, t.summary.c.value)
                .where(t.summary.c.run_id == run_id).order_by(t.summary.c.key))}

    def notes(self, run_id: str) -> list[Note]:
        with self._read() as conn:
            return [Note(text=text, ts=ts) for ts, text in conn.execute(
                select(t.notes.c.ts, t.notes.c.text).where(t.notes.c.run_id == run_id).order_by(t.notes.c.id))]

    def artifacts(self, run_id: str) -> list[Artifact]:
        a = t.artifacts
        with self._read() as conn:
            return [Artifact(path=p, kind=k, size=s, sha256=h, ts=ts) for p, k, s, h, ts in conn.execute(
                select(a.c.path, a.c.kind, a.c.size, a.c.sha256, a.c.ts).where(a.c.run_id == run_id).order_by(a.c.id))]

    def artifact_content(self, run_id: str, kind: str) -> bytes | None:
        a = t.artifacts
        with self._read() as conn:
            value = conn.execute(
                select(a.c.content).where(a.c.run_id == run_id, a.c.kind == kind).order_by(a.c.id.desc()).limit(1)
            ).scalar_one_or_none()
        return bytes(value) if value is not None else None

    def output(self, run_id: str, after_seq: int = -1, limit: int = 0) -> list[OutputChunk]:
        o = t.output
        stmt = (select(o.c.seq, o.c.ts, o.c.stream, o.c.data)
                .where(o.c.run_id == run_id, o.c.seq > after_seq).order_by(o.c.seq))
        if limit:
            stmt = stmt.limit(limit)
        with self._read() as conn:
            return [(seq, ts, stream, data) for seq, ts, stream, data in conn.execute(stmt)]

    def events(self, run_id: str, kinds: Sequence[str] | None = None) -> list[EventRow]:
        e = t.events
        stmt = select(e.c.ts, e.c.kind, e.c.step, e.c.data).where(e.c.run_id == run_id)
        if kinds:
            stmt = stmt.where(e.c.kind.in_(list(kinds)))
        with self._read() as conn:
            return [EventRow(run_id=run_id, ts=ts, kind=kind, step=step, data=serialize.loads(data))
                    for ts, kind, step, data in conn.execute(stmt.order_by(e.c.id))]


def _newer(step: int | None, ts: float, cur_step: int | None, cur_ts: float) -> bool:
    """Whether a point (step, ts) replaces the current last point (cur_step, cur_ts)."""
    if step is not None:
        return cur_step is None or step > cur_step or (step == cur_step and ts >= cur_ts)
    return cur_step is None and ts >= cur_ts


def _metric_stats_merge(old: Any, new: Any) -> dict[str, Any]:
    """SET clauses of the upsert: ``old`` is the stored row's columns, ``new`` the batch's
    (``excluded``). Plain CASE expressions, so SQLite and PostgreSQL read them alike."""
    from sqlalchemy import case
    from sqlalchemy import or_ as any_of

    def smaller(a: Any, b: Any) -> Any:
        return case((a.is_(None), b), (b.is_(None), a), (b < a, b), else_=a)

    def larger(a: Any, b: Any) -> Any:
        return case((a.is_(None), b), (b.is_(None), a), (b > a, b), else_=a)

    wins = case(
        (new.last_step.is_not(None),
         any_of(old.last_step.is_(None), new.last_step > old.last_step,
                and_(new.last_step == old.last_step, new.last_ts >= old.last_ts))),
        else_=and_(old.last_step.is_(None), new.last_ts >= old.last_ts),
    )
    return {
        "n": old.n + new.n,
        "vmin": smaller(old.vmin, new.vmin),
        "vmax": larger(old.vmax, new.vmax),
        "last_step": case((wins, new.last_step), else_=old.last_step),
        "last_value": case((wins, new.last_value), else_=old.last_value),
        "last_ts": case((wins, new.last_ts), else_=old.last_ts),
    }


def _clean(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _strip_nul(b: WriteBatch) -> None:
    """NUL characters become U+FFFD: PostgreSQL text cannot hold them, and one in a
    training's output must not block the rest of the run's data."""
    b.output = [(run_id, [(seq, ts, st, _clean(data)) for seq, ts, st, data in chunks]) for run_id, chunks in b.output]
    b.notes = [(run_id, ts, _clean(text)) for run_id, ts, text in b.notes]
    if any(type(k) is str and "\x00" in k for _, k, _, _, _ in b.metrics):
        b.metrics = [(r, _clean(k) if type(k) is str else k, s, v, ts) for r, k, s, v, ts in b.metrics]


def _read_version(conn: Connection) -> int:
    from sqlalchemy import inspect

    if not inspect(conn).has_table("gb_meta"):
        return 0
    value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "schema_version")).scalar_one_or_none()
    return int(value) if value is not None else 0


def _run_values(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id, "name": run.name, "status": run.status.value, "created_at": run.created_at,
        "ended_at": run.ended_at, "exit_code": run.exit_code, "reason": run.reason,
        "parent_id": run.parent_id, "group_name": run.group, "command": serialize.dumps(list(run.command)),
        "cwd": run.cwd, "host": run.host, "user_name": run.user, "pid": run.pid, "pid_start": run.pid_start,
        "heartbeat_at": run.heartbeat_at, "source": run.source,
        "provenance": serialize.dumps(run.provenance) if run.provenance else None,
    }


def _to_record(row: Row[Any], tags: tuple[str, ...], *, full: bool) -> RunRecord:
    m = row._mapping
    command = m["command"]
    return RunRecord(
        id=m["id"], name=m["name"], status=RunStatus(m["status"]), created_at=m["created_at"],
        ended_at=m["ended_at"], exit_code=m["exit_code"], reason=m["reason"], parent_id=m["parent_id"],
        group=m["group_name"], tags=tags, command=tuple(json.loads(command)) if command else (),
        cwd=m["cwd"], host=m["host"], user=m["user_name"], pid=m["pid"], pid_start=m["pid_start"],
        heartbeat_at=m["heartbeat_at"], source=m["source"],
        provenance=(serialize.loads(m["provenance"], {}) or {}) if full else {},
    )


def _glob_to_like(glob: str) -> str:
    out = []
    for ch in glob:
        if ch in "%_\\":
            out.append("\\" + ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
