"""Ledger results as HTML fragments for notebooks: run tables, comparisons, verdicts, inline SVG curves.

Each function returns one ``<div class="gatebook">`` holding its own scoped ``<style>`` (the tier,
status and delta colours of the one palette, :mod:`gatebook.render.styles`, as the HTML report
draws them) and plain tables. Every piece of text from the ledger (run names are user input) is
escaped; there are no scripts and nothing is loaded from anywhere. Curves are small SVG
polylines drawn here in pure Python (no matplotlib).
"""

from __future__ import annotations

import html
import json
import math
from typing import Any, Mapping, Sequence

from gatebook.records import RunRecord
from gatebook.serialize import format_number

Point = tuple["int | None", float]

LINE_COLOURS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#9a6700", "#bf3989", "#1b7c83")
"""Curve colours, one per run of a comparison in row order (the baseline's first)."""
MAX_ROWS = 200
"""A run table shows at most this many runs (the last ones)."""
MAX_POINTS = 240
"""A curve keeps at most this many points (evenly spaced, the first and last kept)."""


def _css() -> str:
    from gatebook.report.html import palette_css

    rules = [
        "table { border-collapse: collapse; font-size: 13px; margin: .3em 0 .8em; }",
        "th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: middle; }",
        "th { background: #f6f8fa; }",
        "td.r { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }",
        ".muted { color: #656d76; font-size: 12px; }",
        ".tier { font-weight: 600; padding: 1px 7px; border-radius: 10px; font-size: 12px; white-space: nowrap; }",
        "svg.curve { display: block; }",
        *palette_css().splitlines(),
    ]
    return "\n".join(_scoped(rule) for rule in rules)


def _scoped(rule: str) -> str:
    """A one-line CSS rule applying only inside ``.gatebook`` (each selector of a list)."""
    selectors, _, body = rule.partition("{")
    return ", ".join(f".gatebook {sel.strip()}" for sel in selectors.split(",")) + " {" + body


def esc(value: Any) -> str:
    """Text (anything, ``None`` as empty) escaped for HTML text and attribute values."""
    return "" if value is None else html.escape(str(value), quote=True)


def page(*parts: str) -> str:
    """The fragment a notebook shows: the parts inside one scoped ``div`` with its style."""
    return f'<div class="gatebook"><style>{_css()}</style>' + "".join(parts) + "</div>"


def table(heads: Sequence[str], rows: Sequence[Sequence[str]], *, foot: Sequence[Sequence[str]] = ()) -> str:
    """A table of cells that are already HTML (``<td>``/``<th>`` markup included)."""
    out = ["<table>"]
    if any(heads):  # a key/value table has no header row
        out += ["<thead><tr>", "".join(f"<th>{esc(h)}</th>" for h in heads), "</tr></thead>"]
    out.append("<tbody>")
    out += ["<tr>" + "".join(r) + "</tr>" for r in rows]
    out.append("</tbody>")
    if foot:
        out += ["<tfoot>"] + ["<tr>" + "".join(r) + "</tr>" for r in foot] + ["</tfoot>"]
    out.append("</table>")
    return "".join(out)


def td(content: str = "", *, num: bool = False, raw: bool = False, title: str | None = None) -> str:
    """One cell: ``content`` escaped unless ``raw``; ``num`` right-aligns it."""
    attrs = (' class="r"' if num else "") + (f' title="{esc(title)}"' if title else "")
    return f"<td{attrs}>{content if raw else esc(content)}</td>"


def status_span(status: str) -> str:
    return f'<span class="status-{esc(status)}">{esc(status)}</span>'


def tier_span(tier: str | None, title: str | None = None) -> str:
    if not tier:
        return ""
    tip = f' title="{esc(title)}"' if title else ""
    return f'<span class="tier tier-{esc(tier)}"{tip}>{esc(tier)}</span>'


# -- curves --------------------------------------------------------------------------------------


