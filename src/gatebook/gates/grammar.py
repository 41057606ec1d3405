"""Parse the check language of :mod:`gatebook.gates.checks`: the entry points and the grammar.

A hand-written tokenizer (:mod:`gatebook.gates.check_lexer`, which also builds the syntax
errors) feeds a recursive-descent parser (:mod:`gatebook.gates.check_parser`). Nothing is
evaluated (no ``eval``, no ``ast``).

Grammar (keywords are case-insensitive, metric keys case-sensitive; whitespace is free)::

    check      := condition [[","] "marginal" tail [at]]   (one "at" in all: after the
                                                           condition or at the very end)
    condition  := operand tail [at]
    tail       := comparator value | "between" value "and" value
    expr       := and_expr {"or" and_expr}                 ("and" binds tighter than "or")
    and_expr   := atom {"and" atom}
    atom       := condition | "(" expr ")"                 (at most MAX_DEPTH levels deep)
    operand    := [agg] metric
    agg        := kind ["of" "last" K]                     (K a whole number >= 1)
    kind       := "last" | "min" | "max" | "mean" | "best"
    metric     := BARE_KEY | "`" {character | "``"} "`"     ("``" inside is one backtick)
    comparator := ">=" | "≥" | ">" | "<=" | "≤" | "<" | "==" | "=" | "!=" | "≠"
                | "no" "worse" "than"
    value      := base [("+" | "-" | "*" | "/") number]
    base       := number | "baseline" | "baseline." metric
    number     := ["+" | "-"] (digits ["." {digit}] | "." digits) [("e" | "E") ["+" | "-"] digits] ["%" | "pp"]
    at         := ("@" | "at") ("epoch" | "step") N        (N a whole number >= 0)

Lexical rules worth knowing:

- A bare key (``checks.BARE_KEY``) is letters, digits and ``_ / . - @``, starts with a letter
  or ``_``, is not a keyword and does not end in ``.`` or ``-``; anything else goes in
  backticks: `` `weird key` ``, `` `min` `` (a doubled backtick inside is one backtick).
- Operators must be separated from bare keys by spaces: ``a-0.1`` is one key and
  ``baseline-0.1`` is not a value; write ``baseline - 0.1``. A sign belongs to a number only
  when glued to it (``-0.1``), so ``baseline - -0.1`` is fine.
- ``@`` between key characters is part of the key (``r@5``, ``mrr@10``); ``@`` followed by
  whitespace or by ``epoch`` / ``step`` marks the ``at`` (``x >= 1@epoch 2``).
- An aggregation word is one only when a metric key or ``of`` follows it: ``min >= 3`` is an
  error (write the key as `` `min` ``).
- Margins. ``N%`` after ``baseline +`` / ``baseline -`` (or ``baseline.<metric> ±``) is
  relative to the baseline's magnitude: ``baseline + 10%`` is ``b + 0.10 * |b|`` (0 when
  ``b`` is 0). ``N pp`` (percentage points; also ``Npp``, any case) is N/100 absolute and
  only follows ``+`` or ``-``: ``baseline + 10 pp`` is ``b + 0.10``. Any other ``N%`` is
  N/100: ``35%`` is 0.35, ``baseline * 90%`` is 0.90 times the baseline. Refused, each with
  the form to write: ``pp`` as a value or after ``*`` / ``/`` (``x >= 10 pp``), and ``%``
  added to a plain number (``0.5 + 10%``: relative to what?).
- NaN and infinity are rejected. A :class:`~gatebook.gates.checks.Number` keeps its text as
  written (``pp`` is printed `` pp``, after one space).
- On the left, ``baseline`` is an error (the baseline goes on the right); a key that merely
  starts with ``baseline.`` is an ordinary metric key there.

Every input either parses or raises :class:`CheckSyntaxError` with a one-line message.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from gatebook.gates.check_lexer import CheckSyntaxError, error
from gatebook.gates.check_parser import MAX_DEPTH, Parser
from gatebook.gates.checks import At, Check, Condition, Expr, Operand

__all__ = [
    "MAX_DEPTH",
    "CheckSyntaxError",
    "parse_check",
    "parse_condition",
    "parse_expr",
    "parse_operand",
    "parse_tail",
]

_T = TypeVar("_T")


def _parse(text: str, rule: Callable[[Parser], _T], end: str) -> _T:
    if not text.strip():
        raise error(text, 0, "the check is empty")
    parser = Parser(text)
    node = rule(parser)
    parser.expect_end(end)
    return node


def parse_check(text: str) -> Check:
    """A gate check: ``CONDITION [, marginal TAIL]`` (``margin >= 0.20, marginal >= 0.10``)."""
    return _parse(text, Parser.check, 'the end of the check or ", marginal"')


def parse_condition(text: str) -> Condition:
    """One condition: ``[AGG] METRIC COMPARATOR VALUE [and VALUE] [@ epoch|step N]``."""
    return _parse(text, Parser.condition, "the end of the condition")


def parse_expr(text: str) -> Expr:
    """Conditions joined by ``and`` / ``or`` (``and`` binds tighter), with parentheses.

    A single condition comes back as itself; ``a and b and c`` is one BoolOp of three items.
    """
    return _parse(text, Parser.expr, '"and", "or" or the end')


def parse_operand(text: str) -> Operand:
    """The observed side alone: ``[AGG] METRIC`` (``mean of last 3 val_loss``)."""
    return _parse(text, Parser.operand, "the end of the metric")


def parse_tail(operand: Operand, text: str, at: At | None = None) -> Condition:
    """A condition without its operand: ``COMPARATOR VALUE [and VALUE] [@ epoch|step N]``.

    For the dict form of checks (``{metric: margin, pass: ">= 0.20"}``). ``at`` applies
    when ``text`` has none; a different ``at`` in ``text`` is an error.
    """

    def rule(parser: Parser) -> Condition:
        comparator, value, upper = parser.tail()
        at_token = parser.token
        own = parser.at()
        if own is not None and at is not None and own != at:
            raise error(text, at_token.pos, f'"{own}" conflicts with the check\'s "{at}"')
        return Condition(operand, comparator, value, upper, own if own is not None else at)

    return _parse(text, rule, 'the end of the check or "@ epoch N"')
