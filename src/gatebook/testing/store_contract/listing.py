"""The store contract on listing and counting runs: globs, filters, sorting, limits."""

from __future__ import annotations

from typing import Any

import pytest

from gatebook.errors import StoreError
from gatebook.ids import new_run_id
from gatebook.records import RunStatus
from gatebook.store.base import RunQuery, Store, WriteBatch
from gatebook.testing.store_contract.common import T0, ContractBase


class ListingContract(ContractBase):
    """list_runs and count_runs."""

    # -- list / count ---------------------------------------------------------------------------
    def test_list_runs_name_glob(self, store: Store) -> None:
        for i, name in enumerate(["lr-0.1", "lr-0.01", "lr-1", "wd-0.1", "LR-9", None]):
            self._create(store, name=name, created_at=T0 + i)

        def names(glob: str) -> set[str | None]:
            return set(self._names(store.list_runs(RunQuery(name_glob=glob))))

        assert names("lr-*") == {"lr-0.1", "lr-0.01", "lr-1"}
        assert names("*0.1") == {"lr-0.1", "wd-0.1"}
        assert names("lr-?") == {"lr-1"}
        assert names("lr-0.?") == {"lr-0.1"}
        assert names("*") == {"lr-0.1", "lr-0.01", "lr-1", "wd-0.1", "LR-9"}
        assert names("lr-1") == {"lr-1"}
        assert names("nothing*") == set()

    def test_list_runs_name_glob_is_case_sensitive(self, store: Store) -> None:
        self._create(store, name="lr-1")
        self._create(store, name="LR-2")
        assert self._names(store.list_runs(RunQuery(name_glob="lr-*"))) == ["lr-1"]
        assert self._names(store.list_runs(RunQuery(name_glob="LR-?"))) == ["LR-2"]
        assert self._names(store.list_runs(RunQuery(name_glob="lr-2"))) == []

    def test_list_runs_name_glob_percent_and_underscore_are_literal(self, store: Store) -> None:
        for i, name in enumerate(["a%b", "axb", "a_b", "ayb", "50%_done", "50xydone", "a\\b"]):
            self._create(store, name=name, created_at=T0 + i)

        def names(glob: str) -> set[str | None]:
            return set(self._names(store.list_runs(RunQuery(name_glob=glob))))

        assert names("a%b") == {"a%b"}
        assert names("a_b") == {"a_b"}
        assert names("a%*") == {"a%b"}
        assert names("a_?") == {"a_b"}
        assert names("*%_*") == {"50%_done"}
        assert names("a?b") == {"a%b", "axb", "a_b", "ayb", "a\\b"}
        assert names("a\\*") == {"a\\b"}

    def test_list_runs_filters(self, store: Store) -> None:
        parent = self._create(store, name="parent", created_at=T0, tags=("base",))
        r1 = self._create(store, name="r1", created_at=T0 + 10, tags=("x", "y"), group="g1", parent_id=parent.id)
        r2 = self._create(store, name="r2", created_at=T0 + 20, tags=("x",), group="g1")
        r3 = self._create(store, name="r3", created_at=T0 + 30, tags=("y",), group="g2", parent_id=parent.id)
        store.set_status(r2.id, RunStatus.FINISHED, ended_at=T0 + 25)
        store.set_status(r3.id, RunStatus.FAILED, ended_at=T0 + 35)

        def ids(**kw: Any) -> set[str]:
            return {r.id for r in store.list_runs(RunQuery(**kw))}

        assert ids() == {parent.id, r1.id, r2.id, r3.id}
        assert ids(tags=("x",)) == {r1.id, r2.id}
        assert ids(tags=("x", "y")) == {r1.id}  # tags are ANDed
        assert ids(tags=("x", "nope")) == set()
        assert ids(statuses=("finished",)) == {r2.id}
        assert ids(statuses=("finished", "failed")) == {r2.id, r3.id}
        assert ids(statuses=("running",)) == {parent.id, r1.id}
        assert ids(group="g1") == {r1.id, r2.id}
        assert ids(parent_id=parent.id) == {r1.id, r3.id}
        assert ids(since=T0 + 20) == {r2.id, r3.id}  # inclusive
        assert ids(since=T0 + 1000) == set()
        assert ids(ids=(r1.id, r3.id, new_run_id())) == {r1.id, r3.id}
        # every filter is ANDed
        assert ids(group="g1", tags=("x",), statuses=("running",), since=T0 + 5) == {r1.id}
        assert ids(name_glob="r*", parent_id=parent.id, group="g2") == {r3.id}
        # the records carry their tags
        got = {r.id: r for r in store.list_runs()}
        assert set(got[r1.id].tags) == {"x", "y"} and got[r1.id].group == "g1"
        assert got[r2.id].status is RunStatus.FINISHED

    def test_list_runs_sort_and_limit(self, store: Store) -> None:
        # created order: b, c, a ; durations: a=5, b=30, c=1 ; statuses: a=failed b=finished c=stopped
        rb = self._create(store, name="b", created_at=T0)
        rc = self._create(store, name="c", created_at=T0 + 10)
        ra = self._create(store, name="a", created_at=T0 + 20)
        store.set_status(ra.id, RunStatus.FAILED, ended_at=T0 + 25)
        store.set_status(rb.id, RunStatus.FINISHED, ended_at=T0 + 30)
        store.set_status(rc.id, RunStatus.STOPPED, ended_at=T0 + 11)

        def order(sort: str | None = None, limit: int = 0) -> list[str | None]:
            query = RunQuery(limit=limit) if sort is None else RunQuery(sort=sort, limit=limit)
            return self._names(store.list_runs(query))

        assert order() == ["a", "c", "b"]  # default: newest first
        assert order("-created") == ["a", "c", "b"]
        assert order("created") == ["b", "c", "a"]
        assert order("name") == ["a", "b", "c"]
        assert order("-name") == ["c", "b", "a"]
        assert order("status") == ["a", "b", "c"]  # failed < finished < stopped
        assert order("-status") == ["c", "b", "a"]
        assert order("duration") == ["c", "a", "b"]
        assert order("-duration") == ["b", "a", "c"]
        assert order(limit=2) == ["a", "c"]
        assert order("name", limit=1) == ["a"]
        assert order(limit=0) == ["a", "c", "b"]
        with pytest.raises(StoreError):
            store.list_runs(RunQuery(sort="no_such_column"))
        with pytest.raises(StoreError):
            store.list_runs(RunQuery(sort="-provenance; DROP TABLE x"))

    def test_running_runs_sort_last_by_duration_on_every_backend(self, store: Store) -> None:
        done = self._create(store, name="done", created_at=T0)
        store.set_status(done.id, RunStatus.FINISHED, ended_at=T0 + 5)
        self._create(store, name="live", created_at=T0 + 1)  # no end yet: no duration
        assert self._names(store.list_runs(RunQuery(sort="duration"))) == ["done", "live"]
        assert self._names(store.list_runs(RunQuery(sort="-duration"))) == ["done", "live"]

    def test_nul_characters_never_block_a_write(self, store: Store) -> None:
        run = self._create(store)
        store.write(WriteBatch(output=[(run.id, [(0, T0, "stdout", "bin\x00ary\n")])],
                               notes=[(run.id, T0, "a\x00b")],
                               metrics=[(run.id, "k\x00", 1, 1.0, T0)]))
        assert store.output(run.id)[0][3] == "bin\ufffdary\n"
        assert store.notes(run.id)[0].text == "a\ufffdb"
        assert list(store.metric_stats([run.id])[run.id]) == ["k\ufffd"]

    def test_count_runs(self, store: Store) -> None:
        assert store.count_runs() == 0
        for _ in range(5):
            self._create(store)
        assert store.count_runs() == 5
        assert len(store.list_runs()) == 5

    def test_replicate_sets_are_kept_and_selected(self, store: Store) -> None:
        for i in range(3):
            self._create(store, name="cfg", replicate="r-abc" if i < 2 else None, created_at=T0 + i)
        other = self._create(store, name="cfg")
        store.update_run(other.id, replicate="r-def")
        assert [r.replicate for r in store.list_runs(RunQuery(sort="created"))] == ["r-abc", "r-abc", None, "r-def"]
        assert len(store.list_runs(RunQuery(replicate="r-abc"))) == 2 == store.count_runs(RunQuery(replicate="r-abc"))
        assert store.get_run(other.id).replicate == "r-def"

    def test_pages_and_filtered_counts(self, store: Store) -> None:
        for i in range(7):
            self._create(store, name=f"r{i}", created_at=T0 + i, tags=("even",) if i % 2 == 0 else ())
        assert store.count_runs(RunQuery(tags=("even",))) == 4
        assert store.count_runs(RunQuery(name_glob="r?", tags=("even",), limit=1, offset=5)) == 4
        everyone = self._names(store.list_runs(RunQuery(sort="created")))
        pages = [self._names(store.list_runs(RunQuery(sort="created", limit=3, offset=o))) for o in (0, 3, 6, 9)]
        assert pages == [everyone[:3], everyone[3:6], everyone[6:], []]
        evens = store.list_runs(RunQuery(tags=("even",), sort="-created", limit=2, offset=1))
        assert self._names(evens) == ["r4", "r2"] and all(r.tags == ("even",) for r in evens)
