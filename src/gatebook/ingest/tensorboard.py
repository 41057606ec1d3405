"""TensorBoard event files as a metric source: one file read incrementally, and ``--watch LOGDIR``.

:class:`EventFile` reads one event file from a byte offset: only complete records (a record the
writer has not finished flushing is read at the next call), CRCs checked, every scalar kept
(:mod:`gatebook.ingest.tfrecord`). ``gatebook import tensorboard`` and the live follower both
read through it.

:class:`TensorBoardFollower` is what ``gatebook run --watch LOGDIR`` / ``gatebook attach --watch
LOGDIR`` use when LOGDIR is a directory (or an event file, or a glob of event files): a script
that only calls ``SummaryWriter.add_scalar`` gets its points into the ledger, and so live gates,
with no code change. It follows EVERY event file under the directory (``add_scalars`` writes one
per sub-run, train and eval writers write side by side), each from where it was left; files last
written before the run started (``since``) are an earlier run's and are skipped (a writer never
appends to an old file). A point's key is its tag, prefixed by the file's directory relative to
LOGDIR when that is not LOGDIR itself (``loss_train/loss``, as TensorBoard names the run). The
directories are scanned at most once a second; between scans a poll is one ``stat`` per file.
A corrupt file is reported once in :attr:`~TensorBoardFollower.errors` and no longer read.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from gatebook.ingest.tfrecord import CorruptRecord, ScalarPoint, check_crcs, is_event_file, scalars, split_records

__all__ = ["EventFile", "TensorBoardFollower", "event_files", "follower_kind"]

_MAX_ERRORS = 100
_RESCAN_SECONDS = 1.0


class EventFile:
    """One event file, read from ``offset`` on; ``plugins`` remembers which plugin each tag's metadata
    named (TensorFlow writes it once per tag), so a later read skips other plugins' tensors."""

    def __init__(self, path: str | Path, offset: int = 0, plugins: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.offset = offset
        self.plugins: dict[str, str] = dict(plugins or {})
        self.pending = 0  # bytes after ``offset``: a record not complete yet

    def read(self) -> list[ScalarPoint]:
        """The scalar points of the complete records after :attr:`offset` (which moves past them).

        Raises:
            OSError: the file cannot be read.
            CorruptRecord: a record fails its CRC or does not decode (``offset`` does not move).
        """
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            buf = fh.read()
        offsets, lengths, end = split_records(buf)
        check_crcs(buf, offsets, lengths)
        points = scalars(buf, offsets, lengths, self.plugins)
        self.offset += end
        self.pending = len(buf) - end
        return points


def event_files(root: Path) -> list[Path]:
    """The event files under ``root`` (itself when it is one), by path; symlinked directories not entered."""
    if root.is_file():
        return [root] if is_event_file(root.name) else []
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        found.extend(Path(folder) / name for name in sorted(names) if is_event_file(name))
    return found


class TensorBoardFollower:
    """Follow every event file under ``root`` (a directory, an event file, or with ``pattern`` a glob
    relative to ``root``); :meth:`poll` returns new points ``(key, step, value)``."""

    def __init__(self, root: str | Path, *, pattern: str | None = None, since: float | None = None,
                 rescan: float = _RESCAN_SECONDS) -> None:
        self.root = Path(root)
        self.pattern = pattern
        self.path = self.root  # what `--watch` named (the supervisor's messages)
        self.errors: list[str] = []
        self._since = since
        self._rescan = rescan
        self._next_scan = 0.0
        self._files: dict[Path, EventFile] = {}
        self._stamps: dict[Path, tuple[int, int]] = {}
        self._skipped: set[Path] = set()  # earlier runs' files, and corrupt ones
        self._seen_any = False

    def poll(self) -> list[tuple[str, int | None, float]]:
        """Points written since the last call."""
        return self._poll(final=False)

    def close(self) -> list[tuple[str, int | None, float]]:
        """A last scan and read: the writer is done. Says so in :attr:`errors` when no event file was written."""
        out = self._poll(final=True)
        if not self._seen_any:
            self._error(f"no TensorBoard event file written during the run under {self.root}")
        return out

    def _poll(self, final: bool) -> list[tuple[str, int | None, float]]:
        now = time.monotonic()
        if final or now >= self._next_scan:
            self._scan()
            self._next_scan = now + self._rescan
        out: list[tuple[str, int | None, float]] = []
        for path, events in list(self._files.items()):
            try:
                st = os.stat(path)
            except OSError:
                continue
            key = (st.st_size, st.st_mtime_ns)
            if key == self._stamps.get(path) and not final:
                continue
            self._stamps[path] = key
            try:
                points = events.read()
            except (OSError, CorruptRecord) as exc:
                self._error(f"{self._label(path)}: {getattr(exc, 'strerror', None) or exc}; no longer read")
                self._skipped.add(path)
                del self._files[path]
                continue
            prefix = self._prefix(path)
            out.extend((prefix + tag, step, value) for tag, step, value, _ in points)
        return out

    def _scan(self) -> None:
        for path in self._candidates():
            if path in self._files or path in self._skipped:
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if self._since is not None and st.st_mtime < self._since:
                self._skipped.add(path)  # an earlier run's writer: never appended to again
                continue
            self._files[path] = EventFile(path)
            self._seen_any = True

    def _candidates(self) -> list[Path]:
        try:
            if self.pattern is not None:
                return sorted(p for p in self.root.glob(self.pattern) if is_event_file(p.name))
            return event_files(self.root) if self.root.exists() else []
        except (OSError, ValueError) as exc:
            self._error(f"cannot scan {self.root}: {getattr(exc, 'strerror', None) or exc}")
            return []

    def _prefix(self, path: Path) -> str:
        if self.pattern is not None or not self.root.is_dir():
            return ""
        rel = path.parent.relative_to(self.root).as_posix() if path.parent != self.root else ""
        return f"{rel}/" if rel else ""

    def _label(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix() if path != self.root else path.name
        except ValueError:
            return str(path)

    def _error(self, message: str) -> None:
        if message not in self.errors and len(self.errors) < _MAX_ERRORS:
            self.errors.append(message)


def follower_kind(path: Path) -> str | None:
    """``"tensorboard"`` for a path a TensorBoard follower reads (a directory, an event file), ``"file"``
    for another existing file, None while nothing is there."""
    try:
        st = os.stat(path)
    except OSError:
        return "tensorboard" if is_event_file(path.name) else None
    if stat.S_ISDIR(st.st_mode) or is_event_file(path.name):
        return "tensorboard"
    return "file"

