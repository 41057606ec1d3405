"""Write one imported run into the ledger in one transaction, idempotent by the run's external key.

Every importer (TensorBoard, MLflow, history files) reads its source first, whole, and then hands
each run over as a :class:`RunRecord` (name, status, times, parent, tags) and a :class:`RunData`
(metric points, params, summary, artifacts, events, notes). :func:`write_run` stores both in ONE
transaction: the run row and all of its data appear together or not at all (a failure leaves
nothing half-imported).

Idempotency: an imported run carries its source and an external key (the MLflow run id, a
TensorBoard logdir + run directory, a history file's path) in its provenance,
``{"import": {"source": ..., "key": ..., "state": {...}}}``, and the tag ``source`` (so
``gatebook ls --tag tensorboard`` lists them). :func:`imported_runs` maps the keys already in
the ledger to their runs; an importer that finds its key passes that run as ``existing`` and
only the NEW data (points past its ``state`` cursor, e.g. the byte offset read of an event file,
or the number of points of each MLflow metric already stored): :func:`write_run` appends them,
replaces the cursor, and updates status / end time / exit code / reason when they changed, all
in one transaction. With nothing new, nothing is written.

Usage (an importer)::

    known = imported_runs(store, "mlflow")                 # once per import: {key: RunRecord}
    old = known.get(mlflow_run_id)
    state = import_state(old)                              # {} for a new run
    data = RunData(metrics=[("loss", 0, 0.5, ts), ...], params={"mlflow": {...}})
    outcome = write_run(store, record, data, source="mlflow", key=mlflow_run_id,
                        state={"counts": {...}}, existing=old)
    outcome.run_id, outcome.created, outcome.points

The SQL store has no public "create a run with a batch" call yet, so :func:`_in_one_transaction`
uses its write transaction (``_write``) and batch applier (``_apply``) directly; another Store
falls back to ``create_run`` then ``write`` (two transactions).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from gatebook import serialize
from gatebook.records import RunRecord, RunStatus
from gatebook.store.base import ArtifactRow, EventRow, RunQuery, Store, WriteBatch

IMPORT_KEY = "import"
"""The provenance key that marks an imported run: ``{"source", "key", "state", "imported_at"}``."""

ImportedPoint = tuple[str, "int | None", "float | None", float]
"""(key, step, value, ts): one metric point of an imported run (value None or NaN: NaN)."""


@dataclass
class RunData:
    """Everything an importer stores for one run besides the run row (run ids are filled in here)."""

    metrics: list[ImportedPoint] = field(default_factory=list)
    params: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # {params source: flat params}
    summary: Mapping[str, Any] = field(default_factory=dict)
    tags: Sequence[str] = ()
    notes: list[tuple[float, str]] = field(default_factory=list)  # (ts, text)
    artifacts: list[ArtifactRow] = field(default_factory=list)  # their run_id is ignored
    events: list[EventRow] = field(default_factory=list)  # their run_id is ignored

    def batch(self, run_id: str) -> WriteBatch:
        """The :class:`WriteBatch` of this data for ``run_id``."""
        return WriteBatch(
            metrics=[(run_id, k, s, v, ts) for k, s, v, ts in self.metrics],
            params=[(run_id, src, flat) for src, flat in self.params.items() if flat],
            summary=[(run_id, self.summary)] if self.summary else [],
            notes=[(run_id, ts, text) for ts, text in self.notes],
            artifacts=[replace(a, run_id=run_id) for a in self.artifacts],
            events=[replace(e, run_id=run_id) for e in self.events],
            tags=[(run_id, list(self.tags))] if self.tags else [],
        )


@dataclass(frozen=True)
class WriteOutcome:
    """What :func:`write_run` did: the run's id, whether it was created, how many points it added."""

    run_id: str
    created: bool
    points: int
    status_changed: bool = False

    @property
    def changed(self) -> bool:
        return self.created or self.points > 0 or self.status_changed


def imported_runs(store: Store, source: str) -> dict[str, RunRecord]:
    """The runs already imported from ``source`` (``tensorboard``, ``mlflow``, ``history``), by
    external key, with their provenance (newest first wins when a key repeats)."""
    found: dict[str, RunRecord] = {}
    for run in store.list_runs(RunQuery(tags=(source,), sort="created"), full=True):
        mark = run.provenance.get(IMPORT_KEY)
        if isinstance(mark, dict) and mark.get("source") == source and isinstance(mark.get("key"), str):
            found[mark["key"]] = run
    return found


def import_state(run: RunRecord | None) -> dict[str, Any]:
    """The importer's cursor saved with ``run`` by the last :func:`write_run` (``{}`` for none)."""
    if run is None:
        return {}
    mark = run.provenance.get(IMPORT_KEY)
    state = mark.get("state") if isinstance(mark, dict) else None
    return dict(state) if isinstance(state, dict) else {}


