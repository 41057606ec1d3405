"""The check language's recursive-descent parser: tokens in, :mod:`gatebook.gates.checks` nodes out."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Literal, cast

from gatebook.gates.check_lexer import (
    AT_UNITS,
    CheckSyntaxError,
    Token,
    describe,
    error,
    one_line,
    quoted,
    tokenize,
)
from gatebook.gates.checks import (
    AGG_KINDS,
    KEYWORDS,
    Agg,
    AggKind,
    ArithOp,
    At,
    Baseline,
    BoolOp,
    Check,
    Comparator,
    Condition,
    Expr,
    Number,
    Operand,
    Value,
    format_key,
)

MAX_DEPTH = 50
"""How deeply parentheses may nest in an expression."""

_DIGITS = re.compile(r"[0-9]+")
_COMPARATORS: dict[str, Comparator] = {
    ">=": ">=", "≥": ">=", ">": ">", "<=": "<=", "≤": "<=", "<": "<",
    "==": "==", "=": "==", "!=": "!=", "≠": "!=",
}
_ARITH_OPS: dict[str, ArithOp] = {"+": "+", "-": "-", "*": "*", "/": "/"}
_NON_FINITE = frozenset({"nan", "inf", "infinity"})
_MAX_INT_DIGITS = 18
_EXPECTED_COMPARATOR = "a comparator (>=, >, <=, <, ==, !=, between, no worse than)"


def _is_key(token: Token) -> bool:
    return token.kind == "key" or (token.kind == "word" and token.text.lower() not in KEYWORDS)


def _combine(op: Literal["and", "or"], items: list[Expr]) -> Expr:
    """One item as itself, else a BoolOp whose same-``op`` items are flattened into it."""
    if len(items) == 1:
        return items[0]
    flat: list[Expr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, BoolOp) and item.op == op else (item,))
    return BoolOp(op, tuple(flat))


class Parser:
    """One pass over the tokens of ``text``; each rule method consumes what it parses."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    # - cursor -

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def peek(self) -> Token:
        return self.tokens[min(self.index + 1, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.token
        if token.kind != "end":
            self.index += 1
        return token

    def fail(self, expected: str, note: str | None = None, token: Token | None = None) -> CheckSyntaxError:
        token = token or self.token
        return error(self.text, token.pos, f"expected {expected}", describe(token), note)

    def expect_word(self, word: str, note: str | None = None) -> None:
        if not self.token.is_word(word):
            raise self.fail(f'"{word}"', note)
        self.advance()

    def expect_end(self, expected: str) -> None:
        if self.token.kind != "end":
            raise self.fail(expected)

    # - rules -

    def check(self) -> Check:
        condition = self.condition()
        if self.token.is_symbol(","):
            self.advance()
            if not self.token.is_word("marginal"):
                raise self.fail('"marginal"')
        if not self.token.is_word("marginal"):
            return Check(condition)
        self.advance()
        comparator, value, upper = self.tail()
        at_token = self.token
        at = self.at()
        if at is not None:
            if condition.at is not None:
                raise error(self.text, at_token.pos, "a second @ epoch/step", note="give it once")
            condition = replace(condition, at=at)
        return Check(condition, Condition(condition.operand, comparator, value, upper, condition.at))

    def expr(self) -> Expr:
        items = [self.and_expr()]
        while self.token.is_word("or"):
            self.advance()
            items.append(self.and_expr())
        return _combine("or", items)

    def and_expr(self) -> Expr:
        items = [self.atom()]
        while self.token.is_word("and"):
            self.advance()
            items.append(self.atom())
        return _combine("and", items)

    def atom(self) -> Expr:
        if not self.token.is_symbol("("):
            return self.condition()
        opening = self.advance()
        if self.depth >= MAX_DEPTH:
            raise error(self.text, opening.pos, f"parentheses nested more than {MAX_DEPTH} deep")
        self.depth += 1
        node = self.expr()
        if not self.token.is_symbol(")"):
            raise self.fail('"and", "or" or ")"', note=f'to close the "(" at column {opening.pos + 1}')
        self.advance()
        self.depth -= 1
        return node

    def condition(self) -> Condition:
        operand = self.operand()
        comparator, value, upper = self.tail()
        return Condition(operand, comparator, value, upper, self.at())

    def operand(self) -> Operand:
        token = self.token
        if token.kind == "word" and token.text.lower() in AGG_KINDS:
            kind = cast(AggKind, token.text.lower())
            if self.peek().is_word("of"):
                self.advance()
                self.advance()
                self.expect_word("last")
                window = self.integer('the window K of "of last K" (a whole number >= 1)', minimum=1)
                return Operand(self.metric(), Agg(kind, window))
            if _is_key(self.peek()):
                self.advance()
                return Operand(self.metric(), Agg(kind))
        return Operand(self.metric())

    def metric(self) -> str:
        token = self.token
        if _is_key(token):
            self.advance()
            return token.value if token.kind == "key" else token.text
        note = None
        if token.is_word("baseline") or token.kind == "baseline.":
            note = "the baseline goes on the right: x >= baseline"
        elif token.kind == "word":
            note = f"it is a keyword; to use it as a key write it in backticks: `{token.text}`"
        raise self.fail("a metric key", note)

    def tail(self) -> tuple[Comparator, Value, Value | None]:
        comparator = self.comparator()
        value = self.value()
        if comparator != "between":
            return comparator, value, None
        self.expect_word("and", note="between takes two bounds: between 0.6 and 0.9")
        return comparator, value, self.value()

    def comparator(self) -> Comparator:
        token = self.token
        if token.kind == "comparator" and token.text in _COMPARATORS:
            self.advance()
            return _COMPARATORS[token.text]
        if token.is_word("between"):
            self.advance()
            return "between"
        if token.is_word("no"):
            self.advance()
            self.expect_word("worse")
            self.expect_word("than")
            return "no worse than"
        raise self.fail(_EXPECTED_COMPARATOR)

    def value(self) -> Value:
        base_token = self.token
        base = self.base()
        if isinstance(base, Number) and base.unit == "pp":
            raise error(self.text, base_token.pos, '"pp" (percentage points) is a margin after "+" or "-"',
                        quoted(base.text),
                        note=f"write {_as_margin('baseline', base)}, or {_percent(base)} for a level")
        token = self.token
        if not (token.kind == "symbol" and token.text in _ARITH_OPS):
            return Value(base)
        self.advance()
        op = _ARITH_OPS[token.text]
        operand_token = self.token
        operand = self.number(f'a number after "{op}"')
        if operand.unit == "pp" and op in ("*", "/"):
            raise error(self.text, operand_token.pos, f'"pp" (percentage points) cannot follow "{op}"',
                        quoted(operand.text),
                        note=f"write {one_line(str(base), 30)} {op} {_percent(operand)}, "
                             f"or {_as_margin(one_line(str(base), 30), operand)} to add")
        if operand.unit == "%" and op in ("+", "-") and isinstance(base, Number):
            raise error(self.text, operand_token.pos, f'a relative margin "{op} {operand.text}" needs a baseline',
                        note=f"write {base} {op} {operand.text[:-1]} pp for percentage points, "
                             f"or baseline {op} {operand.text}")
        return Value(base, op, operand)

    def base(self) -> Number | Baseline:
        token = self.token
        if token.is_word("baseline"):
            self.advance()
            return Baseline()
        if token.kind == "baseline.":
            self.advance()
            key = self.advance()  # the tokenizer made this prefix only before a backtick
            return Baseline(key.value)
        if token.kind == "word" and token.text.lower().startswith("baseline."):
            return Baseline(self.baseline_metric(token))
        return self.number("a number or baseline")

    def baseline_metric(self, token: Token) -> str:
        prefix = len("baseline.")
        metric = token.text[prefix:]
        if format_key(metric) != metric:
            raise error(self.text, token.pos + prefix, 'expected a metric key after "baseline."', quoted(metric),
                        note=f"write it in backticks: baseline.{format_key(metric)}")
        self.advance()
        return metric

    def number(self, expected: str) -> Number:
        token, digits = self.token, self.token
        sign = ""
        if token.is_symbol("+", "-") and self.peek().pos == token.end:
            sign, digits = token.text, self.peek()
        if digits.kind == "word" and digits.text.lower() in _NON_FINITE:
            raise error(self.text, token.pos, "NaN and infinity are not allowed", quoted(sign + digits.text))
        if digits.kind != "number":
            spacing = digits.kind == "word" and digits.text.lower().startswith(("baseline-", "baseline/"))
            raise self.fail(expected, note="put spaces around + - * /" if spacing else None)
        text = sign + digits.text
        self.index += 2 if sign else 1
        if text.lower().endswith("pp"):  # glued: 10pp
            text = text[:-2]
            unit = "pp"
        elif self.token.is_word("pp"):
            if text.endswith("%"):
                raise error(self.text, self.token.pos, 'a number takes "%" or "pp", not both', quoted(text + " pp"),
                            note=f"write {text} or {text[:-1]} pp")
            self.advance()
            unit = "pp"
        else:
            unit = "%" if text.endswith("%") else ""
        value = float(text[:-1]) / 100 if unit == "%" else float(text) / 100 if unit == "pp" else float(text)
        if not math.isfinite(value):
            raise error(self.text, token.pos, "number out of range", quoted(text))
        return Number(value, text + " pp" if unit == "pp" else text)

    def integer(self, expected: str, minimum: int) -> int:
        token = self.token
        if token.kind != "number" or not _DIGITS.fullmatch(token.text) or len(token.text) > _MAX_INT_DIGITS:
            raise self.fail(expected)
        if int(token.text) < minimum:
            raise self.fail(expected)
        self.advance()
        return int(token.text)

    def at(self) -> At | None:
        if not (self.token.is_symbol("@") or self.token.is_word("at")):
            return None
        self.advance()
        unit_token = self.token
        if not unit_token.is_word(*AT_UNITS):
            raise self.fail('"epoch" or "step"')
        self.advance()
        unit: Literal["epoch", "step"] = "epoch" if unit_token.text.lower() == "epoch" else "step"
        return At(unit, self.integer(f"the {unit} number (a whole number >= 0)", minimum=0))


def _percent(number: Number) -> str:
    """``10 pp`` as the same hundredths written with ``%``: ``10%``."""
    return number.text[: -len(" pp")] + "%"


def _as_margin(base: str, number: Number) -> str:
    """``base + 10 pp`` (``base - 10 pp`` for ``-10 pp``), for error notes."""
    if number.text.startswith("-"):
        return f"{base} - {number.text[1:]}"
    return f"{base} + {number.text.lstrip('+')}"
