"""Live updates as server-sent events: what reached the ledger since the last look, pushed to the page.

``GET /api/stream?run=REF`` watches one run. The first event, ``hello``, carries the run and the
ledger's point cursor (``Store.points_cursor``): the page opens the stream first, then reads
its curves, so no point falls between the two (a point both read and pushed is dropped by the
page, which keeps each curve's x increasing). Then, every ``TICK`` seconds, what is new:

- ``points``: ``{"points": {key: [[step, value], ...]}}`` (``Store.metric_points_after``; a
  NaN value is ``"NaN"``, a step logged without one is ``null``);
- ``status``: ``{"status", "reason", "exit_code"}`` when the run's status changes (a running
  run whose process vanished turns ``lost``, as every reader sees it);
- ``event``: each new event of the run (gate tier changes, stop requests, the final verdict),
  as in ``show --json``'s ``events``, plus ``"text"``: the line ``gatebook show`` prints;
- ``output``: ``{"chunks": [[seq, stream, text], ...]}``, output stored after ``output_seq``;
- ``end``: the run has ended and everything it stored has been pushed (``{"ended": true}``), or
  the server is shutting down (``false``); the stream closes.

``GET /api/stream`` (no run) watches the ledger for the runs page: ``run`` events
``{"id", "name", "status", "reason"}`` for each run that started or changed status since the
stream opened. ``once=1`` answers one round and ends (for ``gatebook ui --get`` and tests).
Each event is ``event: KIND`` and ``data: JSON`` (one line; docs/ui.md).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any, AsyncIterator

if TYPE_CHECKING:
    from starlette.requests import Request

    from gatebook.records import RunRecord
    from gatebook.store.base import Store
    from gatebook.ui.app import Context

TICK = 0.25
"""Seconds between two looks at the ledger for one run."""
LEDGER_TICK = 1.0
"""Seconds between two looks for the runs page."""
KEEPALIVE = 15.0
"""A comment line at least this often, so proxies and browsers keep the connection."""


def sse(kind: str, data: Any) -> bytes:
    """One server-sent event (strict JSON: NaN as the string ``"NaN"``)."""
    from gatebook.serialize import json_safe_numbers

    return f"event: {kind}\ndata: {json.dumps(json_safe_numbers(data), allow_nan=False)}\n\n".encode()


class RunWatch:
    """What one run's stream has pushed so far, and what is new since (all reads in a thread)."""

    def __init__(self, store: Store, run: RunRecord, output_seq: int) -> None:
        self.store, self.run = store, run
        self.cursor = store.points_cursor()
        self.output_seq = output_seq
        self.events_seen = len(store.events(run.id))
        self.status = (run.status.value, run.reason, run.exit_code)

    def hello(self) -> list[bytes]:
        r = self.run
        return [sse("hello", {"run": {"id": r.id, "name": r.name, "status": r.status.value}, "cursor": self.cursor})]

    def tick(self) -> tuple[list[bytes], bool]:
        """The events for what is new, and whether the run has ended (nothing more will come)."""
        from gatebook.liveness import current
        from gatebook.render.text import event_text, iso

        store, rid = self.store, self.run.id
        out: list[bytes] = []
        # The status first: a run seen ended here has stored everything before ending.
        run = current(store, [store.get_run(rid)])[0]
        points, self.cursor = store.metric_points_after(rid, self.cursor)
        if points:
            by_key: dict[str, list[list[Any]]] = {}
            for key, step, value, _ts in points:
                by_key.setdefault(key, []).append([step, value])
            out.append(sse("points", {"points": by_key}))
        events = store.events(rid)
        for e in events[self.events_seen:]:
            doc = {"ts": iso(e.ts), "kind": e.kind, "step": e.step, "data": e.data}
            out.append(sse("event", {**doc, "text": event_text(doc)}))
        self.events_seen = len(events)
        chunks = store.output(rid, after_seq=self.output_seq)
        if chunks:
            self.output_seq = chunks[-1][0]
            out.append(sse("output", {"chunks": [[seq, stream, text] for seq, _ts, stream, text in chunks]}))
        status = (run.status.value, run.reason, run.exit_code)
        if status != self.status:
            self.status = status
            out.append(sse("status", {"status": status[0], "reason": status[1], "exit_code": status[2]}))
        return out, run.status.is_terminal


class LedgerWatch:
    """The runs page's stream: runs that started or changed status since it opened."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.since = time.time() - 1.0
        self.seen: dict[str, str] = {}
        self.seen = {r.id: r.status.value for r in self._watched()}

    def _watched(self) -> list[RunRecord]:
        from gatebook.liveness import current
        from gatebook.store.base import RunQuery

        running = self.store.list_runs(RunQuery(statuses=("running",)))
        recent = self.store.list_runs(RunQuery(since=self.since))
        both = {r.id: r for r in [*running, *recent]}
        watched = set(self.seen)
        if watched - set(both):  # runs seen running that are not running any more
            both.update({r.id: r for r in self.store.list_runs(RunQuery(ids=tuple(watched - set(both))))})
        return current(self.store, list(both.values()))

    def tick(self) -> tuple[list[bytes], bool]:
        out = []
        for r in self._watched():
            if self.seen.get(r.id) != r.status.value:
                self.seen[r.id] = r.status.value
                out.append(sse("run", {"id": r.id, "name": r.name, "status": r.status.value, "reason": r.reason}))
        return out, False


def stream(ctx: Context, request: Request) -> Any:
    """The endpoint: a StreamingResponse of events until the client leaves (or the run ends)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import StreamingResponse

    from gatebook.liveness import resolve_current
    from gatebook.ui.api import int_param

    store = ctx.store()
    ref = request.query_params.get("run")
    once = request.query_params.get("once") in ("1", "true")
    if ref:
        seq = int_param(request, "output_seq", -1, -1)
        watch: RunWatch | LedgerWatch = RunWatch(store, resolve_current(store, ref), -1 if seq is None else seq)
        tick, first = TICK, watch.hello()  # type: ignore[union-attr]
    else:
        watch, tick, first = LedgerWatch(store), LEDGER_TICK, [sse("hello", {"cursor": None})]

    async def events() -> AsyncIterator[bytes]:
        for item in first:
            yield item
        quiet = time.monotonic()
        while True:
            items, ended = await run_in_threadpool(watch.tick)
            for item in items:
                yield item
            if items:
                quiet = time.monotonic()
            if ended or once or ctx.stopping.is_set():
                yield sse("end", {"ended": ended})
                return
            if time.monotonic() - quiet > KEEPALIVE:
                quiet = time.monotonic()
                yield b": keep-alive\n\n"
            await asyncio.sleep(tick)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})
