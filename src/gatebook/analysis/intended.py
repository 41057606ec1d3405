"""Intended vs reported: what the command asked for against what the code says it used.

A wrapped run has params from up to three sources (:data:`gatebook.views.PARAM_SOURCES`):
``config`` (``gatebook run --config FILE``) and ``argv`` (the command's own ``--key value``
arguments) are what was *intended*; ``api`` (``gb.init(config=...)`` / ``Run.config``) is
what the code *reported* as its resolved config. A key present on both sides with values
that disagree is a mismatch: the script most likely ignored (or overrode) an argument,
like a diagnostic that silently evaluated ``full80.pth`` although it was given
``--checkpoint-path v2.pth``.

Rules (documented in docs/diff.md):

- Keys are matched after replacing ``-`` by ``_`` (case kept). A key on one side only is
  not a mismatch: scripts report more than they are given and are given flags they do
  not report.
- The intended value is the command line's when it has the key, else the config file's
  (the command line overrides the config file on purpose).
- Strings are read as values first (``"0.001"`` is 0.001, ``"true"`` is True, ``"none"``
  is None, ``"NaN"`` is NaN), as the command line is.
- Numbers (bools count as 0 / 1) are equal within a relative tolerance of 1e-6 (a float32
  round trip) or an absolute 1e-12.
- Strings with a ``/`` (or ``\\``) on either side are paths: ``./a/b.pth`` equals
  ``a/b.pth`` (normalised); a relative path equals an absolute one when it is that path
  from the run's working directory; and a relative path that is the trailing part of the
  other (a basename ``v2.pth`` of ``models/outputs/v2.pth``, or ``outputs/v2.pth``) is
  equal: the script joined it to a directory of its own. ``models/outputs/v2.pth`` and
  ``models/outputs/full80.pth`` differ.
- Other strings are compared trimmed and case-insensitively (``Adam`` is ``adam``).
- Lists compare element by element; a scalar on the command line against a list
  reported by the code compares with the list's first element (``--layers 1 2 3`` is
  recorded from the command line as ``layers=1``).
- A bare ``--flag`` (True) against a reported value that is neither a bool nor a number
  is not compared (the flag may take an optional value the code filled in).
- A secret stored redacted (``***``, :mod:`gatebook.capture.redact`) on either side is not
  compared: its value is not known, and a warning must not print the other side's.
- A Hydra deletion ``~key`` is recorded as None: a run that still reports the key with a
  value disagrees.
"""

from __future__ import annotations

import json
import math
import ntpath
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from gatebook.capture.redact import REDACTED

if TYPE_CHECKING:
    from gatebook.store.base import Store

__all__ = ["Mismatch", "INTENDED_SOURCES", "REPORTED_SOURCE", "compared_keys", "find_mismatches", "same_value",
           "warning_lines", "run_warnings", "value_text"]

INTENDED_SOURCES = ("config", "argv")
"""Sources of what was asked for, weakest first (the command line wins)."""
REPORTED_SOURCE = "api"

REL_TOL = 1e-6
ABS_TOL = 1e-12

