"""The resolved config of a run as params: one flat mapping of dotted keys to JSON-safe leaves.

Params come in layers — a config file, a config object handed to the SDK, the wrapped
command's own ``--key value`` arguments — and :func:`merge_params` lays them over each
other, later layers winning. Every function here returns data flattened by
:func:`gatebook.serialize.flatten` (``{"optim": {"lr": 0.1}}`` -> ``{"optim.lr": 0.1}``).

Errors a user can cause (a missing or malformed config file) raise
:class:`gatebook.errors.ConfigError` naming the file and, when known, ``line:column``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from gatebook.config_io import parse_yaml
from gatebook.errors import ConfigError
from gatebook.serialize import flatten, to_config_dict

__all__ = [
    "load_config_file",
    "merge_params",
    "params_from_argv",
    "params_from_object",
    "parse_value",
]

_YAML_SUFFIXES = frozenset({".yaml", ".yml"})
_KNOWN_SUFFIXES = ".yaml/.yml, .json, .toml"

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
_TOML_POSITION = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)\s*$",
                            re.DOTALL)
_TOML_END = re.compile(r"^(?P<msg>.*?)\s*\(at end of document\)\s*$", re.DOTALL)


# -- config files ---------------------------------------------------------------------------------


def _syntax_error(path: Path, line: int | None, col: int | None, message: str,
                  note: str = "") -> ConfigError:
    """A ConfigError ``"FILE:LINE:COL: MESSAGE"`` (position parts only when known)."""
    where = str(path)
    if line is not None:
        where += f":{line}"
        if col is not None:
            where += f":{col}"
    return ConfigError(f"{where}: {message.strip()}{note}",
                       hint=f"fix the syntax of {path} and run again")


def _parse_json(path: Path, text: str, note: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _syntax_error(path, exc.lineno, exc.colno, exc.msg, note) from None


def _parse_toml(path: Path, text: str, note: str) -> Any:
    from gatebook.tomlcompat import toml_loads

    loads = toml_loads()
    try:
        return loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        message = getattr(exc, "msg", None) or str(exc)
        if line is None:
            positioned = _TOML_POSITION.match(message)
            at_end = _TOML_END.match(message)
            if positioned:
                message = positioned.group("msg")
                line, col = int(positioned.group("line")), int(positioned.group("col"))
            elif at_end:
                message = at_end.group("msg") + " (at end of document)"
                line = text.count("\n") + (0 if text.endswith("\n") else 1)
        raise _syntax_error(path, line, col, message, note) from None


def _read_text(path: Path) -> str:
    """The file's text (UTF-8, optional BOM); ConfigError when missing or unreadable."""
    if not path.exists():
        raise ConfigError(f"config file {path} not found",
                          hint="check the path (relative paths start from the current directory)")
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory",
                          hint="pass the path of a .yaml, .json or .toml file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text "
                          f"({exc.reason} at byte {exc.start})",
                          hint="save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}",
                          hint="check its permissions") from None


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping held by a YAML (.yaml/.yml), JSON (.json) or TOML (.toml) config file.

    Any other extension is read as YAML (which also accepts JSON), and errors say so.
    An empty YAML file is an empty config (``{}``). The data is returned as parsed (nested,
    not flattened). Raises :class:`ConfigError` when the file is missing or unreadable,
    malformed (message ``"FILE:LINE:COL: parser message"``) or its top level is not a mapping.
    """
    file = Path(path)
    text = _read_text(file)
    suffix = file.suffix.lower()
    note = ""
    if suffix == ".json":
        data = _parse_json(file, text, note)
    elif suffix == ".toml":
        data = _parse_toml(file, text, note)
    else:
        if suffix not in _YAML_SUFFIXES:
            note = f" (read as YAML because the extension is not one of {_KNOWN_SUFFIXES})"
        data, _ = parse_yaml(text, file, note=note)
        if data is None:
            data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"config file {file} must hold a mapping of keys to values at the top level, "
            f"not a {_kind(data)}{note}",
            hint="write it as key: value pairs (a YAML mapping, JSON object or TOML table)",
        )
    return dict(data)


def _kind(data: Any) -> str:
    if isinstance(data, list):
        return "list"
    if isinstance(data, str):
        return "string"
    if data is None:
        return "null value"
    return type(data).__name__


# -- command-line arguments -----------------------------------------------------------------------


def parse_value(text: str) -> object:
    """A command-line value as data: int, float (``1e-3``), bool (``true``/``false``),
    None (``none``/``null``), case-insensitive for words; anything else stays a string."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered in ("none", "null"):
        return None
    return text


def params_from_argv(argv: Sequence[str]) -> dict[str, object]:
    """The options and Hydra-style overrides of a wrapped command, as params.

    ``argv`` is split by :func:`gatebook.capture.argv.scan`: the program, a Python
    interpreter's own options (``python -u -m pkg``), the script and other positional
    arguments are ignored, as are single-dash short options. ``--key value`` / ``--key=value``
    options lose their dashes and have ``-`` replaced by ``_``; a ``--flag`` followed by another
    option or by the end is ``True`` (``--no-flag`` is kept as key ``no_flag`` = True, not
    negated). Positional ``key=value``, ``+key=value`` and ``++key=value`` tokens (Hydra
    overrides) keep their dotted key as written; ``~key`` (Hydra's delete) is the key with the
    value None. Values go through :func:`parse_value`, except a quoted override value
    (``name='0.1'``), which stays the string inside the quotes. Parsing stops at a bare ``--``.
    A repeated key keeps its last value. Never raises.
    """
    from gatebook.capture.argv import scan

    out: dict[str, object] = {}
    for item in scan(argv):
        if item.key is None:
            continue
        if item.kind == "delete":
            out[item.key] = None
        elif item.text is None:
            out[item.key] = True
        else:
            out[item.key] = item.text if item.quoted else parse_value(item.text)
    return out


def argv_options(argv: Sequence[str]) -> list[tuple[str, str | None]]:
    """The options and overrides of ``argv`` (program first) as ``(key, text as typed)``,
    ``None`` for a bare ``--flag``; the rules of :func:`params_from_argv` (``~key`` deletions
    are left out). A repeated key appears each time."""
    from gatebook.capture.argv import scan

    return [(item.key, item.text) for item in scan(argv)
            if item.key is not None and item.kind in ("option", "override")]


# -- objects and layers ---------------------------------------------------------------------------


def params_from_object(config: Any) -> dict[str, Any]:
    """A config object as flat params.

    Accepts a mapping, ``argparse.Namespace``, dataclass instance, Pydantic model or
    OmegaConf container (anything :func:`gatebook.serialize.to_config_dict` accepts);
    None gives ``{}``. Values are made JSON-safe, nested mappings become dotted keys.
    """
    return flatten(to_config_dict(config))


def merge_params(*layers: Any) -> dict[str, Any]:
    """Flat params of ``layers`` laid over each other, later layers winning.

    Each layer is anything :func:`params_from_object` accepts (nested or already flat).
    A later key also replaces what it conflicts with in earlier layers: setting ``optim``
    drops an earlier ``optim.lr``, and setting ``optim.lr`` drops an earlier scalar ``optim``.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in params_from_object(layer).items():
            _drop_conflicts(merged, key)
            merged[key] = value
    return merged


def _drop_conflicts(merged: dict[str, Any], key: str) -> None:
    """Remove from ``merged`` the ancestors and descendants of dotted ``key``."""
    parts = key.split(".")
    for n in range(1, len(parts)):
        merged.pop(".".join(parts[:n]), None)
    prefix = key + "."
    for existing in [k for k in merged if k.startswith(prefix)]:
        del merged[existing]
