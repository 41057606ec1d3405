"""Follow files a training process writes and turn their new rows into metric points.

``gatebook run --watch FILE -- CMD`` and ``gatebook attach --watch FILE`` call
:meth:`FileFollower.poll` every fraction of a second; each call returns the points
``(key, step, value)`` of the rows that appeared since the previous call, and
:meth:`FileFollower.close` makes the final call once the writer is done.

Formats (``fmt``; by default from the file's suffix, else from its first bytes):

* ``json`` (``.json``): the whole file is a JSON list of per-epoch dicts, rewritten each
  epoch (``json.dump(history, f)``), or a Keras-style dict of lists
  (``{"loss": [...], "val_loss": [...]}``, row *i* holds the *i*-th entries). Rows at an
  index not returned before are new. If the list gets shorter, the writer started over:
  one error line says so, its current rows count as seen and later rows are followed.
* ``jsonl`` (``.jsonl``, ``.ndjson``): one JSON object per line, appended.
* ``csv`` (``.csv``; ``.tsv`` is tab-separated): a header line, then rows, appended (Keras
  and Lightning ``CSVLogger``). Empty and non-numeric cells (a timestamp column) are
  skipped silently; ``nan`` / ``NaN`` cells are NaN.
* ``log`` (``.log``, ``.txt``, ``.out``): a text log, appended; its lines go through
  :class:`gatebook.ingest.stdout.LineParser` (``gatebook: {...}`` lines, ``key=value``
  pairs with ``kv=True``, ``regexes``), exactly as the command's output is parsed.

Other suffixes are detected from the content: a first non-blank character ``[`` followed
by ``{`` or ``]`` means json (any other ``[``, as in ``[INFO] ...``, a log), ``{`` means
jsonl; otherwise a first line that looks like a header (names split by commas or a tab,
none with inner spaces, no ``=``, ``{``, ``[`` or metric prefix, which log lines such as
``gatebook: {"a": 1, "b": 2}`` or ``Epoch 1, loss 2`` have) means csv, else log.

Rows become points as metric lines do in :mod:`gatebook.ingest.stdout`
(:func:`~gatebook.ingest.stdout.points_from_mapping`): nested objects become dotted keys,
numbers and booleans are values, strings, lists and nulls are skipped, NaN and inf are
kept. The step is the row's ``step``, else ``epoch``, else ``global_step``, else
``iteration``, else the row's 1-based number (its index in a json list, its line number
after the header in jsonl and csv). ``step`` is not stored as a metric; ``epoch`` is.

Half-written files. Writers do not write atomically, so a poll may see a file mid-write:

* json: a file that does not parse (empty, truncated mid-way) is left alone this poll and
  read again as soon as its size, mtime or inode change. Only when it stays unparseable
  and unchanged for 3 polls is one error recorded (never for an empty file: the writer
  has not written yet). :meth:`~FileFollower.close` records the error if it still does
  not parse then.
* jsonl, csv, log: only complete lines (ending in ``\\n``) are consumed; a partial last
  line is read again when the file grows. ``close()`` also consumes a last line without
  a newline. A csv header is parsed once, when its line is complete.

Truncated or replaced files (jsonl, csv, log). The follower keeps a byte offset, the first
256 bytes it consumed and the last consumed byte. When the file changed:

* the same bytes continue (appended, or rewritten whole with the old text as a prefix):
  read on from the offset;
* it is shorter but starts as before: a rewrite in progress (truncate, then write), or a
  restart not yet distinguishable: wait;
* it is shorter and starts differently, or it is another file (new inode) that does not
  continue the old one: start over from byte 0; all its rows are new;
* it is the same file (inode), at least as long, but what was read changed (Lightning's
  ``CSVLogger`` rewrites the file with a wider header when a new metric appears): read it
  again from byte 0, skipping as many rows as were read before.

Polls are cheap: one ``stat``; the file is read only when (size, mtime, inode) changed.
Nothing in a file's content makes :meth:`~FileFollower.poll` raise; skipped rows and
values are reported as one-line messages in :attr:`FileFollower.errors` (at most 100). A
missing file is not an error (the command may create it later); a directory or an
unreadable file is reported once, then retried quietly.
"""

