"""capture/stored.py: what the ledger keeps of a run's output (collapsed, redacted, capped,
durable), checked against a model of gb_output that applies each flush as the store does."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from gatebook.capture.stored import MARKER_STREAM, StoredOutput, human_size, marker_text
from gatebook.errors import ConfigError
from gatebook.settings import DEFAULT_OUTPUT_LIMIT, output_limit, parse_size


class Ledger:
    """gb_output of one run: each flush deletes its seqs, then upserts its chunks by seq."""

    def __init__(self, out: StoredOutput) -> None:
        self.out = out
        self.rows: dict[int, tuple[float, str, str]] = {}
        self.batches = 0

    def flush(self, now: float) -> tuple[list, list]:
        chunks, deletes = self.out.take(now)
        for seq in deletes:
            self.rows.pop(seq, None)
        for seq, ts, stream, text in chunks:
            self.rows[seq] = (ts, stream, text)
        self.batches += 1
        return chunks, deletes

    def chunks(self) -> list[tuple[int, str, str]]:
        return [(seq, self.rows[seq][1], self.rows[seq][2]) for seq in sorted(self.rows)]

    def text(self, stream: str | None = None) -> str:
        return "".join(t for _, s, t in self.chunks() if stream is None or s == stream)

    def size(self) -> int:
        return sum(len(t.encode()) for _, _, t in self.chunks())


def test_a_progress_bar_is_stored_once_in_its_final_state() -> None:
    out = StoredOutput(hold=1.0)
    ledger = Ledger(out)
    out.feed("stdout", "epoch 1\n", 0.0)
    out.feed("stderr", "  0%|   | 0/3", 0.0)
    assert ledger.flush(0.5)[0] == [(0, 0.0, "stdout", "epoch 1\n")]  # the bar is young: held back
    out.feed("stderr", "\r 33%|#  | 1/3", 1.0)
    assert ledger.flush(1.2)[0] == [(1, 1.2, "stderr", " 33%|#  | 1/3")]  # drawn for a while: stored
    out.feed("stderr", "\r 66%|## | 2/3", 1.3)
    assert ledger.flush(1.4)[0] == [(1, 1.4, "stderr", " 66%|## | 2/3")]  # rewritten in place
    assert ledger.flush(1.6) == ([], [])  # unchanged: nothing written
    out.feed("stdout", "gatebook: {\"loss\": 1}\n", 1.7)
    out.feed("stderr", "\r100%|###| 3/3\n", 1.8)
    _, deletes = ledger.flush(2.0)
    assert deletes == [1]  # another chunk came after it: the bar moves to the end
    assert ledger.chunks() == [(0, "stdout", "epoch 1\n"), (2, "stdout", "gatebook: {\"loss\": 1}\n"),
                               (3, "stderr", "100%|###| 3/3\n")]


def test_a_line_finished_before_the_hold_is_never_stored_twice() -> None:
    out = StoredOutput(hold=1.0)
    ledger = Ledger(out)
    out.feed("stdout", "Loading", 0.0)
    ledger.flush(0.2)
    out.feed("stdout", "... done\nnext\n", 0.3)
    ledger.flush(0.4)
    assert ledger.chunks() == [(0, "stdout", "Loading... done\nnext\n")]


def test_an_erased_bar_leaves_nothing() -> None:
    """tqdm(leave=False) clears its line at the end."""
    out = StoredOutput(hold=0)
    ledger = Ledger(out)
    out.feed("stderr", "\r 50%|#####     |", 0.0)
    ledger.flush(0.1)
    assert ledger.text() == " 50%|#####     |"
    out.feed("stderr", "\r" + " " * 20 + "\r", 0.2)
    ledger.flush(0.3)
    assert ledger.chunks() == []
    out.close(0.4)
    ledger.flush(0.4)
    assert ledger.chunks() == []


def test_close_stores_the_unfinished_lines_as_they_stand() -> None:
    out = StoredOutput(hold=100)
    ledger = Ledger(out)
    out.feed("stdout", "a\nno newline", 0.0)
    out.feed("stderr", "\r 10%\r 20%", 0.0)
    ledger.flush(0.1)
    assert ledger.text() == "a\n"
    out.close(0.2)
    ledger.flush(0.2)
    assert ledger.text("stdout") == "a\nno newline" and ledger.text("stderr") == " 20%"


def test_redact_applies_to_what_is_stored_whole_lines_and_drawn_lines() -> None:
    seen: list[str] = []

    def redact(text: str) -> str:
        seen.append(text)
        return re.sub(r"tok_[a-z0-9]+", "***", text)

    out = StoredOutput(redact=redact, hold=0)
    ledger = Ledger(out)
    for piece in ["using tok_", "abc123 now\nbar tok_x", "yz9"]:  # a secret cut between chunks
        out.feed("stdout", piece, 0.0)
        ledger.flush(0.1)
    assert "tok_" not in ledger.text()
    out.close(0.2)
    ledger.flush(0.2)
    assert ledger.text() == "using *** now\nbar ***"
    assert "using tok_abc123 now\n" in seen  # the redactor saw the whole line, not the pieces


def test_unlimited_output_keeps_everything() -> None:
    out = StoredOutput(limit=0)
    ledger = Ledger(out)
    lines = [f"line {i}\n" for i in range(5000)]
    for i, line in enumerate(lines):
        out.feed("stdout", line, float(i))
        if i % 100 == 0:
            ledger.flush(float(i))
    ledger.flush(1e9)
    assert ledger.text() == "".join(lines)


@pytest.mark.parametrize("every", [1, 7, 500])
def test_the_cap_keeps_head_marker_and_tail_at_every_flush(every: int) -> None:
    limit = 4096
    out = StoredOutput(limit=limit)
    ledger = Ledger(out)
    lines = [f"line {i:05d} {'é' * (i % 5)}\n" for i in range(3000)]
    for i, line in enumerate(lines):
        out.feed("stdout" if i % 3 else "stderr", line, float(i))
        if i % every == 0:
            ledger.flush(float(i))
            assert ledger.size() <= limit + 200  # bounded while it runs (a SIGKILL keeps this)
    ledger.flush(1e9)
    chunks = ledger.chunks()
    text = "".join(t for _, _, t in chunks)
    assert ledger.size() <= limit
    assert text.startswith(lines[0] + lines[1]) and text.endswith(lines[-2] + lines[-1])
    markers = [c for c in chunks if c[1] == MARKER_STREAM]
    assert len(markers) == 1
    head, tail = text.split(markers[0][2])
    total = sum(len(ln.encode()) for ln in lines)
    assert markers[0][2] == marker_text(total - len(head.encode()) - len(tail.encode()), limit)
    assert out.cut == total - len(head.encode()) - len(tail.encode())
    # whole lines only on each side, in order, none missing between the first and last kept
    kept = head.splitlines(keepends=True) + tail.splitlines(keepends=True)
    assert all(ln in lines for ln in kept)
    idx = [lines.index(ln) for ln in kept]
    assert idx == sorted(idx)
    n_head = len(head.splitlines())
    assert idx[:n_head] == list(range(n_head)) and idx[n_head:] == list(range(idx[n_head], 3000))
    assert len(head.encode()) <= limit // 2
    tail_room = limit - limit // 2 - 256
    assert tail_room - 30 <= len(tail.encode()) <= tail_room  # full, but for less than one line


def test_the_tail_is_filled_when_chunks_are_bigger_than_it() -> None:
    limit = 64 * 1024
    out = StoredOutput(limit=limit)
    ledger = Ledger(out)
    lines = [f"line {i:06d} {'x' * 88}\n" for i in range(50_000)]
    text = "".join(lines)
    for i in range(0, len(text), 65536):  # reads of 64 KiB, the last one short
        out.feed("stdout", text[i:i + 65536], float(i))
        ledger.flush(float(i))
        assert ledger.size() <= limit
    assert ledger.size() > limit - 256 - 2 * 100
    stored = ledger.text("stdout")
    assert stored.startswith(lines[0]) and stored.endswith(lines[-1])
    known = set(lines)
    assert all(ln in known for ln in stored.splitlines(keepends=True))


def test_one_huge_chunk_is_cut_before_it_is_stored() -> None:
    limit = 64 * 1024
    out = StoredOutput(limit=limit)
    ledger = Ledger(out)
    body = "".join(f"row {i}\n" for i in range(500_000))  # ~5 MB in one read
    out.feed("stdout", body, 0.0)
    chunks, _ = ledger.flush(0.1)
    assert sum(len(c[3]) for c in chunks) <= limit
    text = ledger.text()
    assert text.startswith("row 0\nrow 1\n") and text.endswith("row 499999\n")
    assert "bytes of output cut here; limit 64 KiB" in text


def test_a_bar_under_the_cap_is_not_counted_until_final() -> None:
    out = StoredOutput(limit=1000, hold=0)
    ledger = Ledger(out)
    for i in range(10_000):
        out.feed("stderr", f"\r{i:>5}/10000 it", float(i))
        if i % 100 == 0:
            ledger.flush(float(i))
    out.feed("stderr", "\n", 1e4)
    ledger.flush(1e4)
    assert ledger.chunks() == [(0, "stderr", " 9999/10000 it\n")]  # one row, rewritten in place
    assert out.cut == 0 and ledger.batches == 101


def test_random_streams_and_flushes_agree_with_the_whole_text() -> None:
    """Whatever the chunking and flush timing, the final ledger holds each stream's collapsed text."""
    from gatebook.capture.terminal import collapse

    rng = random.Random(7)
    for _ in range(30):
        out = StoredOutput(hold=rng.choice([0, 0.5, 5]))
        ledger = Ledger(out)
        raw = {"stdout": "", "stderr": ""}
        t = 0.0
        for _ in range(200):
            stream = rng.choice(["stdout", "stderr"])
            piece = "".join(rng.choice(["ab", "\r", "\n", " 1%", "x", "\r\n"]) for _ in range(rng.randint(1, 6)))
            raw[stream] += piece
            out.feed(stream, piece, t)
            t += 0.1
            if rng.random() < 0.3:
                ledger.flush(t)
        out.close(t)
        ledger.flush(t)
        for stream, text in raw.items():
            assert ledger.text(stream) == collapse(text)


