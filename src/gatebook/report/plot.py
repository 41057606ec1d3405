"""Metric curves of several runs on one chart, with the gates' thresholds.

Two halves:

- gathering (no matplotlib): :func:`build_charts` reads the series of the chosen runs from
  the ledger and turns the gates' checks on each metric into :class:`Threshold` lines
  (numeric thresholds; baseline-relative ones when a baseline run is given);
- drawing: :func:`draw` renders one :class:`Chart` to a PNG / SVG / PDF file or stream with
  matplotlib's object API and the Agg canvas (no pyplot, no global state). matplotlib is
  imported inside the functions, so ``gatebook --help`` never pays for it; without it the
  drawing raises :class:`~gatebook.errors.MissingExtraError` (exit 2, one line).

Choices (docs/reports.md): x is the step (the point number for a series logged without
steps), y the value; one line per run, labelled by name; NaN and infinite points break the
line and are marked with an ``x`` on the top edge; a threshold is a dashed horizontal line
labelled with its check in the legend, an ``@ epoch N`` check a diamond at (N, threshold);
the y axis is logarithmic when every value is positive and they span two decades or more.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Mapping, Sequence, Union

from gatebook.errors import MissingExtraError

if TYPE_CHECKING:
    from gatebook.gates.spec import Gate
    from gatebook.store.base import Store

WIDTH_IN = 9.0
HEIGHT_IN = 5.0
DPI = 100
"""Charts are 900 x 500 pixels."""

LOG_SPAN = 100.0
"""``yscale="auto"`` goes logarithmic when max / min of the (positive) values reaches this."""

OFF_CHART = 1.0
"""A threshold farther than this many data spans from the curves is listed, not drawn."""

MAX_LABEL = 40
FORMATS = ("png", "svg", "pdf")
SCALES = ("auto", "linear", "log")

_THRESHOLD_COLORS = ("#222222", "#b2182b", "#2166ac", "#762a83", "#1b7837", "#8c510a")

Point = tuple["int | None", float]


@dataclass(frozen=True)
class Curve:
    """One run's series of one metric, in logging order."""

    run_id: str
    label: str
    points: tuple[Point, ...]
    baseline: bool = False

    def xy(self) -> tuple[list[float], list[float], bool, list[float]]:
        """x and y for drawing, sorted by step, with non-finite y as NaN (so the line
        breaks there); whether x is the point number (1, 2, ...: some point has no step);
        and the x of the non-finite points."""
        indexed = any(s is None for s, _ in self.points)
        if indexed:
            pairs = [(float(i + 1), v) for i, (_, v) in enumerate(self.points)]
        else:
            pairs = sorted(((float(s), v) for s, v in self.points), key=lambda p: p[0])  # type: ignore[arg-type]
        xs = [x for x, _ in pairs]
        ys = [v if math.isfinite(v) else math.nan for _, v in pairs]
        return xs, ys, indexed, [x for x, v in pairs if not math.isfinite(v)]

    def finite_values(self) -> list[float]:
        return [v for _, v in self.points if math.isfinite(v)]


@dataclass(frozen=True)
class Threshold:
    """A check's threshold on a chart: a horizontal line, or a point for ``@ epoch N``."""

    gate: str
    check: str
    label: str
    value: float
    at: float | None = None
    band: str = "pass"  # "pass" | "marginal"

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "check": self.check, "label": self.label, "value": self.value,
                "at": self.at, "band": self.band}


@dataclass
class Chart:
    """What one chart shows: a metric's curves and thresholds."""

    metric: str
    curves: list[Curve]
    thresholds: list[Threshold] = field(default_factory=list)
    direction: str | None = None
    missing: list[str] = field(default_factory=list)  # labels of runs without this metric
    skipped: list[str] = field(default_factory=list)  # checks not drawn, with why

    def values(self) -> list[float]:
        return [v for c in self.curves for v in c.finite_values()]


# -- gathering -------------------------------------------------------------------------------------


def run_labels(runs: Sequence[Any]) -> dict[str, str]:
    """A legend label per run id: its name, with a short id when names repeat; the id when unnamed."""
    names = [r.name for r in runs]
    out: dict[str, str] = {}
    for r in runs:
        if not r.name:
            out[r.id] = r.id
        elif names.count(r.name) > 1:
            out[r.id] = f"{r.name} ({r.id[:7]})"
        else:
            out[r.id] = r.name
    return out


