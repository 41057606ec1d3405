"""Run ids: one process never hands out the same id twice, even when the random part repeats."""

from __future__ import annotations

import threading

import pytest

import gatebook.ids as ids
from gatebook.ids import ID_LENGTH, TIME_CHARS, looks_like_id_prefix, new_run_id

NOW = 1_800_000_000.0


def test_a_burst_in_one_millisecond_gives_distinct_ids() -> None:
    burst = [new_run_id(NOW + 0.0001) for _ in range(2000)]
    assert len(set(burst)) == 2000
    assert all(len(i) == ID_LENGTH and looks_like_id_prefix(i) for i in burst)
    assert len({i[:TIME_CHARS] for i in burst}) == 1  # the same millisecond: still sortable by time


def test_concurrent_threads_with_a_repeating_random_part_get_distinct_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_random_part", lambda: 5)  # every draw collides
    n = 16
    barrier = threading.Barrier(n)
    got: list[str] = []
    lock = threading.Lock()

    def make() -> None:
        barrier.wait(timeout=30)
        for _ in range(10):
            rid = new_run_id(NOW + 1)
            with lock:
                got.append(rid)

    threads = [threading.Thread(target=make) for _ in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert len(got) == n * 10 and len(set(got)) == n * 10
    assert len({i[:TIME_CHARS] for i in got}) == 1


def test_a_full_millisecond_moves_on_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_issued", type(ids._issued)())
    now = NOW + 2
    full = {new_run_id(now) for _ in range(32**ids.RANDOM_CHARS)}
    assert len(full) == 32**ids.RANDOM_CHARS and len({i[:TIME_CHARS] for i in full}) == 1
    after = new_run_id(now)
    assert after not in full and after[:TIME_CHARS] > next(iter(full))[:TIME_CHARS]


def test_the_memory_of_issued_ids_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_issued", type(ids._issued)())
    for i in range(ids._ISSUED_MS_KEPT * 3):
        new_run_id(NOW + 3 + i / 1000)
    assert len(ids._issued) == ids._ISSUED_MS_KEPT
