"""A run's output as the ledger keeps it: collapsed, redacted, capped, and durable.

:class:`StoredOutput` sits between the output readers (``feed``, any thread) and the flushing
loop (``take``, every flush interval), and decides what each flush writes to ``gb_output``:

* **Collapsed.** Each stream goes through a :class:`~gatebook.capture.terminal.Terminal`:
  progress-bar redraws become the final state of their line. The live echo and the metric
  parsers are not affected (they see the raw text).
* **Redacted.** ``redact`` (when given) is applied to every text before it is stored: complete
  lines, and the state of a line still being drawn.
* **Durable.** A line still being drawn (a progress bar) is stored as it stands once it has been
  unfinished for ``hold`` seconds, at the next flush where it changed: a killed wrapper keeps it.
  That *provisional* chunk is the newest chunk of its stream and never ends with ``\\n``; its
  row is rewritten in place (same ``seq``) while nothing was stored after it, else moved to a new
  ``seq`` (the old row is deleted in the same batch), and the final line replaces it the same
  way. So the ledger never holds two states of one line.
* **Capped.** At most ``limit`` bytes (UTF-8) of finished output per run (0: no limit): the
  first half is kept (the head), then a marker chunk (stream ``gatebook``), then the newest
  output up to the other half (the tail), whole lines on both sides where lines are shorter than
  that. Tail chunks are written as they come (a SIGKILL of the wrapper keeps them); the batch
  that writes newer ones deletes the chunks that fell out of the tail window (the oldest one
  left is rewritten without its first lines) and rewrites the marker with the bytes cut so far:
  the stored output never exceeds the limit, after any flush.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable

from gatebook.capture.terminal import Terminal

Chunk = tuple[int, float, str, str]  # (seq, ts, stream, text)

DEFAULT_HOLD = 1.0
MARKER_STREAM = "gatebook"
_MARKER_ROOM = 256  # bytes of the limit left for the marker line


def human_size(n: int) -> str:
    """``8388608`` -> ``8 MiB``; ``1500`` -> ``1.5 KiB``; ``100`` -> ``100 bytes``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n // size} {unit}" if n % size == 0 else f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def marker_text(cut: int, limit: int) -> str:
    return (f"[gatebook: {cut:,} bytes of output cut here; limit {human_size(limit)} "
            f"(output.limit in gatebook.yaml or GATEBOOK_OUTPUT_LIMIT)]\n")


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def _head_of(text: str, room: int, *, cut_line: bool) -> str:
    """The longest start of ``text`` within ``room`` bytes that ends a line; with ``cut_line``,
    when no line end fits, as much of the first line as fits."""
    data = text.encode("utf-8", "replace")[:room]
    end = data.rfind(b"\n") + 1
    return data[:end or (len(data) if cut_line else 0)].decode("utf-8", "ignore")


def _tail_of(text: str, room: int, *, cut_line: bool) -> str:
    """The longest end of ``text`` within ``room`` bytes that starts a line; with ``cut_line``,
    when no line starts there, as much of the last line as fits."""
    data = text.encode("utf-8", "replace")
    if len(data) <= room:
        return text
    cut = len(data) - room
    start = data.find(b"\n", cut - 1) + 1
    if 0 < start < len(data):
        return data[start:].decode("utf-8", "ignore")
    return data[cut:].decode("utf-8", "ignore") if cut_line else ""


class _Stream:
    __slots__ = ("name", "term", "since", "seq", "stored")

    def __init__(self, name: str) -> None:
        self.name = name
        self.term = Terminal()
        self.since: float | None = None  # when the line being drawn started
        self.seq: int | None = None  # the seq of its provisional chunk, once stored
        self.stored: str | None = None  # the text of that chunk


