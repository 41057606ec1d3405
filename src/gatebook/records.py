"""Frozen records returned by the store, and the enums shared across gatebook.

These are plain data: the live handle training code holds is :class:`gatebook.run_handle.Run`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Literal


class RunStatus(str, enum.Enum):
    """Lifecycle of a run.

    ``running`` until the process closes the run; then ``finished`` (exit 0),
    ``failed`` (non-zero exit or an uncaught exception), ``interrupted`` (Ctrl-C or
    SIGTERM), ``stopped`` (stopped by a gate or by ``gatebook stop``). ``lost`` is
    set by readers when the owning process vanished without closing the run.
    """

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    STOPPED = "stopped"
    LOST = "lost"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


@dataclass(frozen=True)
class MetricStats:
    """Aggregates of one metric series of one run (NaN stays NaN)."""

    last: float
    min: float | None
    max: float | None
    last_step: int | None
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "last": self.last,
            "min": self.min,
            "max": self.max,
            "last_step": self.last_step,
            "count": self.count,
        }


@dataclass(frozen=True)
class Artifact:
    path: str
    kind: str
    size: int | None
    sha256: str | None
    ts: float


@dataclass(frozen=True)
class Note:
    text: str
    ts: float


@dataclass(frozen=True)
class RunRecord:
    """A run as stored in the ledger."""

    id: str
    name: str | None
    status: RunStatus
    created_at: float
    ended_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    parent_id: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    cwd: str | None = None
    host: str | None = None
    user: str | None = None
    pid: int | None = None
    pid_start: float | None = None
    heartbeat_at: float | None = None
    source: str = "api"
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``name (id)`` or just the id."""
        return f"{self.name} ({self.id})" if self.name else self.id

    @property
    def duration(self) -> float | None:
        if self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.created_at)


# -- the judging vocabulary, shared by gates, compare, sweeps and reports --------------------------

Direction = Literal["higher", "lower"]
"""Which way a metric is better."""
DirectionOf = Callable[[str], "Direction | None"]
"""A metric key's direction, or None when gatebook.yaml does not say."""
Point = tuple["int | None", float]
"""One point of a series: ``(step, value)``."""


class Tier(str, enum.Enum):
    """The outcome of a check, a gate or a verdict, from best to worst."""

    PASS = "PASS"
    MARGINAL = "MARGINAL"
    PENDING = "PENDING"
    FAIL = "FAIL"
    ERROR = "ERROR"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


_SEVERITY = {Tier.PASS: 0, Tier.MARGINAL: 1, Tier.PENDING: 2, Tier.FAIL: 3, Tier.ERROR: 4}