def build_charts(store: Store, runs: Sequence[Any], metrics: Sequence[str], *, gates: Sequence[Gate] = (),
                 baseline: Any | None = None, gate_baselines: Mapping[str, Any] | None = None,
                 direction_of: Callable[[str], Any] = lambda k: None,
                 labels: Mapping[str, str] | None = None) -> list[Chart]:
    """One :class:`Chart` per metric over ``runs`` (and the ``baseline`` run, drawn too when
    it is not among them), with the thresholds of ``gates``' checks on that metric.

    A baseline-relative threshold reads ``gate_baselines[gate]`` (a ``BaselineData``, as
    ``prepare_gates`` gives) when the gate is there, else the ``baseline`` run."""
    everyone = list(runs) + ([baseline] if baseline is not None and baseline.id not in {r.id for r in runs} else [])
    labels = dict(labels or run_labels(everyone))
    wanted = list(dict.fromkeys([*metrics, "epoch"]))
    series = {r.id: store.metric_series(r.id, wanted) for r in everyone}
    default_base = None
    if baseline is not None:
        from gatebook.gates.setup import BaselineData, load_series

        default_base = BaselineData(label=baseline.name or baseline.id, series=load_series(store, baseline.id))
    bases = {g.name: (gate_baselines[g.name] if gate_baselines is not None and g.name in gate_baselines
                      else default_base) for g in gates}
    epoch_points = next((pts for r in everyone for pts in [series[r.id].get("epoch")]
                         if pts and any(s is not None and s != v for s, v, _ in pts)), None)
    charts = []
    for metric in metrics:
        curves, missing = [], []
        for r in everyone:
            pts = series[r.id].get(metric)
            label = labels.get(r.id, r.id)
            is_base = baseline is not None and r.id == baseline.id
            if is_base:
                label += " (baseline)"
            if not pts:
                missing.append(label)
                continue
            curves.append(Curve(r.id, label, tuple((s, v) for s, v, _ in pts), baseline=is_base))
        thresholds, skipped = gate_thresholds(gates, metric, baselines=bases, direction_of=direction_of,
                                              epoch_points=epoch_points)
        charts.append(Chart(metric, curves, thresholds, direction_of(metric), missing, skipped))
    return charts


def gate_thresholds(gates: Sequence[Gate], metric: str, *, baselines: Mapping[str, Any] | None = None,
                    direction_of: Callable[[str], Any] = lambda k: None,
                    epoch_points: Sequence[tuple[Any, ...]] | None = None) -> tuple[list[Threshold], list[str]]:
    """The thresholds of the checks on ``metric`` (pass and marginal bands; both bounds of
    ``between``), and the checks left out with why (a baseline check without a baseline).
    ``baselines`` maps a gate's name to its baseline (``.label``, ``.series``) or None."""
    out: list[Threshold] = []
    skipped: list[str] = []
    for gate in gates:
        base = (baselines or {}).get(gate.name)
        for check in gate.checks:
            if check.condition.operand.metric != metric:
                continue
            text = str(check)
            if check.uses_baseline and base is None:
                skipped.append(f"{gate.name}: {text} (compares with a baseline; pass --baseline RUN)")
                continue
            for band, cond in (("pass", check.condition), ("marginal", check.marginal)):
                if cond is None:
                    continue
                found = _threshold_of(gate.name, cond, base.series if base is not None else None,
                                      base.label if base is not None else "baseline", direction_of)
                if found is None:
                    skipped.append(f"{gate.name}: {text} (its threshold cannot be computed)")
                    break
                values, shown = found
                if check.marginal is None:
                    label = f"{gate.name}: {text}"
                else:
                    label = f"{gate.name}: {cond} ({band})"
                if cond.uses_baseline:
                    label += f" (=\u00a0{shown})"  # no-break space: the wrap keeps "(= 1.035)" whole
                at = None
                if cond.at is not None:
                    at = float(_at_step(cond.at, epoch_points))
                for i, value in enumerate(values):
                    out.append(Threshold(gate.name, text, label if i == 0 else "", value, at, band))
    return out, skipped


def _threshold_of(gate_name: str, cond: Any, baseline_series: Mapping[str, Any] | None, baseline_label: str,
                  direction_of: Callable[[str], Any]) -> tuple[list[float], str] | None:
    """The threshold's number(s), computed by the judge itself (baseline arithmetic included)."""
    from gatebook.gates.checks import Check
    from gatebook.gates.evaluate import evaluate
    from gatebook.gates.spec import Gate
    step = cond.at.n if cond.at is not None else 0
    probe = {cond.operand.metric: [(step, 0.0)]}  # any observed value: only the threshold is read
    result = evaluate(Gate(gate_name, (Check(cond),)), probe, baseline_series, direction_of=direction_of,
                      baseline_label=baseline_label).checks[0]
    threshold = result.threshold
    if threshold is None:
        return None
    values = list(threshold) if isinstance(threshold, tuple) else [threshold]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return None
    return [float(v) for v in values], " .. ".join(f"{float(v):.4g}" for v in values)


