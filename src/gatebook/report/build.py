"""A report of runs, as one self-contained HTML file or a Markdown file with its images.

:func:`build_report` reads the ledger and assembles a :class:`Report`: a list of plain
blocks (headings, paragraphs, tables, images, lists) that :func:`render_html` and
:func:`render_markdown` format; :func:`write_report` writes the file (and, for Markdown,
the images into ``<stem>_files/`` next to it, linked relatively).

What a report holds (docs/reports.md):

1. a summary line (runs, baseline, gates) and the comparison table
   (``gatebook.analysis.compare``: last values, deltas vs the baseline, best in bold, one
   verdict column per gate), then the params that differ between the runs;
2. the curves: one chart per metric with every run (and the baseline) on it and the gates'
   thresholds (``gatebook.report.plot``); metrics: ``--metric``, else ``metrics.primary``
   and the gates' metrics, else the metrics the runs share (at most :data:`MAX_CHARTS`);
3. per run: provenance (command, git, python, host, times, status and reason), the gate
   verdict table with the playbook's advice, params, notes, and the gate / stop history.

HTML embeds its images as ``data:`` URIs and its CSS inline; it loads nothing from
anywhere, so it can be mailed, attached to a ticket or opened offline.
"""

from __future__ import annotations

import base64
import html
import re
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, Union
from urllib.parse import quote

from gatebook.errors import NotFoundError, UsageError

MAX_CHARTS = 6
"""Charts when the metrics are not given (``--metric`` has no limit)."""

MAX_DIFF_PARAMS = 16
"""Columns of the "params that differ" table."""

REPORT_FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}


# -- the document model ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Inline text: plain, ``code``, **bold**, or with a CSS class (``tier-FAIL``) in HTML."""

    text: str
    code: bool = False
    bold: bool = False
    cls: str = ""


Inline = Union[str, Span, Sequence[Union[str, Span]]]


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


# -- gates ------------------------------------------------------------------------------------------


def setup_gates(store: Any, pconf: Any, names: Sequence[str], baseline_ref: str | None) -> tuple[Any, list[str]]:
    """``prepare_gates`` for reports and plots, and the gates left out with why.

    Named gates are strict (as ``gatebook gate``: a gate that needs a baseline and has
    none is an error). With no names, every declared gate that can be judged: a gate
    comparing with a baseline is left out when there is none (or its baseline run does
    not exist), with a line saying so. Returns ``(None, skipped)`` when no gate is left.
    """
    from gatebook.gates.setup import baseline_ref_for, prepare_gates

    if names:
        return prepare_gates(store, pconf, list(names), baseline_ref), []
    usable: list[str] = []
    skipped: list[str] = []
    for name, spec in (pconf.gates or {}).items():
        gate = spec.to_gate(name)
        ref = baseline_ref_for(gate, baseline_ref)
        if gate.uses_baseline and ref is None:
            skipped.append(f"gate {name}: compares with a baseline and none is set (pass --baseline RUN)")
            continue
        if ref is not None and baseline_ref is None:
            try:
                store.resolve_run(ref)
            except NotFoundError as exc:
                skipped.append(f"gate {name}: its baseline {ref!r}: {exc.message}")
                continue
        usable.append(name)
    if not usable:
        return None, skipped
    return prepare_gates(store, pconf, usable, baseline_ref), skipped


# -- assembly ---------------------------------------------------------------------------------------


