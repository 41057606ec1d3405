"""``--watch`` values: a plain path is one file; a glob follows the newest file it matches.

A TensorBoard log directory (or event file, or a glob of event files) is followed whole by
:class:`gatebook.ingest.tensorboard.TensorBoardFollower`: every event file in it, every scalar.

:func:`watch_follower` makes the follower of one ``--watch`` value for ``gatebook run`` and
``gatebook attach``; :func:`check_watch` refuses a value that can never name a file.

A value with ``*``, ``?`` or ``[`` is a glob (a literal one of those is written ``[*]``,
``[?]``, ``[[]``), matched with :meth:`pathlib.Path.glob` from the command's directory:
``*`` and ``?`` within one name, ``**`` (a whole component) any number of directories,
symlinked directories not entered by ``**``. Only regular files count. A
:class:`GlobFollower`:

* notes, when it starts, the matches last written before ``since`` (an earlier run's:
  Lightning's older ``version_N`` directories). Such a file counts again once it changes,
  and then only what it holds beyond what it held at the start is read (as for a plain
  path);
* follows the newest match (latest mtime) among the others, including files that appear
  after the command started (``lightning_logs/version_N/metrics.csv`` is created at the
  first flush). When a newer match appears (``version_1`` after ``version_0``, a new
  ``checkpoint-N``), the old file is read one last time and the new one followed; the
  points already taken are kept, and each file keeps its own follower, so a file that
  becomes the newest again is read on from where it was left. A match written during the
  run that a newer one overtook before a scan saw it is read once when seen; at the end
  every file followed is read a last time: nothing the run wrote is lost between scans;
* reads a new file from its start (Lightning's ``version_1`` is a new log), except for the
  ``log_history`` of Hugging Face ``trainer_state.json`` files: a newer checkpoint's file
  repeats the older entries, and only entries past the highest step taken count (one
  :class:`~gatebook.ingest.formats.StepMark` for all the files of the glob);
* scans the directories at most once a second (less often when a scan takes long: never
  more than a tenth of the time), and once more at the end; between scans, a poll is one
  ``stat`` of the followed file;
* at the end, when no file written during the run matched, says so in :attr:`errors`.

Where a glob may look: it is relative to the command's directory and stays inside it. An
absolute glob (or one starting with ``~``), or one whose ``..`` climbs above that directory,
is refused (exit 2): a glob scans directories again and again for files nobody named one
by one, so it scans where the run writes, not the whole disk. A plain path names one file
the user chose and may be absolute or lead anywhere, as before; a symlink in the command's
directory lets a glob reach outputs kept elsewhere (``out -> /scratch/me/out``).
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Sequence

from gatebook.errors import UsageError
from gatebook.ingest.follow import MAX_ERRORS, FileFollower, StepMark, check_options, format_for_suffix, stamp
from gatebook.ingest.stdout import DEFAULT_PREFIX, Point
from gatebook.ingest.tensorboard import TensorBoardFollower, follower_kind
from gatebook.ingest.tfrecord import is_event_file

__all__ = ["RESCAN_SECONDS", "Follower", "GlobFollower", "PendingFollower", "check_watch", "is_glob", "watch_follower"]

RESCAN_SECONDS = 1.0
"""Least time between two scans of a glob's directories."""
_SCAN_SHARE = 10
"""A scan that took T seconds waits at least T * _SCAN_SHARE before the next one."""
_EXAMPLE = "e.g. 'lightning_logs/version_*/metrics.csv' or 'out/**/trainer_state.json'"


def is_glob(pattern: str) -> bool:
    """Whether a ``--watch`` value is a glob pattern (has ``*``, ``?`` or ``[``)."""
    return any(char in pattern for char in "*?[")


