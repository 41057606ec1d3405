"""Artifact files you can trust: hashed with their lineage when logged, listed and re-verified later.

Writing: :class:`ArtifactHasher` is what a run's background writer uses to turn ``gb.artifact(path,
kind, derived_from=[...])`` into an :class:`~gatebook.store.base.ArtifactRow` (size, sha256, and
each source's ``{"path", "sha256", "run_id"}``); it never raises into the training process.

Reading: :func:`list_artifacts` (``gatebook artifacts``, the ``artifacts`` of ``show --json``),
:func:`choose_path` (``--path``) and :func:`verify` (``--verify``) return plain data whose
``to_dict()`` is the ``--json`` document (docs/json.md). Only the paths the ledger holds are
opened; the dirty-tree patch, whose content the ledger keeps (path ``git.patch``, not a file), is
verified against that stored content.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from gatebook.errors import NotFoundError, UsageError
from gatebook.records import PATCH_ARTIFACT

if TYPE_CHECKING:  # pragma: no cover
    from gatebook.records import Artifact, RunRecord
    from gatebook.store.base import ArtifactRow, Store

"""(kind, path) of the artifact whose content is kept in the ledger (capture.recorder)."""
STATUSES = ("ok", "changed", "vanished", "unchecked")
"""What :func:`verify` finds per artifact; ``changed`` and ``vanished`` fail it."""

Stamp = tuple[int, int]
"""A file's (size, mtime in ns): unchanged stamp, unchanged file (for not hashing it twice)."""


def file_stamp(path: str) -> Stamp:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def file_sha256(path: str) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks (OSError when it cannot be read)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_size(path: str) -> int:
    """The bytes of every file under a directory."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


# -- writing: the run's background writer ---------------------------------------------------------

class ArtifactHasher:
    """Builds a run's artifact rows in its writer thread (never the training thread).

    ``warn(key, message)`` prints a message once per key. A file hashed earlier with the same
    stamp is not read again (a checkpoint logged, then named in a blend's ``derived_from``).
    """

    def __init__(self, run_id: str, store: Store, warn: Callable[[str, str], None]) -> None:
        self.run_id = run_id
        self._store = store
        self._warn = warn
        self._hashed: dict[str, tuple[Stamp, str]] = {}  # path -> (stamp, sha256)
        self._own: set[str] = set()  # sha256 of the files this run logged

    def row(self, path: str, kind: str, ts: float, sources: Sequence[str] = ()) -> ArtifactRow:
        from gatebook.store.base import ArtifactRow

        lineage = tuple(self.lineage(src) for src in sources)
        size: int | None = None
        digest: str | None = None
        if os.path.isdir(path):
            size = tree_size(path)
        elif not os.path.exists(path):
            if kind != "checkpoint":  # a framework replacing its older checkpoints (save_top_k) is no news
                self._warn(f"a:{path}", f"gatebook: artifact {path} does not exist; recorded without size")
        else:
            hashed = self.hash(path)
            if hashed is None:
                self._warn(f"a:{path}", f"gatebook: artifact {path} cannot be read; recorded without a hash")
            else:
                size, digest = hashed
                self._own.add(digest)
        return ArtifactRow(self.run_id, path, kind, size, digest, ts, derived_from=lineage)

    def hash(self, path: str) -> tuple[int, str] | None:
        """``(size, sha256)`` of a file, None when it cannot be read."""
        try:
            stamp = file_stamp(path)
            known = self._hashed.get(path)
            digest = known[1] if known is not None and known[0] == stamp else file_sha256(path)
        except OSError:
            return None
        self._hashed[path] = (stamp, digest)
        return stamp[0], digest

    def lineage(self, source: str) -> dict[str, Any]:
        """``{"path", "sha256", "run_id"}`` of a file an artifact was made from: its hash now and
        the run that logged a file with that hash (the oldest; this run for a file it logged
        itself and has not written yet); None for what is unknown."""
        hashed = self.hash(source) if os.path.isfile(source) else None
        if hashed is None:
            what = "is a directory" if os.path.isdir(source) else "does not exist or cannot be read"
            self._warn(f"d:{source}", f"gatebook: derived_from {source} {what}; recorded without a hash")
            return {"path": source, "sha256": None, "run_id": None}
        digest = hashed[1]
        run_id = None
        try:
            found = self._store.find_artifacts(digest)
            run_id = found[0][0] if found else None
        except Exception as exc:  # best effort: the hash is kept, the run left unknown
            self._warn("find", f"gatebook: cannot look up which run logged {source} ({type(exc).__name__})")
        if run_id is None and digest in self._own:
            run_id = self.run_id
        return {"path": source, "sha256": digest, "run_id": run_id}


# -- reading: listing, --path, --verify -------------------------------------------------------------

@dataclass(frozen=True)
class ArtifactList:
    """A run's artifacts (only those of ``kind`` when given), in the order they were logged."""

    run: RunRecord
    kind: str | None
    artifacts: list[Artifact]
    kinds: list[str] = field(default_factory=list)  # every kind the run has, for hints

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run.ref(), "kind": self.kind, "artifacts": [a.to_dict() for a in self.artifacts]}


