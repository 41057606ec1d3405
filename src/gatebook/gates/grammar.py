"""Parse the check language of :mod:`gatebook.gates.checks`: a hand-written tokenizer and
a recursive-descent parser. Nothing is evaluated (no ``eval``, no ``ast``).

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

import math
import re
from dataclasses import dataclass, replace
from typing import Callable, Literal, TypeVar, cast

from gatebook.errors import ConfigError
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

__all__ = [
    "MAX_DEPTH",
    "CheckSyntaxError",
    "parse_check",
    "parse_condition",
    "parse_expr",
    "parse_operand",
    "parse_tail",
]

MAX_DEPTH = 50
"""How deeply parentheses may nest in an expression."""

HINT = 'write checks like "val_loss <= 0.5 @ epoch 2" or "r@5 >= baseline + 0.10"'

_T = TypeVar("_T")


class CheckSyntaxError(ConfigError):
    """A check that does not parse. ``text`` is the input, ``column`` (1-based) where it failed."""

    def __init__(self, message: str, *, text: str = "", column: int = 1, hint: str | None = HINT) -> None:
        super().__init__(message, hint=hint)
        self.text = text
        self.column = column


# -- tokens ------------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_/.\-]*")
_KEY_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_/.\-]*")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?%?")
_NUMBER_JUNK = re.compile(r"[A-Za-z0-9_.%]*")
_DIGITS = re.compile(r"[0-9]+")
_COMPARATOR_RUN = re.compile(r"[<>=!≥≤≠]+")
_PUNCTUATION = frozenset("()+-*/,@")

_COMPARATORS: dict[str, Comparator] = {
    ">=": ">=", "≥": ">=", ">": ">", "<=": "<=", "≤": "<=", "<": "<",
    "==": "==", "=": "==", "!=": "!=", "≠": "!=",
}
_ARITH_OPS: dict[str, ArithOp] = {"+": "+", "-": "-", "*": "*", "/": "/"}
_AT_UNITS = ("epoch", "step")
_NON_FINITE = frozenset({"nan", "inf", "infinity"})
_MAX_INT_DIGITS = 18
_EXPECTED_COMPARATOR = "a comparator (>=, >, <=, <, ==, !=, between, no worse than)"

TokenKind = Literal["word", "key", "number", "comparator", "symbol", "baseline.", "end"]


@dataclass(frozen=True)
class _Token:
    """``kind``: a bare ``word`` (key or keyword), a backticked ``key`` (``value`` holds it
    unquoted), a ``number``, a ``comparator`` run, a one-character ``symbol``, the prefix
    ``baseline.`` of a backticked baseline metric, or the ``end``."""

    kind: TokenKind
    text: str
    pos: int
    value: str = ""

    @property
    def end(self) -> int:
        return self.pos + len(self.text)

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words

    def is_symbol(self, *symbols: str) -> bool:
        return self.kind == "symbol" and self.text in symbols


def _one_line(text: str, limit: int) -> str:
    """``text`` on one line (control characters escaped), cut to about ``limit`` characters."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _error(text: str, pos: int, problem: str, got: str | None = None, note: str | None = None) -> CheckSyntaxError:
    message = f'cannot parse check "{_one_line(text, 80)}": {problem} at column {pos + 1}'
    if got is not None:
        message += f", got {got}"
    if note is not None:
        message += f" ({note})"
    return CheckSyntaxError(message, text=text, column=pos + 1)


def _quoted(text: str) -> str:
    return '"' + _one_line(text, 30) + '"'


def _describe(token: _Token) -> str:
    return "the end" if token.kind == "end" else _quoted(token.text)


def _lex_backticked(text: str, pos: int) -> _Token:
    parts: list[str] = []
    start = pos + 1
    while True:
        close = text.find("`", start)
        if close < 0:
            raise _error(text, pos, "unterminated backtick",
                         note='close the key with "`"; write a backtick in it as "``"')
        parts.append(text[start:close])
        if not text.startswith("``", close):
            break
        parts.append("`")
        start = close + 2
    key = "".join(parts)
    if not key:
        raise _error(text, pos, "empty metric key ``")
    return _Token("key", text[pos : close + 1], pos, key)