from __future__ import annotations

import csv
import json
import math
import os
import stat
from pathlib import Path
from typing import IO, Any, Callable, Mapping, Sequence

from gatebook.ingest.stdout import DEFAULT_PREFIX, LineParser, Point, compile_regex, points_from_mapping
from gatebook.serialize import Unserializable, to_float

__all__ = ["FORMATS", "FileFollower", "format_for_suffix", "history_rows", "row_points", "row_step",
           "sniff_format"]

FORMATS = ("json", "jsonl", "csv", "log")
MAX_ERRORS = 100
STALE_POLLS = 3
"""Unchanged polls after which an unparseable json file is reported."""

_SUFFIX_FORMATS = {
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv",
    ".log": "log", ".txt": "log", ".out": "log",
}
_STEP_KEYS = ("step", "epoch", "global_step", "iteration")
_HEAD_BYTES = 256
_SNIFF_BYTES = 65536
_READ_LIMIT = 16 << 20

Report = Callable[[str], None]
Signature = tuple[int, int, int, int]


# -- rows to points ----------------------------------------------------------------------------


def row_step(row: Mapping[str, Any]) -> int | None:
    """The step of a row: ``step``, else ``epoch``, ``global_step``, ``iteration`` (finite numbers)."""
    for key in _STEP_KEYS:
        if key in row:
            try:
                num = to_float(row[key])
            except (Unserializable, OverflowError):
                continue
            if math.isfinite(num):
                return int(num)
    return None


def row_points(row: Mapping[str, Any], index: int | None) -> list[Point]:
    """Points of one row; ``index`` (1-based) is the step when the row names none."""
    step = row_step(row)
    if step is None:
        step = index
    return [(key, step, value) for key, _, value in points_from_mapping(dict(row))]


def history_rows(data: Any) -> list[Any] | None:
    """Rows of a parsed history file: a list as is, a dict of lists by index; else None."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return None
    columns = {key: value for key, value in data.items() if isinstance(value, list)}
    if not columns:
        return None
    length = max(len(values) for values in columns.values())
    return [{key: values[i] for key, values in columns.items() if i < len(values)} for i in range(length)]


def _cell_number(cell: str) -> float | None:
    text = cell.strip()
    if not text:
        return None
    try:
        return to_float(text)
    except (Unserializable, OverflowError):
        return None


# -- format detection --------------------------------------------------------------------------


def format_for_suffix(path: str | Path) -> str | None:
    """The format a file's suffix implies, or None."""
    return _SUFFIX_FORMATS.get(Path(path).suffix.lower())


def _looks_like_header(line: str, prefix: str) -> bool:
    """Column names split by commas or tabs; not a log line with a comma in it."""
    delimiter = "\t" if "\t" in line and "," not in line else ","
    names = [name.strip() for name in line.split(delimiter)]
    if len(names) < 2 or any(mark in line for mark in "={[") or (prefix and prefix in line):
        return False
    return not any(len(name.split()) > 1 for name in names)


def sniff_format(text: str, *, complete: bool = False, prefix: str = DEFAULT_PREFIX) -> str | None:
    """The format of a file starting with ``text``; None while that cannot be told yet.

    ``complete`` says no more text will come, so a first line without a newline counts.
    """
    body = text.lstrip("\ufeff").lstrip()
    if not body:
        return None
    if body[0] == "{":
        return "jsonl"
    if body[0] == "[":
        after = body[1:].lstrip()
        if after[:1] in ("{", "]"):
            return "json"
        if not after and not complete:
            return None
        return "log"  # "[INFO] ...", "[2024-01-01 12:00] ..."
    line, newline, _ = body.partition("\n")
    if not newline and not complete:
        return None
    return "csv" if _looks_like_header(line, prefix) else "log"


# -- readers -----------------------------------------------------------------------------------


