"""A sweep's command template: its words, split before any ``{placeholder}`` is filled, filled per trial.

``command`` is a string (split with :func:`shlex.split`, never run through a shell) or a list of
strings. Placeholders are filled per word after splitting, so a quoted ``"run {lr}"`` stays one
argument; ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any, Mapping, Union

from gatebook.sweep.space import SweepProblem

__all__ = ["PARAM", "Slot", "Token", "fill", "parse_token", "placeholders", "split_command", "token_doc"]

PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
"""Param keys (dotted keys reach nested config sections)."""


@dataclass(frozen=True)
class Slot:
    """A ``{name}`` in a word of the command."""

    name: str


Token = list[Union[str, Slot]]
"""One word of the command: literal text and slots, in order."""


def parse_token(token: str) -> Token:
    """``--x={lr}`` -> ``["--x=", Slot("lr")]``; ``{{``/``}}`` are literal braces."""
    parts: Token = []
    text = ""
    i = 0
    while i < len(token):
        c = token[i]
        if token.startswith("{{", i) or token.startswith("}}", i):
            text += c
            i += 2
        elif c == "{":
            end = token.find("}", i)
            inner = token[i + 1: end] if end >= 0 else None
            if inner is None or not PARAM.fullmatch(inner):
                shown = token[i: end + 1] if end >= 0 else token[i:]
                raise ValueError(f"bad placeholder {shown!r} in {token!r}: write {{param}} with a param name, "
                                 "or '{{' and '}}' for literal braces")
            if text:
                parts.append(text)
                text = ""
            parts.append(Slot(inner))
            i = end + 1
        elif c == "}":
            raise ValueError(f"unmatched '}}' in {token!r}: write '}}}}' for a literal brace")
        else:
            text += c
            i += 1
    if text or not parts:
        parts.append(text)
    return parts


def split_command(command: str | list[str]) -> list[Token]:
    """The command's words, parsed; SweepProblem at ``command`` (or ``command.I`` for a list)."""
    if isinstance(command, str):
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise SweepProblem(("command",), f"cannot split {command!r} into words: {exc}") from None
        if not words:
            raise SweepProblem(("command",), "empty command")
    else:
        words = list(command)
    tokens = []
    for i, word in enumerate(words):
        try:
            tokens.append(parse_token(word))
        except ValueError as exc:
            raise SweepProblem(("command",) if isinstance(command, str) else ("command", i), str(exc)) from None
    return tokens


def placeholders(tokens: list[Token]) -> list[str]:
    """The ``{names}`` in the command, in order of first use."""
    seen: dict[str, None] = {}
    for token in tokens:
        for part in token:
            if isinstance(part, Slot):
                seen.setdefault(part.name, None)
    return list(seen)


def fill(tokens: list[Token], values: Mapping[str, str]) -> list[str]:
    """The argv: every slot replaced by its value in ``values``."""
    return ["".join(p if isinstance(p, str) else values[p.name] for p in token) for token in tokens]


def token_doc(tokens: list[Token]) -> list[list[Any]]:
    """The template as JSON-able data (a slot is ``{"slot": NAME}``): what a fingerprint hashes."""
    return [[p if isinstance(p, str) else {"slot": p.name} for p in token] for token in tokens]
