"""What ``gatebook.Ledger`` answers with: plain results with ``to_dict()``, ``to_pandas()`` and HTML.

Each result holds the library's own data (run records, the show document, a ``Comparison``,
a ``Judged`` verdict, alias records); ``to_dict()`` is the document the matching command
prints with ``--json`` (NaN stays a float until it is written as JSON, where it becomes
``"NaN"``), ``to_pandas()`` a DataFrame when pandas is installed, and ``_repr_html_()`` the
table a notebook shows, drawn by :mod:`gatebook.render.html`. Curves in the HTML are read
from the ledger when the result is shown, while its ``Ledger`` is open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence, overload

from gatebook.records import AliasRecord, RunRecord

if TYPE_CHECKING:
    from gatebook.analysis.compare import Comparison
    from gatebook.gates.triage import Judged
    from gatebook.ledger import Ledger
    from gatebook.registry.promote import Promotion
    from gatebook.registry.trail import AliasList


def require_pandas() -> Any:
    """The pandas module, or a MissingExtraError (exit 2, one line) naming ``pip install pandas``."""
    try:
        import pandas
    except ImportError:
        from gatebook.errors import MissingExtraError

        err = MissingExtraError("pandas", "pandas", "to_pandas()")
        err.hint = "install it with: pip install pandas"
        raise err from None
    return pandas


def _utc(pd: Any, seconds: Sequence[float | None]) -> Any:
    return pd.to_datetime(pd.Series(seconds, dtype="float64"), unit="s", utc=True)


def runs_frame(runs: Sequence[RunRecord], params: Mapping[str, Mapping[str, Any]],
               metrics: Mapping[str, Mapping[str, float]]) -> Any:
    """One row per run: id, name, status, created (UTC), duration (s), ``params.*``, ``metrics.*``
    (each metric's last value); a run without a param or metric has NaN / None there."""
    pd = require_pandas()
    n = len(runs)
    columns: dict[str, Any] = {
        "id": [r.id for r in runs], "name": [r.name for r in runs], "status": [r.status.value for r in runs],
        "created": _utc(pd, [r.created_at for r in runs]),
        "duration": pd.Series([r.duration for r in runs], dtype="float64"),
    }
    for prefix, per_run in (("params.", params), ("metrics.", metrics)):
        found: dict[str, list[Any]] = {}
        for i, run in enumerate(runs):
            for key, value in per_run.get(run.id, {}).items():
                col = found.get(key)
                if col is None:
                    col = found[key] = [None] * n
                col[i] = value
        for key in sorted(found):
            values = found[key]
            # metrics are floats; params keep their own type (numbers become a numeric column)
            columns[prefix + key] = pd.Series(values, dtype="float64" if prefix == "metrics." else None)
    return pd.DataFrame(columns)


class RunsResult(Sequence[RunRecord]):
    """Runs (``RunRecord``s), oldest first; ``to_dict()`` is the ``ls --json`` document of them."""

    def __init__(self, runs: Sequence[RunRecord], ledger: Ledger | None = None) -> None:
        self.runs = list(runs)
        self._ledger = ledger

    @overload
    def __getitem__(self, index: int) -> RunRecord: ...

    @overload
    def __getitem__(self, index: slice) -> RunsResult: ...

    def __getitem__(self, index: int | slice) -> RunRecord | RunsResult:
        if isinstance(index, slice):
            return RunsResult(self.runs[index], self._ledger)
        return self.runs[index]

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self) -> Iterator[RunRecord]:
        return iter(self.runs)

    def __repr__(self) -> str:
        shown = ", ".join(r.name or r.id for r in self.runs[:5]) + (", ..." if len(self.runs) > 5 else "")
        return f"<RunsResult: {len(self.runs)} run{'s' if len(self.runs) != 1 else ''}: {shown}>"

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.runs]

    def to_dict(self) -> dict[str, Any]:
        from gatebook.views import ls_row

        return {"runs": [ls_row(r) for r in self.runs]}

    def to_pandas(self) -> Any:
        """One row per run (see :func:`runs_frame`): params and metrics read in one batched call each."""
        require_pandas()
        from gatebook.views import merged_params

        if self._ledger is None or not self.runs:
            return runs_frame(self.runs, {}, {})
        store = self._ledger.store
        ids = self.ids
        params = {rid: merged_params(by_source) for rid, by_source in store.params_many(ids).items()}
        stats = store.metric_stats(ids)
        last = {rid: {k: s.last for k, s in per.items()} for rid, per in stats.items()}
        return runs_frame(self.runs, params, last)

    def _repr_html_(self) -> str:
        from gatebook.render.html import runs_html

        return runs_html(self.runs)