def _word_end(text: str, pos: int, first: re.Match[str]) -> int:
    """Where a bare word starting at ``pos`` ends: ``@`` joins key segments unless ``epoch``
    or ``step`` follows it (that ``@`` marks the ``at``)."""
    end = first.end()
    while text.startswith("@", end):
        segment = _KEY_SEGMENT.match(text, end + 1)
        if segment is None or segment.group().lower() in _AT_UNITS:
            break
        end = segment.end()
    return end


def _lex_word(text: str, pos: int, first: re.Match[str]) -> _Token:
    word = text[pos : _word_end(text, pos, first)]
    if not word.endswith((".", "-")):
        return _Token("word", word, pos)
    if word.lower() == "baseline." and text.startswith("`", pos + len(word)):
        return _Token("baseline.", word, pos)
    raise _error(text, pos, f'a bare metric key cannot end with "{word[-1]}"', got=_quoted(word),
                 note="write it in backticks")


def _lex_number(text: str, pos: int, match: re.Match[str]) -> _Token:
    junk = _NUMBER_JUNK.match(text, match.end())
    if junk is not None and junk.group():
        if junk.group().lower() == "pp" and not match.group().endswith("%"):  # 10pp: 10 pp
            return _Token("number", text[pos : junk.end()], pos)
        raise _error(text, pos, "malformed number", got=_quoted(text[pos : junk.end()]))
    return _Token("number", match.group(), pos)


def _lex_one(text: str, pos: int) -> _Token:
    char = text[pos]
    if char == "`":
        return _lex_backticked(text, pos)
    word = _WORD.match(text, pos)
    if word is not None:
        return _lex_word(text, pos, word)
    number = _NUMBER.match(text, pos)
    if number is not None:
        return _lex_number(text, pos, number)
    run = _COMPARATOR_RUN.match(text, pos)
    if run is not None:
        return _Token("comparator", run.group(), pos)
    if char in _PUNCTUATION:
        return _Token("symbol", char, pos)
    raise _error(text, pos, "unexpected character", got=_quoted(char),
                 note="write metric keys with other characters in backticks")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        token = _lex_one(text, pos)
        tokens.append(token)
        pos = token.end
    tokens.append(_Token("end", "", len(text)))
    return tokens


# -- parser ------------------------------------------------------------------------------------


def _is_key(token: _Token) -> bool:
    return token.kind == "key" or (token.kind == "word" and token.text.lower() not in KEYWORDS)


def _combine(op: Literal["and", "or"], items: list[Expr]) -> Expr:
    """One item as itself, else a BoolOp whose same-``op`` items are flattened into it."""
    if len(items) == 1:
        return items[0]
    flat: list[Expr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, BoolOp) and item.op == op else (item,))
    return BoolOp(op, tuple(flat))


