"""Follow one file a training process writes and turn its new rows into metric points.

``gatebook run --watch FILE -- CMD`` and ``gatebook attach --watch FILE`` call
:meth:`FileFollower.poll` every fraction of a second; each call returns the points
``(key, step, value)`` of the rows that appeared since the previous call, and
:meth:`FileFollower.close` makes the final call once the writer is done. A ``--watch``
glob follows the newest of its matches with one follower per file
(:mod:`gatebook.ingest.watch`).

The formats (json histories and trainer states, jsonl, csv, logs), how a format is told
and how rows become points: :mod:`gatebook.ingest.formats`. How appended files caught
mid-write, truncated or replaced are read: :mod:`gatebook.ingest.appended`.

Polls are cheap: one ``stat``; the file is read only when (size, mtime, inode) changed.
Nothing in a file's content makes :meth:`~FileFollower.poll` raise; skipped rows and
values are reported as one-line messages in :attr:`FileFollower.errors` (at most 100). A
missing file is not an error (the command may create it later); a directory or an
unreadable file is reported once, then retried quietly.

A file written before the run (``since``, or :meth:`~FileFollower.skip_existing`) is an
earlier run's: a json history is ignored until it is rewritten; lines already in an
appended file are skipped (if the file is later rewritten from scratch, it is read from 0).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Sequence, cast

from gatebook.ingest.appended import CsvReader, JsonlReader, LogReader
from gatebook.ingest.formats import (
    FORMATS,
    STALE_POLLS,
    JsonHistoryReader,
    Reader,
    StepMark,
    excerpt,
    format_for_suffix,
    history_rows,
    row_points,
    row_step,
    sniff_format,
)
from gatebook.ingest.stdout import DEFAULT_PREFIX, LineParser, Point, compile_regex

__all__ = ["FORMATS", "MAX_ERRORS", "STALE_POLLS", "FileFollower", "StepMark", "check_options",
           "format_for_suffix", "history_rows", "row_points", "row_step", "stamp", "sniff_format"]

MAX_ERRORS = 100
_SNIFF_BYTES = 65536

Stamp = tuple[int, int, int, int]


def stamp(st: os.stat_result) -> Stamp:
    """A file's stamp, what tells it changed: (size, mtime, inode, device). (A "signature" is a
    playbook's failure pattern, never this.)"""
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def check_options(fmt: str | None, regexes: Sequence[str]) -> None:
    """Raise now, not mid-run, for an unknown format (ValueError) or a bad regex (ConfigError)."""
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    for pattern in regexes:
        compile_regex(pattern)


class _Prefix:
    """The first ``size`` bytes of an open file, read as if they were the whole file."""

    def __init__(self, fh: IO[bytes], size: int) -> None:
        self._fh, self._size = fh, size

    def read(self, n: int | None = -1) -> bytes:
        left = max(0, self._size - self._fh.tell())
        return self._fh.read(left if n is None or n < 0 else min(n, left))

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()


