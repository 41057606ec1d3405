"""Metric lines in a command's output.

Three forms, all optional but the first:

* JSON objects on lines that start with a prefix (``gatebook:`` by default)::

      gatebook: {"epoch": 2, "val_loss": 0.31, "val_acc": 0.91}

* ``key=value`` pairs (with ``--kv``): ``epoch=2 loss=0.31 acc=91.2%``;
* regular expressions with named groups, declared in the project config::

      ingest:
        regex: ['Epoch (?P<epoch>\\d+).*val_loss: (?P<val_loss>[-\\d.eE]+)']

In every form a ``step`` key, else an ``epoch`` key, gives the step; ``step`` itself is
not stored as a metric, ``epoch`` is. Values must be numbers (``NaN``, ``inf`` too).
Lines are parsed only when complete; a chunk boundary never splits a metric. A line redrawn
with ``\r`` (a progress bar, then a metric line through ``tqdm.write``) is read as the text
after its last ``\r``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from gatebook.errors import ConfigError

DEFAULT_PREFIX = "gatebook:"
_KV_RE = re.compile(
    r"(?<![\w./@-])([A-Za-z_][\w./@-]*)\s*=\s*"
    r"([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|NaN|inf|Inf))(%?)(?=[\s,;|)\]]|$)")

Point = tuple[str, "int | None", float]
"""(key, step, value)"""


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().rstrip("%"))
        except ValueError:
            return None
    return None


def _step_of(values: dict[str, Any]) -> int | None:
    for key in ("step", "epoch"):
        if key in values:
            num = _number(values[key])
            if num is not None and math.isfinite(num):
                return int(num)
    return None


def points_from_mapping(values: dict[str, Any], prefix_key: str = "") -> list[Point]:
    """Numeric entries of a mapping as points; nested mappings become dotted keys."""
    step = _step_of(values)
    out: list[Point] = []

    def walk(data: dict[str, Any], base: str) -> None:
        for key, value in data.items():
            full = f"{base}{key}"
            if isinstance(value, dict):
                walk(value, full + ".")
                continue
            if full == "step":
                continue
            num = _number(value) if not isinstance(value, str) else None
            if num is not None:
                out.append((full, step, num))

    walk(values, prefix_key)
    return out


@dataclass
class LineParser:
    """Incremental parser: feed text chunks, get points for every complete line."""

    prefix: str = DEFAULT_PREFIX
    kv: bool = False
    regexes: Sequence[str] = ()
    _carry: str = ""
    _compiled: list[re.Pattern[str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._compiled = [compile_regex(r) for r in self.regexes]

    @property
    def line_wise(self) -> bool:
        return self.kv or bool(self._compiled)

    def feed(self, text: str) -> list[Point]:
        """Points from the complete lines of ``self._carry + text``."""
        data = self._carry + text
        cut = data.rfind("\n")
        if cut < 0:
            self._carry = data[-65536:] if len(data) > 65536 else data
            return []
        self._carry = data[cut + 1:]
        return self._parse_block(data[:cut])

    def close(self) -> list[Point]:
        """Points from a last line without a newline."""
        rest, self._carry = self._carry, ""
        return self._parse_block(rest) if rest else []

    def _parse_block(self, block: str) -> list[Point]:
        out: list[Point] = []
        if "\r" in block:  # a line redrawn with \r (a progress bar, then tqdm.write): its last text
            block = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in block.split("\n"))
        if self.prefix and self.prefix in block:
            for line in block.split("\n"):
                stripped = line.strip()
                if stripped.startswith(self.prefix):
                    out.extend(self.parse_prefixed(stripped[len(self.prefix):]))
        if self.line_wise:
            for line in block.split("\n"):
                if self.prefix and line.strip().startswith(self.prefix):
                    continue
                out.extend(self.parse_line(line))
        return out

    def parse_prefixed(self, payload: str) -> list[Point]:
        payload = payload.strip()
        if not payload or payload[0] not in "{[":
            # prose, not a metric line: gatebook's own messages from the command's process
            # ("gatebook: gate early: ... ending Lightning training") or a user's note
            return []
        try:
            data = json.loads(payload)
        except ValueError:
            self._error(f"not JSON after {self.prefix!r}: {payload[:80]}")
            return []
        if not isinstance(data, dict):
            self._error(f"expected a JSON object after {self.prefix!r}: {payload[:80]}")
            return []
        return points_from_mapping(data)

    def parse_line(self, line: str) -> list[Point]:
        values: dict[str, Any] = {}
        if self.kv and "=" in line:
            for key, num, _pct in _KV_RE.findall(line):
                values[key] = float(num)
        for rx in self._compiled:
            m = rx.search(line)
            if m:
                for key, value in m.groupdict().items():
                    if value is not None:
                        num = _number(value)
                        if num is not None:
                            values[key] = num
        return points_from_mapping(values) if values else []

    def _error(self, message: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(message)


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile a metric regex; it must have at least one named group."""
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"metric regex {pattern!r} is not valid: {exc}",
                          hint="fix it under ingest.regex in gatebook.yaml") from None
    if not rx.groupindex:
        raise ConfigError(f"metric regex {pattern!r} has no named group",
                          hint="name the numbers to record, e.g. 'loss: (?P<loss>[-\\d.eE]+)'")
    return rx


def parse_lines(lines: Iterable[str], **kwargs: Any) -> list[Point]:
    """Convenience: all points of complete lines."""
    parser = LineParser(**kwargs)
    out: list[Point] = []
    for line in lines:
        out.extend(parser.feed(line if line.endswith("\n") else line + "\n"))
    return out