_SPECIAL_FLOATS = frozenset({"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
_SOURCE_WORDS = {"argv": "the command", "config": "the config file"}


@dataclass(frozen=True)
class Mismatch:
    key: str  # the intended side's key
    intended: Any
    reported: Any
    source: str  # "argv" or "config"
    reported_key: str  # the reported side's key (differs from ``key`` by - / _ only)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "intended": self.intended, "reported": self.reported, "source": self.source}

    def message(self) -> str:
        who = _SOURCE_WORDS.get(self.source, self.source)
        return f"{who} asked for {self.key}={value_text(self.intended)}, the run reported {value_text(self.reported)}"


def norm_key(key: str) -> str:
    return key.replace("-", "_")


def find_mismatches(by_source: Mapping[str, Mapping[str, Any]], *, cwd: str | None = None) -> list[Mismatch]:
    """The keys where the reported config disagrees with what was asked for, sorted by key.

    ``by_source`` is :meth:`gatebook.store.base.Store.params` of a run; ``cwd`` its working
    directory (to compare a relative path with an absolute one).
    """
    reported_raw = by_source.get(REPORTED_SOURCE) or {}
    if not reported_raw:
        return []
    intended: dict[str, tuple[str, Any, str]] = {}  # norm key -> (key, value, source)
    for source in INTENDED_SOURCES:
        for key, value in (by_source.get(source) or {}).items():
            intended[norm_key(key)] = (key, value, source)
    reported = {norm_key(k): (k, v) for k, v in reported_raw.items()}
    out: list[Mismatch] = []
    for nkey in sorted(set(intended) & set(reported)):
        key, want, source = intended[nkey]
        rkey, got = reported[nkey]
        if not same_value(want, got, cwd=cwd):
            out.append(Mismatch(key=key, intended=want, reported=got, source=source, reported_key=rkey))
    return out


def compared_keys(by_source: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The intended keys that the run also reported (the keys :func:`find_mismatches` judges)."""
    reported = {norm_key(k) for k in (by_source.get(REPORTED_SOURCE) or {})}
    keys: dict[str, str] = {}
    for source in INTENDED_SOURCES:
        for key in by_source.get(source) or {}:
            if norm_key(key) in reported:
                keys[norm_key(key)] = key
    return sorted(keys.values())


def same_value(intended: Any, reported: Any, *, cwd: str | None = None) -> bool:
    """Whether ``reported`` honours ``intended`` under the rules of this module."""
    if intended == REDACTED or reported == REDACTED:
        return True  # a secret: not comparable, and never printed
    want, got = _coerce(intended), _coerce(reported)
    if isinstance(got, (list, tuple)) and not isinstance(want, (list, tuple)):
        return bool(got) and same_value(want, got[0], cwd=cwd)
    if isinstance(want, (list, tuple)) or isinstance(got, (list, tuple)):
        if not (isinstance(want, (list, tuple)) and isinstance(got, (list, tuple))) or len(want) != len(got):
            return False
        return all(same_value(w, g, cwd=cwd) for w, g in zip(want, got, strict=False))
    if want is True and not isinstance(got, (bool, int, float)) and got is not None:
        return True  # a bare --flag: not comparable with a string the code filled in
    if _is_number(want) and _is_number(got):
        return _same_number(float(want), float(got))
    if want is None or got is None:
        return want is None and got is None
    if isinstance(want, str) and isinstance(got, str):
        if _looks_like_path(want) or _looks_like_path(got):
            return _same_path(want, got, cwd)
        return want.strip().casefold() == got.strip().casefold()
    if isinstance(want, Mapping) and isinstance(got, Mapping):
        return set(want) == set(got) and all(same_value(want[k], got[k], cwd=cwd) for k in want)
    return bool(want == got)


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        from gatebook.capture.params import parse_value

        text = value.strip()
        if text.lower() in _SPECIAL_FLOATS:
            return float(text)
        return parse_value(text)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))  # bool is an int


def _same_number(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text


def _split_path(text: str) -> tuple[bool, list[str]]:
    """(absolute, normalised components) of a path written with / or \\."""
    text = text.strip()
    if "\\" in text and "/" not in text:  # a Windows path
        drive, rest = ntpath.splitdrive(text)
        norm = ntpath.normpath(rest).replace("\\", "/")
        absolute = bool(drive) or rest.startswith("\\")
        parts = [p for p in norm.split("/") if p not in ("", ".")]
        return absolute, ([drive.lower()] if drive else []) + parts
    if text.startswith("~"):
        import os

        text = os.path.expanduser(text)
    norm = posixpath.normpath(text)
    return norm.startswith("/"), [p for p in norm.split("/") if p not in ("", ".")]


def _same_path(a: str, b: str, cwd: str | None) -> bool:
    abs_a, pa = _split_path(a)
    abs_b, pb = _split_path(b)
    if pa == pb and abs_a == abs_b:
        return True
    if cwd and abs_a != abs_b:
        base = _split_path(cwd)[1]
        rel_parts, abs_parts = (pa, pb) if abs_b else (pb, pa)
        if _normalise_parts(base + rel_parts) == abs_parts:
            return True
    # a relative path that is the trailing part of the other: joined to a directory by the code
    for shorter, longer, short_abs in ((pa, pb, abs_a), (pb, pa, abs_b)):
        if not short_abs and shorter and ".." not in shorter and len(shorter) <= len(longer) \
                and longer[len(longer) - len(shorter):] == shorter:
            return True
    return False


def _normalise_parts(parts: list[str]) -> list[str]:
    return [p for p in posixpath.normpath("/" + "/".join(parts)).split("/") if p]


def value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def warning_lines(mismatches: list[Mismatch]) -> list[str]:
    """One warning per mismatch, as ``gatebook run`` prints them (without the prefix)."""
    return [m.message() for m in mismatches]


def run_warnings(store: Store, run_id: str, cwd: str | None = None) -> list[str]:
    """The mismatches of a recorded run as warning lines; never raises (a ledger hiccup
    only loses the warnings)."""
    try:
        return warning_lines(find_mismatches(store.params(run_id), cwd=cwd))
    except Exception:  # noqa: BLE001 - a warning must never break the end of a run
        return []
