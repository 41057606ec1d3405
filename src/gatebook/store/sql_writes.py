"""The SQL store's one write: a batch in one transaction, metric aggregates folded in by upsert."""

from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import and_, delete, update
from sqlalchemy.engine import Connection

from gatebook import serialize
from gatebook.store import schema as t
from gatebook.store.base import WriteBatch
from gatebook.store.sql_base import SQLBase


class SQLWrites(SQLBase):
    """:meth:`Store.write` of :class:`gatebook.store.sql.SQLStore`."""

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
                 "ts": a.ts, "content": a.content,
                 "derived_from": serialize.dumps(list(a.derived_from)) if a.derived_from else None}
                for a in b.artifacts])
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
