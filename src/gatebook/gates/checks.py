"""The syntax tree of the check language, and its canonical printing.

A check reads like the sentence a researcher writes in a runbook::

    val_cosine >= 0.50 @ epoch 2
    margin >= 0.20, marginal >= 0.10
    mean of last 3 val_loss < 0.4
    r@5 >= baseline + 0.10
    r@5 >= baseline + 10 pp
    latency_ms <= baseline + 10%
    latency_ms no worse than baseline
    share_below_3 < 35%
    hota between 0.6 and 0.9

Margins: ``N%`` added to or subtracted from ``baseline`` / ``baseline.<metric>`` is
relative to the baseline's magnitude (``baseline + 10%`` is ``b + 0.10 * |b|``; a zero
baseline gets a zero margin); ``N pp`` (percentage points) is N/100 absolute and only
follows ``+`` / ``-``; any other ``N%`` is N/100 (``35%`` is 0.35, ``baseline * 90%`` is
0.90 times the baseline). The parser refuses ``%`` added to a plain number
(``0.5 + 10%``) and ``pp`` anywhere else.

``str(node)`` prints the canonical form; parsing it gives the same node back
(``gatebook.gates.grammar``). Nodes are frozen dataclasses, so they compare and hash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Union

Comparator = Literal[">=", ">", "<=", "<", "==", "!=", "between", "no worse than"]
COMPARATORS: tuple[str, ...] = (">=", ">", "<=", "<", "==", "!=", "between", "no worse than")
AggKind = Literal["last", "min", "max", "mean", "best"]
AGG_KINDS: tuple[str, ...] = ("last", "min", "max", "mean", "best")
ArithOp = Literal["+", "-", "*", "/"]

KEYWORDS = frozenset({
    "and", "or", "not", "between", "no", "worse", "than", "baseline", "marginal", "epoch", "step",
    "of", "at", "last", "min", "max", "mean", "best",
})
"""Words that cannot be bare metric keys (write them in backticks: `` `last` ``)."""

BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_/.\-]*(?:@[A-Za-z0-9_][A-Za-z0-9_/.\-]*)*")
"""A metric key that needs no quoting: letters, digits and ``_ / . - @`` (``@`` inside)."""


def format_key(key: str) -> str:
    """A metric key as written in a check: bare when possible, else in backticks.

    A key with an ``@epoch`` / ``@step`` part (``x@epoch``) is quoted: unquoted, that
    ``@`` would read as the ``@ epoch N`` marker.
    """
    if (BARE_KEY.fullmatch(key) and key.lower() not in KEYWORDS and not key.endswith((".", "-"))
            and not any(part.lower() in ("epoch", "step") for part in key.split("@")[1:])):
        return key
    return "`" + key.replace("`", "``") + "`"


NumberUnit = Literal["", "%", "pp"]


@dataclass(frozen=True)
class Number:
    """A literal. ``value`` is the number in hundredths when it has a unit (``35%`` and
    ``35 pp`` are 0.35); ``text`` how it was written (``pp`` always as `` pp``).

    What a ``%`` means depends on where it stands (:attr:`Value.relative`).
    """

    value: float
    text: str

    @property
    def unit(self) -> NumberUnit:
        """``"%"`` (percent), ``"pp"`` (percentage points) or ``""`` (a plain number)."""
        if self.text.endswith("%"):
            return "%"
        if self.text.lower().endswith("pp"):
            return "pp"
        return ""

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Baseline:
    """The baseline run's value of ``metric`` (``None``: the same metric as the check's)."""

    metric: str | None = None

    def __str__(self) -> str:
        return "baseline" if self.metric is None else f"baseline.{format_key(self.metric)}"


@dataclass(frozen=True)
class Value:
    """A threshold: a number or a baseline value, optionally ``+ - * /`` a number.

    ``baseline + 10%`` is relative (:attr:`relative`): the baseline's value ``b`` plus
    ``0.10 * |b|``. ``baseline + 10 pp`` adds 0.10. ``baseline * 90%`` multiplies by 0.90.
    """

    base: Union[Number, Baseline]
    op: ArithOp | None = None
    operand: Number | None = None

    @property
    def uses_baseline(self) -> bool:
        return isinstance(self.base, Baseline)

    @property
    def relative(self) -> bool:
        """Whether the operand is a margin relative to the baseline's magnitude:
        ``baseline + N%`` / ``baseline - N%`` (also ``baseline.<metric> ± N%``)."""
        return (isinstance(self.base, Baseline) and self.op in ("+", "-")
                and self.operand is not None and self.operand.unit == "%")

    def __str__(self) -> str:
        if self.op is None:
            return str(self.base)
        return f"{self.base} {self.op} {self.operand}"


@dataclass(frozen=True)
class Agg:
    """How a series becomes one number: ``last`` (default), ``min``, ``max``, ``mean``,
    ``best`` (min or max by the metric's direction); ``window`` K means "of last K"."""

    kind: AggKind = "last"
    window: int | None = None

    def __str__(self) -> str:
        if self.window is not None:
            return f"{self.kind} of last {self.window}"
        return "" if self.kind == "last" else self.kind


@dataclass(frozen=True)
class Operand:
    """The observed side: an aggregation of one metric series."""

    metric: str
    agg: Agg = field(default_factory=Agg)

    def __str__(self) -> str:
        agg = str(self.agg)
        return f"{agg} {format_key(self.metric)}" if agg else format_key(self.metric)


@dataclass(frozen=True)
class At:
    """Judge at this epoch or step: PENDING until the run gets there."""

    unit: Literal["epoch", "step"]
    n: int

    def __str__(self) -> str:
        return f"@ {self.unit} {self.n}"


@dataclass(frozen=True)
class Condition:
    """``operand comparator value [and upper] [@ unit n]``.

    ``value`` is the threshold (for ``between``, the lower bound and ``upper`` the
    upper one; for ``no worse than``, usually ``baseline``).
    """

    operand: Operand
    comparator: Comparator
    value: Value
    upper: Value | None = None
    at: At | None = None

    def tail(self) -> str:
        """The condition without its operand and ``at``: ``>= 0.5``, ``between 1 and 2``."""
        text = f"{self.comparator} {self.value}"
        if self.comparator == "between":
            text += f" and {self.upper}"
        return text

    def __str__(self) -> str:
        text = f"{self.operand} {self.tail()}"
        if self.at is not None:
            text += f" {self.at}"
        return text

    @property
    def uses_baseline(self) -> bool:
        return self.value.uses_baseline or (self.upper is not None and self.upper.uses_baseline)


@dataclass(frozen=True)
class Check:
    """PASS when ``condition`` holds, else MARGINAL when ``marginal`` holds, else FAIL.

    ``marginal`` has the same operand and ``at`` as ``condition``.
    """

    condition: Condition
    marginal: Condition | None = None

    @property
    def metric(self) -> str:
        return self.condition.operand.metric

    @property
    def uses_baseline(self) -> bool:
        return self.condition.uses_baseline or (self.marginal is not None and self.marginal.uses_baseline)

    def __str__(self) -> str:
        text = str(self.condition)
        if self.marginal is not None:
            text += f", marginal {self.marginal.tail()}"
        return text


@dataclass(frozen=True)
class BoolOp:
    """``and`` / ``or`` of conditions (signatures' ``when``). ``and`` binds tighter."""

    op: Literal["and", "or"]
    items: tuple["Expr", ...]

    def __str__(self) -> str:
        parts = []
        for item in self.items:
            text = str(item)
            if isinstance(item, BoolOp) and item.op == "or" and self.op == "and":
                text = f"({text})"
            parts.append(text)
        return f" {self.op} ".join(parts)


Expr = Union[Condition, BoolOp]


def metrics_of(node: Expr | Check) -> list[str]:
    """The metric keys a check or expression reads from the run (in order, no repeats)."""
    out: list[str] = []

    def visit(n: object) -> None:
        if isinstance(n, Check):
            visit(n.condition)
        elif isinstance(n, Condition):
            if n.operand.metric not in out:
                out.append(n.operand.metric)
        elif isinstance(n, BoolOp):
            for item in n.items:
                visit(item)

    visit(node)
    return out