def check_watch(pattern: str) -> None:
    """Raise :class:`UsageError` for a ``--watch`` value that is empty or a glob that cannot
    be followed: absolute, climbing out of the command's directory, ``**`` inside a name,
    ending in a directory."""
    if not pattern.strip():
        raise UsageError("--watch needs a file path or a glob pattern, got an empty value",
                         hint=f"name the file or a glob, {_EXAMPLE}")
    if "\0" in pattern:
        raise UsageError(f"--watch {pattern!r}: a path cannot hold a NUL character")
    if not is_glob(pattern):
        return
    parts = pattern.replace(os.altsep or os.sep, os.sep).split(os.sep)
    if os.path.isabs(pattern) or pattern.startswith("~"):
        raise UsageError(f"--watch {pattern!r}: a glob pattern is relative to the command's directory",
                         hint="write it from there (give a plain path for one file elsewhere, "
                              "or link the directory in)")
    depth = 0
    for part in parts:
        if "**" in part and part != "**":
            raise UsageError(f"--watch {pattern!r}: '**' must be a whole path component", hint=_EXAMPLE)
        if part == "..":
            depth -= 1
            if depth < 0:
                raise UsageError(f"--watch {pattern!r}: a glob pattern cannot climb out of the command's "
                                 "directory with '..'", hint="give a plain path for one file elsewhere, "
                                                            "or link the directory in")
        elif part not in ("", ".", "**"):  # '**' may match no directory at all
            depth += 1
    if parts[-1] in ("", ".", "..", "**"):
        raise UsageError(f"--watch {pattern!r}: a glob pattern must end with a file name", hint=_EXAMPLE)


class GlobFollower:
    """Follow the newest file matching ``pattern`` under ``base`` (see the module docstring);
    ``rescan`` is the least time between two scans (0: scan at every poll); the other
    arguments are :class:`~gatebook.ingest.follow.FileFollower`'s."""

    def __init__(self, base: str | Path, pattern: str, fmt: str | None = None, *, prefix: str = DEFAULT_PREFIX,
                 kv: bool = False, regexes: Sequence[str] = (), since: float | None = None,
                 rescan: float = RESCAN_SECONDS) -> None:
        check_watch(pattern)
        check_options(fmt, regexes)
        self.base = Path(base)
        self.pattern = pattern
        self._fmt, self._prefix, self._kv, self._regexes = fmt, prefix, kv, tuple(regexes)
        self._rescan = rescan
        self._next_scan = 0.0
        self._taken = StepMark()
        self._before: dict[Path, os.stat_result] = {}  # matches an earlier run left, as they were
        self._followers: dict[Path, FileFollower] = {}
        self._current: Path | None = None
        self._own_errors: list[str] = []
        self._scan_trouble: str | None = None
        self._said_none = False
        if since is not None:
            self._before = {path: st for path, st in self._matches() if st.st_mtime < since}

    @property
    def path(self) -> Path | None:
        """The file followed now (None before a match is written)."""
        return self._current

    @property
    def errors(self) -> list[str]:
        """Messages about the glob and its files (at most MAX_ERRORS)."""
        out = list(self._own_errors)
        for follower in self._followers.values():
            out.extend(follower.errors)
        return out[:MAX_ERRORS]

    def poll(self) -> list[Point]:
        """Points that appeared since the last call in the files followed."""
        return self._poll(final=False)

    def close(self) -> list[Point]:
        """A last scan and a last read of every file followed: the writer is done."""
        return self._poll(final=True)

    # internals

    def _poll(self, final: bool) -> list[Point]:
        out: list[Point] = []
        start = time.monotonic()
        if final or start >= self._next_scan:
            written = self._written()
            took = time.monotonic() - start
            self._next_scan = start + max(self._rescan, took * _SCAN_SHARE) if self._rescan > 0 else 0.0
            for path in written[:-1]:
                if path not in self._followers:  # appeared and was overtaken between two scans
                    self._followers[path] = self._follower(path)
                    out += self._followers[path].poll()
            if written and written[-1] != self._current:
                if self._current is not None:
                    out += self._followers[self._current].poll()  # what the old file got meanwhile
                self._current = written[-1]
                if self._current not in self._followers:
                    self._followers[self._current] = self._follower(self._current)
        if final:
            for path, follower in self._followers.items():
                if path != self._current:
                    out += follower.close()
            if self._current is None and not self._said_none:
                self._said_none = True
                self._own_errors.append(f"no file written during the run matches {self.pattern!r} "
                                        f"(in {self.base})")
        if self._current is not None:
            follower = self._followers[self._current]
            out += follower.close() if final else follower.poll()
        return out

    def _follower(self, path: Path) -> FileFollower:
        try:
            label = str(path.relative_to(self.base))
        except ValueError:
            label = str(path)
        follower = FileFollower(path, self._fmt, prefix=self._prefix, kv=self._kv, regexes=self._regexes,
                                label=label, taken=self._taken)
        before = self._before.get(path)
        if before is not None:
            follower.skip_existing(before)
        return follower

    def _written(self) -> list[Path]:
        """The matches written during the run, oldest first (by mtime, then path): all but
        those an earlier run left that are unchanged since the start."""
        written: list[tuple[tuple[int, str], Path]] = []
        for path, st in self._matches():
            old = self._before.get(path)
            if old is None or stamp(old) != stamp(st):
                written.append(((st.st_mtime_ns, str(path)), path))
        return [path for _, path in sorted(written)]

    def _matches(self) -> list[tuple[Path, os.stat_result]]:
        try:
            paths = list(self.base.glob(self.pattern))
        except (OSError, ValueError, NotImplementedError) as exc:
            message = f"cannot scan for {self.pattern!r} in {self.base}: {getattr(exc, 'strerror', None) or exc}"
            if message != self._scan_trouble and len(self._own_errors) < MAX_ERRORS:
                self._own_errors.append(message)
            self._scan_trouble = message
            return []
        self._scan_trouble = None
        out: list[tuple[Path, os.stat_result]] = []
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                out.append((path, st))
        return out


