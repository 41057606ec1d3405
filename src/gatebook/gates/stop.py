"""`gatebook stop`: record a stop from any shell, signal a run recorded by the API alone, wait for its end.

A run under ``gatebook run`` / ``gatebook attach`` is stopped by its supervisor, which sees the
recorded ``stop`` event (:func:`gatebook.gates.live.record_stop`) within a second. A run recorded
by the Python API alone has no supervisor: its own process gets SIGTERM from here, then SIGKILL
after the grace period (same host only, and only while the pid is still that run's process).
"""

from __future__ import annotations

import os
import signal
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gatebook.errors import UsageError
from gatebook.records import RunRecord, RunStatus

if TYPE_CHECKING:
    from gatebook.store.base import Store

SUPERVISED_SOURCES = ("wrapper", "attach")
"""Run sources whose supervisor stops the process itself once the stop is recorded."""


@dataclass(frozen=True)
class StopOutcome:
    """What ``gatebook stop`` did: the run as recorded afterwards, whether this process sent
    the signals (an API-only run), and whether the run's process is known to have ended."""

    run: RunRecord
    signalled: bool
    ended: bool

    def to_dict(self) -> dict[str, Any]:
        """The ``gatebook stop --json`` document."""
        return {**self.run.ref(), "reason": self.run.reason, "signalled": self.signalled, "ended": self.ended}


def stop_run(store: Store, ref: str, *, reason: str | None, grace: float, wait: bool) -> StopOutcome:
    """Stop the running run ``ref`` names: record the stop (reason, by whom), signal it when
    nobody supervises it, and with ``wait`` wait up to ``grace`` + 5 s for its process to end."""
    from gatebook.gates.live import record_stop, who
    from gatebook.liveness import resolve_current

    record = resolve_current(store, ref)
    if record.status is not RunStatus.RUNNING:
        raise UsageError(f"run {record.label} is not running (it is {record.status.value})",
                         hint="`gatebook ls --status running` lists the running runs")
    by = who()
    record_stop(store, record.id, reason or f"stopped by {by}", by)
    signalled = False
    if record.source not in SUPERVISED_SOURCES:
        signalled = signal_api_run(record, grace)
    ended = wait_gone(record, grace + 5.0) if wait else False
    return StopOutcome(store.get_run(record.id), signalled, ended)


def same_process(record: RunRecord) -> bool:
    """Whether the run's pid on this host is still the process that recorded it (same start time)."""
    from gatebook.capture.recorder import process_start_time

    if record.host != socket.gethostname() or not record.pid:
        return False
    started = process_start_time(record.pid)
    return started is not None and (record.pid_start is None or abs(started - record.pid_start) <= 1.0)


def signal_api_run(record: RunRecord, grace: float) -> bool:
    """SIGTERM to a run's own process (not its group: that may be the user's shell job), then
    SIGKILL after ``grace`` seconds if it is still there. False when it is not ours to signal."""
    if not same_process(record) or not record.pid:
        return False
    try:
        os.kill(record.pid, signal.SIGTERM)
    except OSError:
        return False
    end = time.monotonic() + grace
    while time.monotonic() < end and same_process(record):
        time.sleep(0.05)
    if same_process(record):
        try:
            os.kill(record.pid, signal.SIGKILL)
        except OSError:
            pass
    return True


def wait_gone(record: RunRecord, timeout: float) -> bool:
    """Wait up to ``timeout`` s for the run's process to end; True once it has (a process on
    another host is never seen ending: False)."""
    if not same_process(record):
        return record.host == socket.gethostname()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not same_process(record):
            return True
        time.sleep(0.05)
    return False
