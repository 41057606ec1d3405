"""The aliases and their audit trail as data: `gatebook aliases` and `gatebook aliases log`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gatebook.errors import NotFoundError
from gatebook.records import AliasEvent, AliasRecord, RunRecord
from gatebook.registry.names import check_name

if TYPE_CHECKING:
    from gatebook.store.base import Store


def _aliases_hint(store: Store) -> str:
    names = [a.name for a in store.list_aliases()]
    if not names:
        return "there are no aliases yet: create one with `gatebook promote RUN --to NAME`"
    return "aliases: " + ", ".join(f"@{n}" for n in names)


def require_alias(store: Store, name: str) -> AliasRecord:
    """The alias ``name``; a NotFoundError listing the aliases when no run holds it."""
    found = store.get_alias(name)
    if found is None:
        raise NotFoundError(f"no alias @{name}", hint=_aliases_hint(store))
    return found


class _Runs:
    """Run records by id, each read once (a trail names the same runs again and again)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cache: dict[str, RunRecord | None] = {}

    def ref(self, run_id: str | None) -> dict[str, Any] | None:
        if run_id is None:
            return None
        if run_id not in self.cache:
            try:
                self.cache[run_id] = self.store.get_run(run_id)
            except NotFoundError:
                self.cache[run_id] = None
        run = self.cache[run_id]
        return {"id": run_id, "name": run.name if run is not None else None}


@dataclass
class AliasRow:
    """One alias as `gatebook aliases` lists it."""

    alias: AliasRecord
    run: dict[str, Any]  # {id, name}

    def to_dict(self) -> dict[str, Any]:
        from gatebook.render.text import iso

        a = self.alias
        return {"alias": a.name, "run": self.run, "since": iso(a.since), "by": a.by, "verdict": a.verdict,
                "forced": a.forced, "reason": a.reason}


@dataclass
class AliasList:
    rows: list[AliasRow]

    def to_dict(self) -> dict[str, Any]:
        """The ``aliases --json`` document."""
        return {"aliases": [r.to_dict() for r in self.rows]}


def list_aliases(store: Store) -> AliasList:
    """Every alias, by name, with the run it points at."""
    runs = _Runs(store)
    return AliasList([AliasRow(a, runs.ref(a.run_id) or {}) for a in store.list_aliases()])


@dataclass
class TrailEntry:
    """One event of the trail, with its runs' names."""

    event: AliasEvent
    from_run: dict[str, Any] | None
    to_run: dict[str, Any] | None

    @property
    def judged(self) -> str | None:
        """The verdict the candidate was judged (also for a forced move, whose event records none)."""
        return self.event.verdict or (self.event.data or {}).get("verdict")

    def to_dict(self) -> dict[str, Any]:
        from gatebook.render.text import iso

        e = self.event
        data = e.data or {}
        return {"id": e.id, "alias": e.alias, "time": iso(e.ts), "by": e.by, "action": e.action,
                "from": self.from_run, "to": self.to_run, "verdict": self.judged, "forced": e.forced,
                "reason": e.reason, "gates": data.get("gates", []), "allow_marginal": data.get("allow_marginal", False),
                "attempt": data.get("attempt"), "conflict": bool(data.get("conflict", False))}


@dataclass
class Trail:
    alias: str | None
    entries: list[TrailEntry]

    def to_dict(self) -> dict[str, Any]:
        """The ``aliases log --json`` document."""
        return {"alias": self.alias, "events": [e.to_dict() for e in self.entries]}


def alias_log(store: Store, alias: str | None = None) -> Trail:
    """The trail of ``alias`` (every alias when None), oldest first. An alias that no run holds and
    that has no trail is a NotFoundError listing the aliases."""
    name = check_name(alias) if alias is not None else None
    events = store.alias_events(name)
    if name is not None and not events and store.get_alias(name) is None:
        raise NotFoundError(f"no alias @{name}", hint=_aliases_hint(store))
    runs = _Runs(store)
    return Trail(name, [TrailEntry(e, runs.ref(e.from_run), runs.ref(e.to_run)) for e in events])