class _Parser:
    """One pass over the tokens of ``text``; each rule method consumes what it parses."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    # - cursor -

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def peek(self) -> _Token:
        return self.tokens[min(self.index + 1, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.token
        if token.kind != "end":
            self.index += 1
        return token

    def fail(self, expected: str, note: str | None = None, token: _Token | None = None) -> CheckSyntaxError:
        token = token or self.token
        return _error(self.text, token.pos, f"expected {expected}", _describe(token), note)

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
                raise _error(self.text, at_token.pos, "a second @ epoch/step", note="give it once")
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
            raise _error(self.text, opening.pos, f"parentheses nested more than {MAX_DEPTH} deep")
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
            raise _error(self.text, base_token.pos, '"pp" (percentage points) is a margin after "+" or "-"',
                         _quoted(base.text),
                         note=f"write {_as_margin('baseline', base)}, or {_percent(base)} for a level")
        token = self.token
        if not (token.kind == "symbol" and token.text in _ARITH_OPS):
            return Value(base)
        self.advance()
        op = _ARITH_OPS[token.text]
        operand_token = self.token
        operand = self.number(f'a number after "{op}"')
        if operand.unit == "pp" and op in ("*", "/"):
            raise _error(self.text, operand_token.pos, f'"pp" (percentage points) cannot follow "{op}"',
                         _quoted(operand.text),
                         note=f"write {_one_line(str(base), 30)} {op} {_percent(operand)}, "
                              f"or {_as_margin(_one_line(str(base), 30), operand)} to add")
        if operand.unit == "%" and op in ("+", "-") and isinstance(base, Number):
            raise _error(self.text, operand_token.pos, f'a relative margin "{op} {operand.text}" needs a baseline',
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

    def baseline_metric(self, token: _Token) -> str:
        prefix = len("baseline.")
        metric = token.text[prefix:]
        if format_key(metric) != metric:
            raise _error(self.text, token.pos + prefix, 'expected a metric key after "baseline."', _quoted(metric),
                         note=f"write it in backticks: baseline.{format_key(metric)}")
        self.advance()
        return metric

    def number(self, expected: str) -> Number:
        token, digits = self.token, self.token
        sign = ""
        if token.is_symbol("+", "-") and self.peek().pos == token.end:
            sign, digits = token.text, self.peek()
        if digits.kind == "word" and digits.text.lower() in _NON_FINITE:
            raise _error(self.text, token.pos, "NaN and infinity are not allowed", _quoted(sign + digits.text))
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
                raise _error(self.text, self.token.pos, 'a number takes "%" or "pp", not both', _quoted(text + " pp"),
                             note=f"write {text} or {text[:-1]} pp")
            self.advance()
            unit = "pp"
        else:
            unit = "%" if text.endswith("%") else ""
        value = float(text[:-1]) / 100 if unit == "%" else float(text) / 100 if unit == "pp" else float(text)
        if not math.isfinite(value):
            raise _error(self.text, token.pos, "number out of range", _quoted(text))
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
        if not unit_token.is_word(*_AT_UNITS):
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


def _parse(text: str, rule: Callable[[_Parser], _T], end: str) -> _T:
    if not text.strip():
        raise _error(text, 0, "the check is empty")
    parser = _Parser(text)
    node = rule(parser)
    parser.expect_end(end)
    return node


# -- public API --------------------------------------------------------------------------------


def parse_check(text: str) -> Check:
    """A gate check: ``CONDITION [, marginal TAIL]`` (``margin >= 0.20, marginal >= 0.10``)."""
    return _parse(text, _Parser.check, 'the end of the check or ", marginal"')


def parse_condition(text: str) -> Condition:
    """One condition: ``[AGG] METRIC COMPARATOR VALUE [and VALUE] [@ epoch|step N]``."""
    return _parse(text, _Parser.condition, "the end of the condition")


def parse_expr(text: str) -> Expr:
    """Conditions joined by ``and`` / ``or`` (``and`` binds tighter), with parentheses.

    A single condition comes back as itself; ``a and b and c`` is one BoolOp of three items.
    """
    return _parse(text, _Parser.expr, '"and", "or" or the end')


def parse_operand(text: str) -> Operand:
    """The observed side alone: ``[AGG] METRIC`` (``mean of last 3 val_loss``)."""
    return _parse(text, _Parser.operand, "the end of the metric")


def parse_tail(operand: Operand, text: str, at: At | None = None) -> Condition:
    """A condition without its operand: ``COMPARATOR VALUE [and VALUE] [@ epoch|step N]``.

    For the dict form of checks (``{metric: margin, pass: ">= 0.20"}``). ``at`` applies
    when ``text`` has none; a different ``at`` in ``text`` is an error.
    """

    def rule(parser: _Parser) -> Condition:
        comparator, value, upper = parser.tail()
        at_token = parser.token
        own = parser.at()
        if own is not None and at is not None and own != at:
            raise _error(text, at_token.pos, f'"{own}" conflicts with the check\'s "{at}"')
        return Condition(operand, comparator, value, upper, own if own is not None else at)

    return _parse(text, rule, 'the end of the check or "@ epoch N"')
