"""``gatebook import tensorboard LOGDIR``: every scalar of every event file, a run per run directory.

A run directory is a directory holding event files (``tfevents`` in the name), as TensorBoard
counts runs; its run is named by its path relative to LOGDIR (LOGDIR itself: LOGDIR's own name),
or ``--name N`` (``N`` for a single run, ``N/<relative path>`` for several). Every scalar point is
kept (never sampled: tensorboard's ``EventAccumulator`` keeps 10,000 per tag by default), at its
step, with its wall time as the point's time; the run starts at its first point and ends at its
last, status ``finished``.

Idempotent: a run's external key is its directory's absolute path; the byte offset read of each of
its event files is kept with the run (``provenance.import.state``). A second import adds nothing;
a re-import after the writer went on adds the new points of grown files and of new files.
Everything is read (and every CRC checked) before anything is written: a corrupt or unreadable
event file is a :class:`~gatebook.errors.UsageError` (exit 2) and nothing is imported; each run
is then written in one transaction (:mod:`gatebook.importers._write`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatebook.errors import UsageError
from gatebook.importers._write import RunData, import_state, imported_runs, write_run
from gatebook.ingest.tensorboard import EventFile, event_files
from gatebook.ingest.tfrecord import CorruptRecord
from gatebook.records import RunRecord, RunStatus
from gatebook.store.base import Store

SOURCE = "tensorboard"


@dataclass(frozen=True)
class ImportedRun:
    """One run directory's outcome: the run, whether it was created, the points added."""

    id: str
    name: str
    directory: str
    created: bool
    points: int
    files: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "directory": self.directory, "created": self.created,
                "points": self.points, "files": self.files}


@dataclass(frozen=True)
class TensorBoardImport:
    """What ``gatebook import tensorboard`` did (its ``--json`` document is :meth:`to_dict`)."""

    logdir: str
    runs: list[ImportedRun]
    warnings: list[str] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(r.points for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {"source": SOURCE, "logdir": self.logdir, "runs": [r.to_dict() for r in self.runs],
                "created": sum(r.created for r in self.runs), "points": self.points, "warnings": list(self.warnings)}


@dataclass
class _RunRead:
    rel: str
    directory: Path
    points: list[tuple[str, int, float, float]]
    state: dict[str, Any]
    files: int
    mtime: float
    host: str | None = None


def run_directories(logdir: Path) -> dict[str, list[Path]]:
    """The run directories under ``logdir`` (relative posix path, ``.`` for itself) -> their event files."""
    runs: dict[str, list[Path]] = {}
    for path in event_files(logdir):
        rel = path.parent.relative_to(logdir).as_posix()
        runs.setdefault(rel, []).append(path)
    return runs


def import_tensorboard(store: Store, logdir: str | Path, *, name: str | None = None) -> TensorBoardImport:
    """Import (or bring up to date) the runs of a TensorBoard log directory; see the module docstring.

    Raises:
        UsageError: LOGDIR is missing or holds no event file, or an event file is corrupt or
            unreadable (nothing is written then).
        StoreError: the ledger cannot be written.
    """
    root = Path(logdir).expanduser()
    if not root.exists():
        raise UsageError(f"{logdir}: no such directory", hint="give the TensorBoard log directory (--logdir)")
    root = root.resolve()
    if root.is_file():
        root = root.parent
    found = run_directories(root)
    if not found:
        raise UsageError(f"{logdir}: no TensorBoard event files (tfevents) in it or below",
                         hint="give the directory SummaryWriter wrote to")
    known = imported_runs(store, SOURCE)
    reads = [_read_run(root, rel, files, import_state(known.get(_key(root, rel)))) for rel, files in found.items()]
    warnings = [w for r in reads for w in r.state.pop("warnings", [])]
    out: list[ImportedRun] = []
    for read in reads:
        existing = known.get(_key(root, read.rel))
        if existing is None and not read.points:
            warnings.append(f"{read.rel}: no scalars; no run made")
            continue
        run_name = existing.name if existing is not None and existing.name else _name(root, read.rel, name, len(found))
        record = _record(read, run_name, root, existing)
        data = RunData(metrics=[(tag, step, value, wall) for tag, step, value, wall in read.points])
        done = write_run(store, record, data, source=SOURCE, key=_key(root, read.rel), state=read.state,
                         existing=existing)
        out.append(ImportedRun(done.run_id, run_name, str(read.directory), done.created, done.points, read.files))
    return TensorBoardImport(str(root), out, warnings)


def _key(root: Path, rel: str) -> str:
    return str(root if rel == "." else root / rel)


def _name(root: Path, rel: str, name: str | None, count: int) -> str:
    if name is None:
        return root.name if rel == "." else rel
    if count == 1 or rel == ".":
        return name
    return f"{name}/{rel}"


def _read_run(root: Path, rel: str, files: list[Path], state: dict[str, Any]) -> _RunRead:
    """Every new point of a run directory's event files, in file order; the new state."""
    done: dict[str, Any] = dict(state.get("files") or {})
    points: list[tuple[str, int, float, float]] = []
    warnings: list[str] = []
    mtime = 0.0
    for path in files:
        label = path.relative_to(root).as_posix()
        before = done.get(path.name) or {}
        offset = int(before.get("offset", 0))
        try:
            size = os.stat(path).st_size
            mtime = max(mtime, os.stat(path).st_mtime)
        except OSError as exc:
            raise UsageError(f"cannot read {label}: {exc.strerror or exc}; nothing imported") from None
        if size < offset:
            warnings.append(f"{label}: shorter than when it was imported; left as imported")
            continue
        events = EventFile(path, offset, before.get("plugins"))
        try:
            points.extend(events.read())
        except CorruptRecord as exc:
            raise UsageError(f"{label} is not a valid TensorBoard event file ({exc}); nothing imported",
                             hint="a file cut short while written is fine; this one is damaged") from None
        except OSError as exc:
            raise UsageError(f"cannot read {label}: {exc.strerror or exc}; nothing imported") from None
        plugins = {tag: plugin for tag, plugin in events.plugins.items() if plugin not in ("scalars", "")}
        done[path.name] = {"offset": events.offset, **({"plugins": plugins} if plugins else {})}
    directory = root if rel == "." else root / rel
    new_state: dict[str, Any] = {"files": done}
    if warnings:
        new_state["warnings"] = warnings
    return _RunRead(rel, directory, points, new_state, len(files), mtime, _host(files[-1].name))


def _host(filename: str) -> str | None:
    """The host in a writer's file name, ``events.out.tfevents.<time>.<host>.<pid>.<n>``; else None."""
    parts = filename.partition("tfevents.")[2].split(".")
    return ".".join(parts[1:-2]) or None if len(parts) >= 4 and parts[0].isdigit() else None


def _record(read: _RunRead, name: str, root: Path, existing: RunRecord | None) -> RunRecord:
    walls = [p[3] for p in read.points]
    first = min(walls) if walls else read.mtime
    last = max(walls) if walls else read.mtime
    if existing is not None:
        first = existing.created_at
        last = max(last, existing.ended_at or last) if walls else (existing.ended_at or last)
    return RunRecord(id="", name=name, status=RunStatus.FINISHED, created_at=first, ended_at=last,
                     reason=existing.reason if existing is not None else None,
                     exit_code=existing.exit_code if existing is not None else None, cwd=str(root),
                     host=read.host,
                     source="import",
                     provenance={SOURCE: {"logdir": str(root), "run": read.rel, "directory": str(read.directory)}})
