"""The Store interface. Its docstrings are the contract every backend honours.

Backends: :class:`gatebook.store.sql.SQLStore` (SQLAlchemy Core) with thin dialect
modules for SQLite and PostgreSQL. The contract suite in
``gatebook.testing.store_contract`` runs against each of them.

Writes come in batches (:class:`WriteBatch`): the API writer and the wrapper collect
points, params, notes, output chunks... and hand them over in one call, which the
backend applies in one transaction. The single-item methods are batches of one.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from gatebook.records import AliasEvent, AliasRecord, Artifact, MetricStats, Note, RunRecord, RunStatus

MetricRow = tuple[str, str, "int | None", "float | None", float]
"""(run_id, key, step, value, ts). ``value`` None means NaN."""

OutputChunk = tuple[int, float, str, str]
"""(seq, ts, stream, data): a piece of a run's stdout or stderr."""


@dataclass
class ArtifactRow:
    run_id: str
    path: str
    kind: str
    size: int | None
    sha256: str | None
    ts: float
    content: bytes | None = None
    derived_from: tuple[dict[str, Any], ...] = ()  # see records.Artifact.derived_from


@dataclass
class EventRow:
    run_id: str
    ts: float
    kind: str
    step: int | None = None
    data: Mapping[str, Any] | None = None


@dataclass
class WriteBatch:
    """Everything one flush writes, applied atomically by :meth:`Store.write`."""

    metrics: list[MetricRow] = field(default_factory=list)
    params: list[tuple[str, str, Mapping[str, Any]]] = field(default_factory=list)  # (run_id, source, flat)
    summary: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)  # (run_id, values)
    notes: list[tuple[str, float, str]] = field(default_factory=list)  # (run_id, ts, text)
    artifacts: list[ArtifactRow] = field(default_factory=list)
    output: list[tuple[str, Sequence[OutputChunk]]] = field(default_factory=list)  # (run_id, chunks)
    output_deletes: list[tuple[str, Sequence[int]]] = field(default_factory=list)  # (run_id, seqs)
    events: list[EventRow] = field(default_factory=list)
    tags: list[tuple[str, Sequence[str]]] = field(default_factory=list)
    heartbeats: list[tuple[str, float]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.metrics, self.params, self.summary, self.notes, self.artifacts,
                    self.output, self.output_deletes, self.events, self.tags, self.heartbeats))


@dataclass(frozen=True)
class RunQuery:
    """Filters for :meth:`Store.list_runs`. Every filter is optional; all are ANDed.

    ``name_glob`` uses shell wildcards (``*``, ``?``). ``since`` is seconds since the
    epoch. ``sort`` is a column name (``created``, ``name``, ``status``, ``duration``)
    with an optional leading ``-`` for descending; the default is newest first.
    ``limit`` 0 means no limit; ``offset`` skips that many runs of the sorted list first (paging).
    """

    name_glob: str | None = None
    tags: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    group: str | None = None
    parent_id: str | None = None
    since: float | None = None
    ids: tuple[str, ...] = ()
    sort: str = "-created"
    limit: int = 0
    offset: int = 0
    replicate: str | None = None  # only the runs of this replicate set


