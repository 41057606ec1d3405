"""The run page and the compare page as HTML (the data comes from gatebook.ui.pages).

The run page answers "is it alive, is it learning, did it pass, why did it stop": the status
and the reason first, then one chart per metric with each gate's thresholds, the checks with
the playbook's next fix, the gate timeline, notes, provenance (git with the patch, packages,
machine), params, artifacts and the output's tail. The compare page overlays curves and shows
the comparison table ``gatebook compare`` prints (the same :class:`Comparison`, drawn by
:func:`gatebook.render.html.compare_html`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from gatebook.render.html import LINE_COLOURS, compare_html, esc, tier_span, verdict_html
from gatebook.ui.html import badge_status, fmt, kv_table, layout, link, run_href, section

TIMELINE_KINDS = ("status", "gate", "stop", "verdict", "exception")


def run_page(view: Any, *, read_only: bool) -> str:
    """One run (pages.RunView): everything ``show`` knows, live while it runs."""
    doc: dict[str, Any] = view.doc
    rid = doc["id"]
    head = (f'<h1><span id="run-name">{esc(doc["name"] or rid)}</span> '
            f'<span id="status">{badge_status(doc["status"], doc["reason"])}</span> '
            f'{tier_span(view.verdict) if view.verdict else ""}</h1>'
            f'<p class="muted">{esc(rid)} · started {esc(doc["created_at"])}'
            f'{" · " + esc(view.duration_text) if view.duration_text else ""}'
            f'{" · exit " + esc(doc["exit_code"]) if doc["exit_code"] is not None else ""}</p>')
    why = ""
    if doc["reason"]:
        why = f'<p id="reason" class="why">Why it ended: {esc(doc["reason"])}</p>'
    elif doc["status"] == "running":
        why = '<p id="reason" class="why" hidden></p>'
    actions = "" if read_only else _actions(doc)
    charts = "".join(f'<div class="chart" data-key="{esc(k)}"><h3>{esc(k)}</h3><div class="plot"></div>'
                     f'<p class="chart-info muted"></p></div>' for k in view.chart_keys)
    more = ""
    if len(view.chart_keys) < len(doc["metrics"]):
        more = f'<p class="muted">{len(doc["metrics"]) - len(view.chart_keys)} more metrics in the table below.</p>'
    parts = [head, why, actions,
             section("Curves", f'<div class="charts">{charts}</div>{more}' if charts else
                     '<p class="muted" id="no-metrics">No metrics logged yet.</p>', id="curves"),
             section("Gates", _gates(view), id="gates"),
             section("Timeline", _timeline(doc["events"]), id="timeline"),
             section("Notes", _notes(doc["notes"]), id="notes-section"),
             section("Metrics", _metrics(doc["metrics"]), id="metrics"),
             section("Params", kv_table([(k, fmt(v)) for k, v in doc["params"].items()]) or
                     '<p class="muted">No params.</p>', id="params"),
             section("Provenance", _provenance(doc, view.patch), id="provenance"),
             section("Artifacts", _artifacts(rid, doc["artifacts"]), id="artifacts"),
             section("Output", f'<pre id="output">{esc(view.output)}</pre>', id="output-section")]
    data = {"page": "run", "run": {"id": rid, "name": doc["name"], "status": doc["status"]},
            "keys": view.chart_keys, "marks": view.marks, "output_seq": view.output_seq}
    return layout(doc["name"] or rid, "".join(parts), data=data, read_only=read_only)


def _actions(doc: Mapping[str, Any]) -> str:
    stop = ""
    if doc["status"] == "running":
        stop = ('<form id="stop-form" class="action"><input name="reason" placeholder="why stop it (optional)">'
                '<button type="submit" class="danger">Stop run</button></form>')
    note = ('<form id="note-form" class="action"><input name="text" placeholder="add a note" required>'
            '<button type="submit">Add note</button></form>')
    promote = ('<form id="promote-form" class="action"><input name="alias" placeholder="alias, e.g. prod" required>'
               '<input name="reason" placeholder="reason (optional)"><button type="submit">Promote</button></form>')
    return f'<div class="actions">{stop}{note}{promote}<p id="action-result" class="muted" role="status"></p></div>'


def _gates(view: Any) -> str:
    if view.gate_error:
        return f'<p class="muted">{esc(view.gate_error)}</p>'
    if view.gate_doc is None:
        return '<p class="muted">No gates in gatebook.yaml.</p>'
    return verdict_html(view.gate_doc)


def _timeline(events: Sequence[Mapping[str, Any]]) -> str:
    items = []
    for e in events:
        if e["kind"] not in TIMELINE_KINDS:
            continue
        items.append(timeline_item(e))
    return f'<ol id="gate-timeline" class="timeline">{"".join(items)}</ol>'


def timeline_item(e: Mapping[str, Any]) -> str:
    """One event as a timeline line: its time, a badge (the tier of a gate change or verdict, the
    status of a status change), and the line ``gatebook show`` prints for it."""
    from gatebook.render.text import event_text

    data = e.get("data") or {}
    badge = (tier_span(data.get("tier") or data.get("verdict")) if e["kind"] in ("gate", "verdict")
             else badge_status(str(data.get("status"))) if e["kind"] == "status" else "")
    return (f'<li data-kind="{esc(e["kind"])}"><time>{esc((e.get("ts") or "")[11:19])}</time> {badge} '
            f"{esc(event_text(e))}</li>")


def _notes(notes: Sequence[Mapping[str, Any]]) -> str:
    items = "".join(f'<li><time>{esc(n["ts"])}</time> {esc(n["text"])}</li>' for n in notes)
    return f'<ul id="notes">{items}</ul>'


def _metrics(metrics: Mapping[str, Mapping[str, Any]]) -> str:
    if not metrics:
        return '<p class="muted">No metrics.</p>'
    rows = "".join(
        f'<tr><td>{esc(k)}</td><td class="r">{esc(fmt(m["last"]))}</td><td class="r">{esc(fmt(m["min"]))}</td>'
        f'<td class="r">{esc(fmt(m["max"]))}</td><td class="r">{esc(fmt(m["last_step"]))}</td>'
        f'<td class="r">{esc(m["count"])}</td></tr>' for k, m in metrics.items())
    return ('<table class="grid"><thead><tr><th>metric</th><th>last</th><th>min</th><th>max</th><th>last step</th>'
            f"<th>points</th></tr></thead><tbody>{rows}</tbody></table>")


def _provenance(doc: Mapping[str, Any], patch: str | None) -> str:
    git = doc["git"]
    commit = (git["commit"] or "")[:12]
    dirty = f" (dirty: {len(git['dirty_files'])} files)" if git["dirty"] else ""
    rows = [("command", " ".join(doc["command"])), ("cwd", doc["cwd"]), ("host", doc["host"]), ("user", doc["user"]),
            ("pid", doc["pid"]), ("git", f"{commit} on {git['branch'] or '?'}{dirty}" if commit else None),
            ("remote", git["remote"]), ("group", doc["group"]), ("tags", ", ".join(doc["tags"])),
            ("parent", (doc["parent"] or {}).get("name") or (doc["parent"] or {}).get("id")),
            ("python", (doc["env"]["python"] or {}).get("version")),
            ("machine", " · ".join(f"{k} {v}" for k, v in (doc["system"] or {}).items() if not isinstance(v, dict))),
            ("gpus", ", ".join(str(g.get("name", g)) if isinstance(g, dict) else str(g) for g in doc["gpus"]))]
    out = kv_table(rows, id="provenance-table")
    if patch is not None:
        out += (f'<details id="patch"><summary>the uncommitted changes (git diff, {patch.count(chr(10))} lines) · '
                f'{link(run_href(doc["id"]) + "/patch", "raw")}</summary><pre>{esc(patch)}</pre></details>')
    packages = doc["env"]["packages"] or {}
    if packages:
        body = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in sorted(packages.items()))
        out += (f'<details id="packages"><summary>{len(packages)} packages</summary>'
                f'<table class="grid"><tbody>{body}</tbody></table></details>')
    return out


def _artifacts(run_id: str, artifacts: Sequence[Mapping[str, Any]]) -> str:
    if not artifacts:
        return '<p class="muted">No artifacts.</p>'
    rows = []
    for i, a in enumerate(artifacts):
        target = (run_href(run_id) + "/patch") if a["stored"] else (run_href(run_id) + f"/artifacts/{i}")
        name = link(target, a["path"]) if a["stored"] or a["sha256"] else esc(a["path"])
        size = "" if a["size"] is None else f"{a['size']:,} B"
        rows.append(f'<tr><td>{name}</td><td>{esc(a["kind"])}</td><td class="r">{esc(size)}</td>'
                    f'<td class="mono">{esc((a["sha256"] or "")[:12])}</td><td>{esc(a["ts"])}</td></tr>')
    return ('<table class="grid" id="artifact-table"><thead><tr><th>path</th><th>kind</th><th>size</th><th>sha256</th>'
            f'<th>logged</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


# -- compare -------------------------------------------------------------------------------------


def compare_page(view: Any, *, read_only: bool) -> str:
    """Overlaid curves of the runs (a colour per row of the table, the baseline's first), the
    comparison table with deltas against the chosen baseline, and the params that differ."""
    comparison = view.comparison
    rows = comparison.rows
    runs = [{"id": r.run.id, "label": r.label, "colour": LINE_COLOURS[i % len(LINE_COLOURS)]}
            for i, r in enumerate(rows)]
    options = "".join(f'<option value="{esc(r.run.id)}"{" selected" if r.is_baseline else ""}>{esc(r.label)}</option>'
                      for r in rows)
    chooser = (f'<form id="baseline-form" method="get" action="/compare">'
               f'<input type="hidden" name="runs" value="{esc(",".join(r.run.id for r in rows))}">'
               f'<label>baseline <select name="baseline">{options}</select></label>'
               '<button type="submit">Compare</button></form>')
    charts = "".join(f'<div class="chart" data-key="{esc(k)}"><h3>{esc(k)}</h3><div class="plot"></div>'
                     f'<p class="chart-info muted"></p></div>' for k in view.chart_keys)
    differ = view.params_differ
    if differ:
        heads = "".join(f"<th>{link(run_href(r['id']), r['label'])}</th>" for r in runs)
        body = "".join(f"<tr><td>{esc(k)}</td>" + "".join(f'<td class="r">{esc(fmt(per.get(r["id"])))}</td>'
                                                          for r in runs) + "</tr>" for k, per in differ.items())
        params = (f'<table class="grid" id="params-differ"><thead><tr><th>param</th>{heads}</tr></thead>'
                  f"<tbody>{body}</tbody></table>")
    else:
        params = '<p class="muted">The params are the same.</p>'
    body = ("<h1>Compare</h1>" + chooser
            + section("Curves", f'<div class="charts">{charts}</div>', id="curves")
            + section("Comparison", f'<div id="comparison">{compare_html(comparison, {})}</div>')
            + section("Params that differ", params))
    return layout("Compare", body, data={"page": "compare", "runs": runs, "keys": view.chart_keys}, read_only=read_only)