class StoredOutput:
    """The stored form of one run's output. Thread-safe."""

    def __init__(self, *, limit: int = 0, redact: Callable[[str], str] | None = None,
                 hold: float = DEFAULT_HOLD) -> None:
        self.limit = max(0, int(limit))
        self.redact = redact
        self.hold = hold
        self.lock = threading.Lock()
        self.seq = 0
        self.cut = 0  # bytes of finished output left out (the middle of an over-limit output)
        self._streams: dict[str, _Stream] = {}
        self._ready: list[Chunk] = []
        self._delete: list[int] = []
        self._head_room = self.limit // 2
        self._tail_room = max(1, self.limit - self._head_room - _MARKER_ROOM)
        self._marker_seq: int | None = None  # reserved when the head is full
        self._marker_due = False
        self._tail: deque[list[Any]] = deque()  # [seq, ts, stream, text, bytes] of the stored tail chunks
        self._tail_bytes = 0

    # -- from the readers ------------------------------------------------------------------------
    def feed(self, stream: str, text: str, ts: float | None = None) -> None:
        """Raw text of ``stream`` (chunks cut anywhere)."""
        ts = time.time() if ts is None else ts
        with self.lock:
            st = self._streams.get(stream)
            if st is None:
                st = self._streams[stream] = _Stream(stream)
            done = st.term.feed(text)
            if done:
                self._finished(st, done, ts)
            if not st.term.partial:
                st.since = None
            elif st.since is None or done:
                st.since = ts

    def close(self, ts: float | None = None) -> None:
        """The output ended: every line still being drawn is stored as it stands."""
        ts = time.time() if ts is None else ts
        with self.lock:
            for st in self._streams.values():
                rest = st.term.close()
                if rest:
                    self._finished(st, rest, ts)
                elif st.seq is not None:  # the line was erased before the end
                    self._delete.append(st.seq)
                    st.seq = st.stored = None
                st.since = None

    # -- to the flushing loop -----------------------------------------------------------------------
    def take(self, now: float | None = None) -> tuple[list[Chunk], list[int]]:
        """What the next batch writes: chunks to upsert (by seq) and the seqs of chunks to
        delete first. Both are applied in one transaction."""
        now = time.time() if now is None else now
        with self.lock:
            for st in self._streams.values():
                self._provisional(st, now)
            if self._marker_due and self._marker_seq is not None:
                self._ready.append((self._marker_seq, now, MARKER_STREAM, marker_text(self.cut, self.limit)))
                self._marker_due = False
            chunks, self._ready = self._ready, []
            delete, self._delete = self._delete, []
        if len(chunks) > 1:  # a chunk written and then trimmed: its last text only
            chunks = list({c[0]: c for c in chunks}.values())
        if delete:  # a chunk cut from the tail before it was ever written
            gone = set(delete)
            chunks = [c for c in chunks if c[0] not in gone]
        return chunks, delete

    # -- inside (the lock held) -----------------------------------------------------------------------
    def _next(self) -> int:
        seq = self.seq
        self.seq += 1
        return seq

    def _finished(self, st: _Stream, text: str, ts: float) -> None:
        seq = self._claim(st)
        st.seq = st.stored = None
        if self.redact is not None:
            text = self.redact(text)
        if text:
            self._admit(seq, ts, st.name, text)
        else:  # nothing left to store: drop the provisional row (if it was stored)
            self._delete.append(seq)

    def _claim(self, st: _Stream) -> int:
        """The seq for the stream's next text: its provisional row's when that is still the newest
        row, else a new one (the provisional row is then deleted)."""
        if st.seq is not None:
            if st.seq == self.seq - 1:
                return st.seq
            self._delete.append(st.seq)
        return self._next()

    def _provisional(self, st: _Stream, now: float) -> None:
        partial = st.term.partial
        if not partial:
            if st.seq is not None:
                self._delete.append(st.seq)
                st.seq = st.stored = None
            return
        if st.since is None or now - st.since < self.hold:
            return
        text = self.redact(partial) if self.redact is not None else partial
        if text == st.stored:
            return
        st.seq = self._claim(st)
        st.stored = text
        self._ready.append((st.seq, now, st.name, text))

    def _admit(self, seq: int, ts: float, stream: str, text: str) -> None:
        """A finished text, through the cap."""
        if not self.limit:
            self._ready.append((seq, ts, stream, text))
            return
        size = _size(text)
        if self._marker_seq is None:  # still filling the head
            if size <= self._head_room:
                self._head_room -= size
                self._ready.append((seq, ts, stream, text))
                return
            head = (_head_of(text, self._head_room, cut_line=self._head_room == self.limit // 2)
                    if self._head_room else "")
            self._head_room = 0
            if head:
                self._ready.append((seq, ts, stream, head))
                text = text[len(head):]
            else:  # all of it goes after the marker (a provisional row of this seq goes)
                self._delete.append(seq)
            self._marker_seq = self._next()
            seq = self._next()
            if not text:
                return
            size = _size(text)
        if size > self._tail_room:
            kept = _tail_of(text, self._tail_room, cut_line=True)
            self.cut += size - _size(kept)
            self._marker_due = True
            text, size = kept, _size(kept)
        self._ready.append((seq, ts, stream, text))
        self._tail.append([seq, ts, stream, text, size])
        self._tail_bytes += size
        while self._tail_bytes > self._tail_room and self._tail:
            self._marker_due = True
            oldest = self._tail[0]
            excess = self._tail_bytes - self._tail_room
            kept = _tail_of(oldest[3], oldest[4] - excess, cut_line=False) if oldest[4] > excess else ""
            n = _size(kept)
            self.cut += oldest[4] - n
            self._tail_bytes -= oldest[4] - n
            if kept:  # the oldest chunk loses its first lines: rewritten under its seq
                oldest[3], oldest[4] = kept, n
                self._ready.append((oldest[0], oldest[1], oldest[2], kept))
            else:
                self._tail.popleft()
                self._delete.append(oldest[0])
