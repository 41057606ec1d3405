"""The judge: a pure function from (gate, a run's series, a baseline's series) to a verdict.

No I/O here. ``gatebook gate``, live gates, triage and (later) sweep pruning and the
dashboard all call :func:`evaluate`, so a run gets the same verdict everywhere.

Tiers, from best to worst: PASS, MARGINAL, PENDING (not measured yet: the run has not
logged the metric or not reached the check's epoch), FAIL, ERROR (the check cannot be
judged: the metric was never logged by a finished run, the baseline lacks it, no
direction is declared for ``best`` / ``no worse than``). A NaN observed value is a FAIL,
and the reason says so. A gate's verdict is its worst check.
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from gatebook.gates.checks import At, Baseline, BoolOp, Check, Condition, Expr, Operand, Value
from gatebook.gates.spec import Gate
from gatebook.records import Direction, DirectionOf, Point, Tier
from gatebook.serialize import format_number

__all__ = ["Direction", "DirectionOf", "Point", "Series", "Tier", "evaluate", "worst"]

Series = Mapping[str, Sequence[Point]]
"""Per metric key, the points ``(step, value)`` in logging order (NaN as NaN)."""


def worst(tiers: Sequence[Tier]) -> Tier:
    return max(tiers, key=lambda t: t.severity) if tiers else Tier.PASS


@dataclass(frozen=True)
class CheckResult:
    check: str
    metric: str
    tier: Tier
    reason: str
    observed: float | None = None
    threshold: float | tuple[float, float] | None = None
    threshold_text: str = ""
    step: int | None = None

    def to_dict(self) -> dict[str, object]:
        threshold = list(self.threshold) if isinstance(self.threshold, tuple) else self.threshold
        return {"check": self.check, "metric": self.metric, "observed": _json_num(self.observed),
                "threshold": (_json_num(threshold) if not isinstance(threshold, list)
                              else [_json_num(x) for x in threshold]),
                "threshold_text": self.threshold_text, "tier": self.tier.value, "reason": self.reason,
                "step": self.step}


@dataclass(frozen=True)
class GateResult:
    name: str
    tier: Tier
    checks: tuple[CheckResult, ...]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "verdict": self.tier.value, "checks": [c.to_dict() for c in self.checks]}


@dataclass(frozen=True)
class Verdict:
    tier: Tier
    gates: tuple[GateResult, ...]

    def to_dict(self) -> dict[str, object]:
        return {"verdict": self.tier.value, "gates": [g.to_dict() for g in self.gates]}


def _json_num(x: object) -> object:
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    return x


# -- public entry points ---------------------------------------------------------------------------


def evaluate(gate: Gate, series: Series, baseline: Series | None = None, *,
             direction_of: DirectionOf = lambda key: None, finished: bool = True,
             baseline_label: str = "baseline") -> GateResult:
    """Judge ``gate`` on a run's ``series`` (and a baseline's, for checks that use one).

    ``finished`` says the run will log nothing more: a metric still missing is then an
    ERROR rather than PENDING.
    """
    ctx = _Context(series, baseline, direction_of, finished, baseline_label)
    results = tuple(judge_check(check, ctx) for check in gate.checks)
    return GateResult(gate.name, worst([r.tier for r in results]), results)


def holds(expr: Expr, series: Series, baseline: Series | None = None, *,
          direction_of: DirectionOf = lambda key: None) -> bool:
    """Whether a signature's condition holds on a run (unmeasurable parts are false)."""
    ctx = _Context(series, baseline, direction_of, True, "baseline")
    if isinstance(expr, BoolOp):
        parts = (holds(item, series, baseline, direction_of=direction_of) for item in expr.items)
        return all(parts) if expr.op == "and" else any(parts)
    return _judge_condition(expr, ctx).tier is Tier.PASS


def closest_keys(key: str, available: Sequence[str], n: int = 5) -> list[str]:
    """The run's keys, closest to ``key`` first (then the rest, alphabetically)."""
    close = difflib.get_close_matches(key, list(available), n=len(available), cutoff=0.0)
    return close[:n]


