"""The one ``{param}`` placeholder grammar: the name pattern, text parsed into literal parts and slots, filling.

A placeholder is ``{NAME}`` where NAME matches :data:`PARAM` (a param key; dotted keys reach
nested config sections); ``{{`` and ``}}`` are literal braces. Text is parsed once into
:data:`Parts` (literal strings and :class:`Slot` objects, in order) and filled from those.

Two readers use it, differing only in what a malformed brace means:

- a sweep's command (:mod:`gatebook.sweep.template`) parses strictly: ``{bad key}``, an
  unclosed ``{`` or a lone ``}`` is an error naming the word;
- a preflight check's template (:mod:`gatebook.preflight`) parses leniently: a brace that
  starts no ``{NAME}`` is kept as literal text (``{}``, ``{"a": 1}``, ``{1x}``), so a command
  such as ``python -c 'print({})'`` runs as written.

This module does no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence, Union

__all__ = ["PARAM", "Lookup", "MissingParams", "Parts", "Slot", "fill", "fill_words", "names", "parse"]

PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
"""A placeholder's name, and a param key (dotted keys reach nested config sections)."""


@dataclass(frozen=True)
class Slot:
    """A ``{name}`` in a text."""

    name: str


Parts = list[Union[str, Slot]]
"""A parsed text: literal strings and slots, in order (never two strings in a row; ``""`` is ``[""]``)."""

Lookup = Union[Mapping[str, str], Callable[[str], Union[str, None]]]
"""Where slots get their values: a mapping, or a function giving None for an unknown name."""


class MissingParams(Exception):
    """Placeholders that no value fills (``names``: each once, in order of first use)."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(", ".join(names))
        self.names = list(names)


def parse(text: str, *, strict: bool = True) -> Parts:
    """``--x={lr}`` -> ``["--x=", Slot("lr")]``; ``{{`` and ``}}`` are literal braces.

    A ``{`` that starts no ``{NAME}`` and a lone ``}``: a ValueError saying what to write
    when ``strict``, else literal text (scanning goes on at the next character).
    """
    parts: Parts = []
    literal = ""
    i = 0
    while i < len(text):
        c = text[i]
        if text.startswith("{{", i) or text.startswith("}}", i):
            literal += c
            i += 2
            continue
        if c == "{":
            end = text.find("}", i)
            inner = text[i + 1: end] if end >= 0 else None
            if inner is not None and PARAM.fullmatch(inner):
                if literal:
                    parts.append(literal)
                    literal = ""
                parts.append(Slot(inner))
                i = end + 1
                continue
            if strict:
                shown = text[i: end + 1] if end >= 0 else text[i:]
                raise ValueError(f"bad placeholder {shown!r} in {text!r}: write {{param}} with a param name, "
                                 "or '{{' and '}}' for literal braces")
        elif c == "}" and strict:
            raise ValueError(f"unmatched '}}' in {text!r}: write '}}}}' for a literal brace")
        literal += c
        i += 1
    if literal or not parts:
        parts.append(literal)
    return parts


def names(texts: Iterable[Parts]) -> list[str]:
    """The slot names of parsed texts, in order of first use, each once."""
    seen: dict[str, None] = {}
    for parts in texts:
        for part in parts:
            if isinstance(part, Slot):
                seen.setdefault(part.name, None)
    return list(seen)


def _getter(values: Lookup) -> Callable[[str], Union[str, None]]:
    return values.get if isinstance(values, Mapping) else values


def fill_words(texts: Sequence[Parts], values: Lookup) -> list[str]:
    """Each parsed text with its slots filled from ``values``; raises :class:`MissingParams`
    naming every slot (in any of the texts) that has no value."""
    get = _getter(values)
    out: list[str] = []
    missing: dict[str, None] = {}
    for parts in texts:
        text = ""
        for part in parts:
            if isinstance(part, str):
                text += part
                continue
            value = get(part.name)
            if value is None:
                missing.setdefault(part.name, None)
            else:
                text += value
        out.append(text)
    if missing:
        raise MissingParams(list(missing))
    return out


def fill(parts: Parts, values: Lookup) -> str:
    """One parsed text with its slots filled from ``values`` (:class:`MissingParams` as :func:`fill_words`)."""
    return fill_words([parts], values)[0]
