"""A sweep's command template: its words, split before any ``{placeholder}`` is filled, filled per trial.

``command`` is a string (split with :func:`shlex.split`, never run through a shell) or a list of
strings. Placeholders are filled per word after splitting, so a quoted ``"run {lr}"`` stays one
argument; ``{{`` and ``}}`` are literal braces. The grammar is :mod:`gatebook.placeholders`,
parsed strictly here: a malformed ``{...}`` is an error naming the word.
"""

from __future__ import annotations

import shlex
from typing import Any, Mapping

from gatebook.placeholders import Parts, fill_words, names, parse
from gatebook.sweep.space import SweepProblem

__all__ = ["Token", "fill", "placeholders", "split_command", "token_doc"]

Token = Parts
"""One word of the command: literal text and slots, in order."""


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
            tokens.append(parse(word))
        except ValueError as exc:
            raise SweepProblem(("command",) if isinstance(command, str) else ("command", i), str(exc)) from None
    return tokens


def placeholders(tokens: list[Token]) -> list[str]:
    """The ``{names}`` in the command, in order of first use."""
    return names(tokens)


def fill(tokens: list[Token], values: Mapping[str, str]) -> list[str]:
    """The argv: every slot replaced by its value in ``values`` (MissingParams when one has none)."""
    return fill_words(tokens, values)


def token_doc(tokens: list[Token]) -> list[list[Any]]:
    """The template as JSON-able data (a slot is ``{"slot": NAME}``): what a fingerprint hashes."""
    return [[p if isinstance(p, str) else {"slot": p.name} for p in token] for token in tokens]
