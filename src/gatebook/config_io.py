"""YAML in and out (YAML 1.2 floats, FILE:LINE:COL errors) and dotted-key edits of config copies.

One loader reads every YAML file gatebook reads -- ``gatebook.yaml``, sweep files, config
files (``--config``, a sweep's ``config:``) -- so a number reads the same everywhere:
PyYAML's YAML 1.1 resolver reads ``1e-4`` as a string (it wants ``1.0e-4``); here ``1e-4``,
``1E+5`` and ``.5e3`` are floats, as in YAML 1.2. A syntax error is a
:class:`~gatebook.errors.ConfigError` ``FILE:LINE:COL: parser message``.

One editor changes a config copy (a playbook fix, a sweep trial): :func:`set_dotted` sets a
dotted key. A key written with its dots (``flat.key``) wins over nesting; otherwise each part
goes one level down: into a section (created when missing or null) or, for a number, into a
list item (``items.0``). An index past a list's end, a word used on a list, or a part that
goes into a scalar (``lr.0`` with ``lr: 0.1``) is a one-line ConfigError naming the key:
lists are never extended and values never silently replaced by sections.
:func:`write_config_copy` writes such a copy, YAML or JSON by the destination's suffix.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any, Mapping

from gatebook.errors import ConfigError

__all__ = ["MISSING", "dotted_get", "dump_yaml", "parse_yaml", "set_dotted", "write_config_copy", "yaml_line"]

_FLOAT_12 = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
"""Floats with an exponent and no dot (``1e-4``), which YAML 1.1 leaves as strings."""
_FLOAT_FIRST = list("-+0123456789.")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What :func:`dotted_get` returns for a key that is not there."""


# -- reading and writing YAML ------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _classes() -> tuple[Any, Any]:
    """PyYAML's safe loader and dumper, with YAML 1.2 floats (imported on first use)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    class Dumper(yaml.SafeDumper):  # quotes the string '1e-4', so it reads back as a string
        pass

    for cls in (Loader, Dumper):
        cls.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, _FLOAT_FIRST)
    return Loader, Dumper


def parse_yaml(text: str, path: str | Path, *, note: str = "") -> tuple[Any, Any]:
    """``(data, node)`` of one YAML document: the values (None when empty) and the node tree
    (for :func:`yaml_line`). A syntax error is a ConfigError ``PATH:LINE:COL: problem`` +
    ``note`` (position parts only when known)."""
    import yaml

    loader_class, _ = _classes()
    loader = None
    try:
        loader = loader_class(text)  # the reader checks for control characters here
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or str(exc)
        if mark is None:
            raise _syntax_error(path, None, None, message, note) from None
        raise _syntax_error(path, mark.line + 1, mark.column + 1, message, note) from None
    except yaml.reader.ReaderError as exc:  # a control character; only an offset is known
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or " ")
        raise _syntax_error(path, line, col, f"unacceptable character #x{char:04x}: {exc.reason}", note) from None
    except yaml.YAMLError as exc:
        raise _syntax_error(path, None, None, str(exc).splitlines()[0] if str(exc) else "bad YAML", note) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, node


def _syntax_error(path: str | Path, line: int | None, col: int | None, message: str, note: str) -> ConfigError:
    where = str(path)
    if line is not None:
        where += f":{line}"
        if col is not None:
            where += f":{col}"
    return ConfigError(f"{where}: {message.strip()}{note}", hint=f"fix the YAML syntax of {path} and run again")


def dump_yaml(data: Any) -> str:
    """``data`` as block YAML, keys in their order; strings that would read back as another
    type here (``'1e-4'``, ``'true'``) are quoted."""
    import yaml

    _, dumper_class = _classes()
    return yaml.dump(data, Dumper=dumper_class, sort_keys=False, allow_unicode=True)


def yaml_line(node: Any, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (keys and list indexes) in the node tree
    :func:`parse_yaml` returns; where ``loc`` goes past the tree, the line of the deepest part
    found (None when not even the first part is there)."""
    current = node
    line = None
    for part in loc:
        if current is None:
            break
        value = getattr(current, "value", None)
        if isinstance(value, list) and value and isinstance(value[0], tuple):
            found = None
            for key_node, value_node in value:
                if str(key_node.value) == str(part):
                    found = value_node
                    line = key_node.start_mark.line + 1
                    break
            current = found
        elif isinstance(value, list) and isinstance(part, int):
            if part < len(value):
                current = value[part]
                line = current.start_mark.line + 1
            else:
                current = None
        else:
            break
    return line