def _thin(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return list(points)
    last = len(points) - 1
    picks = sorted({round(i * last / (MAX_POINTS - 1)) for i in range(MAX_POINTS)})
    return [points[i] for i in picks]


def sparkline(series: Sequence[Sequence[Point]], *, width: int = 120, height: int = 28, title: str = "",
              colours: Sequence[str] = LINE_COLOURS) -> str:
    """One small SVG with a polyline per series (x: the step, else the point's index; NaN and
    infinities left out), all on the same axes. An empty curve is an empty SVG of the same size."""
    lines: list[list[tuple[float, float]]] = []
    for points in series:
        use_steps = all(s is not None for s, _ in points)
        finite = [(float(s) if use_steps and s is not None else float(i), v)
                  for i, (s, v) in enumerate(points) if v is not None and math.isfinite(v)]
        lines.append(_thin(finite))
    xs = [x for line in lines for x, _ in line]
    ys = [y for line in lines for _, y in line]
    body = [f"<title>{esc(title)}</title>"] if title else []
    if xs:
        pad = 2.0
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        sx = (width - 2 * pad) / (x1 - x0) if x1 > x0 else 0.0
        sy = (height - 2 * pad) / (y1 - y0) if y1 > y0 else 0.0

        def xy(x: float, y: float) -> str:
            px = pad + (x - x0) * sx if sx else width / 2
            py = height - pad - (y - y0) * sy if sy else height / 2
            return f"{px:.1f},{py:.1f}"

        for i, line in enumerate(lines):
            colour = colours[i % len(colours)]
            if len(line) == 1:
                cx, cy = xy(*line[0]).split(",")
                body.append(f'<circle cx="{cx}" cy="{cy}" r="1.8" fill="{colour}"/>')
            elif line:
                coords = " ".join(xy(x, y) for x, y in line)
                body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.3" points="{coords}"/>')
    return (f'<svg class="curve" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">' + "".join(body) + "</svg>")


def _range_title(key: str, points: Sequence[Point]) -> str:
    values = [v for _, v in points if v is not None and math.isfinite(v)]
    if not values:
        return f"{key}: no finite value"
    return f"{key}: {len(points)} points, min {format_number(min(values))}, max {format_number(max(values))}"


# -- results -------------------------------------------------------------------------------------


def runs_html(runs: Sequence[RunRecord], *, limit: int = MAX_ROWS) -> str:
    """A run table: one row per run (id, name, status, started, duration, group, tags); past
    ``limit`` runs, the last ``limit`` of them and a line saying how many are left out."""
    from gatebook.render.text import duration, iso

    if not runs:
        return page('<p class="muted">no runs</p>')
    shown = runs[-limit:] if len(runs) > limit else runs
    rows = [[td(r.id), td(r.name or ""), td(status_span(r.status.value), raw=True), td(iso(r.created_at) or ""),
             td(duration(r.duration), num=True), td(r.group or ""), td(", ".join(r.tags))] for r in shown]
    heads = ["id", "name", "status", "started", "duration", "group", "tags"]
    count = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    if len(shown) < len(runs):
        count += f"; the last {len(shown)} shown (to_pandas() has them all)"
    return page(table(heads, rows), f'<p class="muted">{count}</p>')


def _short(value: Any, width: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def run_html(doc: Mapping[str, Any], curves: Mapping[str, Sequence[tuple[int | None, float, float]]]) -> str:
    """One run (its ``show`` document): what it was, its params, and its metrics with a curve each
    (the curve column only when ``curves`` were read)."""
    from gatebook.render.text import duration

    title = (f'<h4>{esc(doc["name"] or "(unnamed)")} <span class="muted">{esc(doc["id"])}</span> '
             f'{status_span(doc["status"])}</h4>')
    info = [("started", doc["created_at"]), ("duration", duration(doc["duration"]) if doc["duration"] else None),
            ("command", " ".join(doc["command"]) if doc["command"] else None), ("reason", doc["reason"]),
            ("group", doc["group"]), ("tags", ", ".join(doc["tags"])),
            ("git", (doc["git"]["commit"] or "")[:12] + (" (dirty)" if doc["git"]["dirty"] else "")
             if doc["git"]["commit"] else None),
            ("parent", (doc["parent"] or {}).get("name") or (doc["parent"] or {}).get("id"))]
    parts = [title, table(["", ""], [[td(k), td(str(v))] for k, v in info if v not in (None, "")])]
    if doc["params"]:
        parts.append(table(["param", "value"], [[td(k), td(_short(v))] for k, v in doc["params"].items()]))
    if doc["metrics"]:
        heads = ["metric", "last", "min", "max", "last step", "points"] + (["curve"] if curves else [])
        rows = []
        for key, m in doc["metrics"].items():
            row = [td(key), td(format_number(m["last"]), num=True),
                   td(format_number(m["min"]) if m["min"] is not None else "NaN", num=True),
                   td(format_number(m["max"]) if m["max"] is not None else "NaN", num=True),
                   td("" if m["last_step"] is None else str(m["last_step"]), num=True), td(str(m["count"]), num=True)]
            if curves:
                pts = [(s, v) for s, v, _ts in curves.get(key, [])]
                row.append(td(sparkline([pts], title=_range_title(key, pts)), raw=True))
            rows.append(row)
        parts.append(table(heads, rows))
    if doc["summary"]:
        parts.append(table(["summary", "value"], [[td(k), td(_short(v))] for k, v in doc["summary"].items()]))
    return page(*parts)


def series_html(label: str, key: str, points: Sequence[Point]) -> str:
    """One metric's curve, larger, with its count and range."""
    return page(f"<h4>{esc(key)} <span class=\"muted\">of {esc(label)}</span></h4>",
                sparkline([points], width=360, height=90, title=_range_title(key, points)),
                f'<p class="muted">{esc(_range_title(key, points))}</p>')


def compare_html(comparison: Any, curves: Mapping[str, Sequence[tuple[str, Sequence[Point]]]]) -> str:
    """A comparison: one row per run (the baseline first, marked), each value with its delta
    coloured by direction (the best in bold), a tier badge per gate, and under each metric one
    curve with every run's series (a colour per row)."""
    from gatebook.render.compare import fmt_delta, fmt_value, header, legend

    if not comparison.rows:
        return page('<p class="muted">no runs</p>')
    heads = ["run", "status", *[header(m) for m in comparison.metrics], *[f"gate {g}" for g in comparison.gates]]
    rows = []
    for i, row in enumerate(comparison.rows):
        swatch = f'<span style="color: {LINE_COLOURS[i % len(LINE_COLOURS)]}">&#9632;</span> '
        name = swatch + esc(row.label) + (' <span class="muted">baseline</span>' if row.is_baseline else "")
        cells = [td(name, raw=True), td(status_span(row.run.status.value), raw=True)]
        for m in comparison.metrics:
            cell = row.cells[m.key]
            value = esc(fmt_value(cell.value))
            if cell.best:
                value = f"<strong>{value}</strong>"
            delta = fmt_delta(cell.delta)
            if delta:
                value += f' <span class="delta {esc(cell.change or "")}">({esc(delta)})</span>'
            cells.append(td(value, num=True, raw=True))
        for gate in comparison.gates:
            verdict = row.verdicts.get(gate)
            cells.append(td(tier_span(verdict.verdict, "; ".join(verdict.reasons)) if verdict else "", raw=True))
        rows.append(cells)
    foot = []
    if any(curves.get(m.key) for m in comparison.metrics):
        foot.append([td(), td()] + [
            td(sparkline([pts for _label, pts in curves.get(m.key, [])], title=m.key), raw=True)
            for m in comparison.metrics] + [td() for _ in comparison.gates])
    return page(table(heads, rows, foot=foot), f'<p class="muted">{esc(legend(comparison))}</p>')


def _checks_table(gates: Sequence[Mapping[str, Any]], baselines: Mapping[str, Any]) -> str:
    """Each gate's checks: observed value, threshold, tier and reason (checks that could not be
    judged, such as a promotion's baseline checks with no holder yet, listed with their reason)."""
    rows = []
    for gate in gates:
        base = baselines.get(gate["name"]) or gate.get("baseline")
        gate_cell = esc(gate["name"]) + (f' <span class="muted">vs {esc(base["name"] or base["id"])}</span>'
                                         if base else "")
        for check in gate["checks"]:
            observed = check["observed"]
            rows.append([td(gate_cell, raw=True), td(check["check"]),
                         td(format_number(observed) if isinstance(observed, (int, float))
                            else "" if observed is None else _short(observed), num=True),
                         td(check.get("threshold_text") or _short(check["threshold"]), num=True),
                         td(tier_span(check["tier"]), raw=True), td(check["reason"] or "")])
        for skipped in gate.get("not_judged") or ():
            rows.append([td(gate_cell, raw=True), td(skipped["check"]), td(), td(), td(),
                         td(skipped["reason"])])
    return table(["gate", "check", "observed", "threshold", "tier", "reason"], rows) if rows else ""


def _advice_lines(advice: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for item in advice:
        fix = item.get("next_fix")
        if fix:
            why = f" ({fix['why']})" if fix.get("why") else ""
            out.append(f'<p class="muted">gate {esc(item["gate"])}: next fix &quot;{esc(fix["name"])}&quot;'
                       f"{esc(why)}</p>")
    return out


def _label(run: Mapping[str, Any] | None) -> str:
    if not run:
        return "(none)"
    return f"{run['name']} ({run['id']})" if run.get("name") else str(run["id"])


def verdict_html(doc: Mapping[str, Any]) -> str:
    """A verdict (the ``gate --json`` document): the tier, each check with its observed value,
    threshold and tier, and the playbook's next fix for a failed gate."""
    return page(f"<h4>{tier_span(doc['verdict'])} {esc(_label(doc['run']))}</h4>",
                _checks_table(doc["gates"], doc.get("baselines") or {}), *_advice_lines(doc.get("advice") or []))


def promotion_html(doc: Mapping[str, Any]) -> str:
    """A promotion (the ``promote --json`` document): what moved or why not, then the checks."""
    action = doc["action"]
    what = {"moved": "moved to", "forced": "forced to", "rollback": "rolled back to",
            "unchanged": "already points at", "refused": "refused"}.get(action, action)
    head = (f"<h4>@{esc(doc['alias'])} {esc(what)} {esc(_label(doc['run']))} {tier_span(doc['verdict'])}</h4>"
            f'<p class="muted">holder before: {esc(_label(doc["from"]))}; now: {esc(_label(doc["holder"]))}'
            + (f"; reason: {esc(doc['reason'])}" if doc.get("reason") else "") + "</p>")
    return page(head, _checks_table(doc.get("gates") or [], {}), *_advice_lines(doc.get("advice") or []))


def aliases_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """The aliases (``aliases --json`` rows): alias, run, since, by, verdict, forced and why."""
    if not rows:
        return page('<p class="muted">no aliases</p>')
    body = [[td("@" + r["alias"]), td(r["run"]["name"] or r["run"]["id"], title=r["run"]["id"]),
             td(r["since"] or ""), td(r["by"] or ""), td(tier_span(r["verdict"]), raw=True),
             td(("forced: " if r["forced"] else "") + (r.get("reason") or "") if r["forced"] or r.get("reason")
                else "")] for r in rows]
    return page(table(["alias", "run", "since", "by", "verdict", "forced / reason"], body))
