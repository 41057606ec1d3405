"""The dashboard's series cache: read whole once, then only new points, and always what a fresh read gives."""

from __future__ import annotations

import dataclasses
import math
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from gatebook.errors import NotFoundError
from gatebook.records import RunRecord, RunStatus
from gatebook.store import open_store
from gatebook.store.base import Store
from gatebook.testing.store_contract.common import T0, make_run
from gatebook.ui.series import SeriesCache, series_document

KEY = "train/loss"


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'ledger.db'}") as s:
        yield s


def _run(store: Store, name: str = "live") -> RunRecord:
    return store.get_run(store.create_run(make_run(name=name)))


def _log(store: Store, run: RunRecord, steps: Any, key: str = KEY) -> None:
    store.log_metrics([(run.id, key, s, math.nan if s == 13 else 1.0 / (2 + (s or 0)), T0 + i)
                       for i, s in enumerate(steps)])


def _same(store: Store, run: RunRecord, cache: SeriesCache, **kw: Any) -> dict[str, Any]:
    """The cached document, checked against a fresh read of the store (NaN-aware: JSON text)."""
    import json

    got = series_document(store, run, KEY, cache=cache, **kw)
    assert json.dumps(got) == json.dumps(series_document(store, run, KEY, **kw))
    return got


def test_new_points_are_appended_without_a_whole_read(store: Store) -> None:
    run, cache = _run(store), SeriesCache()
    _log(store, run, range(5000))
    assert _same(store, run, cache, buckets=100)["points"] == 5000
    _log(store, run, range(5000, 6000))
    _log(store, _run(store, "other"), range(10))  # another run's points move the cursor only
    assert _same(store, run, cache, buckets=100)["points"] == 6000
    _log(store, run, [5999, 5999, 6000])  # equal steps after the cursor keep storing order
    doc = _same(store, run, cache, start=5990, end=6100)
    assert doc["x"][-4:] == [5999, 5999, 5999, 6000] and not doc["reduced"]
    assert cache.full_reads == 1 and cache.total == 6003 and len(cache) == 1


@pytest.mark.parametrize("tail", [[100, 50], [None], [3]])
def test_a_point_that_cannot_be_appended_makes_a_whole_read(store: Store, tail: list[int | None]) -> None:
    run, cache = _run(store), SeriesCache()
    _log(store, run, range(200))
    _same(store, run, cache, buckets=10)
    _log(store, run, tail)
    doc = _same(store, run, cache, buckets=10)
    assert cache.full_reads == 2 and doc["points"] == 202 - (len(tail) == 1)
    assert doc["indexed"] is (tail == [None])


def test_a_series_without_steps_stays_exact(store: Store) -> None:
    run, cache = _run(store), SeriesCache()
    _log(store, run, [None, 5, None])
    assert _same(store, run, cache)["x"] == [1, 2, 3]
    _log(store, run, [None, 2])
    assert _same(store, run, cache)["x"] == [1, 2, 3, 4, 5]


def test_a_finished_run_is_checked_once_then_never_read(store: Store) -> None:
    run, cache = _run(store), SeriesCache()
    _log(store, run, range(100))
    _same(store, run, cache)
    _log(store, run, range(100, 110))  # its last points, written before it finished
    done = dataclasses.replace(run, status=RunStatus.FINISHED)
    calls: list[Any] = []
    real = store.metric_points_after

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    store.metric_points_after = counting  # type: ignore[method-assign]
    assert _same(store, done, cache)["points"] == 110 and len(calls) == 1
    for _ in range(3):
        assert series_document(store, done, KEY, cache=cache)["points"] == 110
    assert len(calls) == 1 and cache.full_reads == 1


def test_a_write_landing_during_the_whole_read_is_neither_lost_nor_doubled(store: Store) -> None:
    run, cache = _run(store), SeriesCache()
    _log(store, run, range(50))
    real = store.metric_points
    writes = iter([[50], [51], [52]])

    def racing(*args: Any, **kwargs: Any) -> Any:  # a point stored between the cursor and the read
        step = next(writes, None)
        if step is not None:
            _log(store, run, step)
        return real(*args, **kwargs)

    store.metric_points = racing  # type: ignore[method-assign]
    got = series_document(store, run, KEY, cache=cache)
    store.metric_points = real  # type: ignore[method-assign]
    assert got["points"] == 52 and got["x"] == list(range(52))  # two tries, then the slow consistent read
    assert cache.full_reads == 1
    _log(store, run, [52])
    assert _same(store, run, cache)["points"] == 53 and cache.full_reads == 1


def test_memory_is_bounded_least_recently_used_first(store: Store) -> None:
    cache = SeriesCache(max_points=250)
    runs = [_run(store, f"r{i}") for i in range(3)]
    for run in runs:
        _log(store, run, range(100))
    for run in runs:
        _same(store, run, cache)
    assert len(cache) == 2 and cache.total == 200
    _same(store, runs[1], cache)  # used: now the most recent
    _same(store, runs[0], cache)  # read again, evicts runs[2]
    assert cache.full_reads == 4 and len(cache) == 2
    big = _run(store, "big")
    _log(store, big, range(300))
    assert _same(store, big, cache)["points"] == 300  # served, not kept
    assert cache.total <= 250


def test_an_unknown_key_is_not_cached(store: Store) -> None:
    run, cache = _run(store), SeriesCache()
    with pytest.raises(NotFoundError):
        series_document(store, run, "nope", cache=cache)
    assert len(cache) == 0
    _log(store, run, [1, 2], key="nope")
    assert series_document(store, run, "nope", cache=cache)["points"] == 2


def test_threads_share_one_cache_while_points_arrive(store: Store) -> None:
    run, cache = _run(store), SeriesCache()
    _log(store, run, range(1000))
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(20):
                doc = series_document(store, run, KEY, cache=cache, buckets=50)
                assert doc["x"] == sorted(doc["x"]) and doc["points"] >= 1000
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for th in threads:
        th.start()
    for lo in range(1000, 3000, 100):
        _log(store, run, range(lo, lo + 100))
    for th in threads:
        th.join()
    assert not errors
    assert _same(store, run, cache, buckets=50)["points"] == 3000