# -- the judge ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    series: Series
    baseline: Series | None
    direction_of: DirectionOf
    finished: bool
    baseline_label: str


@dataclass(frozen=True)
class _Observed:
    value: float | None
    step: int | None
    tier: Tier | None  # set when the value cannot be judged (PENDING / ERROR)
    reason: str = ""


def judge_check(check: Check, ctx: _Context) -> CheckResult:
    main = _judge_condition(check.condition, ctx)
    if check.marginal is not None:
        main = dataclasses.replace(main, check=str(check))
    if main.tier is not Tier.FAIL or check.marginal is None or main.observed is None or math.isnan(main.observed):
        return main
    marginal = _judge_condition(check.marginal, ctx)
    if marginal.tier is Tier.PASS:
        return CheckResult(str(check), check.metric, Tier.MARGINAL,
                           f"{main.reason}, within marginal {check.marginal.tail()}",
                           main.observed, main.threshold, main.threshold_text, main.step)
    reason = main.reason
    if marginal.tier is Tier.FAIL:
        reason += f", below marginal {check.marginal.tail()}"
    return CheckResult(str(check), check.metric, main.tier, reason, main.observed, main.threshold,
                       main.threshold_text, main.step)


def _judge_condition(cond: Condition, ctx: _Context) -> CheckResult:
    text = str(cond)
    key = cond.operand.metric

    def result(tier: Tier, reason: str, observed: float | None = None, threshold: object = None,
               threshold_text: str = "", step: int | None = None) -> CheckResult:
        return CheckResult(text, key, tier, reason, observed, threshold, threshold_text, step)  # type: ignore[arg-type]

    obs = _observe(cond.operand, cond.at, ctx.series, ctx, whose="run")
    if obs.tier is not None:
        return result(obs.tier, obs.reason, step=obs.step)
    assert obs.value is not None
    at = _at_text(cond.at, obs.step)
    lo = _threshold(cond.value, cond, ctx)
    if isinstance(lo, CheckResult):
        return result(lo.tier, lo.reason, obs.value, step=obs.step)
    hi = _threshold(cond.upper, cond, ctx) if cond.upper is not None else None
    if isinstance(hi, CheckResult):
        return result(hi.tier, hi.reason, obs.value, step=obs.step)
    lo_value, lo_text = lo
    shown = _operand_text(cond.operand)
    if math.isnan(obs.value):
        return result(Tier.FAIL, f"{shown} is NaN{at} (NaN fails every check)", obs.value,
                      lo_value, lo_text, obs.step)
    if cond.comparator == "between":
        assert hi is not None
        hi_value, hi_text = hi
        ok = _COMPARE[">="](obs.value, lo_value) and _COMPARE["<="](obs.value, hi_value)
        word = "within" if ok else "outside"
        return result(Tier.PASS if ok else Tier.FAIL,
                      f"{shown} {_num(obs.value)} {word} {lo_text} .. {hi_text}{at}",
                      obs.value, (lo_value, hi_value), f"{lo_text} .. {hi_text}", obs.step)
    if cond.comparator == "no worse than":
        direction = ctx.direction_of(key)
        if direction is None:
            return result(Tier.ERROR, _no_direction(key, "no worse than"), obs.value, lo_value, lo_text, obs.step)
        op = ">=" if direction == "higher" else "<="
        ok = _COMPARE[op](obs.value, lo_value)
        better = "higher" if direction == "higher" else "lower"
        if ok:
            reason = f"{shown} {_num(obs.value)} no worse than {lo_text}{at}; {better} is better"
        else:
            reason = f"{shown} {_num(obs.value)} worse than {lo_text}{at}; {better} is better"
        return result(Tier.PASS if ok else Tier.FAIL, reason, obs.value, lo_value, f"{op} {lo_text}", obs.step)
    ok = _COMPARE[cond.comparator](obs.value, lo_value)
    shown_op = cond.comparator if ok else _NEGATED[cond.comparator]
    return result(Tier.PASS if ok else Tier.FAIL, f"{shown} {_num(obs.value)} {shown_op} {lo_text}{at}",
                  obs.value, lo_value, f"{cond.comparator} {lo_text}", obs.step)


