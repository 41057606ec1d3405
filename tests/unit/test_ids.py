"""Run ids: one process never hands out the same id twice, even when the random part repeats."""

from __future__ import annotations

import threading
from pathlib import Path

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


CLAIMER = """
import sys
import gatebook.ids as ids
ids._random_part = lambda: 7  # every process draws the same random part at the same instant
print(" ".join(ids.claim_run_id(sys.argv[1], now=float(sys.argv[2])) for _ in range(5)))
"""


def test_processes_that_draw_the_same_ids_claim_distinct_ones(tmp_path: Path) -> None:
    import subprocess
    import sys

    ledger = str(tmp_path / "ledger.db")
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, ledger, str(NOW)], stdout=subprocess.PIPE, text=True)
             for _ in range(6)]
    got = [i for p in procs for i in p.communicate(timeout=60)[0].split()]
    assert all(p.returncode == 0 for p in procs)
    assert len(got) == 30 and len(set(got)) == 30  # without the claims: 6 copies of the same 5 ids
    assert len({i[:TIME_CHARS] for i in got}) == 1
    # each process alone gives the same ids: the claims are what kept them apart
    alone = subprocess.run([sys.executable, "-c", CLAIMER, str(tmp_path / "other.db"), str(NOW)],
                           capture_output=True, text=True, timeout=60).stdout.split()
    assert set(alone) < set(got) and len(set(alone)) == 5


def test_a_claimed_id_is_given_once_and_an_unusable_claim_file_still_gives_an_id(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    first = ids.claim_run_id(ledger, NOW)
    assert ids.claim_run_id(ledger, NOW, first) != first  # claimed already: a fresh one
    mine = new_run_id(NOW)
    assert ids.claim_run_id(ledger, NOW, mine) == mine  # nobody claimed it: it is kept
    claims = (tmp_path / "ledger.db.run-ids").read_text().split()
    assert claims[0] == first and mine in claims and len(claims) == len(set(claims)) == 3
    nowhere = tmp_path / "missing" / "ledger.db"  # the directory does not exist: not claimed, still an id
    assert looks_like_id_prefix(ids.claim_run_id(nowhere, NOW))
