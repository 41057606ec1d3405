"""The dashboard's pages as HTML: the layout, and one function per page drawing the data pages.py gathered.

Everything a user wrote (run names, notes, params, output, check text) goes through ``esc``
(:mod:`gatebook.render.html`, the one HTML render layer, whose tables and badges these pages
reuse), so a run named ``<img src=x onerror=alert(1)>`` is text. Data the page's script needs
goes in one ``<script type="application/json">`` block (never executed: ``<``, ``>`` and ``&``
are escaped inside it). No inline script runs (the Content-Security-Policy forbids it); every
asset is in ``ui/static`` (uPlot vendored, its licence beside it).
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

from gatebook.render.html import esc, tier_span

NAV = (("/", "Runs"), ("/sweeps", "Sweeps"), ("/aliases", "Aliases"), ("/api", "API"))


def data_block(data: Any) -> str:
    """``data`` as a JSON block the page's script reads (``gb-data``), safe inside HTML."""
    from gatebook.serialize import json_safe_numbers

    text = json.dumps(json_safe_numbers(data), ensure_ascii=False, allow_nan=False)
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return f'<script type="application/json" id="gb-data">{text}</script>'


def layout(title: str, body: str, *, data: Any = None, read_only: bool = False, scripts: bool = True) -> str:
    """A whole page: the nav, ``body`` (already HTML), the data block and the scripts."""
    nav = "".join(f'<a href="{href}">{esc(label)}</a>' for href, label in NAV)
    ro = '<span class="badge ro" title="started with --read-only">read-only</span>' if read_only else ""
    tail = data_block(data if data is not None else {}) if scripts else ""
    if scripts:
        tail += ('<script src="/static/uplot.iife.min.js"></script>'
                 '<script src="/static/gatebook.js"></script>')
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)} · gatebook</title>"
            '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
            '<link rel="stylesheet" href="/static/uplot.min.css">'
            '<link rel="stylesheet" href="/static/gatebook.css">'
            '<link rel="stylesheet" href="/static/palette.css">'
            f'</head><body><header><strong class="brand">gatebook</strong><nav>{nav}</nav>{ro}'
            f'<span id="live" class="live" title="live updates">●</span></header>'
            f"<main>{body}</main>{tail}</body></html>")


def h(tag: str, text: Any, **attrs: Any) -> str:
    """``<tag attrs>text</tag>`` with the text and every attribute escaped (``cls`` is class)."""
    return f"<{tag}{_attrs(attrs)}>{esc(text)}</{tag}>"


def _attrs(attrs: Mapping[str, Any]) -> str:
    out = []
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        name = "class" if name == "cls" else name.replace("_", "-")
        out.append(f" {name}" if value is True else f' {name}="{esc(value)}"')
    return "".join(out)


def link(href: str, text: Any, **attrs: Any) -> str:
    return h("a", text, href=href, **attrs)


def run_href(run_id: str) -> str:
    return f"/runs/{esc(run_id)}"


def section(title: str, body: str, **attrs: Any) -> str:
    return f"<section{_attrs(attrs)}><h2>{esc(title)}</h2>{body}</section>"


