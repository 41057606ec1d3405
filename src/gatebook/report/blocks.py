"""The report's document model: plain blocks (headings, paragraphs, tables, lists, images) and inline spans.

:func:`gatebook.report.build.build_report` assembles a :class:`Report` of these blocks;
``gatebook.report.markdown`` and ``gatebook.report.html`` format them, and
``gatebook.report.write`` puts the file on disk. A block holds text, never markup: each
renderer escapes it for its own format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence, Union


@dataclass(frozen=True)
class Span:
    """Inline text: plain, ``code``, **bold**, or with a CSS class (``tier-FAIL``) in HTML."""

    text: str
    code: bool = False
    bold: bool = False
    cls: str = ""


Inline = Union[str, Span, Sequence[Union[str, Span]]]
"""Inline content: a string, a span, or a sequence of both (rendered one after the other)."""


@dataclass
class Heading:
    level: int
    text: str
    anchor: str = ""


@dataclass
class Para:
    content: Inline
    muted: bool = False


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Inline]]
    align: list[str] = field(default_factory=list)  # "l" | "r" | "c" per column
    css: str = ""


@dataclass
class Bullets:
    items: list[Inline]


@dataclass
class Image:
    name: str  # file name (Markdown) without directory
    alt: str
    png: bytes
    width: int
    height: int


@dataclass
class Details:
    """Collapsed in HTML (``<details>``); in Markdown a bold line then the blocks."""

    summary: str
    blocks: list[Any]


Block = Union[Heading, Para, Table, Bullets, Image, Details]


@dataclass
class Report:
    """A whole report: its title, its blocks, and what ``report --json`` says about it."""

    title: str
    blocks: list[Any]
    runs: list[dict[str, Any]] = field(default_factory=list)
    baseline: dict[str, Any] | None = None
    metrics: list[str] = field(default_factory=list)
    gates: list[str] = field(default_factory=list)
    skipped_gates: list[str] = field(default_factory=list)

    @property
    def images(self) -> list[Image]:
        out: list[Image] = []

        def visit(blocks: Sequence[Any]) -> None:
            for b in blocks:
                if isinstance(b, Image):
                    out.append(b)
                elif isinstance(b, Details):
                    visit(b.blocks)

        visit(self.blocks)
        return out


def tier_span(tier: str | None) -> Span:
    """A gate tier as a badge (``tier tier-FAIL``), bold when it failed or errored."""
    return Span(tier or "", bold=tier in ("FAIL", "ERROR"), cls=f"tier tier-{tier}" if tier else "")


def status_span(status: str, *, bold: bool = False) -> Span:
    """A run status in its colour (``status-failed``)."""
    return Span(status, bold=bold, cls=f"status-{status}")
