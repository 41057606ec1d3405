"""``gatebook import history FILE --name N``: a history file a training already wrote, as one run.

The file is read by the same readers as ``gatebook run --watch`` (:class:`gatebook.ingest.follow.
FileFollower`, formats in :mod:`gatebook.ingest.formats`): a ``history.json`` (a list of rows, a
Keras-style dict of lists, a Hugging Face ``trainer_state.json``), JSON lines, CSV / TSV, or a
text log of metric lines. Each row's step is its ``step`` / ``epoch`` / ``global_step`` /
``iteration``, else its 1-based number; every point gets the file's modification time, which is
also the run's start and end (status ``finished``).

One run, one transaction (:mod:`gatebook.importers._write`). A file that gives no numeric value
is a :class:`~gatebook.errors.UsageError` (exit 2) and nothing is written. Idempotent: the run's
key is the file's absolute path and the run name; importing again adds only the points past those
already imported (rows appended since), nothing when there are none.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatebook.errors import UsageError
from gatebook.importers._write import RunData, import_state, imported_runs, write_run
from gatebook.records import RunRecord, RunStatus
from gatebook.store.base import Store

SOURCE = "history"
_MAX_READS = 100_000  # chunks of 16 MiB: far beyond any history file


@dataclass(frozen=True)
class HistoryImport:
    """What ``gatebook import history`` did (its ``--json`` document is :meth:`to_dict`)."""

    id: str
    name: str
    file: str
    format: str | None
    created: bool
    points: int
    keys: list[str]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source": SOURCE, "id": self.id, "name": self.name, "file": self.file, "format": self.format,
                "created": self.created, "points": self.points, "keys": list(self.keys),
                "warnings": list(self.warnings)}


def read_history(path: Path, fmt: str | None = None) -> tuple[list[tuple[str, int | None, float]], str | None,
                                                                list[str]]:
    """(points, format, messages): every point of a whole history file, as ``--watch`` reads it.

    Raises:
        UsageError: the file is missing, not a regular file, or cannot be read.
    """
    from gatebook.ingest.follow import FileFollower

    try:
        st = os.stat(path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}", hint="give a history file") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path} is not a file", hint="give a history file (JSON, JSON lines, CSV)")
    try:
        follower = FileFollower(path, fmt)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    points: list[tuple[str, int | None, float]] = []
    for _ in range(_MAX_READS):  # a read takes at most one chunk: until a read adds nothing
        got = follower.close()
        if not got:
            break
        points.extend(got)
    trouble = [e for e in follower.errors if e.startswith("cannot read")]
    if trouble:
        raise UsageError(trouble[0])
    return points, follower.fmt, list(follower.errors)


def import_history(store: Store, file: str | Path, *, name: str, parent: str | None = None,
                   fmt: str | None = None) -> HistoryImport:
    """Import one history file as the run ``name`` (see the module docstring).

    Raises:
        UsageError: an empty name, a missing or unreadable file, a file with no numeric value.
        NotFoundError: ``parent`` names no run.
        StoreError: the ledger cannot be written.
    """
    if not name.strip():
        raise UsageError("--name is empty", hint="name the run: --name NAME")
    path = Path(file).expanduser().resolve()
    points, found_fmt, messages = read_history(path, fmt)
    if not points:
        why = f" ({messages[0]})" if messages else ""
        raise UsageError(f"{file}: no numeric column or value found{why}; nothing imported",
                         hint="a history file holds rows of numbers: JSON, JSON lines or CSV")
    parent_id = store.resolve_run(parent).id if parent else None
    key = f"{path}::{name}"
    existing = imported_runs(store, SOURCE).get(key)
    done = int(import_state(existing).get("points", 0))
    warnings = list(messages)
    if done > len(points):
        warnings.append(f"{file} has fewer points than when it was imported ({len(points)} < {done}); "
                        "nothing added")
        new = []
    else:
        new = points[done:]
    mtime = os.stat(path).st_mtime
    record = RunRecord(id="", name=name, status=RunStatus.FINISHED, created_at=mtime, ended_at=mtime,
                       parent_id=parent_id, cwd=str(path.parent), source="import",
                       provenance={SOURCE: {"file": str(path), "format": found_fmt}})
    if existing is not None:
        record = RunRecord(id=existing.id, name=existing.name, status=existing.status,
                           created_at=existing.created_at, ended_at=max(existing.ended_at or mtime, mtime),
                           exit_code=existing.exit_code, reason=existing.reason)
    data = RunData(metrics=[(k, s, v, mtime) for k, s, v in new])
    outcome = write_run(store, record, data, source=SOURCE, key=key,
                        state={"points": max(done, len(points))}, existing=existing)
    keys = list(dict.fromkeys(k for k, _, _ in points))
    return HistoryImport(outcome.run_id, (existing.name or name) if existing else name, str(path), found_fmt,
                         outcome.created, outcome.points, keys, warnings)
