"""The contract's base: the ``store`` fixture a backend provides, shared helpers, and closing a store."""

from __future__ import annotations

import math
import time
from typing import Any, Iterator

import pytest

from gatebook.errors import NotFoundError, StoreError
from gatebook.ids import new_run_id
from gatebook.records import RunRecord, RunStatus
from gatebook.store.base import ArtifactRow, RunQuery, Store, WriteBatch

NAN = float("nan")
INF = float("inf")
T0 = 1_700_000_000.0  # a fixed "now" so tests control ordering by time


def make_run(**fields: Any) -> RunRecord:
    """A running run with a fresh id; ``fields`` override any RunRecord field."""
    created = fields.pop("created_at", None)
    if created is None:
        created = time.time()
    values: dict[str, Any] = {
        "id": new_run_id(created),
        "name": None,
        "status": RunStatus.RUNNING,
        "created_at": created,
    }
    values.update(fields)
    return RunRecord(**values)


def distinct_ids(n: int, now: float) -> list[str]:
    """``n`` different ids created at the same millisecond (so they share 8 characters)."""
    ids: list[str] = []
    while len(ids) < n:
        candidate = new_run_id(now)
        if candidate not in ids:
            ids.append(candidate)
    return ids


def same_float(a: float | None, b: float | None) -> bool:
    """Equality that treats NaN as equal to NaN."""
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b


class ContractBase:
    """What every part of :class:`gatebook.testing.store_contract.StoreContract` stands on."""


    # -- what subclasses provide ---------------------------------------------------------
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """A fresh, empty store; the subclass closes it after the test."""
        raise NotImplementedError("a StoreContract subclass must define the `store` fixture")

    def connections_in_use(self, store: Store) -> int | None:
        """How many connections / file handles ``store`` holds right now (None: cannot tell).

        Override it so that :meth:`test_close_releases_everything` can check for leaks.
        """
        return None

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _create(store: Store, **fields: Any) -> RunRecord:
        run = make_run(**fields)
        store.create_run(run)
        return run

    @staticmethod
    def _names(runs: list[RunRecord]) -> list[str | None]:
        return [r.name for r in runs]

    # =========================================================================================
    # lifecycle
    # =========================================================================================
    def test_close_releases_everything(self, store: Store) -> None:
        run = self._create(store, name="leak-check")
        store.log_metrics([(run.id, "x", 0, 1.0, T0)])
        for _ in range(20):  # successful and failing reads and writes
            store.get_run(run.id)
            store.metric_stats([run.id])
            with pytest.raises(NotFoundError):
                store.get_run(new_run_id())
            with pytest.raises(NotFoundError):
                store.resolve_run("no-such-run")
            with pytest.raises(StoreError):
                store.create_run(run, keep_id=True)
            with pytest.raises(StoreError):
                store.write(WriteBatch(artifacts=[ArtifactRow(run.id, None, "f", 0, None, T0)]))  # type: ignore[arg-type]
            with pytest.raises(StoreError):
                store.list_runs(RunQuery(sort="bogus"))
        in_use = self.connections_in_use(store)
        if in_use is not None:
            assert in_use <= 5, f"{in_use} connections held after sequential use: connections leak"
        store.close()
        after = self.connections_in_use(store)
        if after is not None:
            assert after == 0, f"{after} connections / handles still open after close()"

    def test_context_manager_closes(self, store: Store) -> None:
        with store as s:
            assert s is store
            self._create(s)
        after = self.connections_in_use(store)
        if after is not None:
            assert after == 0
