"""`gatebook plot` and `gatebook report` (gatebook.report.plot / gatebook.report.build, .write).

matplotlib is imported only when a chart is drawn (the ``plot`` extra); without it both
commands stop with one line naming the extra to install (exit 2).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import click

from gatebook.cli.common import (
    emit_json,
    json_option,
    open_ledger,
    project_config,
    selection_options,
    store_option,
)
from gatebook.errors import UsageError

if TYPE_CHECKING:
    from gatebook.store.base import Store

DEFAULT_REPORT = "gatebook-report.html"


def _select(store: Store, runs: Sequence[str], tags: Sequence[str], group: str | None, last: int | None,
            baseline: str | None) -> tuple[list[Any], Any | None]:
    """The selected runs and the baseline run, with vanished running runs marked lost."""
    from gatebook.liveness import current, resolve_current
    from gatebook.selection import select_runs

    selected = current(store, select_runs(store, runs, tags=tags, group=group, last=last))
    base = resolve_current(store, baseline) if baseline else None
    return selected, base


def _split(items: Sequence[str]) -> list[str]:
    """``-m a -m b,c`` -> ``[a, b, c]`` (a key that itself has a comma cannot be given this way)."""
    out: list[str] = []
    for item in items:
        for key in (item.split(",") if "," in item else [item]):
            key = key.strip()
            if key and key not in out:
                out.append(key)
    return out


def _check_metrics(store: Store, runs: Sequence[Any], metrics: Sequence[str]) -> dict[str, list[str]]:
    """Per metric, the ids of the runs that lack it; a metric no run has is a UsageError."""
    from gatebook.gates.evaluate import closest_keys

    stats = store.metric_stats([r.id for r in runs])
    have = sorted({k for s in stats.values() for k in s})
    missing: dict[str, list[str]] = {}
    for key in metrics:
        lacking = [r.id for r in runs if key not in stats.get(r.id, {})]
        if len(lacking) < len(runs):
            missing[key] = lacking
            continue
        if len(runs) == 1:
            who, they = f"run {runs[0].name or runs[0].id} never logged it", "it has"
        else:
            who, they = f"none of the {len(runs)} selected runs logged it", "they have"
        in_summary = [r for r in runs if key in store.summary(r.id)]
        note = " (it is only a summary value: a single number, no curve)" if in_summary else ""
        if not have:
            raise UsageError(f"metric {key!r}: {who}{note}; no metric series at all")
        shown = closest_keys(key, have, n=8)
        more = f" (and {len(have) - len(shown)} more)" if len(have) > len(shown) else ""
        raise UsageError(f"metric {key!r}: {who}{note}; {they}: {', '.join(shown)}{more}")
    return missing


def _plot_paths(out: str | None, metrics: Sequence[str]) -> dict[str, tuple[Path, str]]:
    """Where each metric's chart goes, and its format.

    No --out: ``plot-<metric>.png`` in the current directory. --out DIR (existing, or
    ending with /): ``DIR/plot-<metric>.png``. --out FILE.png|.svg|.pdf: that file for one
    metric; ``FILE-<metric>.png`` for each of several.
    """
    from gatebook.report.charts import unique_slugs
    from gatebook.report.plot import FORMATS

    slugs = unique_slugs(metrics)
    if out is None or out.endswith(("/", os.sep)) or Path(out).expanduser().is_dir():
        folder = Path(out).expanduser() if out else Path.cwd()
        return {m: (folder / f"plot-{slugs[m]}.png", "png") for m in metrics}
    path = Path(out).expanduser()
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"--out {out}: give a .png, .svg or .pdf file, or a directory")
    if len(metrics) == 1:
        return {metrics[0]: (path, fmt)}
    return {m: (path.with_name(f"{path.stem}-{slugs[m]}{path.suffix}"), fmt) for m in metrics}


def _write_chart(chart: Any, path: Path, fmt: str, yscale: str) -> str:
    import io

    from gatebook.report.plot import draw
    from gatebook.report.write import ensure_parent

    ensure_parent(path)
    buf = io.BytesIO()
    scale = draw(chart, buf, fmt=fmt, yscale=yscale)  # drawn first: no half-written file on an error
    try:
        path.write_bytes(buf.getvalue())
        return scale
    except OSError as exc:
        raise UsageError(f"cannot write the chart to {path}: {exc.strerror or exc}") from None


def _warn(message: str) -> None:
    print(f"gatebook: warning: {message}", file=sys.stderr)


@click.command("plot")
@click.argument("runs", nargs=-1, metavar="[RUN]...")
@click.option("--metric", "-m", "metrics", multiple=True, metavar="M",
              help="Metric to plot, one chart each (repeatable or comma-separated). Default: metrics.primary.")
@click.option("--gate", "gates", multiple=True, metavar="NAME",
              help="Draw this gate's thresholds (repeatable). Default: every declared gate that can be drawn.")
@click.option("--baseline", "-b", metavar="RUN",
              help="Draw this run too, and baseline-relative thresholds against it.")
@click.option("--out", "-o", metavar="FILE|DIR",
              help="FILE.png/.svg/.pdf (several metrics: FILE-<metric>.png) or a directory. "
                   "Default: plot-<metric>.png here.")
@click.option("--yscale", type=click.Choice(["auto", "linear", "log"]), default="auto", show_default=True,
              help="auto: log when every value is positive and they span two decades or more.")
@selection_options
@store_option
@json_option
def plot_cmd(runs: tuple[str, ...], metrics: tuple[str, ...], gates: tuple[str, ...], baseline: str | None,
             out: str | None, yscale: str, tags: tuple[str, ...], group: str | None, last: int | None,
             as_json: bool) -> int:
    """Plot metric curves of runs, one chart per metric, with gate thresholds.

    x is the step, y the value, one line per run labelled by its name. NaN and inf
    points break the line (an x on the top edge marks them). Thresholds of the gates'
    checks on the metric are dashed lines (an `@ epoch N` check is a diamond at
    (N, threshold)); a check against a baseline is drawn with --baseline or the gate's
    baseline:. Prints the path of each file written. Needs matplotlib
    (pip install 'gatebook[plot]').
    """
    from gatebook.report.build import setup_gates
    from gatebook.report.charts import build_charts, run_labels
    from gatebook.report.plot import require_matplotlib

    require_matplotlib()
    pconf = project_config()
    with open_ledger() as store:
        selected, base = _select(store, runs, tags, group, last, baseline)
        keys = _split(metrics)
        if not keys:
            stats = store.metric_stats([r.id for r in selected])
            have = {k for s in stats.values() for k in s}
            keys = [k for k in dict.fromkeys(pconf.metrics.primary) if k in have]
            if not keys:
                shown = ", ".join(sorted(have)[:12]) + (" ..." if len(have) > 12 else "") if have else "none"
                raise UsageError("which metric? give --metric M (or set metrics.primary in gatebook.yaml)",
                                 hint=f"the runs have: {shown}")
        missing = _check_metrics(store, selected, keys)
        gating, skipped_gates = setup_gates(store, pconf, gates, base.id if base is not None else None)
        labels = run_labels(selected + ([base] if base is not None and base.id not in {r.id for r in selected}
                                        else []))
        charts = build_charts(store, selected, keys, gates=gating.gates if gating is not None else (),
                              baseline=base, gate_baselines=gating.baselines if gating is not None else None,
                              direction_of=pconf.metrics.direction, labels=labels)
    paths = _plot_paths(out, keys)
    docs = []
    for chart in charts:
        path, fmt = paths[chart.metric]
        scale = _write_chart(chart, path, fmt, yscale)
        docs.append({"metric": chart.metric, "file": str(path.resolve()), "direction": chart.direction,
                     "yscale": scale, "runs": [c.run_id for c in chart.curves],
                     "missing": missing[chart.metric],
                     "thresholds": [t.to_dict() for t in chart.thresholds], "skipped": chart.skipped})
    if as_json:
        emit_json({"files": [d["file"] for d in docs], "metrics": keys,
                   "runs": [{"id": r.id, "name": r.name} for r in selected],
                   "baseline": None if base is None else {"id": base.id, "name": base.name},
                   "charts": docs, "skipped_gates": skipped_gates})
        return 0
    for metric, lacking in missing.items():
        if lacking:
            _warn(f"no {metric} in {', '.join(labels.get(i, i) for i in lacking)}: left out of its chart")
    for chart in charts:
        for line in chart.skipped:
            _warn(f"{chart.metric}: threshold not drawn: {line}")
    for d in docs:
        print(d["file"])
    return 0


@click.command("report")
@click.argument("runs", nargs=-1, metavar="[RUN]...")
@click.option("--baseline", "-b", metavar="RUN",
              help="Compare with this run (deltas, baseline-relative gates). Default: the gates' baseline, "
                   "else the first run.")
@click.option("--gate", "gates", multiple=True, metavar="NAME",
              help="Judge with this gate of gatebook.yaml (repeatable). Default: every gate that can be judged.")
@click.option("--metric", "-m", "metrics", multiple=True, metavar="M",
              help="Metric to compare and plot (repeatable or comma-separated). Default: metrics.primary "
                   "and the gates' metrics, else the metrics the runs share.")
@click.option("--out", "-o", metavar="FILE",
              help=f"FILE.html (self-contained) or FILE.md (images in FILE_files/). Default: {DEFAULT_REPORT}.")
@click.option("--title", metavar="TEXT", help="The report's title.")
@click.option("--yscale", type=click.Choice(["auto", "linear", "log"]), default="auto", show_default=True,
              help="y axis of the charts (auto: log when the values span two decades or more).")
@selection_options
@store_option
@json_option
def report_cmd(runs: tuple[str, ...], baseline: str | None, gates: tuple[str, ...], metrics: tuple[str, ...],
               out: str | None, title: str | None, yscale: str, tags: tuple[str, ...], group: str | None,
               last: int | None, as_json: bool) -> int:
    """Write a self-contained report of runs: comparison, curves, gates, provenance.

    The comparison with the baseline (last values, deltas, gate verdicts), one chart per
    metric with every run and the gates' thresholds, then per run: provenance (command,
    git, python, host, times, status and reason), the gate verdict table, params and
    notes. .html embeds everything (images as data URIs, no external resource); .md
    writes its images to FILE_files/ and links them. Prints the report's path. Exit 0
    whatever the verdicts (use `gatebook gate` to gate); 2 on bad input.
    """
    from gatebook.report.build import build_report
    from gatebook.report.plot import require_matplotlib
    from gatebook.report.write import report_format, write_report

    target = Path(out or DEFAULT_REPORT).expanduser()
    report_format(target)
    require_matplotlib()
    pconf = project_config()
    with open_ledger() as store:
        selected, base = _select(store, runs, tags, group, last, baseline)
        if title is None and group and not (runs or tags):
            title = f"Report: group {group}" + (f" (last {last})" if last else "")
        report = build_report(store, selected, pconf=pconf, baseline=base, gates=gates,
                              metrics=_split(metrics) or None, title=title, yscale=yscale)
    written = write_report(report, target)
    if as_json:
        emit_json({**written, "title": report.title, "runs": report.runs, "baseline": report.baseline,
                   "metrics": report.metrics, "gates": report.gates, "skipped_gates": report.skipped_gates})
        return 0
    for line in report.skipped_gates:
        _warn(f"not judged: {line}")
    print(written["file"])
    return 0
