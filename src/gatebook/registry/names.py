"""The alias name rule and ``@name`` references.

An alias name is one or more segments joined by single ``/`` (``champion``, ``ranker/prod``);
each segment starts with a letter or a digit and goes on with letters, digits, ``_``, ``-``
and ``.``. So no leading or trailing ``/``, no ``//``, no ``.`` or ``..`` segment. At most
:data:`MAX_LENGTH` characters. Names are case-sensitive (``Champion`` and ``champion`` are two
aliases), like run and gate names. Written ``@name`` wherever a run is named.
"""

from __future__ import annotations

import re

from gatebook.errors import UsageError

MAX_LENGTH = 100
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
ALIAS_NAME = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
ALLOWED_FORM = (f"letters, digits, '_', '-', '.' in segments joined by single '/', each segment starting "
                f"with a letter or digit, at most {MAX_LENGTH} characters (e.g. champion, ranker/prod)")


def name_problem(name: str) -> str | None:
    """Why ``name`` (without its ``@``) is not an alias name, or None when it is one."""
    if not name:
        return "an alias name is empty"
    if len(name) > MAX_LENGTH:
        return f"alias name {name[:20]!r}... is {len(name)} characters long"
    if ALIAS_NAME.fullmatch(name) is None:
        return f"malformed alias name {name!r}"
    return None


def check_name(text: str) -> str:
    """The alias name in ``text`` (``champion`` or ``@champion``); a UsageError stating the
    allowed form when it is malformed."""
    name = text[1:] if text.startswith("@") else text
    problem = name_problem(name)
    if problem is not None:
        raise UsageError(problem, hint=f"an alias name has {ALLOWED_FORM}")
    return name


def is_alias_ref(ref: str) -> bool:
    """Whether a run reference names an alias (``@champion``)."""
    return ref.startswith("@")


def alias_ref(name: str) -> str:
    """The run reference of an alias: ``@name``."""
    return f"@{name}"