class RunResult:
    """One run and its ``show --json`` document (``to_dict()``)."""

    def __init__(self, record: RunRecord, document: dict[str, Any], ledger: Ledger | None = None) -> None:
        self.record = record
        self.document = document
        self._ledger = ledger

    id = property(lambda self: self.record.id)
    name = property(lambda self: self.record.name)
    status = property(lambda self: self.record.status)
    params = property(lambda self: self.document["params"], doc="The merged params (config, argv, then api).")
    metrics = property(lambda self: self.document["metrics"], doc="Per key: last, min, max, last_step, count.")
    summary = property(lambda self: self.document["summary"])

    def __repr__(self) -> str:
        return f"<RunResult {self.record.label}: {self.record.status.value}>"

    def to_dict(self) -> dict[str, Any]:
        return self.document

    def to_pandas(self) -> Any:
        """The run as one row, the columns of :meth:`RunsResult.to_pandas`."""
        metrics = {k: m["last"] for k, m in self.document["metrics"].items()}
        return runs_frame([self.record], {self.record.id: self.document["params"]}, {self.record.id: metrics})

    def _repr_html_(self) -> str:
        from gatebook.render.html import run_html

        curves = self._ledger.curves(self.record.id, list(self.document["metrics"])) if self._ledger else {}
        return run_html(self.document, curves)


class SeriesResult(Sequence[tuple["int | None", float]]):
    """One metric of one run: ``(step, value)`` points in logging order (``timestamps`` alongside)."""

    def __init__(self, run: RunRecord, key: str, points: Sequence[tuple[int | None, float, float]]) -> None:
        self.run = run
        self.key = key
        self.points = [(step, value) for step, value, _ts in points]
        self.timestamps = [ts for _step, _value, ts in points]

    @overload
    def __getitem__(self, index: int) -> tuple[int | None, float]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[int | None, float]]: ...

    def __getitem__(self, index: int | slice) -> Any:
        return self.points[index]

    def __len__(self) -> int:
        return len(self.points)

    def __iter__(self) -> Iterator[tuple[int | None, float]]:
        return iter(self.points)

    def __repr__(self) -> str:
        return f"<SeriesResult {self.key} of {self.run.label}: {len(self.points)} points>"

    @property
    def steps(self) -> list[int | None]:
        return [s for s, _ in self.points]

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.points]

    def to_dict(self) -> dict[str, Any]:
        """``{"run": {id, name}, "key", "points": [{step, value, ts}]}`` (ts: seconds since the epoch)."""
        return {"run": {"id": self.run.id, "name": self.run.name}, "key": self.key,
                "points": [{"step": s, "value": v, "ts": ts}
                           for (s, v), ts in zip(self.points, self.timestamps, strict=True)]}

    def to_pandas(self) -> Any:
        """Columns step (nullable integer), value and ts (UTC)."""
        pd = require_pandas()
        return pd.DataFrame({"step": pd.array(self.steps, dtype="Int64"),
                             "value": pd.Series(self.values, dtype="float64"),
                             "ts": _utc(pd, self.timestamps)})

    def _repr_html_(self) -> str:
        from gatebook.render.html import series_html

        return series_html(self.run.name or self.run.id, self.key, self.points)


class CompareResult:
    """Runs side by side (a ``Comparison``); ``to_dict()`` is ``compare --json``."""

    def __init__(self, comparison: Comparison, ledger: Ledger | None = None) -> None:
        self.comparison = comparison
        self._ledger = ledger

    def __repr__(self) -> str:
        return f"<CompareResult: {len(self.comparison.rows)} runs x {len(self.comparison.metrics)} metrics>"

    def to_dict(self) -> dict[str, Any]:
        return self.comparison.to_dict()

    def to_pandas(self) -> Any:
        """One row per run (the baseline first): id, name, status, baseline, then per metric
        ``metrics.K``, ``delta.K``, ``delta_pct.K``, then per gate ``verdict.G``."""
        pd = require_pandas()
        rows = self.comparison.rows
        columns: dict[str, Any] = {"id": [r.run.id for r in rows], "name": [r.run.name for r in rows],
                                   "status": [r.run.status.value for r in rows],
                                   "baseline": [r.is_baseline for r in rows]}
        for key in self.comparison.keys:
            for prefix, attr in (("metrics.", "value"), ("delta.", "delta"), ("delta_pct.", "delta_pct")):
                columns[prefix + key] = pd.Series([getattr(r.cells[key], attr) for r in rows], dtype="float64")
        for gate in self.comparison.gates:
            columns["verdict." + gate] = [c.verdict if (c := r.verdicts.get(gate)) else None for r in rows]
        return pd.DataFrame(columns)

    def _repr_html_(self) -> str:
        from gatebook.render.html import compare_html

        keys = self.comparison.keys
        curves: dict[str, list[tuple[str, list[tuple[int | None, float]]]]] = {k: [] for k in keys}
        if self._ledger is not None:
            for row in self.comparison.rows:
                found = self._ledger.curves(row.run.id, keys)
                for key in keys:
                    curves[key].append((row.label, [(s, v) for s, v, _ts in found.get(key, [])]))
        return compare_html(self.comparison, curves)


