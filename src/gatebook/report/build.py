"""Assembling a report of runs: the ledger read into blocks (``gatebook.report.blocks``), nothing rendered.

:func:`build_report` reads the ledger and assembles a :class:`Report`: a list of plain
blocks (headings, paragraphs, tables, images, lists) that ``gatebook.report.html`` and
``gatebook.report.markdown`` format; ``gatebook.report.write`` writes the file (and, for
Markdown, the images into ``<stem>_files/`` next to it, linked relatively).

What a report holds (docs/reports.md):

1. a summary line (runs, baseline, gates) and the comparison table
   (``gatebook.analysis.compare``: last values, deltas vs the baseline, best in bold, one
   verdict column per gate), then the params that differ between the runs;
2. the curves: one chart per metric with every run (and the baseline) on it and the gates'
   thresholds (``gatebook.report.charts``, drawn by ``gatebook.report.plot``); metrics:
   ``--metric``, else ``metrics.primary``
   and the gates' metrics, else the metrics the runs share (at most :data:`MAX_CHARTS`);
3. per run: provenance (command, git, python, host, times, status and reason), the gate
   verdict table with the playbook's advice, params, notes, and the gate / stop history.
"""

from __future__ import annotations

import shlex
import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence, Union

from gatebook.errors import NotFoundError
from gatebook.report.blocks import Bullets, Details, Heading, Image, Inline, Para, Report, Span, Table, status_span
from gatebook.report.blocks import tier_span as _tier

if TYPE_CHECKING:
    from gatebook.gates.evaluate import GateResult
    from gatebook.gates.setup import Gating
    from gatebook.project_config import ProjectConfig
    from gatebook.store.base import Store

MAX_CHARTS = 6
"""Charts when the metrics are not given (``--metric`` has no limit)."""

MAX_DIFF_PARAMS = 16
"""Columns of the "params that differ" table."""


# -- gates ------------------------------------------------------------------------------------------


def setup_gates(store: Store, pconf: ProjectConfig, names: Sequence[str],
                baseline_ref: str | None) -> tuple[Gating | None, list[str]]:
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


def build_report(store: Store, runs: Sequence[Any], *, pconf: ProjectConfig, baseline: Any | None = None,
                 gates: Sequence[str] = (), metrics: Sequence[str] | None = None, title: str | None = None,
                 yscale: str = "auto", generated_at: float | None = None) -> Report:
    """Assemble the report of ``runs`` (run records, in order); ``baseline`` a run record."""
    from gatebook import __version__
    from gatebook.analysis.compare import build_comparison, choose_metrics
    from gatebook.gates.evaluate import Tier
    from gatebook.gates.setup import advice_for, load_series
    from gatebook.render.text import iso
    from gatebook.report.charts import build_charts, run_labels, unique_slugs
    from gatebook.report.plot import render_png

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
    blocks.append(comparison_table(comparison))
    from gatebook.render.compare import legend

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
            from gatebook.render.gates import advice_lines

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
        run_docs.append({**run.ref(), "verdict": verdict})

    return Report(title=title, blocks=blocks, runs=run_docs,
                  baseline=None if base_run is None else {"id": base_run.id, "name": base_run.name},
                  metrics=[c.metric for c in charts if c.curves], gates=gate_names, skipped_gates=skipped_gates)


def _default_title(runs: Sequence[Any]) -> str:
    names = [r.name or r.id for r in runs]
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"Report: {shown}"


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


def comparison_table(comp: Any) -> Table:
    from gatebook.analysis.compare import MISSING
    from gatebook.render.compare import cell_text, header

    headers = ["run", "id", "status"] + [header(m) for m in comp.metrics] + [f"gate {g}" for g in comp.gates]
    rows: list[list[Inline]] = []
    for row in comp.rows:
        name: list[Union[str, Span]] = [row.run.name or ""]
        if row.is_baseline and len(comp.rows) > 1:
            name.append(Span(" (baseline)", cls="muted"))
        cells: list[Inline] = [name, Span(row.run.id, code=True),
                               status_span(row.run.status.value)]
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


def _param_diff_table(store: Store, runs: Sequence[Any], labels: Mapping[str, str]) -> Table | None:
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

    status: list[Union[str, Span]] = [status_span(doc["status"], bold=True)]
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


def _verdict_table(results: Sequence[GateResult], gating: Gating) -> Table:
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