class PendingFollower:
    """A plain ``--watch`` path with no known suffix that does not exist yet: once it appears, a
    :class:`~gatebook.ingest.tensorboard.TensorBoardFollower` when it is a directory (a
    ``SummaryWriter`` log dir is created when the script starts), else a :class:`FileFollower`."""

    def __init__(self, path: Path, *, prefix: str, kv: bool, regexes: Sequence[str], since: float | None) -> None:
        self.path = path
        self._options = {"prefix": prefix, "kv": kv, "regexes": tuple(regexes), "since": since}
        self._inner: FileFollower | TensorBoardFollower | None = None

    @property
    def errors(self) -> list[str]:
        return self._inner.errors if self._inner is not None else []

    def poll(self) -> list[Point]:
        inner = self._decide()
        return inner.poll() if inner is not None else []

    def close(self) -> list[Point]:
        inner = self._decide()
        return inner.close() if inner is not None else []

    def _decide(self) -> FileFollower | TensorBoardFollower | None:
        if self._inner is None:
            kind = follower_kind(self.path)
            if kind == "tensorboard":
                self._inner = TensorBoardFollower(self.path, since=self._options["since"])  # type: ignore[arg-type]
            elif kind == "file":
                self._inner = FileFollower(self.path, **self._options)  # type: ignore[arg-type]
        return self._inner


Follower = FileFollower | GlobFollower | TensorBoardFollower | PendingFollower


def watch_follower(value: str, base: str | Path, *, expand_user: bool = False, prefix: str = DEFAULT_PREFIX,
                   kv: bool = False, regexes: Sequence[str] = (), since: float | None = None) -> Follower:
    """The follower of one ``--watch`` value: a :class:`GlobFollower` for a glob (relative
    to ``base``), else a :class:`FileFollower` of ``base / value`` (``value`` may be
    absolute; ``~`` is expanded with ``expand_user``, as ``gatebook attach`` does).

    TensorBoard: a directory, an event file (``tfevents`` in its name) or a glob whose last part
    names event files is followed by a :class:`~gatebook.ingest.tensorboard.TensorBoardFollower`
    (every event file under it); a path with no known suffix that does not exist yet is decided
    when it appears (:class:`PendingFollower`)."""
    check_watch(value)
    if is_glob(value):
        if is_event_file(value.replace(os.altsep or os.sep, os.sep).split(os.sep)[-1]):
            check_options(None, regexes)
            return TensorBoardFollower(base, pattern=value, since=since)
        return GlobFollower(base, value, prefix=prefix, kv=kv, regexes=regexes, since=since)
    path = os.path.expanduser(value) if expand_user else value
    full = Path(os.path.join(base, path))
    kind = follower_kind(full)
    if kind == "tensorboard":
        check_options(None, regexes)
        return TensorBoardFollower(full, since=since)
    if kind is None and format_for_suffix(full) is None and not value.endswith(("/", os.sep)):
        check_options(None, regexes)
        return PendingFollower(full, prefix=prefix, kv=kv, regexes=regexes, since=since)
    if kind is None and value.endswith(("/", os.sep)):  # a directory to be: a TensorBoard log dir
        return TensorBoardFollower(full, since=since)
    return FileFollower(os.path.join(base, path), prefix=prefix, kv=kv, regexes=regexes, since=since)
