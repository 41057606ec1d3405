"""The one Markdown escaping: text, table cells, code spans and line starts, for every Markdown output.

``gatebook compare --format md``, ``gatebook changelog`` and ``gatebook report`` all write
Markdown through here, so one run name is spelled the same in all three:

- :func:`text`: plain text that must not format: ``\\ * [ ] < | `` and backticks are escaped,
  ``_`` only at a word's edge (GitHub never reads ``val_loss`` as emphasis), line breaks
  become spaces. Safe inside a table cell too (``|`` is escaped).
- :func:`cell`: text that may carry Markdown of its own (a note, a param change) made safe
  for one table cell: only ``|`` is escaped and line breaks become ``<br>``.
- :func:`code`: an inline code span (longer fences when the text holds backticks), safe in
  a table cell.
- :func:`line_start`: a paragraph that would read as a heading, quote, list, rule or
  numbered item starts with a backslash.
- :func:`row`: one table row (``| a | b |``) of cells already escaped.
"""

from __future__ import annotations

import re
from typing import Sequence

_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*[]<|"})
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_NUMBERED = re.compile(r"(\d+)([.)]\s)")
_BLOCK_START = re.compile(r"(#|>|[-+*](\s|$)|={3,}|-{3,})")


def text(value: str) -> str:
    """Plain text for Markdown, with the characters that would format escaped (``_`` only at
    a word's edge), on one line."""
    return _UNDERSCORE.sub(r"\\_", value.translate(_SPECIAL)).replace("\r\n", " ").replace("\r", " ") \
        .replace("\n", " ")


def cell(value: str) -> str:
    """Text made safe for one Markdown table cell: ``|`` escaped, line breaks as ``<br>``."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("|", "\\|")
    return "<br>".join(part.strip() for part in value.split("\n")).strip()


def code(value: str) -> str:
    """An inline code span around ``value`` (longer fences when it holds backticks)."""
    value = value.replace("\n", " ").replace("|", "\\|")
    fence = "`"
    while fence in value:
        fence += "`"
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def line_start(value: str) -> str:
    """``value`` (already escaped) with a backslash in front when, at the start of a line, it
    would read as a heading, quote, list item, rule or numbered item."""
    m = _NUMBERED.match(value)
    if m:
        return m.group(1) + "\\" + value[len(m.group(1)):]
    if _BLOCK_START.match(value):
        return "\\" + value
    return value


def row(cells: Sequence[str]) -> str:
    """One table row of escaped cells: ``| a | b |``."""
    return "| " + " | ".join(cells) + " |"