class _Reader:
    """Turns a file's changes into points; one per format."""

    def __init__(self, name: str, report: Report) -> None:
        self.name = name
        self.report = report

    def read(self, fh: IO[bytes], st: os.stat_result, final: bool) -> tuple[list[Point], bool]:
        """Points of what is new; the flag is False when the file must be read again
        even if its signature does not change."""
        raise NotImplementedError

    def unchanged(self) -> None:
        """Called on each poll that found the file unchanged."""

    def row_points(self, row: Mapping[str, Any], number: int) -> list[Point]:
        """:func:`row_points`, reporting instead of raising (e.g. an integer too big for a float)."""
        try:
            return row_points(row, number)
        except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
            self.report(f"{self.name} row {number}: skipped ({type(exc).__name__}: {_excerpt(str(exc))})")
            return []


class _JsonHistoryReader(_Reader):
    """A JSON list (or dict of lists) rewritten whole; rows past ``seen`` are new."""

    def __init__(self, name: str, report: Report) -> None:
        super().__init__(name, report)
        self.seen = 0
        self._problem: str | None = None  # why the last read did not parse
        self._stale = 0
        self._reported = False
        self._shape_reported = False

    def unchanged(self) -> None:
        if self._problem is None or self._reported:
            return
        self._stale += 1
        if self._stale >= STALE_POLLS:
            self._report_problem()

    def read(self, fh: IO[bytes], st: os.stat_result, final: bool) -> tuple[list[Point], bool]:
        raw = fh.read()
        settled = len(raw) == st.st_size
        data, problem = _parse_json(raw)
        if problem is not None:
            self._problem, self._stale = problem, 0
            if final:
                self._report_problem()
            return [], settled
        self._problem, self._reported = None, False
        return self._new_points(data), settled

    def _report_problem(self) -> None:
        if self._reported or not self._problem or self._problem == "empty":
            return
        self._reported = True
        self.report(f"{self.name} is not valid JSON ({self._problem}); waiting for it to be rewritten")

    def _new_points(self, data: Any) -> list[Point]:
        rows = history_rows(data)
        if rows is None:
            if not self._shape_reported:
                self._shape_reported = True
                self.report(f"{self.name}: expected a list of rows or a dict of lists, "
                            f"got {type(data).__name__}")
            return []
        self._shape_reported = False
        if len(rows) < self.seen:
            self.report(f"{self.name} has fewer rows than before ({len(rows)} < {self.seen}); "
                        "following the new rows")
            self.seen = len(rows)
            return []
        out: list[Point] = []
        for index in range(self.seen, len(rows)):
            out.extend(self._row(rows[index], index + 1))
        self.seen = len(rows)
        return out

    def _row(self, row: Any, number: int) -> list[Point]:
        if isinstance(row, dict):
            return self.row_points(row, number)
        self.report(f"{self.name}: row {number} is not an object: {_excerpt(json.dumps(row))}")
        return []


def _parse_json(raw: bytes) -> tuple[Any, str | None]:
    """(data, None), or (None, why it does not parse)."""
    text = raw.decode("utf-8", "replace").lstrip("\ufeff")
    if not text.strip():
        return None, "empty"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    except (ValueError, RecursionError) as exc:
        return None, _excerpt(str(exc))