# -- editing a config by dotted keys -----------------------------------------------------------


def _index(key: str) -> int | None:
    return int(key) if key.isascii() and key.isdigit() else None


def _child(data: Any, key: str) -> Any:
    if isinstance(data, dict):
        return data.get(key, MISSING)
    i = _index(key)
    if isinstance(data, list) and i is not None and i < len(data):
        return data[i]
    return MISSING


def dotted_get(data: Any, key: str) -> Any:
    """The value at dotted ``key`` (a literal key with dots wins over nesting; digits index
    lists), or :data:`MISSING`."""
    found = _child(data, key)
    if found is not MISSING:
        return found
    for i, c in enumerate(key):
        if c == ".":
            child = _child(data, key[:i])
            if isinstance(child, (dict, list)):
                found = dotted_get(child, key[i + 1:])
                if found is not MISSING:
                    return found
    return MISSING


def set_dotted(data: dict[str, Any] | list[Any], key: str, value: Any) -> None:
    """Set dotted ``key`` in ``data`` (in place): where it already exists, else as nested
    sections (created). ConfigError (one line, naming ``key``) for an index past a list's end,
    a word used on a list, or a key that goes through a scalar."""
    _set(data, key, value, key, "")


def _set(data: Any, key: str, value: Any, full: str, at: str) -> None:
    if _child(data, key) is not MISSING:
        data[_index(key) if isinstance(data, list) else key] = value
        return
    for i, c in enumerate(key):
        if c == ".":
            child = _child(data, key[:i])
            if isinstance(child, (dict, list)) and dotted_get(child, key[i + 1:]) is not MISSING:
                _set(child, key[i + 1:], value, full, _join(at, key[:i]))
                return
    head, dot, rest = key.partition(".")
    if isinstance(data, list):
        child = _child(data, head)
        if child is MISSING:
            where = repr(at) if at else "the top level"
            why = (f"{where} is a list of {len(data)} item{'s' if len(data) != 1 else ''}, so there is no item {head}"
                   if _index(head) is not None else f"{where} is a list, and {head!r} is not an index")
            raise ConfigError(f"cannot set {full!r} in the config copy: {why}",
                              hint="index an item that exists (items.0) or set the whole list")
    else:
        if not dot:
            data[key] = value
            return
        child = data.get(head)
        if child is None:
            child = data[head] = {}
    if not isinstance(child, (dict, list)):
        shown = repr(child) if len(repr(child)) <= 40 else repr(child)[:37] + "..."
        raise ConfigError(f"cannot set {full!r} in the config copy: {_join(at, head)!r} holds {shown}, "
                          "not a section or a list", hint=f"set {_join(at, head)!r} itself")
    _set(child, rest, value, full, _join(at, head))


def _join(at: str, part: str) -> str:
    return f"{at}.{part}" if at else part


def write_config_copy(base_path: str | Path, overrides: Mapping[str, Any], dest: str | Path) -> Path:
    """Write the config file ``base_path`` (read by :func:`gatebook.capture.params.load_config_file`)
    with ``overrides`` set by :func:`set_dotted` to ``dest``, as JSON for a ``.json`` suffix,
    else as YAML (:func:`dump_yaml`). Creates ``dest``'s folder; the base is untouched.
    Returns ``dest`` as a Path."""
    from gatebook.capture.params import load_config_file

    data = copy.deepcopy(load_config_file(base_path))
    for key, value in overrides.items():
        set_dotted(data, key, value)
    out = Path(dest)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    else:
        out.write_text(dump_yaml(data), encoding="utf-8")
    return out
