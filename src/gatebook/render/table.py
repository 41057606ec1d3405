"""Aligned text tables of styled pieces: plain or ANSI-coloured text, or a ``rich.text.Text``.

A table is its headers, a justification per column (``"left"`` / ``"right"``) and, per row
and column, a list of ``(text, style)`` pieces (styles are the palette's Rich style names,
``gatebook.render.styles``). Columns are two spaces apart; built by hand rather than with
``rich.table`` so a thousand rows render in milliseconds.
"""

from __future__ import annotations

from typing import Any, Sequence

Piece = tuple[str, str]
"""A run of text and its Rich style ("" for none)."""

SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "magenta": "35", "cyan": "36",
       "bright_black": "90", "bold red": "1;31"}
"""The ANSI SGR code of each style the palette uses."""

Layout = tuple[list[int], list[str], list[list[tuple[int, list[Piece]]]]]


def width(pieces: Sequence[Piece]) -> int:
    """The width of a cell on a terminal (wide characters count two)."""
    from rich.cells import cell_len

    return sum(len(t) if t.isascii() else cell_len(t) for t, _ in pieces)


def layout(heads: Sequence[str], justify: Sequence[str], rows: Sequence[Sequence[list[Piece]]]) -> Layout:
    """Column widths, justifications and every row (the bold header first) as (width, pieces) cells."""
    table = [[(width(p), p) for p in cells] for cells in [[[(h, "bold")] for h in heads], *rows]]
    widths = [max(cells[i][0] for cells in table) for i in range(len(heads))]
    return widths, list(justify), table


def paint(text: str, style: str, color: bool) -> str:
    """``text`` in ``style`` as ANSI codes (unchanged without ``color``, a style or text)."""
    if not color or not style or not text:
        return text
    return f"\x1b[{SGR.get(style, '0')}m{text}\x1b[0m"


def format_text(table: Layout, *, color: bool = False) -> str:
    """The table as text, one line per row, trailing spaces removed (ANSI codes with ``color``)."""
    widths, justify, rows = table
    lines = []
    for cells in rows:
        out = []
        for i, (n, pieces) in enumerate(cells):
            pad = " " * (widths[i] - n)
            body = "".join([paint(t, st, color) for t, st in pieces])
            out.append(pad + body if justify[i] == "right" else body + pad)
        lines.append("  ".join(out).rstrip())
    return "\n".join(lines) + "\n"


def rich_text(table: Layout) -> Any:
    """The same table as a ``rich.text.Text`` (no wrapping), for ``console.print``."""
    from rich.text import Text

    widths, justify, rows = table
    text = Text(no_wrap=True, overflow="ignore")
    for r, cells in enumerate(rows):
        if r:
            text.append("\n")
        for i, (n, pieces) in enumerate(cells):
            pad = " " * (widths[i] - n)
            if i:
                text.append("  ")
            if justify[i] == "right":
                text.append(pad)
            for t, st in pieces:
                text.append(t, style=st or None)
            if justify[i] != "right" and i < len(cells) - 1:
                text.append(pad)
    return text