class _AppendReader(_Reader):
    """A file written by appending lines, read incrementally from a byte offset."""

    has_header = False

    def __init__(self, name: str, report: Report) -> None:
        super().__init__(name, report)
        self._file_id: tuple[int, int] | None = None
        self._start_over(skip=0)

    def _start_over(self, skip: int) -> None:
        self.offset = 0
        self.head = b""  # the first bytes consumed, up to _HEAD_BYTES
        self.last = b""  # the last byte consumed
        self.lines_done = 0  # lines consumed after the header
        self.skip = skip  # lines to pass over (already returned before a rewrite)
        self._reset_format()

    def _reset_format(self) -> None:
        """Forget format state (header, parser) when the file starts over."""

    def read(self, fh: IO[bytes], st: os.stat_result, final: bool) -> tuple[list[Point], bool]:
        file_id = (st.st_dev, st.st_ino)
        if self.offset:
            action = self._classify(fh, st, file_id)
            if action == "wait":
                return [], True
            if action != "continue":
                self._start_over(skip=self.lines_done if action == "rewrite" else 0)
        self._file_id = file_id
        fh.seek(self.offset)
        data, at_end = _read_chunk(fh)
        taken = data if final and at_end else data[:data.rfind(b"\n") + 1]
        return self._consume(taken), at_end

    def _classify(self, fh: IO[bytes], st: os.stat_result, file_id: tuple[int, int]) -> str:
        """continue, wait, restart or rewrite (see the module docstring)."""
        fh.seek(0)
        probe = fh.read(len(self.head))
        same_start = probe == self.head[:len(probe)]
        if st.st_size < self.offset:
            return "wait" if same_start else "restart"
        fh.seek(self.offset - 1)
        if same_start and fh.read(1) == self.last:
            return "continue"
        return "rewrite" if file_id == self._file_id else "restart"

    def _consume(self, block: bytes) -> list[Point]:
        if not block:
            return []
        first = self.offset == 0
        if len(self.head) < _HEAD_BYTES:
            self.head = (self.head + block)[:_HEAD_BYTES]
        self.offset += len(block)
        self.last = block[-1:]
        text = block.decode("utf-8", "replace")
        if first:
            text = text.lstrip("\ufeff")
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        return self._parse(self._numbered([line.rstrip("\r") for line in lines]))

    def _numbered(self, lines: list[str]) -> list[tuple[int, str]]:
        """Lines to parse with their number after the header; takes the header, skips."""
        out: list[tuple[int, str]] = []
        for line in lines:
            if self.has_header and not self._has_header():
                if line.strip():
                    self._set_header(line)
                continue
            self.lines_done += 1
            if self.skip:
                self.skip -= 1
                continue
            out.append((self.lines_done, line))
        return out

    def _has_header(self) -> bool:
        return True

    def _set_header(self, line: str) -> None:
        """Take the header line."""

    def _parse(self, lines: list[tuple[int, str]]) -> list[Point]:
        raise NotImplementedError


def _read_chunk(fh: IO[bytes]) -> tuple[bytes, bool]:
    """Bytes from the current position: up to the end of the file, or at most about
    _READ_LIMIT bytes holding a newline. The flag says the end of the file was reached."""
    parts: list[bytes] = []
    while True:
        part = fh.read(_READ_LIMIT)
        parts.append(part)
        if len(part) < _READ_LIMIT:
            return b"".join(parts), True
        if b"\n" in part:
            return b"".join(parts), False


class _JsonlReader(_AppendReader):
    def _parse(self, lines: list[tuple[int, str]]) -> list[Point]:
        out: list[Point] = []
        for number, line in lines:
            if line.strip():
                out.extend(self._row(number, line.strip()))
        return out

    def _row(self, number: int, line: str) -> list[Point]:
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            self.report(f"{self.name} line {number}: not JSON: {_excerpt(line)}")
            return []
        if not isinstance(row, dict):
            self.report(f"{self.name} line {number}: not a JSON object: {_excerpt(line)}")
            return []
        return self.row_points(row, number)


class _CsvReader(_AppendReader):
    has_header = True

    def __init__(self, name: str, report: Report, delimiter: str | None) -> None:
        self.delimiter = delimiter
        self.header: list[str] | None = None
        super().__init__(name, report)

    def _reset_format(self) -> None:
        self.header = None

    def _has_header(self) -> bool:
        return self.header is not None

    def _set_header(self, line: str) -> None:
        if self.delimiter is None:
            self.delimiter = "\t" if "\t" in line and "," not in line else ","
        self.header = [name.strip() for name in self._cells(line, 0) or []]

    def _cells(self, line: str, number: int) -> list[str] | None:
        try:
            return next(csv.reader([line], delimiter=self.delimiter or ","), [])
        except csv.Error as exc:
            self.report(f"{self.name} line {number}: not CSV ({exc}): {_excerpt(line)}")
            return None

    def _parse(self, lines: list[tuple[int, str]]) -> list[Point]:
        out: list[Point] = []
        for number, line in lines:
            if line.strip():
                out.extend(self._row(number, line))
        return out

    def _row(self, number: int, line: str) -> list[Point]:
        cells = self._cells(line, number)
        if cells is None:
            return []
        values: dict[str, float] = {}
        for name, cell in zip(self.header or [], cells):
            num = _cell_number(cell)
            if name and num is not None:
                values[name] = num
        return self.row_points(values, number)


