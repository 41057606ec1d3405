"""The check language's tokens: the tokenizer, and the one-line syntax errors both it and the parser raise."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gatebook.errors import ConfigError

HINT = 'write checks like "val_loss <= 0.5 @ epoch 2" or "r@5 >= baseline + 0.10"'

AT_UNITS = ("epoch", "step")
"""The units of an ``at``: ``@ epoch N`` / ``@ step N``."""


class CheckSyntaxError(ConfigError):
    """A check that does not parse. ``text`` is the input, ``column`` (1-based) where it failed."""

    def __init__(self, message: str, *, text: str = "", column: int = 1, hint: str | None = HINT) -> None:
        super().__init__(message, hint=hint)
        self.text = text
        self.column = column


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_/.\-]*")
_KEY_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_/.\-]*")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?%?")
_NUMBER_JUNK = re.compile(r"[A-Za-z0-9_.%]*")
_COMPARATOR_RUN = re.compile(r"[<>=!≥≤≠]+")
_PUNCTUATION = frozenset("()+-*/,@")

AT_UNITS = ("epoch", "step")

TokenKind = Literal["word", "key", "number", "comparator", "symbol", "baseline.", "end"]


@dataclass(frozen=True)
class Token:
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


def one_line(text: str, limit: int) -> str:
    """``text`` on one line (control characters escaped), cut to about ``limit`` characters."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def error(text: str, pos: int, problem: str, got: str | None = None, note: str | None = None) -> CheckSyntaxError:
    message = f'cannot parse check "{one_line(text, 80)}": {problem} at column {pos + 1}'
    if got is not None:
        message += f", got {got}"
    if note is not None:
        message += f" ({note})"
    return CheckSyntaxError(message, text=text, column=pos + 1)


def quoted(text: str) -> str:
    return '"' + one_line(text, 30) + '"'


def describe(token: Token) -> str:
    return "the end" if token.kind == "end" else quoted(token.text)


def _lex_backticked(text: str, pos: int) -> Token:
    parts: list[str] = []
    start = pos + 1
    while True:
        close = text.find("`", start)
        if close < 0:
            raise error(text, pos, "unterminated backtick",
                        note='close the key with "`"; write a backtick in it as "``"')
        parts.append(text[start:close])
        if not text.startswith("``", close):
            break
        parts.append("`")
        start = close + 2
    key = "".join(parts)
    if not key:
        raise error(text, pos, "empty metric key ``")
    return Token("key", text[pos : close + 1], pos, key)


def _word_end(text: str, pos: int, first: re.Match[str]) -> int:
    """Where a bare word starting at ``pos`` ends: ``@`` joins key segments unless ``epoch``
    or ``step`` follows it (that ``@`` marks the ``at``)."""
    end = first.end()
    while text.startswith("@", end):
        segment = _KEY_SEGMENT.match(text, end + 1)
        if segment is None or segment.group().lower() in AT_UNITS:
            break
        end = segment.end()
    return end


def _lex_word(text: str, pos: int, first: re.Match[str]) -> Token:
    word = text[pos : _word_end(text, pos, first)]
    if not word.endswith((".", "-")):
        return Token("word", word, pos)
    if word.lower() == "baseline." and text.startswith("`", pos + len(word)):
        return Token("baseline.", word, pos)
    raise error(text, pos, f'a bare metric key cannot end with "{word[-1]}"', got=quoted(word),
                note="write it in backticks")


def _lex_number(text: str, pos: int, match: re.Match[str]) -> Token:
    junk = _NUMBER_JUNK.match(text, match.end())
    if junk is not None and junk.group():
        if junk.group().lower() == "pp" and not match.group().endswith("%"):  # 10pp: 10 pp
            return Token("number", text[pos : junk.end()], pos)
        raise error(text, pos, "malformed number", got=quoted(text[pos : junk.end()]))
    return Token("number", match.group(), pos)


def _lex_one(text: str, pos: int) -> Token:
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
        return Token("comparator", run.group(), pos)
    if char in _PUNCTUATION:
        return Token("symbol", char, pos)
    raise error(text, pos, "unexpected character", got=quoted(char),
                note="write metric keys with other characters in backticks")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        token = _lex_one(text, pos)
        tokens.append(token)
        pos = token.end
    tokens.append(Token("end", "", len(text)))
    return tokens