class FileFollower:
    """Follow one file a training process writes; :meth:`poll` returns its new points.

    ``fmt`` is ``"json"``, ``"jsonl"``, ``"csv"``, ``"log"`` or None (from the suffix, else
    from the content; :attr:`fmt` holds the result once known). ``prefix``, ``kv`` and
    ``regexes`` configure the :class:`~gatebook.ingest.stdout.LineParser` of log files.
    ``since``: a file last written before this time is an earlier run's. ``label`` names
    the file in error messages (default: its name). ``taken`` is the
    :class:`~gatebook.ingest.formats.StepMark` of trainer state entries already taken,
    shared by the followers of one glob.
    """

    def __init__(self, path: str | Path, fmt: str | None = None, *, prefix: str = DEFAULT_PREFIX,
                 kv: bool = False, regexes: Sequence[str] = (), since: float | None = None,
                 label: str | None = None, taken: StepMark | None = None) -> None:
        check_options(fmt, regexes)
        self.path = Path(path)
        self.label = label or self.path.name
        self.fmt: str | None = fmt or format_for_suffix(self.path)
        self.errors: list[str] = []
        self._prefix, self._kv, self._regexes = prefix, kv, tuple(regexes)
        self._taken = taken
        self._reader: Reader | None = self._make_reader(self.fmt) if self.fmt else None
        self._stamp: Stamp | None = None
        self._trouble: str | None = None
        self._stale: Stamp | None = None
        if since is not None:
            self._skip_stale(since)

    def _skip_stale(self, since: float) -> None:
        try:
            st = os.stat(self.path)
        except OSError:
            return
        if stat.S_ISREG(st.st_mode) and st.st_mtime < since:
            self.skip_existing(st)

    def skip_existing(self, before: os.stat_result) -> None:
        """The file was ``before`` (its stat) when the run started: that content is an
        earlier run's. A json history is ignored until its stamp differs from
        ``before``; the lines of an appended file within ``before``'s size are passed over
        when it is still the same file (inode), at least that long."""
        if self.fmt == "json" or (self.fmt is None and self.path.suffix.lower() == ".json"):
            self._stale = stamp(before)
            return
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            return
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fd)
            if (not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino)
                    or st.st_size < before.st_size):
                return  # replaced or truncated since: all of it is new
            prefix = cast(IO[bytes], _Prefix(fh, before.st_size))
            try:
                for _ in range(before.st_size // (1 << 20) + 2):  # a chunk per read: until settled
                    self._stamp = None
                    self._read(prefix, before, final=False)
                    if self._stamp is not None:
                        break
            except OSError:
                pass
        self.errors.clear()

    def poll(self) -> list[Point]:
        """Points of the rows that appeared since the last call ([] when nothing changed)."""
        return self._poll(final=False)

    def close(self) -> list[Point]:
        """A last poll for a writer that is done: a last line without newline counts too."""
        return self._poll(final=True)

    # internals

    def _poll(self, final: bool) -> list[Point]:
        st = self._stat()
        if st is None:
            return []
        if self._stale is not None:
            if stamp(st) == self._stale:
                return []
            self._stale = None
        if stamp(st) == self._stamp and not final:
            if self._reader is not None:
                self._reader.unchanged()
            return []
        try:
            # non-blocking: should the path become a pipe after the stat, open must not hang
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            with os.fdopen(fd, "rb") as fh:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    self._report_trouble(f"{self.path} is not a regular file")
                    return []
                self._trouble = None
                return self._read(fh, st, final)
        except FileNotFoundError:
            return []
        except OSError as exc:
            self._report_trouble(f"cannot read {self.path}: {exc.strerror or exc}")
            return []

    def _stat(self) -> os.stat_result | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._report_trouble(f"cannot read {self.path}: {exc.strerror or exc}")
            return None
        if stat.S_ISDIR(st.st_mode):
            self._report_trouble(f"{self.path} is a directory, not a file to follow")
            return None
        if not stat.S_ISREG(st.st_mode):
            self._report_trouble(f"{self.path} is not a regular file")
            return None
        return st

    def _read(self, fh: IO[bytes], st: os.stat_result, final: bool) -> list[Point]:
        reader = self._reader or self._detect(fh, final)
        if reader is None:
            self._stamp = stamp(st)
            return []
        fh.seek(0)
        try:
            points, settled = reader.read(fh, st, final)
        except OSError:
            raise  # reported by _poll as a file that cannot be read
        except Exception as exc:  # a bug must not stop the run being recorded
            self._error(f"{self.label}: could not be read ({type(exc).__name__}: {excerpt(str(exc))})")
            points, settled = [], True
        self._stamp = stamp(st) if settled else None
        return points

    def _detect(self, fh: IO[bytes], final: bool) -> Reader | None:
        raw = fh.read(_SNIFF_BYTES)
        complete = final or len(raw) >= _SNIFF_BYTES
        fmt = sniff_format(raw.decode("utf-8", "replace"), complete=complete, prefix=self._prefix)
        if fmt is None:
            return None
        self.fmt = fmt
        self._reader = self._make_reader(fmt)
        return self._reader

    def _make_reader(self, fmt: str) -> Reader:
        name = self.label
        if fmt == "json":
            return JsonHistoryReader(name, self._error, self._taken)
        if fmt == "jsonl":
            return JsonlReader(name, self._error)
        if fmt == "csv":
            return CsvReader(name, self._error, "\t" if self.path.suffix.lower() == ".tsv" else None)
        return LogReader(name, self._error, self._line_parser)

    def _line_parser(self) -> LineParser:
        return LineParser(prefix=self._prefix, kv=self._kv, regexes=self._regexes)

    def _report_trouble(self, message: str) -> None:
        if message != self._trouble:
            self._trouble = message
            self._error(message)

    def _error(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)
