"""Readers of appended files (jsonl, csv, log), read incrementally from a byte offset.

Half-written files: only complete lines (ending in ``\\n``) are consumed; a partial last
line is read again when the file grows. A final read (the writer is done) also consumes a
last line without a newline. A csv header is parsed once, when its line is complete.

Truncated or replaced files. The reader keeps a byte offset, the first 256 bytes it
consumed and the last consumed byte. When the file changed:

* the same bytes continue (appended, or rewritten whole with the old text as a prefix):
  read on from the offset;
* it is shorter but starts as before: a rewrite in progress (truncate, then write), or a
  restart not yet distinguishable: wait;
* it is shorter and starts differently, or it is another file (new inode) that does not
  continue the old one: start over from byte 0; all its rows are new;
* it is the same file (inode), at least as long, but what was read changed (Lightning's
  ``CSVLogger`` rewrites the file with a wider header when a new metric appears): read it
  again from byte 0, skipping as many rows as were read before.
"""

from __future__ import annotations

import csv
import json
import os
from typing import IO, Callable

from gatebook.ingest.formats import Reader, Report, cell_number, excerpt
from gatebook.ingest.stdout import LineParser, Point

__all__ = ["AppendReader", "CsvReader", "JsonlReader", "LogReader"]

_HEAD_BYTES = 256
_READ_LIMIT = 16 << 20


class AppendReader(Reader):
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


class JsonlReader(AppendReader):
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
            self.report(f"{self.name} line {number}: not JSON: {excerpt(line)}")
            return []
        if not isinstance(row, dict):
            self.report(f"{self.name} line {number}: not a JSON object: {excerpt(line)}")
            return []
        return self.row_points(row, number)


class CsvReader(AppendReader):
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
            self.report(f"{self.name} line {number}: not CSV ({exc}): {excerpt(line)}")
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
        for name, cell in zip(self.header or [], cells, strict=False):
            num = cell_number(cell)
            if name and num is not None:
                values[name] = num
        return self.row_points(values, number)


class LogReader(AppendReader):
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