class Store(abc.ABC):
    """A ledger of runs.

    Every method may raise :class:`gatebook.errors.StoreError` (with a message saying
    what to do) when the ledger cannot be reached; no backend exception escapes.
    Reads never block on writers for long; writes from many processes at once are
    serialised by the backend and retried, never surfaced as "database is locked".
    """

    url: str

    # -- runs ---------------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(self, run: RunRecord, *, keep_id: bool = False) -> str:
        """Insert a new run (its tags too) and return the id it was stored under.

        When ``run.id`` is already taken (two processes drew the same id in the same
        millisecond), the run is stored under a fresh id of the same millisecond
        (:func:`gatebook.ids.new_run_id` of ``run.created_at``): callers must use the
        returned id. With ``keep_id`` (the id was already handed out, e.g. to a wrapped
        command's environment) a taken id raises StoreError instead and the stored run
        is left as it is.
        """

    @abc.abstractmethod
    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set columns of a run: any RunRecord field but ``id``, ``tags`` and ``status``.

        ``provenance`` is merged (top-level keys) into the stored provenance. An
        unknown run id is ignored (the writer of a child may race the wrapper).
        """

    @abc.abstractmethod
    def set_status(
        self,
        run_id: str,
        status: RunStatus,
        *,
        exit_code: int | None = None,
        reason: str | None = None,
        ended_at: float | None = None,
        only_if: Sequence[RunStatus] | None = (RunStatus.RUNNING,),
    ) -> bool:
        """Move a run to ``status``; returns whether the row changed.

        By default only a running run changes (so a ``stopped`` run is not later
        overwritten by ``interrupted``); ``only_if=None`` changes it whatever it is.
        Records a ``status`` event.
        """

    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """The run with exactly this id; NotFoundError otherwise."""

    @abc.abstractmethod
    def resolve_run(self, ref: str) -> RunRecord:
        """A run from a reference: exact id, then the latest run of that name, then an
        id prefix. NotFoundError (naming similar names) or AmbiguousRunError. ``@name`` is an
        alias: the run it points at, never a run name (an unknown alias is a NotFoundError whose
        message lists the aliases, or says there are none, and whose hint names ``gatebook aliases``)."""

    @abc.abstractmethod
    def list_runs(self, query: RunQuery = RunQuery(), *, full: bool = False) -> list[RunRecord]:
        """Runs matching ``query``, in its sort order; ``full`` reads each run's provenance too
        (left out by default: it is the bulk of a run row)."""

    @abc.abstractmethod
    def count_runs(self, query: RunQuery | None = None) -> int:
        """The number of runs in the ledger (only those ``query``'s filters select, when given;
        its sort, limit and offset do not matter)."""

    # -- writes ---------------------------------------------------------------------------
    @abc.abstractmethod
    def write(self, batch: WriteBatch) -> None:
        """Apply a batch in one transaction: all of it is stored or none of it.

        Params and summary values are upserted (a later value for a key replaces the
        earlier one); metrics, notes, artifacts and events append. Output chunks are
        upserted by ``(run_id, seq)``: a chunk written again with its seq replaces the
        stored one (a line still being drawn, then its final state). ``output_deletes``
        removes the chunks of those seqs (unknown seqs are ignored) before the batch's
        chunks are written.
        """

    def log_metrics(self, rows: Sequence[MetricRow]) -> None:
        self.write(WriteBatch(metrics=list(rows)))

    def log_params(self, run_id: str, source: str, flat: Mapping[str, Any]) -> None:
        self.write(WriteBatch(params=[(run_id, source, flat)]))

    def set_summary(self, run_id: str, values: Mapping[str, Any]) -> None:
        self.write(WriteBatch(summary=[(run_id, values)]))

    def add_note(self, run_id: str, text: str, ts: float) -> None:
        self.write(WriteBatch(notes=[(run_id, ts, text)]))

    def add_artifact(self, row: ArtifactRow) -> None:
        self.write(WriteBatch(artifacts=[row]))

    def delete_output(self, run_id: str, seqs: Sequence[int]) -> None:
        """Remove the run's output chunks with these seqs (the middle of a capped output)."""
        self.write(WriteBatch(output_deletes=[(run_id, list(seqs))]))

    def add_event(self, row: EventRow) -> None:
        self.write(WriteBatch(events=[row]))

    def add_tags(self, run_id: str, tags: Sequence[str]) -> None:
        self.write(WriteBatch(tags=[(run_id, tags)]))

    def heartbeat(self, run_id: str, ts: float) -> None:
        self.write(WriteBatch(heartbeats=[(run_id, ts)]))

    # -- reads ----------------------------------------------------------------------------
    @abc.abstractmethod
    def metric_stats(self, run_ids: Iterable[str]) -> dict[str, dict[str, MetricStats]]:
        """Per run, per key: last (by step, then time), min, max (NaN ignored unless all
        NaN), last_step and count. Runs without metrics map to ``{}``."""

    @abc.abstractmethod
    def metric_series(
        self, run_id: str, keys: Sequence[str] | None = None
    ) -> dict[str, list[tuple[int | None, float, float]]]:
        """Per key, the points ``(step, value, ts)`` in logging order; NaN as NaN."""

    @abc.abstractmethod
    def metric_points(self, run_id: str, key: str, *, start: int | None = None,
                      end: int | None = None) -> tuple[list[int | None], list[float]]:
        """The steps and values of one key's points as two columns, NaN as NaN (a chart's read).

        Without ``start``/``end``: every point, ordered by step (points with equal steps in
        the order they were stored); but when any point of the key was logged without a step, every
        point in logging order (the order of :meth:`metric_series`), so the caller numbers
        them 1, 2, ... (the x rule of :func:`gatebook.buckets.series_xy`). With ``start``
        and/or ``end``: only the points whose step is within ``start..end`` (both
        inclusive, either open when None), ordered by step; points without a step are
        never in a range. An unknown run or key gives ``([], [])``."""

    @abc.abstractmethod
    def metric_points_after(self, run_id: str, after: int = 0, keys: Sequence[str] | None = None,
                            limit: int = 0) -> tuple[list[tuple[str, int | None, float, float]], int]:
        """Points ``(key, step, value, ts)`` stored after the cursor ``after``, in storing
        order, and the cursor to pass next time (``after`` itself when nothing is new).
        Start with 0. Live readers (gates, tails) poll with it and never re-read a point."""

    @abc.abstractmethod
    def points_cursor(self) -> int:
        """The cursor of the newest point in the whole ledger (0 when none): a live reader that
        starts from it with :meth:`metric_points_after` gets only points stored later."""

    @abc.abstractmethod
    def params(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Per source (``config``, ``argv``, ``api``), the flat params."""

    @abc.abstractmethod
    def summary(self, run_id: str) -> dict[str, Any]:
        """The run's summary values."""

    @abc.abstractmethod
    def notes(self, run_id: str) -> list[Note]:
        """Notes in the order they were added."""

    @abc.abstractmethod
    def artifacts(self, run_id: str) -> list[Artifact]:
        """Artifacts in the order they were added (content not loaded)."""

    @abc.abstractmethod
    def artifact_content(self, run_id: str, kind: str) -> bytes | None:
        """The stored content of the latest artifact of ``kind`` (e.g. ``patch``)."""

    @abc.abstractmethod
    def output(self, run_id: str, after_seq: int = -1, limit: int = 0) -> list[OutputChunk]:
        """Output chunks with ``seq > after_seq``, in order; ``limit`` 0 means all."""

    @abc.abstractmethod
    def events(self, run_id: str, kinds: Sequence[str] | None = None) -> list[EventRow]:
        """The run's events (only those of ``kinds`` when given) in the order they happened."""

    # -- batched reads (for commands that read many runs; backends answer in a few queries) --
    def params_many(self, run_ids: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """``{run_id: params(run_id)}`` for every id (unknown ids map to ``{}``)."""
        return {r: self.params(r) for r in run_ids}

    def notes_many(self, run_ids: Sequence[str]) -> dict[str, list[Note]]:
        """``{run_id: notes(run_id)}`` for every id."""
        return {r: self.notes(r) for r in run_ids}

    def events_many(self, run_ids: Sequence[str], kinds: Sequence[str] | None = None) -> dict[str, list[EventRow]]:
        """``{run_id: events(run_id, kinds)}`` for every id."""
        return {r: self.events(r, kinds) for r in run_ids}

    @abc.abstractmethod
    def find_artifacts(self, sha256: str) -> list[tuple[str, Artifact]]:
        """Every logged artifact whose content hash is ``sha256``, as ``(run_id, artifact)``,
        oldest first (by logging time, then the order they were stored; lineage: which run made
        the file a new artifact was derived from). An unknown hash gives ``[]``."""

    # -- aliases: names that point at one run, moved by compare-and-set, with an append-only trail --
    # Names are stored as given (without the ``@``); the registry validates them.
    @abc.abstractmethod
    def get_alias(self, name: str) -> AliasRecord | None:
        """The alias ``name`` (without its ``@``), or None when no run holds it."""

    @abc.abstractmethod
    def list_aliases(self) -> list[AliasRecord]:
        """Every alias, by name."""

    @abc.abstractmethod
    def move_alias(self, name: str, run_id: str, *, expected: str | None, event: AliasEvent) -> bool:
        """Point ``name`` at ``run_id`` if its holder is still ``expected`` (None: the alias does
        not exist yet), and append ``event`` (its ``id`` is ignored) in the same transaction.

        Compare-and-set: returns False, writing nothing (no event either), when another writer
        moved (or created) the alias first; exactly one of two concurrent moves from the same
        holder wins. The alias row takes ``since=event.ts``, ``by=event.by``, ``verdict``,
        ``forced`` and ``reason`` from the event. Moving an alias to the run it already holds
        is not special here (it succeeds and is recorded): callers say "no-op" before calling.

        The event must describe this move: ``event.alias == name``, ``event.from_run ==
        expected``, ``event.to_run == run_id`` and an action that moves (``moved``, ``forced``,
        ``rollback``); otherwise ValueError (a programming error), nothing written."""

    @abc.abstractmethod
    def add_alias_event(self, event: AliasEvent) -> None:
        """Append an event that moves nothing (a refused attempt: action ``refused``, else
        ValueError). The trail has no update or delete path."""

    @abc.abstractmethod
    def alias_events(self, name: str | None = None) -> list[AliasEvent]:
        """The trail of ``name`` (every alias when None), oldest first (in the order the events
        were stored), each with its store-given ``id`` (increasing). ``data`` comes back as JSON
        gives it (tuples as lists; NaN and inf kept)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