class _LogReader(_AppendReader):
    def __init__(self, name: str, report: Report, make_parser: Callable[[], LineParser]) -> None:
        self._make_parser = make_parser
        self.parser = make_parser()
        super().__init__(name, report)

    def _reset_format(self) -> None:
        self.parser = self._make_parser()

    def _parse(self, lines: list[tuple[int, str]]) -> list[Point]:
        if not lines:
            return []
        points = self.parser.feed("\n".join(line for _, line in lines) + "\n")
        for message in self.parser.errors:
            self.report(f"{self.name}: {message}")
        self.parser.errors.clear()
        return points


def _excerpt(text: str, size: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[:size - 3] + "..."


def _signature(st: os.stat_result) -> Signature:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


# -- the follower ------------------------------------------------------------------------------


class FileFollower:
    """Follow one file a training process writes; :meth:`poll` returns its new points.

    ``fmt`` is ``"json"``, ``"jsonl"``, ``"csv"``, ``"log"`` or None (from the suffix, else
    from the content; :attr:`fmt` holds the result once known). ``prefix``, ``kv`` and
    ``regexes`` configure the :class:`~gatebook.ingest.stdout.LineParser` of log files.
    """

    def __init__(self, path: str | Path, fmt: str | None = None, *, prefix: str = DEFAULT_PREFIX,
                 kv: bool = False, regexes: Sequence[str] = (), since: float | None = None) -> None:
        if fmt is not None and fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        for pattern in regexes:
            compile_regex(pattern)  # a bad regex is a config error, raised now, not mid-run
        self.path = Path(path)
        self.fmt: str | None = fmt or format_for_suffix(self.path)
        self.errors: list[str] = []
        self._prefix, self._kv, self._regexes = prefix, kv, tuple(regexes)
        self._reader: _Reader | None = self._make_reader(self.fmt) if self.fmt else None
        self._sig: Signature | None = None
        self._trouble: str | None = None
        self._stale: Signature | None = None
        if since is not None:
            self._skip_stale(since)

    def _skip_stale(self, since: float) -> None:
        """A file last written before ``since`` (a previous run's) is not this run's: a
        json history is ignored until it is rewritten; lines already in an appended file
        are skipped (if the file is later rewritten from scratch, it is read from 0)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return
        if not stat.S_ISREG(st.st_mode) or st.st_mtime >= since:
            return
        if self.fmt == "json" or (self.fmt is None and self.path.suffix.lower() == ".json"):
            self._stale = _signature(st)
            return
        self._poll(final=False)
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
            if _signature(st) == self._stale:
                return []
            self._stale = None
        if _signature(st) == self._sig and not final:
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
            self._sig = _signature(st)
            return []
        fh.seek(0)
        try:
            points, settled = reader.read(fh, st, final)
        except OSError:
            raise  # reported by _poll as a file that cannot be read
        except Exception as exc:  # a bug must not stop the run being recorded
            self._error(f"{self.path.name}: could not be read ({type(exc).__name__}: {_excerpt(str(exc))})")
            points, settled = [], True
        self._sig = _signature(st) if settled else None
        return points

    def _detect(self, fh: IO[bytes], final: bool) -> _Reader | None:
        raw = fh.read(_SNIFF_BYTES)
        complete = final or len(raw) >= _SNIFF_BYTES
        fmt = sniff_format(raw.decode("utf-8", "replace"), complete=complete, prefix=self._prefix)
        if fmt is None:
            return None
        self.fmt = fmt
        self._reader = self._make_reader(fmt)
        return self._reader

    def _make_reader(self, fmt: str) -> _Reader:
        name = self.path.name
        if fmt == "json":
            return _JsonHistoryReader(name, self._error)
        if fmt == "jsonl":
            return _JsonlReader(name, self._error)
        if fmt == "csv":
            return _CsvReader(name, self._error, "\t" if self.path.suffix.lower() == ".tsv" else None)
        return _LogReader(name, self._error, self._line_parser)

    def _line_parser(self) -> LineParser:
        return LineParser(prefix=self._prefix, kv=self._kv, regexes=self._regexes)

    def _report_trouble(self, message: str) -> None:
        if message != self._trouble:
            self._trouble = message
            self._error(message)

    def _error(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)