def list_artifacts(store: Store, run: RunRecord, kind: str | None = None) -> ArtifactList:
    every = store.artifacts(run.id)
    kinds = sorted({a.kind for a in every})
    return ArtifactList(run, kind, [a for a in every if kind is None or a.kind == kind], kinds)


def choose_path(listing: ArtifactList) -> Artifact:
    """The one artifact ``--path`` prints: the newest of ``--kind``, or the run's only one.

    NotFoundError when there is none; UsageError when there are several and no ``--kind``, or
    the one chosen is the patch kept in the ledger (not a file)."""
    items = listing.artifacts
    label = listing.run.label
    kinds = f"its kinds: {', '.join(listing.kinds)}" if listing.kinds else "it logged none"
    if not items:
        what = f" of kind {listing.kind!r}" if listing.kind else ""
        raise NotFoundError(f"run {label} has no artifact{what}", hint=kinds)
    if listing.kind is None and len(items) > 1:
        raise UsageError(f"run {label} has {len(items)} artifacts and --path prints one",
                         hint=f"choose with --kind ({kinds})")
    chosen = max(enumerate(items), key=lambda pair: (pair[1].ts, pair[0]))[1]
    if chosen.stored:
        raise UsageError(f"the {chosen.kind} of run {label} is kept in the ledger, not in a file",
                         hint=f"print it with `gatebook show {listing.run.id} --patch`")
    return chosen


@dataclass(frozen=True)
class Check:
    """One artifact verified: ``status`` is one of :data:`STATUSES`; ``sha256`` / ``size`` now."""

    artifact: Artifact
    status: str
    sha256: str | None = None
    size: int | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        a = self.artifact
        return {"path": a.path, "kind": a.kind, "status": self.status, "logged_sha256": a.sha256,
                "logged_size": a.size, "sha256": self.sha256, "size": self.size, "detail": self.detail}


@dataclass(frozen=True)
class Verification:
    """``--verify``: every listed artifact checked; ``ok`` unless one changed or vanished."""

    run: RunRecord
    kind: str | None
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status in ("changed", "vanished")]

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.checks if c.status == s) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run.ref(), "kind": self.kind, "ok": self.ok, "counts": self.counts(),
                "checks": [c.to_dict() for c in self.checks]}


def verify(store: Store, listing: ArtifactList) -> Verification:
    """Re-hash every listed artifact and compare with what was logged.

    A file logged with a hash: ``ok`` when its bytes hash the same, ``changed`` otherwise (or when
    it is no longer a file), ``vanished`` when gone. Logged with a size only (a directory): its
    total size now is compared. Logged with neither (missing or unreadable then): ``unchecked``.
    A relative path (a config file as typed) is read from the run's cwd. The patch kept in the
    ledger is checked against its stored content (the newest of the run; older ones unchecked)."""
    every = store.artifacts(listing.run.id)
    newest_patch = next((a for a in reversed(every) if a.kind == PATCH_ARTIFACT[0]), None)
    checks = []
    for a in listing.artifacts:
        if a.stored:
            checks.append(_check_stored(store, listing.run.id, a, a == newest_patch))
        else:
            checks.append(_check_file(a, on_disk(a.path, listing.run.cwd)))
    return Verification(listing.run, listing.kind, checks)


def on_disk(path: str, cwd: str | None) -> str:
    """Where a logged artifact path is on this machine (a relative path is the run's cwd's)."""
    return path if os.path.isabs(path) or not cwd else os.path.join(cwd, path)


def _check_file(a: Artifact, path: str) -> Check:
    if a.sha256 is None and a.size is None:
        return Check(a, "unchecked", detail="nothing was there to hash when it was logged")
    if not os.path.exists(path):
        return Check(a, "vanished", detail="no longer exists")
    if a.sha256 is None:  # a directory: its total size is what was logged
        size = tree_size(path) if os.path.isdir(path) else os.path.getsize(path)
        return Check(a, "ok" if size == a.size else "changed", size=size,
                     detail="" if size == a.size else f"size {a.size} -> {size}")
    if not os.path.isfile(path):
        return Check(a, "changed", detail="no longer a file")
    try:
        size, digest = os.path.getsize(path), file_sha256(path)
    except OSError as exc:
        return Check(a, "changed", detail=f"cannot be read: {exc.strerror or exc}")
    if digest == a.sha256:
        return Check(a, "ok", sha256=digest, size=size)
    return Check(a, "changed", sha256=digest, size=size, detail=f"sha256 {a.sha256[:12]} -> {digest[:12]}")


def _check_stored(store: Store, run_id: str, a: Artifact, newest: bool) -> Check:
    if not newest:
        return Check(a, "unchecked", detail="an older copy kept in the ledger (only the newest is read back)")
    content = store.artifact_content(run_id, a.kind) if a.sha256 else None
    if content is None:
        return Check(a, "unchecked", detail="kept in the ledger without its content or hash")
    digest = hashlib.sha256(content).hexdigest()
    return Check(a, "ok" if digest == a.sha256 else "changed", sha256=digest, size=len(content),
                 detail="kept in the ledger" if digest == a.sha256 else "the ledger's copy differs from its hash")
