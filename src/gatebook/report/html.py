"""A report's blocks as one self-contained HTML page: inline CSS, images as ``data:`` URIs.

The page loads nothing from anywhere, so it can be mailed, attached to a ticket or opened
offline. Its tier, status and delta colours are the palette's (``gatebook.render.styles``):
a FAIL is red here as in the terminal.
"""

from __future__ import annotations

import base64
import html
from typing import Any, Sequence

from gatebook.render.styles import CHANGE_STYLE, STATUS_STYLE, TIER_STYLE
from gatebook.report.blocks import Bullets, Details, Heading, Image, Inline, Para, Report, Span, Table

COLOURS: dict[str, tuple[str, str, str]] = {
    "green": ("#1a7f37", "#dafbe1", "#116329"),
    "yellow": ("#9a6700", "#fff8c5", "#7d4e00"),
    "cyan": ("#0969da", "#ddf4ff", "#0550ae"),
    "red": ("#cf222e", "#ffebe9", "#a40e26"),
    "magenta": ("#8250df", "#fbefff", "#8250df"),
    "bright_black": ("#656d76", "#f6f8fa", "#656d76"),
}
"""Each palette colour (a Rich colour name) on a white page: as text, and as a badge's background and text."""


def _colour(style: str) -> tuple[str, str, str, str]:
    """A Rich style (``"bold red"``) as CSS: text colour, badge background, badge text, extra rules."""
    words = style.split()
    text, background, badge = COLOURS.get(words[-1] if words else "", COLOURS["bright_black"])
    return text, background, badge, " font-weight: 700;" if "bold" in words else ""


def palette_css() -> str:
    """The CSS rules of tiers (badges), deltas and run statuses, from the one palette."""
    lines = []
    for tier, style in TIER_STYLE.items():
        _, background, badge, extra = _colour(style)
        lines.append(f".tier-{tier} {{ background: {background}; color: {badge};{extra} }}")
    lines.append(".delta { color: #656d76; font-size: 12px; }")
    for change, style in CHANGE_STYLE.items():
        text, _, _, extra = _colour(style)
        lines.append(f".delta.{change} {{ color: {text};{extra} }}")
    for status, style in STATUS_STYLE.items():
        text, _, _, extra = _colour(style)
        lines.append(f".status-{status} {{ color: {text};{extra} }}")
    return "\n".join(lines)


CSS = """
body { font: 15px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #1f2328; max-width: 1100px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.8em; border-bottom: 1px solid #d0d7de; padding-bottom: .3em; }
h2 { font-size: 1.4em; border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 2em; }
h3 { font-size: 1.15em; margin-top: 1.8em; }
h4 { font-size: 1em; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: 13.5px; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: 4px 9px; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.r { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.c { text-align: center; }
table.kv th { display: none; }
table.kv td:first-child { white-space: nowrap; background: #f6f8fa; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f6f8fa;
       padding: 1px 4px; border-radius: 4px; word-break: break-all; }
.muted { color: #656d76; }
p.muted { font-size: 13.5px; }
.tier { font-weight: 600; padding: 1px 7px; border-radius: 10px; font-size: 12px; white-space: nowrap; }
""".strip() + "\n" + palette_css() + "\n" + """
.warn { color: #9a6700; }
img.chart { max-width: 100%; height: auto; border: 1px solid #d0d7de; border-radius: 6px; margin: .5em 0; }
details { margin: .6em 0; } summary { cursor: pointer; font-weight: 600; }
ul { padding-left: 1.4em; }
""".strip()


def inline(content: Inline) -> str:
    """Inline content as HTML: text escaped, ``<code>``, ``<strong>``, a ``<span class>``."""
    if isinstance(content, str):
        return html.escape(content)
    if isinstance(content, Span):
        if not content.text:
            return ""
        text = html.escape(content.text)
        if content.code:
            text = f"<code>{text}</code>"
        if content.bold:
            text = f"<strong>{text}</strong>"
        if content.cls:
            text = f'<span class="{html.escape(content.cls)}">{text}</span>'
        return text
    return "".join(inline(part) for part in content)


def table(block: Table) -> list[str]:
    """A table's lines: ``<table>``, the header row, one ``<tr>`` per row."""
    cls = f' class="{html.escape(block.css)}"' if block.css else ""
    out = [f"<table{cls}>",
           "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in block.headers) + "</tr></thead>",
           "<tbody>"]
    align = block.align or []
    for r in block.rows:
        tds = []
        for i, c in enumerate(r):
            a = align[i] if i < len(align) else "l"
            cls_td = f' class="{a}"' if a in ("r", "c") else ""
            tds.append(f"<td{cls_td}>{inline(c)}</td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    return out


def render_html(report: Report) -> str:
    """The report as one HTML file: inline CSS, images as data URIs, nothing loaded from elsewhere."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{html.escape(report.title)}</title>", f"<style>\n{CSS}\n</style>", "</head>", "<body>",
           f"<h1>{html.escape(report.title)}</h1>"]

    def emit(blocks: Sequence[Any]) -> None:
        for b in blocks:
            if isinstance(b, Heading):
                anchor = f' id="{html.escape(b.anchor)}"' if b.anchor else ""
                out.append(f"<h{b.level}{anchor}>{html.escape(b.text)}</h{b.level}>")
            elif isinstance(b, Para):
                cls = ' class="muted"' if b.muted else ""
                out.append(f"<p{cls}>{inline(b.content)}</p>")
            elif isinstance(b, Table):
                if b.rows:
                    out.extend(table(b))
            elif isinstance(b, Bullets):
                out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in b.items) + "</ul>")
            elif isinstance(b, Image):
                data = base64.b64encode(b.png).decode("ascii")
                out.append(f'<img class="chart" alt="{html.escape(b.alt)}" width="{b.width}" height="{b.height}" '
                           f'src="data:image/png;base64,{data}">')
            elif isinstance(b, Details):
                out.append(f"<details><summary>{html.escape(b.summary)}</summary>")
                emit(b.blocks)
                out.append("</details>")
    emit(report.blocks)
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
