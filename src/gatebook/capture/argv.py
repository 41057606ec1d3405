"""The parts of a wrapped command line: interpreter, script, options, Hydra overrides, config files.

``gatebook run -- python -u train.py config/small.py optimizer.lr=0.01 --epochs 5``:

- ``argv[0]`` is the program. When it is a Python interpreter (``python``, ``python3.11``,
  ``pypy3``) its own options (``-u``, ``-X dev``, ``-W ignore``...) are skipped, and the script
  (``train.py``; or the module of ``-m``, the code of ``-c``) ends them. A shell's ``-c`` string
  (``bash -c '...'``) is its script the same way. Any other program's arguments start right
  after it.
- **Options**: ``--key value`` / ``--key=value`` (a bare ``--flag`` has no value; single-dash
  short options are skipped, a negative number is a value). Keys lose their dashes and have
  ``-`` replaced by ``_``.
- **Hydra-style overrides**, positional tokens ``key=value``, ``+key=value`` (add),
  ``++key=value`` (add or override) and ``~key`` / ``~key=value`` (delete): the key is kept as
  written (dotted, ``db@backup`` and ``group/sub`` allowed), without the ``+`` / ``++`` / ``~``.
- **Positional** arguments: everything else (the script, data paths...).

Everything stops at a bare ``--``. A repeated key appears each time (the last one wins as a
param). Nothing here raises.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

__all__ = ["ArgvItem", "Layout", "config_file_artifacts", "layout", "python_config_files", "scan"]

_PYTHON = re.compile(r"(python|pypy)(\d+(\.\d+)*)?[mtw]?(\.exe)?", re.IGNORECASE)
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish"})
_PY_VALUE_FLAGS = frozenset("WX")  # -W arg, -X opt (attached or the next token)
_PY_SCRIPT_FLAGS = frozenset("cm")  # -c code, -m module: what follows is the script's argv
_PY_LONG_WITH_VALUE = frozenset({"--check-hash-based-pycs"})
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
_OVERRIDE = re.compile(
    r"(?P<prefix>\+\+|\+|~)?(?P<key>[A-Za-z_][\w\-]*(?:[./@][A-Za-z0-9_][\w\-]*)*)(?:=(?P<value>.*))?",
    re.DOTALL,
)


@dataclass(frozen=True)
class Layout:
    """Where a command's own arguments start."""

    program: str
    interpreter: bool  # argv[0] is Python or a shell: its own options come first
    script: int | None  # index of the script / ``-m`` module / ``-c`` code; None when none is known
    args: int  # index of the first argument the program (or the script) gets


@dataclass(frozen=True)
class ArgvItem:
    """One thing found in a command line."""

    kind: str  # "option" | "override" | "delete" | "positional"
    key: str | None  # None for a positional argument
    text: str | None  # the value as typed (quotes of an override removed); None: a bare flag / a deletion
    index: int  # where in argv (the option's, for ``--key value``)
    quoted: bool = False  # an override's value was quoted: a string, never a number


def _is_option(token: str) -> bool:
    """True for ``-x`` / ``--name`` tokens; negative numbers (``-1``, ``-1e-3``) are values."""
    return token.startswith("-") and token != "-" and not _FLOAT.fullmatch(token)


def layout(argv: Sequence[str]) -> Layout:
    """Where the program's own arguments start in ``argv`` (rules in the module docstring)."""
    tokens = [str(t) for t in argv]
    program = os.path.basename(tokens[0]) if tokens else ""
    python = _PYTHON.fullmatch(program) is not None
    shell = program in _SHELLS
    if not (python or shell):
        return Layout(program, False, None, 1)
    i = 1
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            i += 1
            break
        if shell and token.startswith("-") and "c" in token[1:] and not token.startswith("--"):
            return Layout(program, True, i + 1 if i + 1 < len(tokens) else None, i + 2)
        if shell and token[:1] in "-+" and token not in ("-", "+"):
            i += 1
            continue
        if not python or not token.startswith("-") or token == "-":
            break
        if token.startswith("--"):
            i += 2 if token in _PY_LONG_WITH_VALUE else 1
            continue
        for pos, flag in enumerate(token[1:], start=2):
            rest = token[pos:]
            if flag in _PY_SCRIPT_FLAGS:  # -c CODE / -mMODULE: the script; its argv follows
                return Layout(program, True, i if rest else i + 1, i + 1 if rest else i + 2)
            if flag in _PY_VALUE_FLAGS:
                i += 0 if rest else 1  # the value is attached, or the next token
                break
        i += 1
    if i >= len(tokens):
        return Layout(program, True, None, len(tokens))
    return Layout(program, True, i, i + 1)


def scan(argv: Sequence[str]) -> list[ArgvItem]:
    """The options, overrides and positional arguments of ``argv`` after its :func:`layout`'s
    ``args`` (the interpreter's own options and the script are left out), in order."""
    tokens = [str(t) for t in argv]
    out: list[ArgvItem] = []
    i = layout(tokens).args if tokens else 0
    while i < len(tokens):
        token, at = tokens[i], i
        i += 1
        if token == "--":
            break
        if _is_option(token):
            if not token.startswith("--"):
                continue  # a short option
            body, has_value, value = token[2:].partition("=")
            key = body.lstrip("-").replace("-", "_")
            if not key:
                continue
            if has_value:
                out.append(ArgvItem("option", key, value, at))
            elif i < len(tokens) and not _is_option(tokens[i]) and tokens[i] != "--":
                out.append(ArgvItem("option", key, tokens[i], at))
                i += 1
            else:
                out.append(ArgvItem("option", key, None, at))
            continue
        match = _OVERRIDE.fullmatch(token)
        if match and (match.group("value") is not None or match.group("prefix") == "~"):
            key, value = match.group("key"), match.group("value")
            if match.group("prefix") == "~":
                out.append(ArgvItem("delete", key, None, at))
                continue
            quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
            out.append(ArgvItem("override", key, value[1:-1] if quoted else value, at, quoted))
            continue
        out.append(ArgvItem("positional", None, token, at))
    return out


def python_config_files(argv: Sequence[str], cwd: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """The Python config files given positionally: ``(index, path)`` of each positional ``.py``
    argument after the script that is an existing file (relative paths from ``cwd``).

    The script itself is not one: a Python interpreter's script; else ``argv[0]`` when it ends
    in ``.py``, else the first positional ``.py`` argument (``torchrun ... train.py cfg.py``).
    """
    tokens = [str(t) for t in argv]
    if not tokens:
        return []
    lay = layout(tokens)
    script_seen = lay.interpreter or tokens[0].endswith(".py")
    out = []
    for item in scan(tokens):
        if item.kind != "positional" or not (item.text or "").endswith(".py"):
            continue
        if not script_seen:
            script_seen = True
            continue
        path = Path(item.text or "")
        full = path if path.is_absolute() else Path(cwd) / path
        if full.is_file():
            out.append((item.index, full))
    return out


def config_file_artifacts(run_id: str, argv: Sequence[str], cwd: str | os.PathLike[str]) -> list[Any]:
    """:class:`~gatebook.store.base.ArtifactRow` s (kind ``config``: path as typed, size, sha256;
    content not stored) of :func:`python_config_files`. An unreadable file is left out."""
    import hashlib
    import time

    from gatebook.store.base import ArtifactRow

    rows = []
    for index, full in python_config_files(argv, cwd):
        try:
            data = full.read_bytes()
        except OSError:
            continue
        rows.append(ArtifactRow(run_id, str(argv[index]), "config", len(data), hashlib.sha256(data).hexdigest(),
                                time.time()))
    return rows
