"""The read API for notebooks and scripts: ``Ledger`` opens a ledger and answers with result objects.

::

    from gatebook import Ledger

    with Ledger() as ledger:                       # the project's ledger, found like the CLI finds it
        runs = ledger.runs(tag="ablation", status="finished")
        df = runs.to_pandas()                      # one row per run, params.* and metrics.* columns
        ledger.compare(["baseline", "exp-*"], gates=["promotion"])   # a table in a notebook

Every method goes through the library the commands use (``selection.select_runs``,
``liveness.current``, ``views.run_document``, ``analysis.compare.build_comparison``,
``gates.triage.gate_run``, the store's aliases), so each result's ``to_dict()`` is the
document the matching command prints with ``--json``. The results live in
:mod:`gatebook.ledger_results`; their HTML is :mod:`gatebook.render.html`'s.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from gatebook.errors import NotFoundError, StoreError, UsageError
from gatebook.records import RunRecord, RunStatus

if TYPE_CHECKING:
    from gatebook.ledger_results import (
        AliasesResult,
        CompareResult,
        PromoteResult,
        RunResult,
        RunsResult,
        SeriesResult,
        VerdictResult,
    )
    from gatebook.project_config import ProjectConfig
    from gatebook.store.base import Store

RunLike = Any
"""A run as the methods take it: a reference (id, id prefix, name, ``@alias``), a ``RunRecord``,
or a result holding one run (``RunResult``)."""


class Ledger:
    """A ledger opened for reading (and promoting), from Python.

    ``store`` None opens the project's ledger the way the CLI does (``GATEBOOK_STORE``, else the
    ``.gatebook/`` found walking up from the cwd, or from ``project_dir``); a string is a store URL
    or a ledger path; an open :class:`gatebook.store.base.Store` is used as it is (and left open by
    :meth:`close`). The project's ``gatebook.yaml`` (gates, metric directions, aliases) is read
    from the project found from ``project_dir`` (default: the cwd).
    """

    def __init__(self, store: Store | str | Path | None = None, *, project_dir: str | Path | None = None) -> None:
        from gatebook import project
        from gatebook.store.base import Store as _Store

        start = Path(project_dir).expanduser().resolve() if project_dir is not None else None
        self._pconf: ProjectConfig | None = None
        self._owned = not isinstance(store, _Store)
        if isinstance(store, _Store):
            self._store: Store | None = store
            self._root = project.find_root(start)
            return
        proj = project.locate_for_reading(str(store) if store is not None else None, start=start)
        self._root = proj.root
        from gatebook.store import open_store

        self._store = open_store(proj.store_url)

    # -- lifecycle ----------------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The open store (a StoreError once :meth:`close` was called)."""
        if self._store is None:
            raise StoreError("this Ledger is closed", hint="open a new one: Ledger()")
        return self._store

    @property
    def closed(self) -> bool:
        return self._store is None

    @property
    def project_config(self) -> ProjectConfig:
        """The project's config (gates, metric directions, aliases), read once."""
        if self._pconf is None:
            from gatebook.project_config import load_project_config

            self._pconf = load_project_config(self._root)
        return self._pconf

    def close(self) -> None:
        """Release the ledger (a store passed in open is left open for its owner)."""
        store, self._store = self._store, None
        if store is not None and self._owned:
            store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._store is None:
            return "Ledger(closed)"
        from gatebook.store.urls import redact_store_url

        return f"Ledger({redact_store_url(self._store.url)!r})"

    # -- runs ---------------------------------------------------------------------------------------
    def runs(self, *refs: str, name: str | None = None, tag: str | Sequence[str] | None = None,
             group: str | None = None, status: str | RunStatus | Sequence[str | RunStatus] | None = None,
             since: float | str | _dt.datetime | None = None, last: int | None = None) -> RunsResult:
        """Runs as they are now (vanished ones marked ``lost``): oldest first, or in the order
        ``refs`` name them.

        ``refs`` (ids, id prefixes, names, ``@aliases``, name globs), ``tag`` (one or several: all
        of them) and ``group`` select runs like ``gatebook compare`` does; with none of them, the
        whole ledger. ``name`` (a glob), ``status`` (one or several) and ``since`` (seconds since
        the epoch, a datetime, or ``2h`` / ``3d`` / ``1w`` / ``2026-11-01``) filter; ``last`` keeps
        the newest N of what is left. Nothing selected by ``refs`` / ``tag`` / ``group`` is an
        error (like the CLI); filters that leave nothing give an empty result.
        """
        from gatebook.ledger_results import RunsResult
        from gatebook.liveness import current
        from gatebook.selection import select_runs
        from gatebook.store.base import RunQuery

        store = self.store
        tags = (tag,) if isinstance(tag, str) else tuple(tag or ())
        statuses = _statuses(status)
        from gatebook.selection import parse_since

        since_ts = parse_since(since, option="since") if since is not None else None
        if last is not None and last < 1:
            raise UsageError(f"last={last}: give a positive number of runs")
        filtered = bool(name or statuses or since_ts is not None)
        if refs or tags or group:
            picked = select_runs(store, refs, tags=tags, group=group, last=None if filtered else last, full=False)
            if name:
                picked = [r for r in picked if r.name is not None and fnmatch.fnmatchcase(r.name, name)]
            if since_ts is not None:
                picked = [r for r in picked if r.created_at >= since_ts]
        else:
            # a run found lost just now was "running" in the ledger: ask for both
            asked = statuses + (("running",) if "lost" in statuses and "running" not in statuses else ())
            query = RunQuery(name_glob=name, statuses=asked, since=since_ts, sort="-created",
                             limit=0 if statuses else (last or 0))
            picked = list(reversed(store.list_runs(query)))
        picked = current(store, picked)
        if statuses:
            picked = [r for r in picked if r.status.value in statuses]
        if last is not None:
            picked = sorted(picked, key=lambda r: (r.created_at, r.id))[-last:]
        return RunsResult(picked, self)

    def run(self, ref: RunLike) -> RunResult:
        """One run (an id, id prefix, name or ``@alias``) as it is now; ``to_dict()`` is ``show --json``."""
        from gatebook.ledger_results import RunResult
        from gatebook.liveness import current
        from gatebook.views import run_document

        record = current(self.store, [self._record(ref)])[0]
        return RunResult(record, run_document(self.store, record), self)

    def series(self, run: RunLike, key: str) -> SeriesResult:
        """One metric's points of a run, in logging order: ``(step, value)`` pairs (``ts`` kept too)."""
        from gatebook.ledger_results import SeriesResult

        record = self._record(run)
        points = self.store.metric_series(record.id, [key]).get(key)
        if points is None:
            from gatebook.gates.evaluate import closest_keys

            have = sorted(self.store.metric_stats([record.id])[record.id])
            shown = ", ".join(closest_keys(key, have, n=8)) if have else "none"
            raise NotFoundError(f"run {record.label} never logged {key!r}", hint=f"it has: {shown}")
        return SeriesResult(record, key, points)

    # -- judging --------------------------------------------------------------------------------------
    def compare(self, runs: RunLike | Iterable[RunLike], baseline: RunLike | None = None,
                metrics: str | Sequence[str] | None = None, gates: str | Sequence[str] = (),
                sort: str | None = None) -> CompareResult:
        """Runs side by side; ``to_dict()`` is ``compare --json`` (same selection, baseline and columns)."""
        from gatebook.analysis.compare import build_comparison
        from gatebook.ledger_results import CompareResult
        from gatebook.liveness import current
        from gatebook.selection import select_runs

        store = self.store
        items = _many(runs)
        records = [r if isinstance(r, RunRecord) else getattr(r, "record", None) for r in items]
        if items and all(isinstance(r, RunRecord) for r in records):  # runs already read (ledger.runs())
            selected = list({r.id: r for r in records if r is not None}.values())
        else:
            selected = select_runs(store, [_ref_of(r) for r in items], full=False)
        base = None
        if baseline is not None:
            try:
                base = current(store, [self._record(baseline)])[0]
            except NotFoundError as exc:
                raise NotFoundError(f"baseline: {exc.message}", hint=exc.hint) from None
        selected = current(store, selected)
        gate_names = _names(gates)
        comparison = build_comparison(store, selected, metrics=_names(metrics) or None, baseline=base,
                                      pconf=self.project_config, gates=gate_names, sort=sort)
        return CompareResult(comparison, self)

    def gate(self, run: RunLike, gates: str | Sequence[str] = (), baseline: RunLike | None = None) -> VerdictResult:
        """``run`` judged by the gates of gatebook.yaml (all when none given); ``to_dict()`` is ``gate --json``."""
        from gatebook.gates.triage import gate_run
        from gatebook.ledger_results import VerdictResult

        judged = gate_run(self.store, self.project_config, _ref_of(run), _names(gates),
                          None if baseline is None else _ref_of(baseline))
        return VerdictResult(judged)

    # -- aliases --------------------------------------------------------------------------------------
    def aliases(self) -> AliasesResult:
        """Every alias and the run it points at; ``to_dict()`` is ``aliases --json``."""
        from gatebook.ledger_results import AliasesResult
        from gatebook.registry.trail import list_aliases

        return AliasesResult(list_aliases(self.store))

    def promote(self, run: RunLike, to: str, gates: str | Sequence[str] = (), allow_marginal: bool = False,
                force: bool = False, reason: str | None = None) -> PromoteResult:
        """``gatebook promote RUN --to ALIAS``: judge ``run`` against the alias's holder (``to`` is
        ``champion`` or ``@champion``) and move the alias only when it passes (or ``force`` with a
        ``reason``); ``to_dict()`` is ``promote --json``. A refused promotion is a result (its
        ``moved`` is false, its verdict says why), not an exception."""
        from gatebook.ledger_results import PromoteResult
        from gatebook.registry.promote import promote

        outcome = promote(self.store, self.project_config, _ref_of(run), to, gates=_names(gates),
                          allow_marginal=allow_marginal, force=force, reason=reason)
        return PromoteResult(outcome)

    # -- helpers --------------------------------------------------------------------------------------
    def _record(self, run: RunLike) -> RunRecord:
        if isinstance(run, RunRecord):
            return run
        return self.store.resolve_run(_ref_of(run))

    def curves(self, run_id: str, keys: Sequence[str]) -> dict[str, list[tuple[int | None, float, float]]]:
        """The series of ``keys`` for the HTML curves; ``{}`` once the ledger is closed."""
        if self._store is None or not keys:
            return {}
        return self._store.metric_series(run_id, list(keys))


def _ref_of(run: RunLike) -> str:
    """The reference a command would take for ``run``."""
    if isinstance(run, str):
        return run
    if isinstance(run, RunRecord):
        return run.id
    record = getattr(run, "record", None)
    if isinstance(record, RunRecord):
        return record.id
    raise UsageError(f"not a run: {run!r}", hint="give a run id, name, @alias, a RunRecord or a ledger.run() result")


def _many(runs: RunLike | Iterable[RunLike]) -> list[RunLike]:
    if isinstance(runs, (str, RunRecord)) or isinstance(getattr(runs, "record", None), RunRecord):
        return [runs]
    return list(runs)


def _names(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _statuses(status: str | RunStatus | Sequence[str | RunStatus] | None) -> tuple[str, ...]:
    items = [status] if isinstance(status, (str, RunStatus)) else list(status or ())
    known = [s.value for s in RunStatus]
    out = []
    for item in items:
        value = item.value if isinstance(item, RunStatus) else str(item)
        if value not in known:
            raise UsageError(f"status {value!r} is not a run status", hint=f"use one of: {', '.join(known)}")
        out.append(value)
    return tuple(out)
