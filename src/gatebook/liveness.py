"""Detect runs whose process vanished without closing them, and mark them ``lost``.

A running run names its owner process (host, pid, process start time) and refreshes a
heartbeat. On the same host, a run is lost when that pid no longer exists or belongs
to a newer process (the start time differs); on another host, when its heartbeat is
older than ``GATEBOOK_LOST_AFTER`` seconds. Readers call :func:`reconcile` so a lost
run shows as lost at the next ``ls`` or ``show``.
"""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from typing import Sequence

from gatebook.capture.recorder import process_start_time
from gatebook.records import RunRecord, RunStatus
from gatebook.store.base import Store


def is_gone(run: RunRecord, *, lost_after: float, now: float | None = None, host: str | None = None) -> bool:
    """Whether the process owning a running run is gone."""
    if run.status is not RunStatus.RUNNING:
        return False
    now = time.time() if now is None else now
    host = socket.gethostname() if host is None else host
    if run.host == host and run.pid:
        started = process_start_time(run.pid)
        if started is None:
            return True
        return run.pid_start is not None and abs(started - run.pid_start) > 1.0
    beat = run.heartbeat_at or run.created_at
    return now - beat > lost_after


def reconcile(store: Store, runs: Sequence[RunRecord], *, lost_after: float) -> list[RunRecord]:
    """Mark the lost ones among ``runs`` in the ledger; returns the runs as they now are."""
    out = []
    now = time.time()
    host = socket.gethostname()
    lost = []
    for run in runs:
        if run.status is RunStatus.RUNNING and is_gone(run, lost_after=lost_after, now=now, host=host):
            ended = run.heartbeat_at or run.created_at
            reason = "the recording process vanished without closing the run"
            if store.set_status(run.id, RunStatus.LOST, reason=reason, ended_at=ended):
                run = replace(run, status=RunStatus.LOST, ended_at=ended, reason=reason)
                lost.append(run)  # this reader found it: it sends the alert (once: set_status is atomic)
            else:
                run = store.get_run(run.id)
        out.append(run)
    if lost:
        _alert_lost(store, lost)
    return out


def _alert_lost(store: Store, runs: Sequence[RunRecord]) -> None:
    """``lost`` alerts to the project's targets (gatebook.notify), waiting a few seconds at most."""
    from gatebook.notify import event_document, project_targets, send_now

    targets = project_targets()
    if targets:
        send_now(targets, store, [event_document("lost", r, f"gatebook: {r.label} lost: {r.reason}",
                                                 {"reason": r.reason, "host": r.host, "pid": r.pid})
                                  for r in runs], timeout=5.0)


def current(store: Store, runs: Sequence[RunRecord], *, lost_after: float | None = None) -> list[RunRecord]:
    """``runs`` as they are now: the one call every reader makes before showing or judging runs.

    Running runs whose process vanished are marked ``lost`` (see :func:`reconcile`); when none of
    ``runs`` is running, nothing is read or written. ``lost_after`` defaults to the setting.
    """
    if not any(r.status is RunStatus.RUNNING for r in runs):
        return list(runs)
    if lost_after is None:
        from gatebook.settings import load_settings

        lost_after = load_settings().lost_after
    return reconcile(store, runs, lost_after=lost_after)


def resolve_current(store: Store, ref: str) -> RunRecord:
    """The run ``ref`` names (id, id prefix or name), as it is now (lost if its process vanished)."""
    return current(store, [store.resolve_run(ref)])[0]
