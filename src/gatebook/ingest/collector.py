"""The buffer between a supervised process's output and watched files and the ledger: one batch per flush."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from gatebook.store.base import Store


class Collector:
    """Thread-safe buffer between the output readers and the flushing loop.

    The metric parsers read the raw text; what is stored goes through
    :class:`~gatebook.capture.stored.StoredOutput`: progress-bar redraws collapsed to the line's
    final state, ``redact`` applied to it (never to what the parsers or the live echo see), at
    most ``output_limit`` bytes kept (its head and its tail; ``None``: GATEBOOK_OUTPUT_LIMIT or
    the default, 0: all)."""

    def __init__(self, run_id: str, parsers: dict[str, Any], redact: Callable[[str], str] | None = None,
                 *, output_limit: int | None = None) -> None:
        from gatebook.capture.stored import StoredOutput
        from gatebook.settings import output_limit as default_limit

        self.run_id = run_id
        self.parsers = parsers
        self.lock = threading.Lock()
        self.output = StoredOutput(limit=default_limit() if output_limit is None else output_limit, redact=redact)
        self.points: list[tuple[str, str, int | None, float, float]] = []
        self.total_points = 0

    def on_output(self, stream: str, text: str) -> None:
        ts = time.time()
        pts = self.parsers[stream].feed(text) if stream in self.parsers else []
        self.output.feed(stream, text, ts)
        if pts:
            with self.lock:
                rid = self.run_id
                self.points.extend((rid, k, s, v, ts) for k, s, v in pts)
                self.total_points += len(pts)

    def add_points(self, pts: list[tuple[str, int | None, float]]) -> None:
        """Points from a watched file."""
        if not pts:
            return
        ts = time.time()
        with self.lock:
            self.points.extend((self.run_id, k, s, v, ts) for k, s, v in pts)
            self.total_points += len(pts)

    def close(self) -> None:
        """The output ended: last lines without a newline are parsed, and the lines still being
        drawn are stored as they stand."""
        ts = time.time()
        with self.lock:
            for parser in self.parsers.values():
                pts = parser.close()
                self.points.extend((self.run_id, k, s, v, ts) for k, s, v in pts)
                self.total_points += len(pts)
        self.output.close()

    def flush(self, store: Store, *, beat: bool) -> None:
        """Write what was collected (and a heartbeat) in one batch."""
        from gatebook.store.base import WriteBatch

        chunks, deletes = self.output.take()
        with self.lock:
            points: list[Any] = self.points
            self.points = []
        batch = WriteBatch(metrics=points)
        if deletes:
            batch.output_deletes.append((self.run_id, deletes))
        if chunks:
            batch.output.append((self.run_id, chunks))
        if beat:
            batch.heartbeats.append((self.run_id, time.time()))
        store.write(batch)