def build_report(store: Any, runs: Sequence[Any], *, pconf: Any, baseline: Any | None = None,
                 gates: Sequence[str] = (), metrics: Sequence[str] | None = None, title: str | None = None,
                 yscale: str = "auto", generated_at: float | None = None) -> Report:
    """Assemble the report of ``runs`` (run records, in order); ``baseline`` a run record."""
    from gatebook import __version__
    from gatebook.analysis.compare import build_comparison, choose_metrics
    from gatebook.gates.evaluate import Tier
    from gatebook.gates.setup import advice_for, load_series
    from gatebook.render.text import iso
    from gatebook.report.plot import build_charts, render_png, run_labels, unique_slugs

    runs = list(runs)
    gating, skipped_gates = setup_gates(store, pconf, gates, baseline.id if baseline is not None else None)
    gate_names = [g.name for g in gating.gates] if gating is not None else []
    comparison = build_comparison(store, runs, metrics=list(metrics) if metrics else None, baseline=baseline,
                                  pconf=pconf, gates=gate_names)
    base_run = comparison.baseline
    everyone = [r.run for r in comparison.rows]
    labels = run_labels(everyone)

    # which metrics get a chart: the same rules as the comparison's columns, fewer of them
    stats = store.metric_stats([r.id for r in everyone])
    if metrics:
        chart_keys = list(comparison.keys)
    else:
        chart_keys, _, _ = choose_metrics(stats, everyone, pconf=pconf,
                                          gates=gating.gates if gating is not None else (), cap=MAX_CHARTS)
        chart_keys = chart_keys[:MAX_CHARTS]

    title = title or _default_title(runs)
    blocks: list[Any] = []
    when = iso(generated_at if generated_at is not None else time.time())
    intro: list[Union[str, Span]] = [f"{len(runs)} run{'s' if len(runs) != 1 else ''}"]
    if base_run is not None and len(everyone) > 1:
        intro += [", baseline ", Span(base_run.name or base_run.id, bold=True)]
    if gate_names:
        intro += [", gates: ", ", ".join(gate_names)]
    intro += [f". Generated {when} by gatebook {__version__}."]
    blocks.append(Para(intro, muted=True))
    if skipped_gates:
        blocks.append(Para("Not judged: " + "; ".join(skipped_gates) + ".", muted=True))

    # 1. comparison
    blocks.append(Heading(2, "Comparison", "comparison"))
    blocks.append(_comparison_table(comparison))
    from gatebook.analysis.compare import legend

    blocks.append(Para(legend(comparison), muted=True))
    param_table = _param_diff_table(store, everyone, labels)
    if param_table is not None:
        blocks.append(Heading(3, "Params that differ", "params-that-differ"))
        blocks.append(param_table)

    # 2. curves
    charts = build_charts(store, runs, chart_keys, gates=gating.gates if gating is not None else (),
                          baseline=base_run if len(everyone) > 1 else None,
                          gate_baselines=gating.baselines if gating is not None else None,
                          direction_of=pconf.metrics.direction, labels=labels)
    slugs = unique_slugs(chart_keys)
    blocks.append(Heading(2, "Curves", "curves"))
    drawn = 0
    for chart in charts:
        if not chart.curves:
            continue
        png, _ = render_png(chart, yscale=yscale)
        from gatebook.report.plot import DPI, HEIGHT_IN, WIDTH_IN

        blocks.append(Image(f"{slugs[chart.metric]}.png", f"{chart.metric} by step", png,
                            int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI)))
        drawn += 1
        notes = []
        if chart.missing:
            notes.append("no points from " + ", ".join(chart.missing))
        if chart.skipped:
            notes.append("threshold not drawn: " + "; ".join(chart.skipped))
        if notes:
            blocks.append(Para("; ".join(notes) + ".", muted=True))
    if not drawn:
        blocks.append(Para("No metric series to draw (the runs logged no points).", muted=True))

    # 3. per run
    blocks.append(Heading(2, "Runs", "runs"))
    run_docs = []
    from gatebook.views import run_document

    for run in runs:
        doc = run_document(store, run)
        verdict = None
        run_blocks: list[Any] = [Heading(3, f"{labels[run.id]}", f"run-{run.id}")]
        run_blocks.append(_provenance_table(doc))
        if gating is not None:
            series = load_series(store, run.id)
            judged = gating.judge(series, finished=run.status.is_terminal)
            results = list(judged.gates)
            verdict = judged.tier.value
            run_blocks.append(Heading(4, "Gates"))
            run_blocks.append(Para(["verdict: ", _tier(verdict)]))
            run_blocks.append(_verdict_table(results, gating))
            advice_items: list[Inline] = []
            from gatebook.gates.report import advice_lines

            for gate, result in zip(gating.gates, results, strict=False):
                if result.tier is Tier.FAIL and (gate.playbook.fixes or gate.playbook.signatures):
                    advice = advice_for(store, run.id, gate, series, gating)
                    advice_items += [f"gate {gate.name}: {line}" for line in
                                     advice_lines(advice, run.name or run.id, hint=True)]
            if advice_items:
                run_blocks.append(Bullets(advice_items))
        if doc["params"]:
            table = _params_table(doc)
            if len(doc["params"]) > 20:
                run_blocks.append(Details(f"params ({len(doc['params'])})", [table]))
            else:
                run_blocks.append(Heading(4, "Params"))
                run_blocks.append(table)
        if doc["summary"]:
            run_blocks.append(Heading(4, "Summary"))
            run_blocks.append(Table(["key", "value"], [[k, _short(v)] for k, v in doc["summary"].items()]))
        if doc["notes"]:
            run_blocks.append(Heading(4, "Notes"))
            run_blocks.append(Bullets([[Span(n["ts"] or "", cls="muted"), "  " + n["text"]] for n in doc["notes"]]))
        history = [e for e in doc["events"] if e["kind"] in ("gate", "stop", "verdict")]
        if history:
            from gatebook.render.text import event_text

            items: list[Inline] = [[Span(e["ts"] or "", cls="muted"), "  " + event_text(e)] for e in history[:50]]
            if len(history) > 50:
                items.append(f"... and {len(history) - 50} more (gatebook show {run.id})")
            run_blocks.append(Details(f"gate history ({len(history)} events)", [Bullets(items)]))
        blocks.extend(run_blocks)
        run_docs.append({"id": run.id, "name": run.name, "status": run.status.value, "verdict": verdict})

    return Report(title=title, blocks=blocks, runs=run_docs,
                  baseline=None if base_run is None else {"id": base_run.id, "name": base_run.name},
                  metrics=[c.metric for c in charts if c.curves], gates=gate_names, skipped_gates=skipped_gates)