def _at_step(at: Any, epoch_points: Sequence[tuple[Any, ...]] | None) -> int:
    """The x of ``@ epoch N``: N, or the first step at epoch N when epochs are logged
    against another step axis (global steps)."""
    if at.unit != "epoch" or not epoch_points:
        return int(at.n)
    steps = sorted((p[0], p[1]) for p in epoch_points if p[0] is not None and math.isfinite(p[1]))
    for s, e in steps:
        if e >= at.n:
            return int(s)
    return int(at.n)


# -- drawing ---------------------------------------------------------------------------------------


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingExtraError("matplotlib", "plot", "plotting") from None


def choose_scale(chart: Chart, requested: str = "auto") -> str:
    """``linear`` or ``log``: ``auto`` is log when every value is positive and max / min >= 100."""
    if requested in ("linear", "log"):
        if requested == "log" and not any(v > 0 for v in chart.values()):
            return "linear"
        return requested
    values = chart.values()
    if len(values) < 2 or min(values) <= 0:
        return "linear"
    return "log" if max(values) / min(values) >= LOG_SPAN else "linear"


def _short(label: str) -> str:
    """A legend label: wrapped on two lines at most, then cut with an ellipsis."""
    import textwrap

    lines = textwrap.wrap(label, width=MAX_LABEL, break_on_hyphens=False) or [""]
    if len(lines) > 2:
        lines = [lines[0], lines[1][: MAX_LABEL - 1] + "…"]
    return "\n".join(lines)