# -- the limit's configuration ----------------------------------------------------------------------


@pytest.mark.parametrize("raw, size", [
    ("0", 0), ("1000", 1000), ("64KiB", 65536), ("64k", 65536), ("8 MiB", 8 << 20), ("8M", 8 << 20),
    ("20MB", 20_000_000), ("1.5GiB", 3 << 29), ("2kB", 2000), (4096, 4096),
])
def test_parse_size(raw: str | int, size: int) -> None:
    assert parse_size(raw) == size


@pytest.mark.parametrize("raw", ["", "lots", "-1", "8 parsecs", "1e6", True, -5])
def test_parse_size_refuses(raw: str | int) -> None:
    with pytest.raises(ValueError):
        parse_size(raw)


def test_output_limit_resolution() -> None:
    assert output_limit(None, {}) == DEFAULT_OUTPUT_LIMIT == 8 << 20
    assert output_limit(1000, {}) == 1000
    assert output_limit(0, {}) == 0
    assert output_limit(1000, {"GATEBOOK_OUTPUT_LIMIT": "64KiB"}) == 65536  # the environment wins
    assert output_limit(1000, {"GATEBOOK_OUTPUT_LIMIT": ""}) == 1000
    with pytest.raises(ConfigError, match="GATEBOOK_OUTPUT_LIMIT"):
        output_limit(None, {"GATEBOOK_OUTPUT_LIMIT": "lots"})


def test_project_file_output_limit(tmp_path: Path) -> None:
    from gatebook.project_config import load_project_config

    (tmp_path / "gatebook.yaml").write_text("output:\n  limit: 20MB\n")
    assert load_project_config(tmp_path).output.limit == 20_000_000
    (tmp_path / "gatebook.yaml").write_text("ingest: {kv: true}\n")
    assert load_project_config(tmp_path).output.limit is None
    (tmp_path / "gatebook.yaml").write_text("output:\n  limit: huge\n")
    with pytest.raises(ConfigError, match=r"gatebook.yaml:2: output.limit: 'huge' is not a size"):
        load_project_config(tmp_path)


def test_human_size() -> None:
    assert [human_size(n) for n in (100, 1024, 1536, 8 << 20, 20_000_000, 1 << 30)] == [
        "100 bytes", "1 KiB", "1.5 KiB", "8 MiB", "19.1 MiB", "1 GiB"]
