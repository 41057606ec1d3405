"""The SQL store's reads of a run's data: metric stats and series, params, notes, artifacts, output, events."""

from __future__ import annotations

import math
from operator import itemgetter
from typing import Any, Iterable, Sequence

from sqlalchemy import Connection, Select, func, select

from gatebook import serialize
from gatebook.records import Artifact, MetricStats, Note
from gatebook.store import schema as t
from gatebook.store.base import EventRow, OutputChunk
from gatebook.store.sql_base import SQLBase, chunks


class SQLReads(SQLBase):
    """The per-run and batched reads of :class:`gatebook.store.sql.SQLStore`."""

    # -- reads ----------------------------------------------------------------------------
    def metric_stats(self, run_ids: Iterable[str]) -> dict[str, dict[str, MetricStats]]:
        ids = list(dict.fromkeys(run_ids))
        out: dict[str, dict[str, MetricStats]] = {r: {} for r in ids}
        if not ids:
            return out
        st = t.metric_stats
        with self._read() as conn:
            for chunk in chunks(ids, 500):
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

    def metric_points(self, run_id: str, key: str, *, start: int | None = None,
                      end: int | None = None) -> tuple[list[int | None], list[float]]:
        # Straight off the (run_id, key, step) index: an index entry ends with the row id, so
        # (step, id) order needs no sort. One probe of the same index for a point without a
        # step decides the order of a whole-series read (and a point without a step that
        # arrives between the probe and the read makes it read again in logging order).
        m = t.metrics
        where = [m.c.run_id == run_id, m.c.key == key]
        by_step = (m.c.step, m.c.id)
        logging = (m.c.ts, m.c.id)  # metric_series's order
        with self._read() as conn:
            if start is not None or end is not None:
                where.append(m.c.step.is_not(None))
                if start is not None:
                    where.append(m.c.step >= start)
                if end is not None:
                    where.append(m.c.step <= end)
                return self._columns(conn, select(m.c.step, m.c.value).where(*where).order_by(*by_step))
            unstepped = conn.execute(select(m.c.id).where(*where, m.c.step.is_(None)).limit(1)).first()
            steps, values = self._columns(
                conn, select(m.c.step, m.c.value).where(*where).order_by(*(logging if unstepped else by_step)))
            if unstepped is None and None in steps:
                steps, values = self._columns(conn, select(m.c.step, m.c.value).where(*where).order_by(*logging))
        return steps, values

    def _columns(self, conn: Connection, stmt: Select[Any]) -> tuple[list[Any], list[float]]:
        """The two columns of ``stmt``'s rows (the second a value: NULL read as NaN), through
        the driver's own cursor: no Row object per point, and the columns split with
        itemgetter (``zip(*rows)`` of a million rows is ten times slower)."""
        compiled = stmt.compile(conn)
        params = compiled.construct_params()
        args: Any = tuple(params[name] for name in compiled.positiontup or ()) if compiled.positional else params
        cursor = conn.connection.cursor()
        try:
            cursor.execute(str(compiled), args)
            rows = cursor.fetchall()
        except conn.dialect.loaded_dbapi.Error as exc:
            raise self._translate(exc, "read") from None
        finally:
            cursor.close()
        firsts: list[Any] = list(map(itemgetter(0), rows))
        values: list[float] = list(map(itemgetter(1), rows))
        if None in values:
            values = [math.nan if v is None else v for v in values]
        return firsts, values

    def points_cursor(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.max(t.metrics.c.id))).scalar_one_or_none() or 0)

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
            for chunk in chunks(ids, 500):
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
            for chunk in chunks(ids, 500):
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
            for chunk in chunks(ids, 500):
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
            return [_to_artifact(row) for row in conn.execute(
                select(*_ARTIFACT_COLUMNS).where(a.c.run_id == run_id).order_by(a.c.id))]

    def find_artifacts(self, sha256: str) -> list[tuple[str, Artifact]]:
        a = t.artifacts
        with self._read() as conn:
            return [(row.run_id, _to_artifact(row)) for row in conn.execute(
                select(a.c.run_id, *_ARTIFACT_COLUMNS).where(a.c.sha256 == sha256).order_by(a.c.ts, a.c.id))]

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


_ARTIFACT_COLUMNS = (t.artifacts.c.path, t.artifacts.c.kind, t.artifacts.c.size, t.artifacts.c.sha256,
                     t.artifacts.c.ts, t.artifacts.c.derived_from)


def _to_artifact(row: Any) -> Artifact:
    """An artifact from a row of ``_ARTIFACT_COLUMNS`` (any Row shape holding them)."""
    derived = serialize.loads(row.derived_from, None) or []
    return Artifact(path=row.path, kind=row.kind, size=row.size, sha256=row.sha256, ts=row.ts,
                    derived_from=tuple(derived))