def _palette(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _visible(chart: Chart, scale: str) -> tuple[list[Threshold], list[Threshold]]:
    """Thresholds near the curves (drawn) and far from them (only listed, so the curves are not
    squashed into a corner)."""
    space = (lambda v: math.log10(v)) if scale == "log" else (lambda v: v)
    values = [space(v) for v in chart.values() if scale != "log" or v > 0]
    if not values:
        return list(chart.thresholds), []
    lo, hi = min(values), max(values)
    span = (hi - lo) or abs(hi) or 1.0
    near: list[Threshold] = []
    far: list[Threshold] = []
    for t in chart.thresholds:
        if scale == "log" and t.value <= 0:
            far.append(t)
            continue
        v = space(t.value)
        (near if lo - OFF_CHART * span <= v <= hi + OFF_CHART * span else far).append(t)
    return near, far


def _ylimits(chart: Chart, near: Sequence[Threshold], scale: str) -> tuple[float, float] | None:
    """The y range holding the curves and the thresholds drawn, with a margin (matplotlib's
    autoscale puts a threshold just above the curves on the frame itself)."""
    values = chart.values() + [t.value for t in near]
    if scale == "log":
        values = [math.log10(v) for v in values if v > 0]
    if not values:
        return None
    lo, hi = min(values), max(values)
    span = hi - lo
    if span > 0:
        pad = 0.06 * span
    elif scale == "linear" and hi != 0:
        pad = 0.1 * abs(hi)  # one value: +-10% of it
    else:
        pad = 0.5  # half a decade (log), or +-0.5 around 0
    lo, hi = lo - pad, hi + pad
    return (10 ** lo, 10 ** hi) if scale == "log" else (lo, hi)


def draw(chart: Chart, out: Union[str, Any, BinaryIO], *, fmt: str = "png", yscale: str = "auto",
         title: str | None = None, size: tuple[float, float] = (WIDTH_IN, HEIGHT_IN), dpi: int = DPI) -> str:
    """Draw ``chart`` into ``out`` (a path or a binary stream); returns the y scale used."""
    require_matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    scale = choose_scale(chart, yscale)
    fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    handles: list[Any] = []
    colors = _palette(len([c for c in chart.curves if not c.baseline]))
    indexed_any = False
    nonfinite_any = False
    ci = 0
    for curve in chart.curves:
        xs, ys, indexed, bad = curve.xy()
        indexed_any |= indexed
        dense = len(xs) > 200  # long noisy series: thinner lines overlap less
        if curve.baseline:
            color, style, width = "#555555", "-.", 1.2 if dense else 1.6
        else:
            color, style, width = colors[ci], "-", 1.1 if dense else 1.8
            ci += 1
        few = len(xs) <= 30
        (line,) = ax.plot(xs, ys, linestyle=style, linewidth=width, color=color, label=_short(curve.label),
                          marker="o" if few else None, markersize=3.5, zorder=3)
        handles.append(line)
        if bad:
            nonfinite_any = True
            ax.plot(bad, [0.985] * len(bad), linestyle="none", marker="x", markersize=8, markeredgewidth=2,
                    color=color, transform=ax.get_xaxis_transform(), clip_on=False, zorder=4)
    near, far = _visible(chart, scale)
    color_of: dict[tuple[str, str], str] = {}
    for t in chart.thresholds:
        color_of.setdefault((t.gate, t.check), _THRESHOLD_COLORS[len(color_of) % len(_THRESHOLD_COLORS)])
    for t in near:
        color = color_of[(t.gate, t.check)]
        dashes = (0, (6, 3)) if t.band == "pass" else (0, (2, 2))
        if t.at is None:
            line = ax.axhline(t.value, color=color, linestyle=dashes, linewidth=1.4, zorder=2)
        else:
            (line,) = ax.plot([t.at], [t.value], linestyle="none", marker="D", markersize=9, markerfacecolor="white",
                              markeredgecolor=color, markeredgewidth=2, zorder=5)
            ax.axhline(t.value, color=color, linestyle=dashes, linewidth=0.8, alpha=0.35, zorder=1)
        if t.label:
            line.set_label(_short(t.label))
            handles.append(line)
    for t in far:
        if t.label:
            side = "above" if chart.values() and t.value > max(chart.values()) else "below"
            handles.append(Line2D([], [], color=color_of[(t.gate, t.check)], linestyle=(0, (6, 3)),
                                  label=_short(f"{t.label}; {t.value:g} is off the chart ({side})")))
    if nonfinite_any:
        handles.append(Line2D([], [], linestyle="none", marker="x", markersize=7, markeredgewidth=2, color="#444444",
                              label="NaN / inf (line broken)"))
    ax.set_yscale(scale)
    limits = _ylimits(chart, near, scale)
    if limits is not None:
        ax.set_ylim(*limits)
    if scale == "linear":
        ax.ticklabel_format(axis="y", useOffset=False)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, which="major", alpha=0.3)
    if not indexed_any:
        xlabel = "step"
    elif all(c.xy()[2] for c in chart.curves):
        xlabel = "point number (no step logged)"
    else:
        xlabel = "step (point number for series logged without steps)"
    ax.set_xlabel(xlabel, fontsize=11)
    ax.set_ylabel(chart.metric + ("  (log scale)" if scale == "log" else ""), fontsize=11)
    heading = title or chart.metric
    if chart.direction in ("higher", "lower"):
        heading += f"  ({chart.direction} is better)"
    ax.set_title(heading, fontsize=13, fontweight="bold")
    if handles:
        longest = max(len(h.get_label()) for h in handles)
        if len(handles) <= 6 and longest <= 32:
            ax.legend(handles=handles, loc="best", fontsize=9, framealpha=0.9)
        else:
            fig.legend(handles=handles, loc="outside right upper", fontsize=8.5, framealpha=0.9)
    if not chart.curves:
        ax.text(0.5, 0.5, "no run logged this metric", transform=ax.transAxes, ha="center", va="center",
                color="#666666")
    metadata: dict[str, Any] = {"Software": None} if fmt == "png" else {}
    if fmt == "svg":
        metadata = {"Date": None}
    elif fmt == "pdf":
        metadata = {"CreationDate": None}
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "gatebook"}):  # the same SVG ids every time
        fig.savefig(out, format=fmt, dpi=dpi, metadata=metadata)
    return scale


def render_png(chart: Chart, **kwargs: Any) -> tuple[bytes, str]:
    """The chart as PNG bytes (for embedding), and the y scale used."""
    import io

    buf = io.BytesIO()
    scale = draw(chart, buf, fmt="png", **kwargs)
    return buf.getvalue(), scale


def slug(text: str) -> str:
    """A file-name-safe form of a metric key: ``val/loss`` -> ``val_loss``, ``r@5`` -> ``r_5``."""
    out = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "metric"
    return out[:80]


def unique_slugs(keys: Sequence[str]) -> dict[str, str]:
    """A distinct slug per key (``-2``, ``-3`` ... when two keys give the same one)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for key in keys:
        base = slug(key)
        name, n = base, 2
        while name.lower() in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name.lower())
        out[key] = name
    return out
