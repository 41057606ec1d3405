"""Import MLflow runs into the ledger: one transaction per run, idempotent by the MLflow run id.

``gatebook import mlflow --tracking-uri URI [--experiment NAME]...`` (gatebook.cli.import_mlflow)
calls :func:`import_mlflow`. The runs are read whole first (:mod:`gatebook.importers.mlflow_read`),
then each is written by :func:`gatebook.importers._write.write_run` in one transaction, parents
before their children. How an MLflow run maps onto a gatebook run (docs/import.md, "MLflow"):

- name: the run name; group: the experiment's name; ``created_at`` / ``ended_at``: start / end;
- status: FINISHED -> finished, FAILED -> failed, KILLED -> interrupted (reason "killed in MLflow"),
  RUNNING and SCHEDULED -> running (updated by the next import);
- params: every MLflow param, as strings, under the params source ``mlflow``;
- tags: each user tag becomes the gatebook tag ``key=value`` (``key`` alone when the value is empty,
  multi-line or long); every run also gets the tag ``mlflow``. System tags (``mlflow.*``) are kept in
  the provenance; ``mlflow.parentRunId`` becomes the parent, ``mlflow.user`` the user,
  ``mlflow.source.name`` the command, ``mlflow.source.git.*`` the git commit / branch / remote, and
  ``mlflow.note.content`` (the run's description) a note;
- metrics: every point of every metric, with its step and timestamp (NaN and inf kept);
- provenance ``{"mlflow": {"run_id", "experiment_id", "experiment", "tracking_uri",
  "artifact_uri", "parent_run_id", "status", "tags"}}`` (the URI without credentials): the
  artifacts stay where MLflow put them.

A second import adds nothing. A run imported while MLflow said RUNNING gets the points logged since
(a multiset difference with the ledger's series), its new params and tags, and its new status.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from gatebook.importers._write import ImportedPoint, RunData, import_state, imported_runs, write_run
from gatebook.importers.mlflow_read import MlflowRun, read_runs
from gatebook.records import RunRecord, RunStatus
from gatebook.store.base import Store

SOURCE = "mlflow"
"""The importer's name: the params source, the tag every imported run gets, the provenance key."""
STATUSES = {"FINISHED": RunStatus.FINISHED, "FAILED": RunStatus.FAILED, "KILLED": RunStatus.INTERRUPTED,
            "RUNNING": RunStatus.RUNNING, "SCHEDULED": RunStatus.RUNNING}
KILLED_REASON = "killed in MLflow (status KILLED)"
_TAG_MAX = 120  # a user tag's value longer than this stays in the provenance only
_GIT_TAGS = {"mlflow.source.git.commit": "commit", "mlflow.source.git.branch": "branch",
             "mlflow.source.git.repoURL": "remote"}


@dataclass(frozen=True)
class ImportedRun:
    """What the import did with one MLflow run."""

    id: str
    name: str | None
    mlflow_run_id: str
    experiment: str
    status: str
    action: str  # created | updated | unchanged
    points: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "mlflow_run_id": self.mlflow_run_id,
                "experiment": self.experiment, "status": self.status, "action": self.action,
                "points": self.points}


