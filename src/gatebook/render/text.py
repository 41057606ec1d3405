"""Plain-text formatting shared by every output: UTC timestamps, ages, durations, event lines."""

from __future__ import annotations

import datetime as _dt
import functools
import math
import time
from typing import Any, Mapping


def iso(ts: float | None) -> str | None:
    """``2026-12-07T16:49:10Z`` (UTC, whole seconds), or None. (Listing 10,000 runs formats
    20,000 of these: the date of each day is made once.)"""
    if ts is None:
        return None
    day, sec = divmod(math.floor(ts), 86400)
    return f"{_day(day)}T{sec // 3600:02d}:{sec % 3600 // 60:02d}:{sec % 60:02d}Z"


@functools.lru_cache(maxsize=4096)
def _day(day: int) -> str:
    return (_EPOCH + _dt.timedelta(days=day)).isoformat()


_EPOCH = _dt.date(1970, 1, 1)


def ago(ts: float | None, now: float | None = None) -> str:
    """``12s ago``, ``5m ago``, ``3h ago``, ``2d ago``, else the local date."""
    if ts is None:
        return ""
    delta = (time.time() if now is None else now) - ts
    if delta < 60:
        return f"{int(max(delta, 0))}s ago"
    if delta < 3600:
        return f"{int(delta // 60)}m ago"
    if delta < 86400:
        return f"{int(delta // 3600)}h ago"
    if delta < 86400 * 30:
        return f"{int(delta // 86400)}d ago"
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d")


def duration(seconds: float | None) -> str:
    """``4.2s``, ``3m07s``, ``2h05m``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def event_text(event: Mapping[str, Any]) -> str:
    """One line for a run's event (``{"kind", "step", "data"}``): a status change, a gate's
    tier change, a stop request, the final verdict, or any other kind with its data."""
    data = dict(event["data"] or {})
    step = f" at step {event['step']}" if event["step"] is not None else ""
    if event["kind"] == "status":
        text = data.pop("status", "?")
        if "exit_code" in data:
            text += f" (exit {data.pop('exit_code')})"
        if "reason" in data:
            text += f": {data.pop('reason')}"
        return str(text) + step
    if event["kind"] == "gate":
        was = f" (was {data['previous']})" if data.get("previous") else ""
        return f"gate {data.get('gate')} {data.get('tier')}{was}{step}: {data.get('reason', data.get('check'))}"
    if event["kind"] == "stop":
        return f"stop requested by {data.get('by', '?')}{step}: {data.get('reason', '')}"
    if event["kind"] == "verdict":
        gates = ", ".join(f"{k} {v}" for k, v in (data.get("gates") or {}).items())
        return f"final verdict {data.get('verdict')}" + (f" ({gates})" if gates else "")
    rest = ", ".join(f"{k}={v}" for k, v in data.items())
    return f"{event['kind']}{step}" + (f": {rest}" if rest else "")