class VerdictResult:
    """A run judged by gates (``gatebook.gates.triage.Judged``); ``to_dict()`` is ``gate --json``."""

    def __init__(self, judged: Judged) -> None:
        self.judged = judged

    run = property(lambda self: self.judged.run)
    verdict = property(lambda self: self.judged.verdict)
    tier = property(lambda self: self.judged.verdict.tier, doc="The worst gate's tier (a ``Tier``).")

    def __repr__(self) -> str:
        return f"<VerdictResult {self.judged.run.label}: {self.judged.verdict.tier.value}>"

    def to_dict(self) -> dict[str, Any]:
        return self.judged.to_dict()

    def to_pandas(self) -> Any:
        """One row per check: gate, check, metric, observed, threshold, tier, reason."""
        pd = require_pandas()
        rows = [{"gate": g.name, "check": c.check, "metric": c.metric, "observed": c.observed,
                 "threshold": c.threshold, "tier": c.tier.value, "reason": c.reason}
                for g in self.judged.verdict.gates for c in g.checks]
        return pd.DataFrame(rows, columns=["gate", "check", "metric", "observed", "threshold", "tier", "reason"])

    def _repr_html_(self) -> str:
        from gatebook.render.html import verdict_html

        return verdict_html(self.to_dict())


class AliasesResult(Sequence[AliasRecord]):
    """Every alias (``AliasRecord``s, by name), from ``gatebook.registry.trail.list_aliases``;
    ``to_dict()`` is ``aliases --json``."""

    def __init__(self, listed: AliasList) -> None:
        self.listed = listed
        self.aliases = [row.alias for row in listed.rows]

    @overload
    def __getitem__(self, index: int) -> AliasRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[AliasRecord]: ...

    def __getitem__(self, index: int | slice) -> Any:
        return self.aliases[index]

    def __len__(self) -> int:
        return len(self.aliases)

    def __iter__(self) -> Iterator[AliasRecord]:
        return iter(self.aliases)

    def __repr__(self) -> str:
        return "<AliasesResult: " + (", ".join("@" + a.name for a in self.aliases) or "none") + ">"

    def to_dict(self) -> dict[str, Any]:
        return self.listed.to_dict()

    def to_pandas(self) -> Any:
        """One row per alias: alias, run_id, run_name, since (UTC), by, verdict, forced, reason."""
        pd = require_pandas()
        rows = self.listed.rows
        return pd.DataFrame({"alias": [r.alias.name for r in rows], "run_id": [r.alias.run_id for r in rows],
                             "run_name": [r.run.get("name") for r in rows],
                             "since": _utc(pd, [r.alias.since for r in rows]),
                             "by": [r.alias.by for r in rows], "verdict": [r.alias.verdict for r in rows],
                             "forced": [r.alias.forced for r in rows], "reason": [r.alias.reason for r in rows]})

    def _repr_html_(self) -> str:
        from gatebook.render.html import aliases_html

        return aliases_html(self.to_dict()["aliases"])


class PromoteResult:
    """What ``Ledger.promote`` did (a ``gatebook.registry.promote.Promotion``, whose attributes
    are reachable here: ``moved``, ``action``, ``tier``...); ``to_dict()`` is ``promote --json``."""

    def __init__(self, outcome: Promotion) -> None:
        self.outcome = outcome

    def __getattr__(self, name: str) -> Any:
        if name == "outcome":  # not set yet (copy, pickle)
            raise AttributeError(name)
        return getattr(self.outcome, name)

    def __repr__(self) -> str:
        o = self.outcome
        tier = f" ({o.tier.value})" if o.tier is not None else ""
        return f"<PromoteResult @{o.alias}: {o.action} {o.run.label}{tier}>"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.outcome.to_dict())

    def to_pandas(self) -> Any:
        """The document flattened to one row (``pandas.json_normalize``)."""
        return require_pandas().json_normalize(self.to_dict())

    def _repr_html_(self) -> str:
        from gatebook.render.html import promotion_html

        return promotion_html(self.to_dict())
