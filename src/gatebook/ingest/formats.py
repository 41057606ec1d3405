"""Formats of watched files: detection, rows to points, and the reader of JSON histories.

Formats (``fmt``; by default from the file's suffix, else from its first bytes):

* ``json`` (``.json``): the whole file is rewritten at each save. Three shapes:

  - a JSON list of per-epoch dicts (``json.dump(history, f)``): rows at an index not
    returned before are new. If the list gets shorter, the writer started over: one error
    line says so, its current rows count as seen and later rows are followed;
  - a Keras-style dict of lists (``{"loss": [...], "val_loss": [...]}``): row *i* holds the
    *i*-th entries, as for a list;
  - a Hugging Face ``trainer_state.json`` (a dict with a ``log_history`` list): each entry
    of ``log_history`` is a row with its own ``step``. The other top-level fields
    (``global_step``, ``best_metric``...) repeat what the entries hold and are not read. An
    entry is new when its step is above the highest step taken, or equal to it with keys
    not taken at that step (Trainer logs the training and the evaluation entries of one step
    separately); entries at or below what was taken are not taken again, so a file
    rewritten at each save, or a newer checkpoint's file repeating the older entries (the
    followers of one glob share a :class:`StepMark`), gives only its new entries.
* ``jsonl`` (``.jsonl``, ``.ndjson``): one JSON object per line, appended.
* ``csv`` (``.csv``; ``.tsv`` is tab-separated): a header line, then rows, appended (Keras
  and Lightning ``CSVLogger``). Empty and non-numeric cells (a timestamp column) are
  skipped silently; ``nan`` / ``NaN`` cells are NaN.
* ``log`` (``.log``, ``.txt``, ``.out``): a text log, appended; its lines go through
  :class:`gatebook.ingest.stdout.LineParser` (``gatebook: {...}`` lines, ``key=value``
  pairs with ``kv=True``, ``regexes``), exactly as the command's output is parsed.

The appended formats are read by :mod:`gatebook.ingest.appended`.

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
after the header in jsonl and csv). ``step`` is not stored as a metric; ``epoch`` is (so a
Lightning row ``epoch,step,...`` or a Trainer entry ``{"epoch": 0.5, "step": 10, ...}`` is at
its ``step`` and records its ``epoch``, fractional for the Trainer, as a metric).

A json file that does not parse (empty, truncated mid-way: writers do not write
atomically) is left alone and read again as soon as it changes. Only when it stays
unparseable and unchanged for :data:`STALE_POLLS` polls is one error recorded (never for
an empty file: the writer has not written yet); at the final read it is recorded at once.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import IO, Any, Callable, Mapping

from gatebook.ingest.stdout import DEFAULT_PREFIX, Point, points_from_mapping
from gatebook.serialize import Unserializable, to_float

__all__ = ["FORMATS", "STALE_POLLS", "JsonHistoryReader", "Reader", "StepMark", "cell_number", "excerpt",
           "format_for_suffix", "history_rows", "log_history", "row_points", "row_step", "sniff_format"]

FORMATS = ("json", "jsonl", "csv", "log")
STALE_POLLS = 3
"""Unchanged polls after which an unparseable json file is reported."""

_SUFFIX_FORMATS = {
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv",
    ".log": "log", ".txt": "log", ".out": "log",
}
_STEP_KEYS = ("step", "epoch", "global_step", "iteration")

Report = Callable[[str], None]


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


def log_history(data: Any) -> list[Any] | None:
    """The ``log_history`` list of a Hugging Face ``trainer_state.json``; else None."""
    entries = data.get("log_history") if isinstance(data, dict) else None
    return entries if isinstance(entries, list) else None


def history_rows(data: Any) -> list[Any] | None:
    """Rows of a parsed history file: a list as is, a trainer state's ``log_history``, a dict
    of lists by index; else None."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return None
    entries = log_history(data)
    if entries is not None:
        return entries
    columns = {key: value for key, value in data.items() if isinstance(value, list)}
    if not columns:
        return None
    length = max(len(values) for values in columns.values())
    return [{key: values[i] for key, values in columns.items() if i < len(values)} for i in range(length)]


def cell_number(cell: str) -> float | None:
    """The number in a CSV cell; None for an empty or non-numeric one."""
    text = cell.strip()
    if not text:
        return None
    try:
        return to_float(text)
    except (Unserializable, OverflowError):
        return None


def excerpt(text: str, size: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[:size - 3] + "..."


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


class Reader:
    """Turns a file's changes into points; one per format."""

    def __init__(self, name: str, report: Report) -> None:
        self.name = name
        self.report = report

    def read(self, fh: IO[bytes], st: os.stat_result, final: bool) -> tuple[list[Point], bool]:
        """Points of what is new; the flag is False when the file must be read again
        even if its stamp does not change."""
        raise NotImplementedError

    def unchanged(self) -> None:
        """Called on each poll that found the file unchanged."""

    def row_points(self, row: Mapping[str, Any], number: int) -> list[Point]:
        """:func:`row_points`, reporting instead of raising (e.g. an integer too big for a float)."""
        try:
            return row_points(row, number)
        except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
            self.report(f"{self.name} row {number}: skipped ({type(exc).__name__}: {excerpt(str(exc))})")
            return []


class StepMark:
    """How far the ``log_history`` entries of trainer state files have been taken: the highest
    step, and the key sets of the entries taken at that step."""

    def __init__(self) -> None:
        self.step: int | None = None
        self.keys: set[frozenset[str]] = set()

    def take(self, step: int, keys: frozenset[str]) -> bool:
        """Whether an entry at ``step`` with ``keys`` is new; if so it now counts as taken."""
        if self.step is not None and step < self.step:
            return False
        if step == self.step:
            if keys in self.keys:
                return False
            self.keys.add(keys)
            return True
        self.step, self.keys = step, {keys}
        return True


class JsonHistoryReader(Reader):
    """A JSON list, dict of lists or trainer state rewritten whole (see the module docstring)."""

    def __init__(self, name: str, report: Report, taken: StepMark | None = None) -> None:
        super().__init__(name, report)
        self.seen = 0
        self.taken = taken if taken is not None else StepMark()
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
        entries = log_history(data)
        if entries is not None:
            self._shape_reported = False
            return self._log_history(entries)
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

    def _log_history(self, entries: list[Any]) -> list[Point]:
        """New entries of a trainer state, by their step (``seen`` only keeps a bad entry
        from being reported at each rewrite)."""
        out: list[Point] = []
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                if index >= self.seen:
                    self._row(entry, index + 1)
                continue
            step = row_step(entry)
            if self.taken.take(index + 1 if step is None else step, frozenset(entry)):
                out.extend(self.row_points(entry, index + 1))
        self.seen = len(entries)
        return out

    def _row(self, row: Any, number: int) -> list[Point]:
        if isinstance(row, dict):
            return self.row_points(row, number)
        self.report(f"{self.name}: row {number} is not an object: {excerpt(json.dumps(row))}")
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
        return None, excerpt(str(exc))
