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


PATCH_ARTIFACT = ("patch", "git.patch")
"""(kind, path) of the dirty-tree patch: its content is kept in the ledger, the path is no file."""


@dataclass(frozen=True)
class Artifact:
    path: str
    kind: str
    size: int | None
    sha256: str | None
    ts: float
    derived_from: tuple[dict[str, Any], ...] = ()
    """Lineage: the files this one was made from, each ``{"path", "sha256", "run_id"}`` (the run
    that logged that file when the ledger knows it, else None)."""

    @property
    def stored(self) -> bool:
        """Its content is kept in the ledger (the dirty-tree patch), not in a file."""
        return (self.kind, self.path) == PATCH_ARTIFACT

    def to_dict(self) -> dict[str, Any]:
        """An artifact in the ``show`` and ``artifacts`` documents."""
        from gatebook.render.text import iso

        return {"path": self.path, "kind": self.kind, "size": self.size, "sha256": self.sha256,
                "ts": iso(self.ts), "stored": self.stored,
                "derived_from": [{"path": d.get("path"), "sha256": d.get("sha256"), "run_id": d.get("run_id")}
                                 for d in self.derived_from]}


ALIAS_ACTIONS = ("moved", "refused", "forced", "rollback")
"""What an alias event records: a gated move, a refused attempt, a forced move, a rollback."""


@dataclass(frozen=True)
class AliasRecord:
    """A name (``champion``, ``ranker/prod``) that points at one run, written ``@name``."""

    name: str
    run_id: str
    since: float
    by: str  # user@host
    verdict: str | None  # the tier that moved it (PASS / MARGINAL), None when forced or rolled back
    forced: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class AliasEvent:
    """One entry of an alias's append-only audit trail: a move or a refused attempt."""

    id: int
    alias: str
    ts: float
    by: str
    action: str  # one of ALIAS_ACTIONS
    from_run: str | None  # the holder before (None: the alias was empty)
    to_run: str | None  # the candidate (the holder after, unless refused)
    verdict: str | None
    forced: bool = False
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # each gate's verdict, each check's observed and threshold


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
    replicate: str | None = None
    """The replicate set: runs of one config over several seeds share this key (None: no set)."""

    def ref(self) -> dict[str, Any]:
        """The run as the ``--json`` documents name it: ``{"id", "name", "status"}``."""
        return {"id": self.id, "name": self.name, "status": self.status.value}

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
