"""Drawing a chart (:class:`gatebook.report.charts.Chart`) to PNG, SVG or PDF with matplotlib.

:func:`draw` renders one chart to a file or stream with matplotlib's object API and the Agg
canvas (no pyplot, no global state). matplotlib is imported inside the functions, so
``gatebook --help`` never pays for it; without it the drawing raises
:class:`~gatebook.errors.MissingExtraError` (exit 2, one line).

Choices (docs/reports.md): x is the step (the point number for a series logged without
steps), y the value; one line per run, labelled by name; NaN and infinite points break the
line and are marked with an ``x`` on the top edge; a threshold is a dashed horizontal line
labelled with its check in the legend, an ``@ epoch N`` check a diamond at (N, threshold);
the y axis is logarithmic when every value is positive and they span two decades or more.
"""

from __future__ import annotations

import math
from typing import Any, BinaryIO, Sequence, Union

from gatebook.errors import MissingExtraError
from gatebook.report.charts import Chart, Threshold

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