@dataclass(frozen=True)
class MlflowImport:
    """The result of one ``gatebook import mlflow`` (its ``--json`` document is :meth:`to_dict`)."""

    tracking_uri: str  # without credentials
    experiments: tuple[str, ...]
    runs: list[ImportedRun] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, action: str) -> int:
        return sum(1 for r in self.runs if r.action == action)

    @property
    def points(self) -> int:
        return sum(r.points for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {"source": SOURCE, "tracking_uri": self.tracking_uri, "experiments": list(self.experiments),
                "created": self.count("created"), "updated": self.count("updated"),
                "unchanged": self.count("unchanged"), "points": self.points,
                "seconds": round(self.seconds, 3), "runs": [r.to_dict() for r in self.runs]}


def import_mlflow(store: Store, tracking_uri: str, experiments: Sequence[str] = (), *, via: str = "auto",
                  now: float | None = None) -> MlflowImport:
    """Import every active run of the selected experiments (all when none) at ``tracking_uri``.

    Args:
        store: the ledger.
        tracking_uri: ``sqlite:///...``, ``file:///...`` (or a directory), ``http(s)://...``, or any
            URI MLflow's client takes.
        experiments: experiment names; none means every active experiment.
        via: ``"auto"`` (MLflow's SQLite and file stores read directly) or ``"client"`` (MLflow's client).
        now: the clock (the heartbeat of runs still running), for tests.

    Raises:
        UsageError: the tracking URI does not exist / does not answer, or names no such experiment;
            nothing is written (the source is read whole before the first write).
        StoreError: the ledger could not be written; every run written before is whole.
    """
    from gatebook.capture.redact import strip_credentials

    t0 = time.perf_counter()
    shown = strip_credentials(tracking_uri)
    runs = read_runs(tracking_uri, experiments, via=via)
    known = imported_runs(store, SOURCE)
    ids = {key: run.id for key, run in known.items()}
    out = MlflowImport(shown, tuple(experiments))
    stamp = time.time() if now is None else now
    for mr in parents_first(runs):
        old = known.get(mr.run_id)
        parent = ids.get(mr.tags.get("mlflow.parentRunId", ""))
        record = to_record(mr, shown, parent_id=parent, now=stamp)
        data, state = new_data(store, mr, old, record)
        outcome = write_run(store, record, data, source=SOURCE, key=mr.run_id, state=state, existing=old)
        if old is not None and parent and old.parent_id != parent:  # its parent arrived in a later import
            store.update_run(old.id, parent_id=parent)
        if record.status is RunStatus.RUNNING:  # alive as long as MLflow says so (docs/import.md)
            store.heartbeat(outcome.run_id, stamp)
        ids[mr.run_id] = outcome.run_id
        action = "created" if outcome.created else "updated" if outcome.changed else "unchanged"
        out.runs.append(ImportedRun(outcome.run_id, record.name, mr.run_id, mr.experiment, record.status.value,
                                    action, outcome.points))
    return MlflowImport(out.tracking_uri, out.experiments, out.runs, time.perf_counter() - t0)


def parents_first(runs: Sequence[MlflowRun]) -> list[MlflowRun]:
    """``runs`` with every parent before its children (else the order they came in)."""
    by_id = {r.run_id: r for r in runs}
    out: list[MlflowRun] = []
    placed: set[str] = set()

    def place(run: MlflowRun, seen: frozenset[str]) -> None:
        if run.run_id in placed:
            return
        parent = by_id.get(run.tags.get("mlflow.parentRunId", ""))
        if parent is not None and parent.run_id not in seen:
            place(parent, seen | {run.run_id})
        placed.add(run.run_id)
        out.append(run)

    for run in runs:
        place(run, frozenset())
    return out


def to_record(mr: MlflowRun, shown_uri: str, *, parent_id: str | None, now: float) -> RunRecord:
    """The gatebook run an MLflow run is (its id is drawn when it is written)."""
    from gatebook.capture.redact import strip_credentials

    status = STATUSES.get(mr.status.upper(), RunStatus.RUNNING)
    system = {k: v for k, v in mr.tags.items() if k.startswith("mlflow.")}
    git = {field_: strip_credentials(system[tag]) for tag, field_ in _GIT_TAGS.items() if system.get(tag)}
    provenance: dict[str, Any] = {SOURCE: {
        "run_id": mr.run_id, "experiment_id": mr.experiment_id, "experiment": mr.experiment,
        "tracking_uri": shown_uri, "artifact_uri": strip_credentials(mr.artifact_uri) if mr.artifact_uri else None,
        "parent_run_id": system.get("mlflow.parentRunId"), "status": mr.status, "tags": system}}
    if git:
        provenance["git"] = git
    created = mr.start if mr.start is not None else _first_ts(mr) or now
    ended = None if status is RunStatus.RUNNING else (mr.end if mr.end is not None else _last_ts(mr) or created)
    source_name = system.get("mlflow.source.name")
    return RunRecord(
        id="", name=mr.name or system.get("mlflow.runName") or mr.run_id, status=status, created_at=created,
        ended_at=ended, reason=KILLED_REASON if mr.status.upper() == "KILLED" else None, parent_id=parent_id,
        group=mr.experiment, tags=user_tags(mr.tags), command=(source_name,) if source_name else (),
        user=system.get("mlflow.user") or (mr.user if mr.user != "unknown" else None) or None, source="import",
        heartbeat_at=now if status is RunStatus.RUNNING else None, provenance=provenance)


def user_tags(tags: dict[str, str]) -> tuple[str, ...]:
    """gatebook tags of an MLflow run's user tags: ``key=value``, or ``key`` for a value that is empty,
    multi-line or longer than 120 characters (kept in the provenance as it is)."""
    out = []
    for key, value in sorted(tags.items()):
        if key.startswith("mlflow."):
            continue
        short = value and "\n" not in value and len(value) <= _TAG_MAX
        out.append(f"{key}={value}" if short else key)
    return tuple(out)


def new_data(store: Store, mr: MlflowRun, old: RunRecord | None, record: RunRecord) -> tuple[RunData, dict[str, Any]]:
    """What to write for ``mr``: everything for a new run; for one imported before, the points the
    ledger does not have yet and the params and tags when they changed. Returns the data and the
    state to keep (points per metric, a digest of params and tags)."""
    state = {"counts": {k: len(v) for k, v in mr.metrics.items()}, "meta": _digest(mr)}
    if old is None:
        note = mr.tags.get("mlflow.note.content")
        return RunData(metrics=[(k, s, v, ts) for k, pts in mr.metrics.items() for s, v, ts in pts],
                       params={SOURCE: dict(mr.params)}, tags=record.tags,
                       notes=[(record.created_at, note)] if note else []), state
    before = import_state(old)
    stored = before.get("counts")
    counts: dict[str, Any] = stored if isinstance(stored, dict) else {}
    changed = [k for k, pts in mr.metrics.items() if counts.get(k) != len(pts)]
    data = RunData(metrics=_missing_points(store, old.id, mr, changed) if changed else [])
    if before.get("meta") != state["meta"]:
        data.params = {SOURCE: dict(mr.params)}
        data.tags = record.tags
    return data, state


def _missing_points(store: Store, run_id: str, mr: MlflowRun, keys: list[str]) -> list[ImportedPoint]:
    """The points of ``keys`` that MLflow has and the ledger does not (a multiset difference on
    step, millisecond timestamp and value), in MLflow's order."""
    stored = store.metric_series(run_id, keys)
    out: list[ImportedPoint] = []
    for key in keys:
        have = Counter(_point_key(s, v, ts) for s, v, ts in stored.get(key, []))
        for step, value, ts in mr.metrics[key]:
            pk = _point_key(step, value, ts)
            if have[pk] > 0:
                have[pk] -= 1
            else:
                out.append((key, step, value, ts))
    return out


def _point_key(step: int | None, value: float, ts: float) -> tuple[Any, ...]:
    return (step, round(ts * 1000.0), "nan" if value != value else value)


def _digest(mr: MlflowRun) -> str:
    text = json.dumps([mr.params, {k: v for k, v in mr.tags.items() if not k.startswith("mlflow.")}],
                      sort_keys=True)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _first_ts(mr: MlflowRun) -> float | None:
    return min((pts[0][2] for pts in mr.metrics.values() if pts), default=None)


def _last_ts(mr: MlflowRun) -> float | None:
    return max((pts[-1][2] for pts in mr.metrics.values() if pts), default=None)
