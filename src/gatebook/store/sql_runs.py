"""The SQL store's runs: create (a fresh id when one is taken), update, status, resolve, list."""

from __future__ import annotations

import difflib
import json
import time
from operator import itemgetter
from typing import Any, Sequence

from sqlalchemy import ColumnElement, and_, exists, func, select, update
from sqlalchemy.engine import Connection, Row

from gatebook import serialize
from gatebook.errors import AmbiguousRunError, NotFoundError, StoreError
from gatebook.ids import claim_run_id, looks_like_id_prefix, new_run_id
from gatebook.records import RunRecord, RunStatus
from gatebook.store import schema as t
from gatebook.store.base import RunQuery
from gatebook.store.sql_aliases import resolve_alias
from gatebook.store.sql_base import SQLBase, chunks

_ID_ATTEMPTS = 16  # fresh ids tried when a new run's id is taken
_RUN_FIELDS = {
    "name": "name", "parent_id": "parent_id", "group": "group_name", "command": "command",
    "cwd": "cwd", "host": "host", "user": "user_name", "pid": "pid", "pid_start": "pid_start",
    "heartbeat_at": "heartbeat_at", "source": "source", "created_at": "created_at",
    "ended_at": "ended_at", "exit_code": "exit_code", "reason": "reason", "replicate": "replicate",
}
_SORTS = {
    "created": t.runs.c.created_at, "name": t.runs.c.name, "status": t.runs.c.status,
    "duration": t.runs.c.ended_at - t.runs.c.created_at, "id": t.runs.c.id,
}


class SQLRuns(SQLBase):
    """The run rows of :class:`gatebook.store.sql.SQLStore`, and their tags."""

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
            if ref.startswith("@"):  # an alias: never a run name, so never confused with one
                run_id = resolve_alias(conn, ref[1:])
                row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
                if row is None:
                    raise NotFoundError(f"the alias {ref} points at run {run_id}, which is not in the ledger",
                                        hint="see `gatebook aliases log`")
                return self._with_tags(conn, [row], full=True)[0]
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
        conds = _conditions(query)
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
        if query.offset:
            stmt = stmt.offset(query.offset)
        with self._read() as conn:
            rows = conn.execute(stmt).all()
            # Many runs: their tags in one query over the same selection, not 500 ids at a time.
            return self._with_tags(conn, rows, full=full,
                                   selection=stmt.with_only_columns(t.runs.c.id) if len(rows) > 500 else None)

    def count_runs(self, query: RunQuery | None = None) -> int:
        stmt = select(func.count()).select_from(t.runs)
        conds = _conditions(query) if query is not None else []
        if conds:
            stmt = stmt.where(and_(*conds))
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def _with_tags(self, conn: Connection, rows: Sequence[Row[Any]], *, full: bool,
                   selection: Any = None) -> list[RunRecord]:
        """Records of ``rows`` with their tags: read for the ids of ``rows``, or, given the
        ``selection`` (a select of the same rows' ids), in one query over it."""
        if not rows:
            return []
        tags: dict[str, list[str]] = {}
        base = select(t.tags.c.run_id, t.tags.c.tag)
        where = ([t.tags.c.run_id.in_(selection.subquery().select())] if selection is not None
                 else [t.tags.c.run_id.in_(chunk) for chunk in chunks([r.id for r in rows], 500)])
        for cond in where:
            for run_id, tag in conn.execute(base.where(cond).order_by(t.tags.c.tag)).all():
                tags.setdefault(run_id, []).append(tag)
        commands: dict[str, tuple[str, ...]] = {}  # runs of a sweep share a command line: parse it once
        fields = itemgetter(*[rows[0]._fields.index(f) for f in _FIELDS])  # by position: 10x a Row's keys
        return [_to_record(fields(r), tuple(tags.get(r.id, ())), full=full, commands=commands,
                           provenance=r.provenance if full else None) for r in rows]


def _conditions(query: RunQuery) -> list[ColumnElement[bool]]:
    """The WHERE conditions of ``query``'s filters (ANDed by the caller)."""
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
    if query.replicate:
        conds.append(t.runs.c.replicate == query.replicate)
    return conds


_STATUS = {s.value: s for s in RunStatus}


def _run_values(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id, "name": run.name, "status": run.status.value, "created_at": run.created_at,
        "ended_at": run.ended_at, "exit_code": run.exit_code, "reason": run.reason,
        "parent_id": run.parent_id, "group_name": run.group, "command": serialize.dumps(list(run.command)),
        "cwd": run.cwd, "host": run.host, "user_name": run.user, "pid": run.pid, "pid_start": run.pid_start,
        "heartbeat_at": run.heartbeat_at, "source": run.source,
        "provenance": serialize.dumps(run.provenance) if run.provenance else None,
        "replicate": run.replicate,
    }


_FIELDS = ("id", "name", "status", "created_at", "ended_at", "exit_code", "reason", "parent_id", "group_name",
           "command", "cwd", "host", "user_name", "pid", "pid_start", "heartbeat_at", "source", "replicate")
"""The columns of a run row a RunRecord is made of (provenance apart), in _to_record's order."""


def _to_record(values: tuple[Any, ...], tags: tuple[str, ...], *, full: bool,
               commands: dict[str, tuple[str, ...]] | None = None, provenance: str | None = None) -> RunRecord:
    """A RunRecord from the row's values in :data:`_FIELDS` order (and its provenance text)."""
    (id_, name, status, created_at, ended_at, exit_code, reason, parent_id, group, raw, cwd, host, user, pid,
     pid_start, heartbeat_at, source, replicate) = values
    command: tuple[str, ...] = ()
    if raw:
        command = commands.get(raw, ()) if commands is not None else ()
        if not command:
            command = tuple(json.loads(raw))
            if commands is not None:
                commands[raw] = command
    return RunRecord(
        id=id_, name=name, status=_STATUS.get(status) or RunStatus(status), created_at=created_at,
        ended_at=ended_at, exit_code=exit_code, reason=reason, parent_id=parent_id, group=group, tags=tags,
        command=command, cwd=cwd, host=host, user=user, pid=pid, pid_start=pid_start, heartbeat_at=heartbeat_at,
        source=source, provenance=(serialize.loads(provenance, {}) or {}) if full and provenance else {},
        replicate=replicate,
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