def kv_table(rows: Sequence[tuple[str, Any]], **attrs: Any) -> str:
    """A two-column table of label and value (both escaped; values that are None left out)."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows if v not in (None, ""))
    return f"<table{_attrs({'cls': 'kv', **attrs})}><tbody>{body}</tbody></table>" if body else ""


def query(base: str, params: Mapping[str, Any], **changes: Any) -> str:
    """``base?params`` with ``changes`` applied (None removes a parameter)."""
    merged = {k: v for k, v in {**params, **changes}.items() if v not in (None, "", [])}
    return base + ("?" + urlencode(merged, doseq=True) if merged else "")


def fmt(value: Any) -> str:
    """A metric or param value for a cell (numbers as the CLI prints them)."""
    from gatebook.serialize import format_number

    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value if isinstance(value, str) else json.dumps(value, default=str)
    return format_number(value)


# -- runs page ----------------------------------------------------------------------------------

FILTERS = ("name", "tag", "group", "status", "since")


def runs_page(view: Any, *, read_only: bool) -> str:
    """The runs table (pages.RunsView): filters, sortable columns, a page of rows, compare."""
    p = view.params
    inputs = "".join(
        f'<label>{esc(name)} <input name="{name}" value="{esc(p.get(name, ""))}" '
        f'placeholder="{esc(hint)}"></label>'
        for name, hint in (("name", "glob, e.g. lr-*"), ("tag", "tag"), ("group", "group"),
                           ("status", "running,failed"), ("since", "2h, 3d"))
    )
    extra = "".join(f'<input type="hidden" name="{k}" value="{esc(p[k])}">' for k in ("metrics", "params") if p.get(k))
    form = (f'<form id="filters" method="get" action="/">{inputs}{extra}<button type="submit">Filter</button>'
            f'{link("/", "clear")}</form>')
    heads = ['<th class="pick"><input type="checkbox" id="pick-all" title="select this page"></th>']
    for col, label in view.columns:
        if not col:
            heads.append(h("th", label))
            continue
        sort = view.sort
        new = col if sort != col else "-" + col
        arrow = " ▲" if sort == col else " ▼" if sort == "-" + col else ""
        heads.append(f'<th>{link(query("/", p, sort=new, page=None), label + arrow)}</th>')
    rows = []
    for row in view.rows:
        r = row["run"]
        cells = [f'<td class="pick"><input type="checkbox" class="pick" value="{esc(r["id"])}"></td>',
                 f'<td class="name">{link(run_href(r["id"]), r["name"] or r["id"])}</td>',
                 f'<td class="id">{esc(r["id"])}</td>',
                 f'<td class="st">{badge_status(r["status"], r.get("reason"))} '
                 f'{tier_span(row["verdict"], "the final verdict of its live gates") if row["verdict"] else ""}</td>',
                 f'<td class="r" title="{esc(r["created_at"])}">{esc(r["created_ago"])}</td>',
                 f'<td class="r">{esc(r["duration_text"])}</td>',
                 f"<td>{esc(r['group'] or '')}</td>",
                 f"<td>{esc(', '.join(r['tags']))}</td>"]
        cells += [f'<td class="r">{esc(fmt(row["metrics"].get(k)))}</td>' for k in view.metric_keys]
        cells += [f'<td class="r">{esc(fmt(row["params"].get(k)))}</td>' for k in view.param_keys]
        rows.append(f'<tr data-run-id="{esc(r["id"])}" data-status="{esc(r["status"])}">{"".join(cells)}</tr>')
    table = (f'<table id="runs" class="grid"><thead><tr>{"".join(heads)}</tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table>')
    if not view.rows:
        table += ('<p class="muted empty">No runs match. Record one with '
                  "<code>gatebook run -- python train.py</code>.</p>")
    pages = ""
    if view.pages > 1:
        prev_ = link(query("/", p, page=view.page - 1), "← newer" if view.sort == "-created" else "← previous") \
            if view.page > 1 else ""
        next_ = link(query("/", p, page=view.page + 1), "older →" if view.sort == "-created" else "next →") \
            if view.page < view.pages else ""
        pages = f'<p class="pager">{prev_} page {view.page} of {view.pages} {next_}</p>'
    count = (f'<p><span id="runs-count">{view.total:,} run{"s" if view.total != 1 else ""}</span>'
             f'<span class="muted"> · columns: {esc(", ".join(view.metric_keys) or "no metrics")}'
             f'{"; params " + esc(", ".join(view.param_keys)) if view.param_keys else ""}</span>'
             ' <button id="compare-selected" disabled>Compare selected</button>'
             ' <span id="new-runs" class="muted"></span></p>')
    body = f"<h1>Runs</h1>{form}{count}{table}{pages}"
    return layout("Runs", body, data={"page": "runs"}, read_only=read_only)


def badge_status(status: str, reason: str | None = None) -> str:
    tip = f' title="{esc(reason)}"' if reason else ""
    return f'<span class="badge status status-{esc(status)}"{tip}>{esc(status)}</span>'



# -- sweeps and aliases ------------------------------------------------------------------------


def sweeps_page(sweeps: Sequence[Mapping[str, Any]], *, read_only: bool) -> str:
    """Every sweep the ledger holds: name, trials by status, last started."""
    rows = "".join(
        f'<tr><td>{link("/sweeps/" + esc(s["name"]), s["name"])}</td><td class="r">{s["total"]}</td>'
        f'<td>{counts_html(s["counts"])}</td><td>{esc(s["last"])}</td></tr>' for s in sweeps)
    body = ('<h1>Sweeps</h1><table class="grid" id="sweeps"><thead><tr><th>sweep</th><th>runs</th><th>by status</th>'
            f'<th>last started</th></tr></thead><tbody>{rows}</tbody></table>')
    if not sweeps:
        body += '<p class="muted empty">No sweeps yet: <code>gatebook sweep run sweep.yaml</code>.</p>'
    return layout("Sweeps", body, data={"page": "sweeps"}, read_only=read_only)


def counts_html(counts: Mapping[str, int]) -> str:
    return " ".join(f'{badge_status(status)} {n}' for status, n in counts.items())


def sweep_page(view: Any, *, read_only: bool) -> str:
    """One sweep (pages.SweepView): trial counts by status, the ranked table (``sweep show``), the
    trials; the block reloads itself every 2 s while a trial runs."""
    from gatebook.render.html import compare_html

    live = view.status["counts"].get("running", 0) > 0
    ranked = (compare_html(view.comparison, {}) if view.comparison is not None
              else '<p class="muted">No trial has finished a run yet.</p>')
    trials = "".join(
        f'<tr data-run-id="{esc(t["run_id"])}"><td>{link(run_href(t["run_id"]), t["name"] or t["run_id"])}</td>'
        f'<td>{badge_status(t["status"], t["reason"])}</td><td class="r">{t["attempts"]}</td>'
        f'<td>{esc(t["reason"] or "")}</td></tr>' for t in view.status["trials"])
    counts = view.status["counts"]
    refresh = ' data-refresh="2000"' if live else ""
    block = (f'<div id="sweep-body"{refresh}>'
             f'<p id="trial-counts">{counts["total"]} trials: '
             f'{counts_html({k: v for k, v in counts.items() if k != "total"})}'
             f'{" · live" if live else ""}</p>'
             f'<section id="ranking"><h2>Ranking</h2>{ranked}</section>'
             '<section><h2>Trials</h2><table class="grid" id="trials"><thead><tr><th>trial</th><th>status</th>'
             f'<th>attempts</th><th>reason</th></tr></thead><tbody>{trials}</tbody></table></section></div>')
    return layout(f"Sweep {view.name}", h("h1", f"Sweep {view.name}") + block, data={"page": "sweep"},
                  read_only=read_only)


def aliases_page(aliases: Mapping[str, Any], log: Mapping[str, Any], *, read_only: bool) -> str:
    """The aliases (``aliases --json``) and their audit trail (``aliases log --json``)."""
    from gatebook.render.html import aliases_html

    rows = []
    for e in log.get("events", []):
        run = e.get("to") or {}
        prev = e.get("from") or {}
        rows.append(f'<tr><td>{esc(e.get("time"))}</td><td>@{esc(e.get("alias"))}</td><td>{esc(e.get("action"))}</td>'
                    f'<td>{link(run_href(run["id"]), run.get("name") or run["id"]) if run.get("id") else ""}</td>'
                    f'<td>{esc(prev.get("name") or prev.get("id") or "")}</td><td>{tier_span(e.get("verdict"))}</td>'
                    f'<td>{esc(e.get("by") or "")}</td><td>{esc(e.get("reason") or "")}</td></tr>')
    trail = ('<table class="grid" id="alias-log"><thead><tr><th>when</th><th>alias</th><th>action</th><th>run</th>'
             '<th>from</th><th>verdict</th><th>by</th><th>reason</th></tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table>')
    body = ("<h1>Aliases</h1>" + f'<div id="aliases">{aliases_html(aliases.get("aliases", []))}</div>'
            + "<h2>Audit trail</h2>" + trail)
    return layout("Aliases", body, data={"page": "aliases"}, read_only=read_only)


def error_page(status: int, message: str, hint: str | None) -> str:
    body = f"<h1>{status}</h1>{h('p', message, cls='error')}" + (h("p", hint, cls="muted") if hint else "")
    return layout(str(status), body, scripts=False)
