"""The SQL store's aliases: reads, the compare-and-set move with its event, and the append-only trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Row

from gatebook import serialize
from gatebook.errors import NotFoundError
from gatebook.records import ALIAS_ACTIONS, AliasEvent, AliasRecord
from gatebook.store import schema as t
from gatebook.store.sql_base import SQLBase

_MOVES = tuple(a for a in ALIAS_ACTIONS if a != "refused")  # the actions that move an alias
_LISTED = 20  # aliases an unknown-alias error names


class SQLAliases(SQLBase):
    """Aliases of :class:`gatebook.store.sql.SQLStore` (tables ``gb_aliases`` and ``gb_alias_events``).

    There is deliberately no method that updates or deletes a trail row."""

    def get_alias(self, name: str) -> AliasRecord | None:
        a = t.aliases
        with self._read() as conn:
            row = conn.execute(select(a).where(a.c.name == name)).first()
        return _to_alias(row) if row is not None else None

    def list_aliases(self) -> list[AliasRecord]:
        a = t.aliases
        with self._read() as conn:
            return [_to_alias(row) for row in conn.execute(select(a).order_by(a.c.name))]

    def move_alias(self, name: str, run_id: str, *, expected: str | None, event: AliasEvent) -> bool:
        _check_event(event, moving=True)
        if (event.alias, event.from_run, event.to_run) != (name, expected, run_id):
            raise ValueError(
                f"move_alias: the event (alias {event.alias!r}, {event.from_run!r} -> {event.to_run!r}) "
                f"does not describe this move (alias {name!r}, {expected!r} -> {run_id!r})")
        a = t.aliases
        values = {"run_id": run_id, "since": event.ts, "by": event.by, "verdict": event.verdict,
                  "forced": bool(event.forced), "reason": event.reason}
        if expected is None:
            # A primary-key conflict means another writer created the alias first: no row, no error
            # (ON CONFLICT DO NOTHING leaves the transaction usable on PostgreSQL too).
            stmt: Any = self.dialect._insert(a).values(name=name, **values).on_conflict_do_nothing(
                index_elements=["name"])
        else:
            # Compare-and-set on the holder: on PostgreSQL a concurrent mover waits for the row
            # lock, then re-checks the WHERE on the committed row and matches nothing.
            stmt = update(a).where(a.c.name == name, a.c.run_id == expected).values(**values)

        def do(conn: Connection) -> bool:
            moved = conn.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount == 1
            if moved:
                _append(conn, event)
            return moved

        return bool(self._write(do))

    def add_alias_event(self, event: AliasEvent) -> None:
        _check_event(event, moving=False)
        self._write(_append, event)

    def alias_events(self, name: str | None = None) -> list[AliasEvent]:
        e = t.alias_events
        stmt = select(e)
        if name is not None:
            stmt = stmt.where(e.c.alias == name)
        with self._read() as conn:
            return [_to_event(row) for row in conn.execute(stmt.order_by(e.c.id))]


def resolve_alias(conn: Connection, name: str) -> str:
    """The id of the run ``@name`` points at; NotFoundError listing the aliases when none is
    called ``name`` (used by ``resolve_run`` inside its own read)."""
    a = t.aliases
    holder = conn.execute(select(a.c.run_id).where(a.c.name == name)).scalar_one_or_none()
    if holder is not None:
        return str(holder)
    names = [n for (n,) in conn.execute(select(a.c.name).order_by(a.c.name).limit(_LISTED + 1))]
    if not names:
        raise NotFoundError(f"no alias @{name}: the ledger has no aliases yet",
                            hint="see `gatebook aliases`; `gatebook promote RUN --to ALIAS` makes one")
    shown = ", ".join(f"@{n}" for n in names[:_LISTED]) + (", ..." if len(names) > _LISTED else "")
    raise NotFoundError(f"no alias @{name} (aliases: {shown})", hint="see `gatebook aliases`")


def _check_event(event: AliasEvent, *, moving: bool) -> None:
    allowed = _MOVES if moving else ("refused",)
    if event.action not in allowed:
        what = "move_alias" if moving else "add_alias_event"
        raise ValueError(f"{what}: action {event.action!r} is not one of {', '.join(allowed)}")


def _append(conn: Connection, event: AliasEvent) -> None:
    conn.execute(t.alias_events.insert().values(
        alias=event.alias, ts=event.ts, by=event.by, action=event.action, from_run=event.from_run,
        to_run=event.to_run, verdict=event.verdict, forced=bool(event.forced), reason=event.reason,
        data=serialize.dumps(event.data) if event.data else None))


def _to_alias(row: Row[Any]) -> AliasRecord:
    m = row._mapping
    return AliasRecord(name=m["name"], run_id=m["run_id"], since=m["since"], by=m["by"], verdict=m["verdict"],
                       forced=bool(m["forced"]), reason=m["reason"])


def _to_event(row: Row[Any]) -> AliasEvent:
    m = row._mapping
    return AliasEvent(id=int(m["id"]), alias=m["alias"], ts=m["ts"], by=m["by"], action=m["action"],
                      from_run=m["from_run"], to_run=m["to_run"], verdict=m["verdict"],
                      forced=bool(m["forced"]), reason=m["reason"], data=serialize.loads(m["data"], {}) or {})