def _close(a: float, b: float) -> bool:
    """Equal up to float rounding, so ``0.52 >= baseline 0.42 + 0.10`` holds."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a > b or _close(a, b),
    ">": lambda a, b: a > b and not _close(a, b),
    "<=": lambda a, b: a < b or _close(a, b),
    "<": lambda a, b: a < b and not _close(a, b),
    "==": _close,
    "!=": lambda a, b: not _close(a, b),
}
_NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}


def relative_margin(base: float, fraction: float) -> float:
    """``base`` moved by ``fraction`` of its magnitude: ``base + fraction * |base|``.

    ``baseline + 10%`` is ``relative_margin(b, 0.10)``, ``baseline - 5%`` is
    ``relative_margin(b, -0.05)``: a zero baseline gets a zero margin, a negative one moves
    the same way as a positive one (``-2 + 10%`` is -1.8). Written as a product so that an
    infinite baseline stays infinite; never raises.
    """
    return base * (1.0 + fraction) if base >= 0 else base * (1.0 - fraction)


def _threshold(value: Value | None, cond: Condition, ctx: _Context) -> tuple[float, str] | CheckResult:
    """The threshold's number and how to show it: ``0.50``, ``0.52 (baseline 0.42 + 0.10)``
    or, for a relative margin, ``0.99 (baseline 0.9 + 10%)``."""
    assert value is not None
    if isinstance(value.base, Baseline):
        if ctx.baseline is None:
            return CheckResult(str(cond), cond.operand.metric, Tier.ERROR,
                               "the check compares with a baseline and none was given (use --baseline RUN "
                               "or baseline: in the gate)")
        metric = value.base.metric or cond.operand.metric
        obs = _observe(Operand(metric, cond.operand.agg), cond.at, ctx.baseline, ctx, whose="baseline")
        if obs.tier is not None:
            return CheckResult(str(cond), cond.operand.metric, Tier.ERROR, obs.reason)
        assert obs.value is not None
        base = obs.value
        label = f"{ctx.baseline_label} {_num(base)}" if value.base.metric is None else \
            f"{ctx.baseline_label}.{metric} {_num(base)}"
    else:
        base = value.base.value
        label = value.base.text
    if value.op is None or value.operand is None:
        return base, (f"{_num(base)} ({label.rsplit(' ', 1)[0]})" if isinstance(value.base, Baseline) else label)
    operand = value.operand.value
    if value.relative:
        result = relative_margin(base, operand if value.op == "+" else -operand)
    elif value.op == "+":
        result = base + operand
    elif value.op == "-":
        result = base - operand
    elif value.op == "*":
        result = base * operand
    else:
        if operand == 0:
            return CheckResult(str(cond), cond.operand.metric, Tier.ERROR, f"{value}: division by zero")
        result = base / operand
    result = float(f"{result:.12g}")  # 0.43, not 0.43000000000000005
    return result, f"{_num(result)} ({label} {value.op} {value.operand.text})"


def _observe(operand: Operand, at: At | None, series: Series, ctx: _Context, *, whose: str) -> _Observed:
    key = operand.metric
    points = series.get(key)
    if not points:
        if whose == "run" and not ctx.finished:
            return _Observed(None, None, Tier.PENDING, f"{key} not logged yet")
        have = [k for k, v in series.items() if v]
        who = "the run" if whose == "run" else ctx.baseline_label
        if not have:
            return _Observed(None, None, Tier.ERROR, f"{who} logged no metrics at all (so no {key})")
        return _Observed(None, None, Tier.ERROR,
                         f"{who} never logged {key}; it has: {', '.join(closest_keys(key, have))}"
                         + (" ..." if len(have) > 5 else ""))
    step: int | None = None
    if at is not None:
        window, step, missing = _upto(points, at, series)
        if missing:
            pending = whose == "run" and not ctx.finished
            who = "" if whose == "run" else f"{ctx.baseline_label}: "
            return _Observed(None, None, Tier.PENDING if pending else Tier.ERROR,
                             f"{who}{key} not yet at {at.unit} {at.n}{missing}" if pending else
                             f"{who}{key} never reached {at.unit} {at.n}{missing}")
        points = window
    else:
        step = _last_step(points)
    values = [v for _, v in points]
    agg = operand.agg
    if agg.window is not None:
        values = values[-agg.window:]
        if len(values) < agg.window and whose == "run" and not ctx.finished:
            return _Observed(None, step, Tier.PENDING, f"{key} has {len(values)} of the last {agg.window} points")
    kind = agg.kind
    if kind == "best":
        direction = ctx.direction_of(key)
        if direction is None:
            return _Observed(None, step, Tier.ERROR, _no_direction(key, "best"))
        kind = "max" if direction == "higher" else "min"
    if kind == "last":
        value = _last_value(points) if agg.window is None else values[-1]
    elif kind == "mean":
        value = math.fsum(values) / len(values)
    else:
        finite = [v for v in values if not math.isnan(v)]
        value = (max if kind == "max" else min)(finite) if finite else math.nan
    return _Observed(value, step, None)


def _upto(points: Sequence[Point], at: At, series: Series) -> tuple[list[Point], int | None, str]:
    """The points up to the first logged step at or after ``at`` (and that step), or why missing."""
    stepped: list[Point] = [(s, v) for s, v in points if s is not None]
    if at.unit == "epoch" and _has_epoch_axis(series):
        epoch_of = _epoch_mapper(series["epoch"])
        stepped = [(epoch_of(s), v) for s, v in stepped]
        stepped = [(e, v) for e, v in stepped if e is not None]
    if not stepped:
        return [], None, f" (it has no {at.unit} numbers)"
    reached = [s for s, _ in stepped if s >= at.n]  # type: ignore[operator]
    if not reached:
        last = max(s for s, _ in stepped)  # type: ignore[type-var]
        return [], None, f" (last {at.unit} {last})"
    cutoff = min(reached)  # type: ignore[type-var]
    return [(s, v) for s, v in stepped if s <= cutoff], cutoff, ""  # type: ignore[operator]


def _has_epoch_axis(series: Series) -> bool:
    """Whether the run logs ``epoch`` as a metric against another step axis (global steps)."""
    epochs = series.get("epoch")
    if not epochs:
        return False
    return any(s is not None and s != v for s, v in epochs)


def _epoch_mapper(epoch_points: Sequence[Point]) -> Callable[[int | None], int | None]:
    pairs = sorted((s, v) for s, v in epoch_points if s is not None and not math.isnan(v))
    steps = [s for s, _ in pairs]

    def epoch_of(step: int | None) -> int | None:
        if step is None:
            return None
        i = bisect.bisect_right(steps, step) - 1
        return int(pairs[i][1]) if i >= 0 else None

    return epoch_of


def _last_step(points: Sequence[Point]) -> int | None:
    steps = [s for s, _ in points if s is not None]
    return max(steps) if steps else None


def _last_value(points: Sequence[Point]) -> float:
    """The value at the highest step (later logged wins a tie); the last logged without steps."""
    if all(s is not None for s, _ in points):
        best_i = 0
        for i, (s, _) in enumerate(points):
            if s >= points[best_i][0]:  # type: ignore[operator]
                best_i = i
        return points[best_i][1]
    return points[-1][1]


def _no_direction(key: str, what: str) -> str:
    return (f"'{what}' needs to know whether {key} is better higher or lower; add it to "
            f"metrics.higher_is_better or metrics.lower_is_better in gatebook.yaml")


def _operand_text(operand: Operand) -> str:
    return str(operand)


def _at_text(at: At | None, step: int | None) -> str:
    if at is None:
        return ""
    if step is None or step == at.n:
        return f" at {at.unit} {at.n}"
    return f" at {at.unit} {step} (first logged at or after {at.n})"


def _num(x: float) -> str:
    return format_number(x)