def write_run(store: Store, record: RunRecord, data: RunData, *, source: str, key: str,
              state: Mapping[str, Any] | None = None, existing: RunRecord | None = None) -> WriteOutcome:
    """Store one imported run (``existing`` None) or what is new of one imported before, in one transaction.

    Args:
        store: the ledger.
        record: the run as the source describes it (``id`` is ignored: a fresh one is drawn from
            ``created_at``; ``source`` defaults to ``"import"``). Its tags get ``source`` added and its
            provenance the import mark.
        data: the run's points, params, ... (for an ``existing`` run: only what is new).
        source: the importer's name, also a tag of the run.
        key: the run's external key within ``source`` (idempotency).
        state: the importer's cursor, kept in the provenance (read it back with :func:`import_state`).
        existing: the run :func:`imported_runs` found for ``key``, if any.

    Returns:
        A :class:`WriteOutcome`. For an existing run with no new data, no change of status and the
        same state, nothing is written.

    Raises:
        StoreError: the ledger could not be written (nothing was).
    """
    mark = {"source": source, "key": key, "state": dict(state or {}), "imported_at": time.time()}
    if existing is None:
        tags = tuple(dict.fromkeys((*record.tags, source)))
        prov = {**record.provenance, IMPORT_KEY: mark}
        new = replace(record, tags=tags, provenance=prov,
                      source=record.source if record.source != "api" else "import")
        run_id = _in_one_transaction(store, new, data, update=None)
        return WriteOutcome(run_id, True, len(data.metrics))
    moved = (record.status is not existing.status or record.ended_at != existing.ended_at
             or record.exit_code != existing.exit_code or record.reason != existing.reason)
    if not data.metrics and not _has_more(data) and not moved and import_state(existing) == mark["state"]:
        return WriteOutcome(existing.id, False, 0)
    update: dict[str, Any] = {"provenance": mark}
    if moved:
        update.update(status=record.status, ended_at=record.ended_at, exit_code=record.exit_code,
                      reason=record.reason)
    _in_one_transaction(store, existing, data, update=update)
    return WriteOutcome(existing.id, False, len(data.metrics), moved)


def _has_more(data: RunData) -> bool:
    return bool(data.params or data.summary or data.tags or data.notes or data.artifacts or data.events)


def _in_one_transaction(store: Store, run: RunRecord, data: RunData, *, update: dict[str, Any] | None) -> str:
    """Create ``run`` (``update`` None) or update it, and apply ``data``: one transaction on the SQL store."""
    from gatebook.store.sql import SQLStore

    if not isinstance(store, SQLStore):  # pragma: no cover - every store today is an SQLStore
        run_id = store.create_run(run) if update is None else run.id
        if update is not None:
            _update_fallback(store, run.id, update)
        store.write(data.batch(run_id))
        return run_id
    return str(store._write(_sql_do, store, run, data, update))


def _sql_do(conn: Any, store: Any, run: RunRecord, data: RunData, update: dict[str, Any] | None) -> str:
    """Inside the SQL store's write transaction: the run row (or its update), then the batch."""
    from sqlalchemy import select
    from sqlalchemy import update as sql_update

    from gatebook.ids import new_run_id
    from gatebook.store import schema as t
    from gatebook.store.sql_runs import _run_values

    runs = t.runs
    if update is None:
        insert = store.dialect._insert(runs).on_conflict_do_nothing(index_elements=["id"])
        values = _run_values(run)
        for _ in range(16):  # a taken id (same millisecond): draw another
            run_id = new_run_id(run.created_at)
            if conn.execute(insert.values({**values, "id": run_id}),
                            execution_options={"preserve_rowcount": True}).rowcount:
                break
        else:  # pragma: no cover
            from gatebook.errors import StoreError

            raise StoreError("cannot write to the ledger: no free run id", hint="try again")
        if run.tags:
            store.dialect.insert_ignore(conn, t.tags, [{"run_id": run_id, "tag": tag} for tag in run.tags])
        conn.execute(t.events.insert().values(run_id=run_id, ts=run.created_at, kind="status", step=None,
                                              data=serialize.dumps({"status": run.status.value})))
    else:
        run_id = run.id
        old = conn.execute(select(runs.c.provenance).where(runs.c.id == run_id)).scalar_one_or_none()
        prov = serialize.loads(old, {}) or {}
        prov[IMPORT_KEY] = serialize.to_jsonable(update.pop("provenance"))
        changes: dict[str, Any] = {"provenance": serialize.dumps(prov)}
        status = update.pop("status", None)
        if status is not None:
            changes.update(status=status.value, ended_at=update["ended_at"], exit_code=update["exit_code"],
                          reason=update["reason"])
        conn.execute(sql_update(runs).where(runs.c.id == run_id).values(**changes))
        if status is not None and status is not run.status:
            ev: dict[str, Any] = {"status": status.value}
            if update.get("reason"):
                ev["reason"] = update["reason"]
            conn.execute(t.events.insert().values(run_id=run_id, ts=update.get("ended_at") or time.time(),
                                                  kind="status", step=None, data=serialize.dumps(ev)))
    batch = data.batch(run_id)
    if batch:
        store._apply(conn, batch)
    return run_id


def _update_fallback(store: Store, run_id: str, update: dict[str, Any]) -> None:  # pragma: no cover
    store.update_run(run_id, provenance={IMPORT_KEY: update["provenance"]})
    status = update.get("status")
    if isinstance(status, RunStatus):
        store.set_status(run_id, status, exit_code=update.get("exit_code"), reason=update.get("reason"),
                         ended_at=update.get("ended_at"), only_if=None)
