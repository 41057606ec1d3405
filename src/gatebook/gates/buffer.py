"""What a live judge keeps of a long series: only what its checks can read.

A check that reads the ``last`` value, ``min`` / ``max`` / ``best`` or a window ``of last K``
needs the series' extremes and its last K points, not the whole history; a check with
``@ epoch N`` or an unbounded ``mean`` needs every point. A :class:`SeriesBuffer` keeps a
key's points in full until it holds more than K + 2 of them, then (for keys that allow
it) keeps ``[min point, max point, *last K points]``, which gives the judge exactly the
same answers in constant memory and time. Steps must keep increasing for that to hold (the
last point is then the one with the highest step); when a point goes back in steps, the
buffer says so (``needs_reload``) and the live judge re-reads the series from the ledger
and keeps that key whole.
"""

from __future__ import annotations

import math
from typing import Iterable

from gatebook.gates.checks import BoolOp, Check, Condition, Expr

Point = tuple["int | None", float]


def key_needs(conditions: Iterable[Condition]) -> dict[str, int | None]:
    """Per metric key: the longest ``of last K`` window its conditions use (0 for none),
    or None when some condition needs every point (``@``, an unbounded ``mean``)."""
    out: dict[str, int | None] = {}
    for cond in conditions:
        key = cond.operand.metric
        agg = cond.operand.agg
        full = cond.at is not None or (agg.kind == "mean" and agg.window is None)
        if full or out.get(key, 0) is None:
            out[key] = None
        else:
            out[key] = max(out.get(key) or 0, agg.window or 0)
        if cond.at is not None and cond.at.unit == "epoch":
            out["epoch"] = None  # @ epoch may follow an epoch series
    return out


def conditions_of(node: Check | Expr) -> list[Condition]:
    if isinstance(node, Check):
        return [node.condition] + ([node.marginal] if node.marginal is not None else [])
    if isinstance(node, BoolOp):
        return [c for item in node.items for c in conditions_of(item)]
    return [node]


class SeriesBuffer:
    """The points of one key a live judge needs (see the module docstring)."""

    def __init__(self, window: int | None) -> None:
        self.window = window  # None: keep everything
        self.points: list[Point] = []
        self.compact = False
        self.needs_reload = False  # a compact buffer met a step going backwards
        self._min: Point | None = None
        self._max: Point | None = None
        self._last_step: int | None = None

    def add(self, step: int | None, value: float) -> None:
        if self.compact and (step is None or (self._last_step is not None and step < self._last_step)):
            self.needs_reload = True  # the caller re-reads the whole series
            return
        self.points.append((step, value))
        self._track(step, value)
        if self.window is not None and not self.compact and len(self.points) > self.window + 2:
            if all(s is not None for s, _ in self.points) and _increasing(self.points):
                self.compact = True
        if self.compact:
            tail = self.points[-max(self.window or 0, 1):] if self.window is not None else self.points
            self.points = [p for p in (self._min, self._max) if p is not None] + list(tail)

    def reload(self, points: list[Point]) -> None:
        """Hold exactly ``points``, kept whole from now on."""
        self.window = None
        self.compact = False
        self.needs_reload = False
        self.points = list(points)

    def view(self) -> list[Point]:
        return self.points

    def _track(self, step: int | None, value: float) -> None:
        if step is not None:
            self._last_step = step if self._last_step is None else max(self._last_step, step)
        if math.isnan(value):
            if self._min is None:
                self._min = self._max = (step, value)
            return
        if self._min is None or math.isnan(self._min[1]) or value < self._min[1]:
            self._min = (step, value)
        if self._max is None or math.isnan(self._max[1]) or value > self._max[1]:
            self._max = (step, value)


def _increasing(points: list[Point]) -> bool:
    return all(a[0] <= b[0] for a, b in zip(points, points[1:], strict=False))  # type: ignore[operator]
