"""Metric-key contracts: does a run emit the keys it must?

A run's **keys** are its metric keys (every series logged by the API, output lines,
watched files or ``gatebook log``) plus the keys of its numeric summary values
(``gb.summary({"best_val_acc": 0.91})``; booleans, strings and other values do not count),
the same set the gates judge.

Two contracts:

- **required** (``keys: {required: [...]}`` in ``gatebook.yaml``): each entry is an exact
  key, or a shell glob (``*``, ``?``, ``[...]``, as :func:`fnmatch.fnmatchcase`, case
  sensitive; ``*`` also matches ``/``) that at least one key must match. An entry missing is
  a failure.
- **like** (``gatebook keys RUN --like OTHER``): RUN must emit every key OTHER emits. Keys
  only in OTHER are *missing* (a failure); keys only in RUN are *extra* (reported, not a
  failure).

The checking functions here are pure; :func:`run_keys` is the one store read.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:
    from gatebook.store.base import Store

GLOB_CHARS = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    """Whether ``pattern`` holds a shell-glob character (``*``, ``?``, ``[``)."""
    return any(c in GLOB_CHARS for c in pattern)


def matches(pattern: str, key: str) -> bool:
    """``key`` satisfies ``pattern``: equal to it, or matched by it as a glob."""
    return key == pattern or (is_glob(pattern) and fnmatch.fnmatchcase(key, pattern))


def emitted_keys(metric_keys: Iterable[str], summary: Mapping[str, Any]) -> list[str]:
    """The sorted keys of a run: its metric keys and the keys of its numeric summary values."""
    keys = set(metric_keys)
    for key, value in summary.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            keys.add(key)
    return sorted(keys)


@dataclass(frozen=True)
class Requirement:
    """One entry of a contract and the keys of the run that satisfy it."""

    pattern: str
    glob: bool
    matched: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return bool(self.matched)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.pattern, "glob": self.glob, "present": self.ok, "matched": list(self.matched)}


@dataclass(frozen=True)
class KeysReport:
    """The outcome of a contract: ``missing`` entries make it fail; ``extra`` never does."""

    mode: str  # "required" | "like"
    keys: tuple[str, ...]  # what the run emits
    requirements: tuple[Requirement, ...]
    extra: tuple[str, ...] = field(default=())

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(r.pattern for r in self.requirements if not r.ok)

    @property
    def ok(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "ok": self.ok, "keys": list(self.keys),
                "required": [r.to_dict() for r in self.requirements],
                "missing": list(self.missing), "extra": list(self.extra)}


def check_required(keys: Iterable[str], patterns: Iterable[str]) -> KeysReport:
    """Each pattern (exact key or glob) against the run's keys, in the patterns' order.

    A pattern listed twice is checked once.
    """
    have = sorted(set(keys))
    seen: set[str] = set()
    reqs = []
    for pattern in patterns:
        if pattern in seen:
            continue
        seen.add(pattern)
        reqs.append(Requirement(pattern, is_glob(pattern), tuple(k for k in have if matches(pattern, k))))
    return KeysReport("required", tuple(have), tuple(reqs))


def check_like(keys: Iterable[str], reference_keys: Iterable[str]) -> KeysReport:
    """The run must emit every key of the reference run (exact keys, no globs).

    Requirements are the reference's keys, sorted; ``extra`` the run's keys the
    reference does not have.
    """
    have = sorted(set(keys))
    ref = sorted(set(reference_keys))
    have_set = set(have)
    reqs = tuple(Requirement(k, False, (k,) if k in have_set else ()) for k in ref)
    extra = tuple(k for k in have if k not in set(ref))
    return KeysReport("like", tuple(have), reqs, extra)


def run_keys(store: Store, run_id: str) -> list[str]:
    """The keys a run emits, read from the store (metric keys + numeric summary keys)."""
    stats = store.metric_stats([run_id]).get(run_id, {})
    return emitted_keys(stats, store.summary(run_id))
