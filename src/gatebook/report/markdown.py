"""A report's blocks as GitHub Markdown, escaped through ``gatebook.render.markdown``.

Text is escaped like every other Markdown gatebook writes (``compare --format md``, the
change log), so a run name reads the same everywhere; images are linked relatively
(``<stem>_files/NAME.png``, written next to the file by ``gatebook.report.write``).
"""

from __future__ import annotations

from typing import Any, Sequence
from urllib.parse import quote

from gatebook.render import markdown as md
from gatebook.report.blocks import Bullets, Details, Heading, Image, Inline, Para, Report, Span, Table

ALIGN = {"r": "---:", "c": ":---:"}
"""The delimiter row's cell per column alignment (left: ``---``)."""


def inline(content: Inline) -> str:
    """Inline content as Markdown: text escaped, code spans, **bold** (leading spaces kept outside)."""
    if isinstance(content, str):
        return md.text(content)
    if isinstance(content, Span):
        if not content.text:
            return ""
        if content.code:
            return md.code(content.text)
        text = md.text(content.text)
        if content.bold and text.strip():
            lead = text[: len(text) - len(text.lstrip())]
            return f"{lead}**{text.strip()}**"
        return text
    return "".join(inline(part) for part in content)


def table(block: Table) -> list[str]:
    """A table's lines: the header row (an empty one for a key/value table), the delimiter, the rows."""
    headers = [md.text(h) for h in block.headers]
    if not any(headers):
        headers = ["", ""]  # a key/value table still needs a header row
    align = block.align or ["l"] * len(block.headers)
    lines = [md.row(headers), "|" + "|".join(ALIGN.get(a, "---") for a in align) + "|"]
    lines += [md.row([inline(c) for c in r]) for r in block.rows]
    return lines


def render_markdown(report: Report, image_dir: str) -> str:
    """The report as GitHub Markdown; images are linked as ``image_dir/NAME``."""
    out = [f"# {md.text(report.title)}", ""]

    def emit(blocks: Sequence[Any]) -> None:
        for b in blocks:
            if isinstance(b, Heading):
                out.extend([f"{'#' * b.level} {md.text(b.text)}", ""])
            elif isinstance(b, Para):
                text = md.line_start(inline(b.content))
                out.extend([f"_{text}_" if b.muted and text else text, ""])
            elif isinstance(b, Table):
                if b.rows:
                    out.extend([*table(b), ""])
            elif isinstance(b, Bullets):
                out.extend([f"- {inline(item)}" for item in b.items] + [""])
            elif isinstance(b, Image):
                out.extend([f"![{md.text(b.alt)}]({quote(image_dir)}/{quote(b.name)})", ""])
            elif isinstance(b, Details):
                out.extend([f"**{md.text(b.summary)}**", ""])
                emit(b.blocks)
    emit(report.blocks)
    return "\n".join(out).rstrip() + "\n"
