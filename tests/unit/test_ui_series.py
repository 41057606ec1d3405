"""The dashboard's series document, on a real SQLite ledger with a 100,000-point run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterator

import pytest

from gatebook.errors import NotFoundError, UsageError
from gatebook.records import RunRecord
from gatebook.store import open_store
from gatebook.store.base import Store, WriteBatch
from gatebook.testing.store_contract.common import T0, make_run
from gatebook.ui.series import series_document

N = 100_000
SPIKE = 61_234


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, RunRecord]]:
    path: Path = tmp_path_factory.mktemp("ui_series") / "ledger.db"
    with open_store(f"sqlite:///{path}") as store:
        run = store.get_run(store.create_run(make_run(name="long")))
        batch = WriteBatch()
        for step in range(N):
            value = 1e6 if step == SPIKE else (math.nan if step == 500 else 1.0 / (1 + step))
            batch.metrics.append((run.id, "train/loss", step, value, T0 + step * 1e-3))
        batch.metrics.append((run.id, "val/loss", 0, 0.5, T0))
        batch.metrics.extend((run.id, "lr", None, 0.1 * i, T0 + i) for i in range(3))
        store.write(batch)
        yield store, run


def test_the_document_has_the_chart_columns_and_keeps_the_spike(ledger: tuple[Store, RunRecord]) -> None:
    store, run = ledger
    doc = series_document(store, run, "train/loss")
    assert doc["run"] == {"id": run.id, "name": "long"} and doc["key"] == "train/loss"
    assert doc["points"] == doc["in_range"] == N and doc["reduced"] is True and doc["buckets"] == 2000
    assert doc["range"] == [0, N - 1] and doc["start"] is None and doc["end"] is None and doc["indexed"] is False
    columns = ("x", "x_first", "min", "min_x", "max", "max_x", "last", "nan")
    assert all(len(doc[c]) == 2000 for c in columns)
    assert max(m for m in doc["max"] if m is not None) == 1e6 and SPIKE in doc["max_x"]
    assert sum(doc["nan"]) == 1 and doc["nan_x"] == [500]
    assert doc["x"][-1] == N - 1 and doc["last"][-1] == pytest.approx(1.0 / N)
    json.dumps(doc, allow_nan=False)  # strict JSON: no NaN or Infinity leaks out


def test_a_zoomed_range_comes_back_at_full_resolution(ledger: tuple[Store, RunRecord]) -> None:
    store, run = ledger
    doc = series_document(store, run, "train/loss", start=61_000, end=61_999)
    assert doc["reduced"] is False and doc["points"] == N and doc["in_range"] == 1000
    assert doc["x"] == list(range(61_000, 62_000)) and doc["start"] == 61_000 and doc["end"] == 61_999
    assert doc["last"][SPIKE - 61_000] == 1e6 and doc["min"] == doc["max"] == doc["last"]
    around_nan = series_document(store, run, "train/loss", start=499, end=501)
    assert around_nan["last"][1] is None and around_nan["nan_x"] == [500] and around_nan["nan"] == [0, 1, 0]
    wide = series_document(store, run, "train/loss", buckets=100, start=10_000, end=89_999)
    assert wide["reduced"] and len(wide["x"]) == 100 and wide["in_range"] == 80_000
    assert wide["x_first"][0] == 10_000 and wide["x"][-1] == 89_999
    empty = series_document(store, run, "train/loss", start=N + 10, end=N + 20)
    assert empty["in_range"] == 0 and empty["x"] == [] and empty["range"] == [0, N - 1]


def test_a_series_without_steps_is_drawn_by_point_number(ledger: tuple[Store, RunRecord]) -> None:
    store, run = ledger
    doc = series_document(store, run, "lr")
    assert doc["indexed"] is True and doc["reduced"] is False and doc["x"] == [1, 2, 3]
    assert doc["last"] == pytest.approx([0.0, 0.1, 0.2])


def test_an_unknown_key_names_the_closest_keys(ledger: tuple[Store, RunRecord]) -> None:
    store, run = ledger
    with pytest.raises(NotFoundError) as err:
        series_document(store, run, "train/los")
    assert "never logged 'train/los'" in err.value.message
    assert err.value.hint is not None and err.value.hint.startswith("it has: train/loss")


def test_bad_arguments_are_usage_errors(ledger: tuple[Store, RunRecord]) -> None:
    store, run = ledger
    with pytest.raises(UsageError):
        series_document(store, run, "train/loss", buckets=0)
    with pytest.raises(UsageError):
        series_document(store, run, "train/loss", start=10, end=5)