def _default_title(runs: Sequence[Any]) -> str:
    names = [r.name or r.id for r in runs]
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"Report: {shown}"


def _tier(tier: str | None) -> Span:
    return Span(tier or "", bold=tier in ("FAIL", "ERROR"), cls=f"tier tier-{tier}" if tier else "")


def _num(value: Any) -> str:
    from gatebook.serialize import format_number

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    return "" if value is None else str(value)


def _short(value: Any, width: int = 120) -> str:
    import json

    if isinstance(value, float):
        return _num(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def _comparison_table(comp: Any) -> Table:
    from gatebook.analysis.compare import MISSING, cell_text

    headers = ["run", "id", "status"] + [f"{m.key} {m.arrow}".strip() for m in comp.metrics] + \
        [f"gate {g}" for g in comp.gates]
    rows: list[list[Inline]] = []
    for row in comp.rows:
        name: list[Union[str, Span]] = [row.run.name or ""]
        if row.is_baseline and len(comp.rows) > 1:
            name.append(Span(" (baseline)", cls="muted"))
        cells: list[Inline] = [name, Span(row.run.id, code=True),
                               Span(row.run.status.value, cls=f"status-{row.run.status.value}")]
        for m in comp.metrics:
            c = row.cells.get(m.key, MISSING)
            value, delta = cell_text(c)
            parts: list[Union[str, Span]] = [Span(value, bold=c.best)] if value else []
            if delta:
                parts.append(Span(f" ({delta})", cls=f"delta {c.change or ''}".strip()))
            cells.append(parts)
        for g in comp.gates:
            v = row.verdicts.get(g)
            cells.append(_tier(v.verdict) if v else "")
        rows.append(cells)
    align = ["l", "l", "l"] + ["r"] * len(comp.metrics) + ["c"] * len(comp.gates)
    return Table(headers, rows, align, css="comparison")


def _param_diff_table(store: Any, runs: Sequence[Any], labels: Mapping[str, str]) -> Table | None:
    """Rows: runs; columns: the params whose values differ between them (at most MAX_DIFF_PARAMS)."""
    from gatebook.views import merged_params

    if len(runs) < 2:
        return None
    params = {r.id: merged_params(store.params(r.id)) for r in runs}
    keys = sorted({k for p in params.values() for k in p})
    missing = object()
    differ = [k for k in keys if len({repr(params[r.id].get(k, missing)) for r in runs}) > 1]
    if not differ:
        return None
    shown = differ[:MAX_DIFF_PARAMS]
    rows: list[list[Inline]] = []
    for r in runs:
        rows.append([labels.get(r.id, r.id)]
                    + [_short(params[r.id][k], 40) if k in params[r.id] else "" for k in shown])
    table = Table(["run", *shown], rows, css="params-diff")
    if len(differ) > len(shown):
        table.headers[-1] += f" (+{len(differ) - len(shown)} more)"
    return table


def _provenance_table(doc: Mapping[str, Any]) -> Table:
    from gatebook.render.text import duration

    rows: list[list[Inline]] = []

    def row(label: str, value: Inline | None) -> None:
        if value not in (None, "", [], {}):
            rows.append([Span(label, bold=True), value])  # type: ignore[list-item]

    status: list[Union[str, Span]] = [Span(doc["status"], bold=True, cls=f"status-{doc['status']}")]
    if doc["exit_code"] is not None:
        status.append(f" (exit {doc['exit_code']})")
    if doc["reason"]:
        status.append(f": {doc['reason']}")
    row("status", status)
    row("id", Span(doc["id"], code=True))
    row("command", Span(shlex.join(doc["command"]), code=True) if doc["command"] else None)
    row("cwd", Span(doc["cwd"], code=True) if doc["cwd"] else None)
    row("started", doc["created_at"])
    row("ended", doc["ended_at"])
    row("duration", duration(doc["duration"]) if doc["duration"] is not None else None)
    row("host", " as ".join(x for x in (doc["host"], doc["user"]) if x))
    git = doc["git"]
    if git.get("commit"):
        g: list[Union[str, Span]] = [Span(git["commit"][:12], code=True), f" on {git.get('branch') or '(detached)'}"]
        if git.get("dirty"):
            g.append(Span(" dirty", bold=True, cls="warn"))
            if git.get("dirty_files"):
                files = git["dirty_files"]
                g.append(f" ({', '.join(files[:8])}{' ...' if len(files) > 8 else ''})")
        row("git", g)
        row("remote", git.get("remote"))
    if git.get("parent_commit"):
        row("changed vs parent", ", ".join(git.get("files_changed") or []) or "(none)")
    if doc.get("parent"):
        p = doc["parent"]
        row("parent", f"{p.get('name') or ''} ({p['id']})".strip())
    row("group", doc.get("group"))
    row("tags", ", ".join(doc.get("tags") or []))
    py = doc["env"]["python"]
    if py:
        row("python", " ".join(str(x) for x in (py.get("implementation"), py.get("version")) if x))
    sysinfo = doc.get("system") or {}
    if sysinfo:
        gpus = ", ".join(g.get("name", "?") for g in doc.get("gpus") or []) or "none"
        row("machine", f"{sysinfo.get('platform') or ''}, {sysinfo.get('cpu_count')} CPUs, GPUs: {gpus}".lstrip(", "))
    row("seeds", ", ".join(f"{k}={v}" for k, v in (doc.get("seeds") or {}).items()))
    return Table(["", ""], rows, css="kv")


def _verdict_table(results: Sequence[Any], gating: Any) -> Table:
    rows: list[list[Inline]] = []
    for gate, gate_result in zip(gating.gates, results, strict=False):
        base = gating.baseline_runs.get(gate.name) if gate.uses_baseline else None
        gate_label = gate.name + (f" (vs {base.name or base.id})" if base is not None else "")
        for c in gate_result.checks:
            rows.append([gate_label, Span(c.check, code=True), _num(c.observed) if c.observed is not None else "",
                         c.threshold_text, _tier(c.tier.value), c.reason])
    return Table(["gate", "check", "observed", "threshold", "tier", "why"], rows, ["l", "l", "r", "l", "c", "l"],
                 css="verdicts")


def _params_table(doc: Mapping[str, Any]) -> Table:
    sources = doc.get("params_by_source") or {}
    rows: list[list[Inline]] = []
    for key, value in doc["params"].items():
        origin = next((s for s in ("api", "argv", "config") if key in sources.get(s, {})), "")
        rows.append([Span(key, code=True), _short(value), Span(origin, cls="muted")])
    return Table(["param", "value", "from"], rows, css="params")


# -- rendering: Markdown ------------------------------------------------------------------------------


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*[]<|"})
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md_text(text: str) -> str:
    """Plain text for Markdown, with the characters that would format escaped (``_`` only at
    a word's edge: GitHub never reads ``val_loss`` as emphasis)."""
    return _MD_UNDERSCORE.sub(r"\\_", text.translate(_MD_SPECIAL)).replace("\n", " ")


def _md_line_start(text: str) -> str:
    """A paragraph that would read as a heading, quote, list or rule starts with a backslash."""
    m = re.match(r"(\d+)([.)]\s)", text)
    if m:
        return m.group(1) + "\\" + text[len(m.group(1)):]
    if re.match(r"(#|>|[-+*](\s|$)|={3,}|-{3,})", text):
        return "\\" + text
    return text


def _md_inline(content: Inline) -> str:
    if isinstance(content, str):
        return _md_text(content)
    if isinstance(content, Span):
        if not content.text:
            return ""
        if content.code:
            text = content.text.replace("\n", " ").replace("|", "\\|")
            fence = "``" if "`" in text else "`"
            pad = " " if text.startswith("`") or text.endswith("`") else ""
            return f"{fence}{pad}{text}{pad}{fence}"
        text = _md_text(content.text)
        if content.bold and text.strip():
            lead = text[: len(text) - len(text.lstrip())]
            return f"{lead}**{text.strip()}**"
        return text
    return "".join(_md_inline(part) for part in content)


def render_markdown(report: Report, image_dir: str) -> str:
    """The report as GitHub Markdown; images are linked as ``image_dir/NAME``."""
    out = [f"# {_md_text(report.title)}", ""]

    def emit(blocks: Sequence[Any]) -> None:
        for b in blocks:
            if isinstance(b, Heading):
                out.extend([f"{'#' * b.level} {_md_text(b.text)}", ""])
            elif isinstance(b, Para):
                text = _md_line_start(_md_inline(b.content))
                out.extend([f"_{text}_" if b.muted and text else text, ""])
            elif isinstance(b, Table):
                if not b.rows:
                    continue
                headers = [_md_text(h) for h in b.headers]
                if not any(headers):
                    headers = ["", ""]  # a key/value table still needs a header row
                out.append("| " + " | ".join(headers) + " |")
                align = b.align or ["l"] * len(b.headers)
                out.append("|" + "|".join({"r": "---:", "c": ":---:"}.get(a, "---") for a in align) + "|")
                for r in b.rows:
                    out.append("| " + " | ".join(_md_inline(c) for c in r) + " |")
                out.append("")
            elif isinstance(b, Bullets):
                out.extend([f"- {_md_inline(item)}" for item in b.items] + [""])
            elif isinstance(b, Image):
                out.extend([f"![{_md_text(b.alt)}]({quote(image_dir)}/{quote(b.name)})", ""])
            elif isinstance(b, Details):
                out.extend([f"**{_md_text(b.summary)}**", ""])
                emit(b.blocks)
    emit(report.blocks)
    return "\n".join(out).rstrip() + "\n"


# -- rendering: HTML ----------------------------------------------------------------------------------


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
.tier-PASS { background: #dafbe1; color: #116329; }
.tier-MARGINAL { background: #fff8c5; color: #7d4e00; }
.tier-PENDING { background: #ddf4ff; color: #0550ae; }
.tier-FAIL { background: #ffebe9; color: #a40e26; }
.tier-ERROR { background: #fbefff; color: #8250df; }
.delta { color: #656d76; font-size: 12px; }
.delta.better { color: #1a7f37; }
.delta.worse { color: #cf222e; }
.status-finished { color: #1a7f37; } .status-failed { color: #cf222e; } .status-stopped { color: #8250df; }
.status-interrupted { color: #9a6700; } .status-lost { color: #656d76; } .status-running { color: #0969da; }
.warn { color: #9a6700; }
img.chart { max-width: 100%; height: auto; border: 1px solid #d0d7de; border-radius: 6px; margin: .5em 0; }
details { margin: .6em 0; } summary { cursor: pointer; font-weight: 600; }
ul { padding-left: 1.4em; }
""".strip()


def _html_inline(content: Inline) -> str:
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
    return "".join(_html_inline(part) for part in content)


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
                out.append(f"<p{cls}>{_html_inline(b.content)}</p>")
            elif isinstance(b, Table):
                if not b.rows:
                    continue
                cls = f' class="{html.escape(b.css)}"' if b.css else ""
                out.append(f"<table{cls}>")
                out.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in b.headers) + "</tr></thead>")
                out.append("<tbody>")
                align = b.align or []
                for r in b.rows:
                    tds = []
                    for i, c in enumerate(r):
                        a = align[i] if i < len(align) else "l"
                        cls_td = f' class="{a}"' if a in ("r", "c") else ""
                        tds.append(f"<td{cls_td}>{_html_inline(c)}</td>")
                    out.append("<tr>" + "".join(tds) + "</tr>")
                out.append("</tbody></table>")
            elif isinstance(b, Bullets):
                out.append("<ul>" + "".join(f"<li>{_html_inline(i)}</li>" for i in b.items) + "</ul>")
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


# -- writing ----------------------------------------------------------------------------------------


def report_format(path: Path) -> str:
    fmt = REPORT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"--out {path}: a report is a .html or a .md file",
                         hint="HTML embeds its images; Markdown writes them to <name>_files/ next to it")
    return fmt


def ensure_parent(path: Path) -> None:
    """Create the directory ``path`` goes in (and its parents); a UsageError naming the
    path when that cannot be (a file in the way, no permission)."""
    for parent in (path.parent, *path.parent.parents):
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"cannot write {path}: {parent} is not a directory")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: cannot create {path.parent}: {exc.strerror or exc}") from None


def write_report(report: Report, out: Path) -> dict[str, Any]:
    """Write ``out`` (``.html`` or ``.md``, plus ``<stem>_files/*.png`` for Markdown).

    Returns ``{"file", "format", "images"}`` (absolute paths). An unwritable place is a
    UsageError naming the path.
    """
    fmt = report_format(out)
    out = out.expanduser()
    ensure_parent(out)
    try:
        images: list[str] = []
        if fmt == "html":
            text = render_html(report)
        else:
            image_dir = f"{out.stem}_files"
            if report.images:
                folder = out.parent / image_dir
                folder.mkdir(exist_ok=True)
                for img in report.images:
                    target = folder / img.name
                    target.write_bytes(img.png)
                    images.append(str(target.resolve()))
            text = render_markdown(report, image_dir)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise UsageError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    return {"file": str(out.resolve()), "format": fmt, "images": images}

