"""The one Markdown escaping (gatebook.render.markdown) and the outputs that write through it.

A run name with every character Markdown reads must be spelled the same way in
``compare --format md``, the change log and a report, and must neither break a table row
(its cell count) nor format: a Markdown parser gives the name back as it was.
"""

from __future__ import annotations

import html
import re

import pytest

from gatebook.analysis import changelog
from gatebook.analysis.compare import assemble
from gatebook.records import MetricStats, RunRecord, RunStatus
from gatebook.render import markdown as md
from gatebook.render.changelog import render_markdown as changelog_markdown
from gatebook.render.compare import render_markdown as compare_markdown
from gatebook.report.build import comparison_table
from gatebook.report.markdown import table as report_table

T0 = 1_790_000_000.0
NAMES = [
    "a|b *c* _d_ `e` <f> #1",
    "x\\|y [z](http://e.x) **bold** ``tick`` val_loss_",
    "1. - + > # ordered",
]


def _stats(last: float) -> MetricStats:
    return MetricStats(last=last, min=last, max=last, last_step=3, count=3)


def _direction(key: str) -> str | None:
    return "lower" if "loss" in key else None


def _runs(name: str) -> list[RunRecord]:
    return [RunRecord(id="6ah000000aa", name="base", status=RunStatus.FINISHED, created_at=T0),
            RunRecord(id="6ah000000bb", name=name, status=RunStatus.FINISHED, created_at=T0 + 1)]


def _rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def _cells(row: str) -> list[str]:
    """A table row's cells as GitHub splits them: on every ``|`` not escaped by a backslash."""
    cells, current, i = [], "", 0
    body = row.strip()[1:-1] if row.strip().endswith("|") and not row.strip().endswith("\\|") else row.strip()[1:]
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            current += body[i:i + 2]
            i += 2
            continue
        if body[i] == "|":
            cells.append(current.strip())
            current = ""
        else:
            current += body[i]
        i += 1
    cells.append(current.strip())
    return cells


def _three(name: str) -> dict[str, list[str]]:
    """The table rows (header, delimiter, runs) of compare, the change log and the report."""
    runs = _runs(name)
    stats = {r.id: {"loss": _stats(0.5 + i)} for i, r in enumerate(runs)}
    comp = assemble(runs, stats, ["loss"], baseline_id=runs[0].id, direction_of=_direction)
    log = changelog.build([changelog.RunData(r, stats=stats[r.id]) for r in runs], metrics=["loss"],
                          direction_of=_direction)
    return {"compare": _rows(compare_markdown(comp, with_legend=False)),
            "changelog": _rows(changelog_markdown(log)),
            "report": report_table(comparison_table(comp))}


@pytest.mark.parametrize("name", NAMES)
def test_one_name_is_spelled_the_same_in_compare_the_changelog_and_the_report(name: str) -> None:
    spelled = md.text(name)
    tables = _three(name)
    compare_cell = _cells(tables["compare"][3])[0]
    log_cell = _cells(tables["changelog"][3])[0]
    report_cell = _cells(tables["report"][3])[0]
    assert compare_cell == report_cell == spelled
    assert re.fullmatch(r"\d{4}-\d\d-\d\d – (.*) \(6ah000000bb\)", log_cell).group(1) == spelled  # type: ignore[union-attr]


@pytest.mark.parametrize("name", NAMES)
def test_the_cell_count_of_every_row_is_the_header_s(name: str) -> None:
    for what, rows in _three(name).items():
        counts = {len(_cells(row)) for row in rows}
        assert counts == {len(_cells(rows[0]))}, (what, rows)


@pytest.mark.parametrize("name", NAMES)
def test_a_markdown_parser_reads_the_name_back(name: str) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    parser = markdown_it.MarkdownIt("commonmark").enable("table")
    for what, rows in _three(name).items():
        page = parser.render("\n".join(rows) + "\n")
        body_rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
        header_cells = len(re.findall(r"<th[ >]", body_rows[0]))
        for row in body_rows[1:]:
            assert len(re.findall(r"<td[ >]", row)) == header_cells, (what, page)
        first = re.findall(r"<td[^>]*>(.*?)</td>", body_rows[2], re.S)[0]
        assert "<em>" not in first and "<strong>" not in first and "<code>" not in first and "<a " not in first
        text = html.unescape(re.sub(r"<[^>]+>", "", first))
        assert name in text, (what, first)


def test_text_escapes_what_would_format_and_keeps_words_readable() -> None:
    assert md.text("a|b *c* _d_ `e` <f> [g]\\") == "a\\|b \\*c\\* \\_d\\_ \\`e\\` \\<f> \\[g\\]\\\\"
    assert md.text("val_loss\nnext") == "val_loss next"
    assert md.cell("a | b\nc\r\nd  ") == "a \\| b<br>c<br>d"
    assert md.code("a``b|c") == "```a``b\\|c```"
    assert [md.line_start(t) for t in ("# x", "- x", "+ x", "1. x", "2) x", "> q", "---", "x # y", "-x")] == [
        "\\# x", "\\- x", "\\+ x", "1\\. x", "2\\) x", "\\> q", "\\---", "x # y", "-x"]
    assert md.row(["a", "b"]) == "| a | b |"


def test_the_palette_is_the_report_s_css() -> None:
    from gatebook.render.styles import STATUS_STYLE, TIER_STYLE
    from gatebook.report.html import CSS

    for tier in TIER_STYLE:
        assert f".tier-{tier} {{" in CSS
    for status in STATUS_STYLE:
        assert f".status-{status} {{" in CSS
    # the same meaning, the same colour: FAIL and ERROR red, like the terminal
    assert ".tier-FAIL { background: #ffebe9; color: #a40e26; }" in CSS
    assert ".tier-ERROR { background: #ffebe9; color: #a40e26; font-weight: 700; }" in CSS
    assert ".status-stopped { color: #8250df; }" in CSS
