"""The contract suite every :class:`gatebook.store.base.Store` backend must pass.

Subclass :class:`StoreContract` in a test module and provide a ``store`` fixture that
yields a fresh, empty store (and closes it afterwards)::

    from gatebook.testing.store_contract import StoreContract

    class TestMyStoreContract(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            s = MyStore(tmp_path / "ledger")
            yield s
            s.close()

Every test here is derived from the docstrings of :mod:`gatebook.store.base` (the
contract); a backend that needs a test changed has found a gap in the contract, not in
the test. A backend may also override :meth:`StoreContract.connections_in_use` so that
the leak test can check that :meth:`Store.close` releases everything.
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterator

import pytest

from gatebook.errors import AmbiguousRunError, NotFoundError, StoreError
from gatebook.ids import new_run_id
from gatebook.records import Artifact, MetricStats, Note, RunRecord, RunStatus
from gatebook.store.base import ArtifactRow, EventRow, MetricRow, RunQuery, Store, WriteBatch

__all__ = ["StoreContract"]

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


def _distinct_ids(n: int, now: float) -> list[str]:
    """``n`` different ids created at the same millisecond (so they share 8 characters)."""
    ids: list[str] = []
    while len(ids) < n:
        candidate = new_run_id(now)
        if candidate not in ids:
            ids.append(candidate)
    return ids


def _same(a: float | None, b: float | None) -> bool:
    """Equality that treats NaN as equal to NaN."""
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b


class StoreContract:
    """Base class of the tests every Store backend must pass. Subclasses provide ``store``."""

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
    # runs
    # =========================================================================================
    def test_create_get_round_trip_of_every_field(self, store: Store) -> None:
        provenance = {
            "git": {"commit": "abc123", "dirty": True, "dirty_files": ["a.py", "b/c.py"]},
            "python": {"version": "3.11.4", "executable": "/usr/bin/python3"},
            "gpus": [],
            "seed": 42,
            "ratio": 0.25,
            "none": None,
        }
        parent = self._create(store, name="parent")
        run = make_run(
            name="baseline",
            status=RunStatus.FAILED,
            created_at=T0 + 0.123456,
            ended_at=T0 + 42.5,
            exit_code=3,
            reason="ValueError: boom",
            parent_id=parent.id,
            group="sweep-1",
            tags=("a", "b", "z-last"),
            command=("python", "train.py", "--lr", "0.1", "with space", ""),
            cwd="/home/me/project",
            host="gpu-node-7",
            user="me",
            pid=12345,
            pid_start=T0 - 3.25,
            heartbeat_at=T0 + 40.0,
            source="wrapper",
            provenance=provenance,
        )
        store.create_run(run)
        got = store.get_run(run.id)
        assert got == run
        assert isinstance(got.status, RunStatus)
        assert isinstance(got.command, tuple) and isinstance(got.tags, tuple)
        assert got.provenance == provenance

    def test_create_defaults_round_trip(self, store: Store) -> None:
        run = self._create(store)
        got = store.get_run(run.id)
        assert got == run
        assert got.name is None and got.tags == () and got.command == () and got.provenance == {}
        assert got.duration is None

    def test_tags_are_stored_as_a_set(self, store: Store) -> None:
        run = self._create(store, tags=("zeta", "alpha", "mid"))
        assert set(store.get_run(run.id).tags) == {"zeta", "alpha", "mid"}
        assert len(store.get_run(run.id).tags) == 3

    def test_get_run_unknown_raises_not_found(self, store: Store) -> None:
        self._create(store, name="x")
        with pytest.raises(NotFoundError):
            store.get_run(new_run_id())

    def test_duplicate_id_with_keep_id_raises_store_error_and_keeps_the_first(self, store: Store) -> None:
        run = self._create(store, name="first", tags=("keep",))
        clash = make_run(id=run.id, name="second", tags=("other",))
        with pytest.raises(StoreError):
            store.create_run(clash, keep_id=True)
        got = store.get_run(run.id)
        assert got.name == "first" and got.tags == ("keep",)
        assert store.count_runs() == 1

    def test_duplicate_id_is_stored_under_a_fresh_id_of_the_same_millisecond(self, store: Store) -> None:
        run = make_run(name="first", tags=("keep",), created_at=T0)
        assert store.create_run(run) == run.id
        clash = make_run(id=run.id, name="second", tags=("other",), created_at=T0 + 0.0001)
        new_id = store.create_run(clash)
        assert new_id != run.id and new_id[:8] == run.id[:8] and len(new_id) == len(run.id)
        first, second = store.get_run(run.id), store.get_run(new_id)
        assert (first.name, first.tags) == ("first", ("keep",))
        assert (second.name, second.tags, second.created_at) == ("second", ("other",), clash.created_at)
        assert [e.data for e in store.events(new_id) if e.kind == "status"] == [{"status": "running"}]
        assert store.count_runs() == 2

    def test_other_integrity_errors_are_not_retried(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        import gatebook.ids as ids_module

        broken = make_run(source=None)  # a NOT NULL column left empty
        draws: list[int] = []
        real = ids_module._random_part

        def counted() -> int:
            draws.append(1)
            return real()

        monkeypatch.setattr(ids_module, "_random_part", counted)
        with pytest.raises(StoreError):
            store.create_run(broken)
        assert draws == [] and store.count_runs() == 0

    def test_concurrent_creates_with_colliding_ids_all_succeed(self, store: Store,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
        """Runs created at once by several processes that drew the same id (each thread here
        stands for one process): all are stored, under distinct ids of the same millisecond,
        though the random part keeps repeating the taken one for a while."""
        import threading

        import gatebook.ids as ids_module

        n = 8
        same = new_run_id(T0)
        rigged_left = [3 * n]  # the next draws of the random part all repeat the taken one
        rigged_lock = threading.Lock()
        real = ids_module._random_part
        taken_part = 0
        for char in same[ids_module.TIME_CHARS:]:
            taken_part = taken_part * 32 + ids_module.ALPHABET.index(char)

        def rigged() -> int:
            with rigged_lock:
                if rigged_left[0] > 0:
                    rigged_left[0] -= 1
                    return taken_part
            return real()

        monkeypatch.setattr(ids_module, "_random_part", rigged)
        runs = [make_run(id=same, name=f"r{i}", tags=(f"t{i}",), created_at=T0 + i * 1e-5) for i in range(n)]
        barrier = threading.Barrier(n)
        got: dict[str, str] = {}
        errors: list[BaseException] = []

        def create(run: RunRecord) -> None:
            try:
                barrier.wait(timeout=30)
                got[run.name or ""] = store.create_run(run)
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(r,)) for r in runs]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        assert not errors, errors
        assert len(got) == n and len(set(got.values())) == n, got
        assert same in got.values()
        assert all(rid[:8] == same[:8] for rid in got.values())  # still sorted by creation time
        assert store.count_runs() == n
        for name, rid in got.items():
            stored = store.get_run(rid)
            assert stored.name == name and stored.tags == (f"t{name[1:]}",)

    def test_update_run_sets_fields_and_merges_provenance(self, store: Store) -> None:
        run = self._create(store, name="old", provenance={"git": {"commit": "a"}, "keep": 1})
        store.update_run(
            run.id, name="new", group="g", command=("python", "x.py"), cwd="/tmp/w", host="h",
            user="u", pid=7, pid_start=1.5, heartbeat_at=T0, source="wrapper", ended_at=T0 + 1,
            exit_code=0, reason="r", parent_id="p", created_at=T0 - 1,
        )
        store.update_run(run.id, provenance={"git": {"commit": "b", "branch": "main"}, "env": {"X": "1"}})
        got = store.get_run(run.id)
        assert got.name == "new" and got.group == "g" and got.command == ("python", "x.py")
        assert (got.cwd, got.host, got.user, got.pid, got.pid_start) == ("/tmp/w", "h", "u", 7, 1.5)
        assert (got.heartbeat_at, got.source, got.ended_at, got.exit_code) == (T0, "wrapper", T0 + 1, 0)
        assert (got.reason, got.parent_id, got.created_at) == ("r", "p", T0 - 1)
        assert got.status is RunStatus.RUNNING  # update_run never touches the status
        # top-level keys are merged: "keep" survives, "git" is replaced as a whole
        assert got.provenance == {"git": {"commit": "b", "branch": "main"}, "keep": 1, "env": {"X": "1"}}

    def test_update_run_provenance_on_a_run_without_any(self, store: Store) -> None:
        run = self._create(store)
        store.update_run(run.id, provenance={"a": 1})
        store.update_run(run.id, provenance={"b": [1, 2]})
        assert store.get_run(run.id).provenance == {"a": 1, "b": [1, 2]}

    def test_update_run_unknown_id_is_ignored(self, store: Store) -> None:
        run = self._create(store, name="only")
        store.update_run(new_run_id(), name="ghost", provenance={"x": 1})
        assert store.count_runs() == 1
        assert store.get_run(run.id).name == "only"

    @pytest.mark.parametrize("field", ["id", "tags", "status", "no_such_field"])
    def test_update_run_rejects_unknown_fields(self, store: Store, field: str) -> None:
        run = self._create(store, name="n")
        with pytest.raises(ValueError):
            store.update_run(run.id, **{field: "x"})
        assert store.get_run(run.id) == run

    # -- status -----------------------------------------------------------------------------
    def test_set_status_only_if_semantics(self, store: Store) -> None:
        run = self._create(store)
        assert store.set_status(run.id, RunStatus.FINISHED, exit_code=0, ended_at=T0 + 10) is True
        got = store.get_run(run.id)
        assert got.status is RunStatus.FINISHED and got.exit_code == 0 and got.ended_at == T0 + 10
        # the default only changes a running run: a finished run is not later "interrupted"
        assert store.set_status(run.id, RunStatus.INTERRUPTED, reason="SIGTERM") is False
        got = store.get_run(run.id)
        assert got.status is RunStatus.FINISHED and got.reason is None
        # an explicit only_if list
        assert store.set_status(run.id, RunStatus.LOST, only_if=(RunStatus.RUNNING, RunStatus.STOPPED)) is False
        assert store.set_status(run.id, RunStatus.FAILED, only_if=(RunStatus.FINISHED,), exit_code=1) is True
        assert store.get_run(run.id).status is RunStatus.FAILED
        # only_if=None forces
        assert store.set_status(run.id, RunStatus.STOPPED, reason="gate", only_if=None) is True
        got = store.get_run(run.id)
        assert got.status is RunStatus.STOPPED and got.reason == "gate" and got.exit_code == 1

    def test_set_status_terminal_sets_ended_at(self, store: Store) -> None:
        run = self._create(store, created_at=time.time() - 5)
        before = time.time()
        assert store.set_status(run.id, RunStatus.FAILED, exit_code=2, reason="boom")
        got = store.get_run(run.id)
        assert got.ended_at is not None and before - 1 <= got.ended_at <= time.time() + 1
        assert got.duration is not None and got.duration >= 4
        assert (got.exit_code, got.reason) == (2, "boom")

    def test_set_status_unknown_run_changes_nothing(self, store: Store) -> None:
        assert store.set_status(new_run_id(), RunStatus.FINISHED) is False
        assert store.set_status(new_run_id(), RunStatus.FINISHED, only_if=None) is False
        assert store.count_runs() == 0

    def test_set_status_records_status_events(self, store: Store) -> None:
        run = self._create(store)
        start = len(store.events(run.id))
        store.set_status(run.id, RunStatus.STOPPED, reason="gate tripped", exit_code=137)
        store.set_status(run.id, RunStatus.INTERRUPTED)  # no change: no event
        events = store.events(run.id)
        assert len(events) == start + 1
        last = events[-1]
        assert last.kind == "status" and last.run_id == run.id
        assert last.data is not None and last.data["status"] == "stopped"
        assert last.data.get("reason") == "gate tripped"
        store.set_status(run.id, RunStatus.LOST, only_if=None)
        events = store.events(run.id)
        assert len(events) == start + 2 and events[-1].data is not None and events[-1].data["status"] == "lost"

    # -- resolve ------------------------------------------------------------------------------
    def test_resolve_by_exact_id(self, store: Store) -> None:
        run = self._create(store, name="a")
        self._create(store, name="b")
        assert store.resolve_run(run.id).id == run.id
        assert store.resolve_run(f"  {run.id} ").id == run.id

    def test_resolve_by_name_takes_the_latest(self, store: Store) -> None:
        old = self._create(store, name="baseline", created_at=T0)
        newest = self._create(store, name="baseline", created_at=T0 + 20)
        middle = self._create(store, name="baseline", created_at=T0 + 10)
        self._create(store, name="baseline-2", created_at=T0 + 30)
        got = store.resolve_run("baseline")
        assert got.id == newest.id
        assert {old.id, middle.id}.isdisjoint({got.id})

    def test_resolve_by_unique_prefix_and_ambiguous_prefix(self, store: Store) -> None:
        a, b = _distinct_ids(2, T0)
        base = a[:8]
        assert b.startswith(base)
        ra = self._create(store, id=a, created_at=T0)
        rb = self._create(store, id=b, created_at=T0)
        other = self._create(store, created_at=T0 + 86_400 * 400)  # a different time prefix
        common = 8
        while a[common] == b[common]:
            common += 1
        assert store.resolve_run(a[: common + 1]).id == ra.id
        assert store.resolve_run(b[: common + 1]).id == rb.id
        assert store.resolve_run(other.id[:6]).id == other.id
        with pytest.raises(AmbiguousRunError) as info:
            store.resolve_run(base)
        assert a in str(info.value) and b in str(info.value)
        assert isinstance(info.value, NotFoundError)  # callers may catch either

    def test_resolve_unknown_suggests_a_close_name(self, store: Store) -> None:
        self._create(store, name="baseline-lr0.1")
        self._create(store, name="something-else")
        with pytest.raises(NotFoundError) as info:
            store.resolve_run("baseline-lr0.2")
        assert not isinstance(info.value, AmbiguousRunError)
        assert "baseline-lr0.1" in str(info.value)
        with pytest.raises(NotFoundError):
            store.resolve_run("")
        with pytest.raises(NotFoundError):
            store.resolve_run("zzzzzzzzzzz")

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

    # =========================================================================================
    # writes
    # =========================================================================================
    def test_write_is_atomic(self, store: Store) -> None:
        run = self._create(store)
        bad = WriteBatch(
            metrics=[(run.id, "loss", 0, 1.0, T0), (run.id, "loss", 1, 0.5, T0 + 1)],
            params=[(run.id, "api", {"lr": 0.1})],
            summary=[(run.id, {"best": 1})],
            notes=[(run.id, T0, "a note")],
            artifacts=[
                ArtifactRow(run.id, "ok.bin", "file", 1, None, T0),
                ArtifactRow(run.id, None, "file", 1, None, T0),  # type: ignore[arg-type]  # NOT NULL
            ],
            output=[(run.id, [(0, T0, "stdout", "hello\n")])],
            events=[EventRow(run.id, T0, "gate", 1, {"tier": "warn"})],
            tags=[(run.id, ["new-tag"])],
            heartbeats=[(run.id, T0 + 99)],
        )
        events_before = store.events(run.id)
        with pytest.raises(StoreError):
            store.write(bad)
        assert store.metric_stats([run.id]) == {run.id: {}}
        assert store.metric_series(run.id) == {}
        assert store.params(run.id) == {}
        assert store.summary(run.id) == {}
        assert store.notes(run.id) == []
        assert store.artifacts(run.id) == []
        assert store.output(run.id) == []
        assert store.events(run.id) == events_before
        got = store.get_run(run.id)
        assert got.tags == () and got.heartbeat_at == run.heartbeat_at
        # the store is still usable after a failed write
        store.write(WriteBatch(metrics=[(run.id, "loss", 0, 1.0, T0)]))
        assert store.metric_stats([run.id])[run.id]["loss"].count == 1

    def test_write_is_atomic_when_metric_points_are_invalid(self, store: Store) -> None:
        """A bad metric point (NULL key) fails the whole batch with a StoreError: no
        backend or driver exception escapes, even from a bulk-insert fast path."""
        run = self._create(store)
        good: list[MetricRow] = [(run.id, "loss", i, float(i), T0 + i) for i in range(100)]
        bad = WriteBatch(
            notes=[(run.id, T0, "written before the points")],
            params=[(run.id, "api", {"lr": 0.1})],
            metrics=good
            + [(run.id, None, 100, 1.0, T0 + 100)],  # type: ignore[list-item]  # NOT NULL
        )
        with pytest.raises(StoreError):
            store.write(bad)
        assert store.metric_stats([run.id]) == {run.id: {}}
        assert store.notes(run.id) == [] and store.params(run.id) == {}
        store.log_metrics([(run.id, "loss", 0, 1.0, T0)])
        assert store.metric_stats([run.id])[run.id]["loss"].count == 1

    def test_empty_batch_is_a_no_op(self, store: Store) -> None:
        run = self._create(store)
        store.write(WriteBatch())
        store.write(WriteBatch(params=[(run.id, "api", {})], summary=[(run.id, {})], output=[(run.id, [])]))
        assert store.params(run.id) == {} and store.summary(run.id) == {} and store.output(run.id) == []

    def test_params_are_upserted_per_source(self, store: Store) -> None:
        run = self._create(store)
        other = self._create(store)
        store.log_params(run.id, "config", {"lr": 0.1, "model.depth": 4, "name": "resnet", "flag": True})
        store.log_params(run.id, "argv", {"lr": 0.2})
        store.log_params(run.id, "config", {"lr": 0.3, "extra": None})
        store.write(WriteBatch(params=[(run.id, "api", {"x": [1, 2]}), (run.id, "api", {"x": {"y": 1}})]))
        store.log_params(other.id, "config", {"lr": 9})
        assert store.params(run.id) == {
            "config": {"lr": 0.3, "model.depth": 4, "name": "resnet", "flag": True, "extra": None},
            "argv": {"lr": 0.2},
            "api": {"x": {"y": 1}},
        }
        assert store.params(other.id) == {"config": {"lr": 9}}
        assert store.params(new_run_id()) == {}

    def test_summary_is_upserted(self, store: Store) -> None:
        run = self._create(store)
        store.set_summary(run.id, {"acc": 0.9, "best": {"epoch": 3, "loss": 0.1}, "label": "ok", "n": 7})
        store.set_summary(run.id, {"acc": 0.95, "list": [1, "two", None]})
        store.write(WriteBatch(summary=[(run.id, {"n": 8}), (run.id, {"n": 9})]))
        assert store.summary(run.id) == {
            "acc": 0.95, "best": {"epoch": 3, "loss": 0.1}, "label": "ok", "n": 9, "list": [1, "two", None],
        }
        assert store.summary(new_run_id()) == {}

    def test_notes_keep_the_order_they_were_added(self, store: Store) -> None:
        run = self._create(store)
        store.add_note(run.id, "first", T0 + 30)
        store.add_note(run.id, "second", T0 + 10)
        store.write(WriteBatch(notes=[(run.id, T0 + 20, "third"), (run.id, T0, "fourth")]))
        assert store.notes(run.id) == [
            Note("first", T0 + 30), Note("second", T0 + 10), Note("third", T0 + 20), Note("fourth", T0),
        ]
        assert store.notes(new_run_id()) == []

    def test_artifacts_and_their_content(self, store: Store) -> None:
        run = self._create(store)
        blob = bytes(range(256)) * 40 + b"\x00\xff"
        store.add_artifact(ArtifactRow(run.id, "/out/model.pt", "model", 1234, "a" * 64, T0))
        store.add_artifact(ArtifactRow(run.id, "git.patch", "patch", 5, "b" * 64, T0 + 1, b"old\n"))
        store.write(WriteBatch(artifacts=[
            ArtifactRow(run.id, "/out/dir", "dir", None, None, T0 + 2),
            ArtifactRow(run.id, "git.patch", "patch", len(blob), "c" * 64, T0 + 3, blob),
        ]))
        assert store.artifacts(run.id) == [
            Artifact("/out/model.pt", "model", 1234, "a" * 64, T0),
            Artifact("git.patch", "patch", 5, "b" * 64, T0 + 1),
            Artifact("/out/dir", "dir", None, None, T0 + 2),
            Artifact("git.patch", "patch", len(blob), "c" * 64, T0 + 3),
        ]
        content = store.artifact_content(run.id, "patch")
        assert isinstance(content, bytes) and content == blob  # the latest of its kind
        assert store.artifact_content(run.id, "model") is None  # stored without content
        assert store.artifact_content(run.id, "nothing") is None
        assert store.artifact_content(new_run_id(), "patch") is None
        assert store.artifacts(new_run_id()) == []

    def test_output_chunks(self, store: Store) -> None:
        run = self._create(store)
        other = self._create(store)
        store.write(WriteBatch(output=[(run.id, [(0, T0, "stdout", "a\n"), (1, T0 + 1, "stderr", "b\n")])]))
        store.write(WriteBatch(output=[
            (run.id, [(3, T0 + 3, "stdout", "d\n"), (2, T0 + 2, "stdout", "c\n")]),
            (other.id, [(0, T0, "stdout", "other\n")]),
        ]))
        chunks = store.output(run.id)
        assert chunks == [
            (0, T0, "stdout", "a\n"), (1, T0 + 1, "stderr", "b\n"),
            (2, T0 + 2, "stdout", "c\n"), (3, T0 + 3, "stdout", "d\n"),
        ]
        assert store.output(run.id, after_seq=1) == chunks[2:]
        assert store.output(run.id, after_seq=0, limit=2) == chunks[1:3]
        assert store.output(run.id, limit=1) == chunks[:1]
        assert store.output(run.id, after_seq=3) == []
        assert store.output(other.id) == [(0, T0, "stdout", "other\n")]
        assert store.output(new_run_id()) == []

    def test_output_rewrite_and_delete(self, store: Store) -> None:
        """A chunk written again with its seq replaces the stored one (a progress line, then its
        final state); output_deletes removes chunks before the batch's new ones are written."""
        run = self._create(store)
        other = self._create(store)
        store.write(WriteBatch(output=[(run.id, [(0, T0, "stdout", "head\n"), (1, T0, "stderr", " 10%|#")]),
                                       (other.id, [(1, T0, "stdout", "kept\n")])]))
        store.write(WriteBatch(output=[(run.id, [(1, T0 + 1, "stderr", "100%|##########|\n")])]))
        assert store.output(run.id) == [(0, T0, "stdout", "head\n"), (1, T0 + 1, "stderr", "100%|##########|\n")]
        store.write(WriteBatch(output=[(run.id, [(i, T0 + i, "stdout", f"{i}\n") for i in range(2, 1203)])]))
        # many seqs (more than one IN list), some unknown, one given twice; then one re-used at once
        store.write(WriteBatch(output_deletes=[(run.id, list(range(1, 1201)) + [5, 99999])],
                               output=[(run.id, [(600, T0, "gatebook", "[cut]\n")])]))
        assert store.output(run.id) == [(0, T0, "stdout", "head\n"), (600, T0, "gatebook", "[cut]\n"),
                                         (1201, T0 + 1201, "stdout", "1201\n"), (1202, T0 + 1202, "stdout", "1202\n")]
        store.delete_output(run.id, [0, 600])
        assert [c[0] for c in store.output(run.id)] == [1201, 1202]
        assert store.output(other.id) == [(1, T0, "stdout", "kept\n")]  # another run's chunks untouched
        store.delete_output(run.id, [])
        store.delete_output(new_run_id(), [1])
        assert len(store.output(run.id)) == 2

    def test_events(self, store: Store) -> None:
        run = self._create(store)
        start = store.events(run.id)
        store.add_event(EventRow(run.id, T0 + 5, "gate", 10, {"tier": "warn", "metric": "loss"}))
        store.write(WriteBatch(events=[
            EventRow(run.id, T0 + 1, "stop", None, None),  # earlier ts, added later: order of addition
            EventRow(run.id, T0 + 6, "gate", 12, {"tier": "fail", "nested": {"a": [1, 2]}}),
        ]))
        events = store.events(run.id)[len(start):]
        assert [(e.kind, e.step, e.ts) for e in events] == [("gate", 10, T0 + 5), ("stop", None, T0 + 1),
                                                             ("gate", 12, T0 + 6)]
        assert events[0].data == {"tier": "warn", "metric": "loss"}
        assert events[1].data is None
        assert events[2].data == {"tier": "fail", "nested": {"a": [1, 2]}}
        assert all(e.run_id == run.id for e in events)
        assert store.events(new_run_id()) == []
        assert [e.step for e in store.events(run.id, kinds=["gate"])] == [10, 12]
        assert [e.kind for e in store.events(run.id, kinds=["stop", "nope"])] == ["stop"]

    def test_batched_reads_equal_the_single_ones(self, store: Store) -> None:
        a, b, c = self._create(store), self._create(store), self._create(store)
        store.write(WriteBatch(
            params=[(a.id, "argv", {"lr": 0.1, "x.y": [1, 2]}), (a.id, "api", {"lr": 0.2}),
                    (b.id, "config", {"k": "v"})],
            notes=[(a.id, T0, "first"), (b.id, T0, "b's"), (a.id, T0 + 1, "second")],
            events=[EventRow(a.id, T0, "gate", 2, {"tier": "FAIL"}), EventRow(b.id, T0, "stop", None, {"by": "me"}),
                    EventRow(a.id, T0 + 1, "stop", None, None)],
        ))
        ids = [a.id, b.id, c.id, new_run_id()]
        assert store.params_many(ids) == {r: store.params(r) for r in ids}
        assert store.notes_many(ids) == {r: store.notes(r) for r in ids}
        assert store.events_many(ids) == {r: store.events(r) for r in ids}
        assert store.events_many(ids, kinds=["stop"]) == {r: store.events(r, kinds=["stop"]) for r in ids}
        assert [n.text for n in store.notes_many([a.id])[a.id]] == ["first", "second"]

    def test_metric_points_after_reads_only_new_points(self, store: Store) -> None:
        run, other = self._create(store), self._create(store)
        assert store.metric_points_after(run.id)[0] == []
        store.log_metrics([(run.id, "loss", 1, 1.0, T0 + 5), (other.id, "loss", 1, 9.0, T0),
                           (run.id, "acc", 1, NAN, T0 + 1)])
        points, cursor = store.metric_points_after(run.id)
        assert [(k, s, v) for k, s, v, _ in points[:1]] == [("loss", 1, 1.0)]
        assert points[1][0] == "acc" and math.isnan(points[1][2]) and cursor > 0
        assert store.metric_points_after(run.id, cursor) == ([], cursor)
        store.log_metrics([(other.id, "loss", 2, 8.0, T0)])  # another run's points move the cursor on
        nothing, moved = store.metric_points_after(run.id, cursor)
        assert nothing == [] and moved > cursor
        cursor = moved
        store.log_metrics([(run.id, "loss", 2, 0.5, T0), (run.id, "acc", 2, 0.7, T0 + 2)])
        new, cursor2 = store.metric_points_after(run.id, cursor)
        assert [(k, s, v, ts) for k, s, v, ts in new] == [("loss", 2, 0.5, T0), ("acc", 2, 0.7, T0 + 2)]
        assert cursor2 > cursor
        only, _ = store.metric_points_after(run.id, 0, keys=["acc"])
        assert [s for _, s, _, _ in only] == [1, 2]
        first, c1 = store.metric_points_after(run.id, 0, limit=1)
        assert [k for k, *_ in first] == ["loss"] and 0 < c1 < cursor2

    def test_tags_and_heartbeat(self, store: Store) -> None:
        run = self._create(store, tags=("a",), heartbeat_at=T0)
        store.add_tags(run.id, ["b", "a", "c"])
        store.add_tags(run.id, ["b"])
        assert set(store.get_run(run.id).tags) == {"a", "b", "c"}
        assert len(store.get_run(run.id).tags) == 3
        assert {r.id for r in store.list_runs(RunQuery(tags=("c",)))} == {run.id}
        store.heartbeat(run.id, T0 + 50)
        assert store.get_run(run.id).heartbeat_at == T0 + 50
        store.write(WriteBatch(heartbeats=[(run.id, T0 + 60), (run.id, T0 + 70)]))
        assert store.get_run(run.id).heartbeat_at == T0 + 70
        store.heartbeat(new_run_id(), T0)  # an unknown run: nothing to update, no error

    # =========================================================================================
    # metrics
    # =========================================================================================
    def test_metric_stats_basic(self, store: Store) -> None:
        run = self._create(store)
        store.log_metrics([(run.id, "loss", i, v, T0 + i) for i, v in enumerate([3.0, 1.0, 2.0, 0.5, 0.75])])
        stats = store.metric_stats([run.id])
        assert stats == {run.id: {"loss": MetricStats(last=0.75, min=0.5, max=3.0, last_step=4, count=5)}}

    def test_metric_stats_last_is_by_step_then_time(self, store: Store) -> None:
        run = self._create(store)
        store.log_metrics([
            (run.id, "acc", 5, 0.5, T0 + 1),
            (run.id, "acc", 5, 0.6, T0 + 2),  # same step, later: this is the last
            (run.id, "acc", 3, 0.9, T0 + 3),  # logged later but with an earlier step
        ])
        store.log_metrics([(run.id, "acc", 4, 0.1, T0 + 4)])
        s = store.metric_stats([run.id])[run.id]["acc"]
        assert (s.last, s.last_step, s.count, s.min, s.max) == (0.6, 5, 4, 0.1, 0.9)

    def test_metric_stats_without_steps(self, store: Store) -> None:
        run = self._create(store)
        store.log_metrics([(run.id, "lr", None, 0.1, T0 + 2), (run.id, "lr", None, 0.3, T0 + 3),
                           (run.id, "lr", None, 0.2, T0 + 1)])
        s = store.metric_stats([run.id])[run.id]["lr"]
        assert s.last_step is None and s.last == 0.3 and s.count == 3 and (s.min, s.max) == (0.1, 0.3)

    def test_metric_stats_nan_and_inf(self, store: Store) -> None:
        run = self._create(store)
        store.log_metrics([
            (run.id, "loss", 0, 2.0, T0), (run.id, "loss", 1, NAN, T0 + 1), (run.id, "loss", 2, 1.0, T0 + 2),
            (run.id, "loss", 3, NAN, T0 + 3),
            (run.id, "dead", 0, NAN, T0), (run.id, "dead", 1, None, T0 + 1),  # None also means NaN
            (run.id, "grad", 0, 1.0, T0), (run.id, "grad", 1, INF, T0 + 1), (run.id, "grad", 2, -INF, T0 + 2),
        ])
        stats = store.metric_stats([run.id])[run.id]
        loss = stats["loss"]
        assert math.isnan(loss.last) and (loss.min, loss.max) == (1.0, 2.0)
        assert loss.count == 4 and loss.last_step == 3
        dead = stats["dead"]
        assert math.isnan(dead.last) and dead.min is None and dead.max is None
        assert dead.count == 2 and dead.last_step == 1
        grad = stats["grad"]
        assert grad.last == -INF and grad.min == -INF and grad.max == INF and grad.count == 3

    def test_metric_stats_several_runs_at_once(self, store: Store) -> None:
        r1 = self._create(store)
        r2 = self._create(store)
        empty = self._create(store)
        unknown = new_run_id()
        store.log_metrics([(r1.id, "a", 0, 1.0, T0), (r2.id, "a", 0, 2.0, T0), (r2.id, "b", 7, 3.0, T0),
                           (r1.id, "a", 1, 4.0, T0 + 1)])
        stats = store.metric_stats([r1.id, r2.id, empty.id, unknown, r1.id])
        assert set(stats) == {r1.id, r2.id, empty.id, unknown}
        assert stats[r1.id] == {"a": MetricStats(4.0, 1.0, 4.0, 1, 2)}
        assert stats[r2.id] == {"a": MetricStats(2.0, 2.0, 2.0, 0, 1), "b": MetricStats(3.0, 3.0, 3.0, 7, 1)}
        assert stats[empty.id] == {} and stats[unknown] == {}
        assert store.metric_stats([]) == {}
        assert store.metric_stats([unknown]) == {unknown: {}}

    def test_metric_stats_many_run_ids(self, store: Store) -> None:
        real = [self._create(store) for _ in range(3)]
        for i, r in enumerate(real):
            store.log_metrics([(r.id, "x", 0, float(i), T0)])
        ids = [new_run_id(T0 + i) for i in range(1200)]
        ids[10], ids[600], ids[1100] = real[0].id, real[1].id, real[2].id
        stats = store.metric_stats(ids)
        assert len(stats) == len(set(ids))
        for i, r in enumerate(real):
            assert stats[r.id]["x"].last == float(i)
        assert sum(1 for v in stats.values() if v) == 3

    def test_metric_series_order_keys_and_nan(self, store: Store) -> None:
        run = self._create(store)
        store.log_metrics([(run.id, "loss", 0, 1.0, T0), (run.id, "acc", 0, 0.1, T0 + 0.5),
                           (run.id, "loss", 1, NAN, T0 + 1)])
        store.log_metrics([(run.id, "loss", None, INF, T0 + 2), (run.id, "loss", 1, 0.5, T0 + 3)])
        series = store.metric_series(run.id)
        assert set(series) == {"loss", "acc"}
        loss = series["loss"]
        assert [p[0] for p in loss] == [0, 1, None, 1]
        assert [p[2] for p in loss] == [T0, T0 + 1, T0 + 2, T0 + 3]
        assert all(_same(a, b) for a, b in zip([p[1] for p in loss], [1.0, NAN, INF, 0.5], strict=False))
        assert series["acc"] == [(0, 0.1, T0 + 0.5)]
        assert store.metric_series(run.id, ["acc"]) == {"acc": [(0, 0.1, T0 + 0.5)]}
        assert store.metric_series(run.id, ["nope"]) == {}
        assert store.metric_series(new_run_id()) == {}

    def test_ten_thousand_points_in_one_batch(self, store: Store) -> None:
        run = self._create(store)
        n = 10_000
        rows: list[MetricRow] = [(run.id, "loss", i, 1.0 / (i + 1), T0 + i / 1000) for i in range(n)]
        rows += [(run.id, "acc", i, i / n, T0 + i / 1000 + 0.0001) for i in range(n)]
        store.write(WriteBatch(metrics=rows))
        stats = store.metric_stats([run.id])[run.id]
        assert stats["loss"] == MetricStats(last=1.0 / n, min=1.0 / n, max=1.0, last_step=n - 1, count=n)
        assert stats["acc"] == MetricStats(last=(n - 1) / n, min=0.0, max=(n - 1) / n, last_step=n - 1, count=n)
        series = store.metric_series(run.id, ["loss"])["loss"]
        assert series == [(i, 1.0 / (i + 1), T0 + i / 1000) for i in range(n)]

    # =========================================================================================
    # odd data
    # =========================================================================================
    def test_unicode_and_long_keys_and_values(self, store: Store) -> None:
        long_key = ("λ-ключ-🔑" * 100)[:500]
        assert len(long_key) == 500
        name = "实验-α 🚀 «baseline»"
        run = self._create(store, name=name, tags=("标签", "ünïcödé", "🏷"), group="grüppe",
                           command=("python", "trâin.py", "--name=日本"), cwd="/tmp/répertoire",
                           provenance={"ключ": "значение", "emoji": "🎉", long_key: "x"})
        got = store.get_run(run.id)
        assert got.name == name and set(got.tags) == {"标签", "ünïcödé", "🏷"}
        assert got.command == run.command and got.cwd == run.cwd and got.provenance == run.provenance
        assert store.resolve_run(name).id == run.id
        assert {r.id for r in store.list_runs(RunQuery(name_glob="实验-α*", tags=("🏷",)))} == {run.id}

        long_value = "värde-" + "x" * 100_000 + "-終"
        store.write(WriteBatch(
            metrics=[(run.id, long_key, 0, 1.5, T0), (run.id, "Δloss", 0, 2.5, T0)],
            params=[(run.id, "config", {long_key: long_value, "模型.层数": 12})],
            summary=[(run.id, {long_key: {"ネスト": ["é", "✓"]}})],
            notes=[(run.id, T0, "заметка 📝 " + "n" * 50_000)],
            artifacts=[ArtifactRow(run.id, "/tmp/модель/" + "m" * 400 + ".pt", "モデル", 1, None, T0)],
            output=[(run.id, [(0, T0, "stdout", "ëxample ✓ output\n" * 1000)])],
            events=[EventRow(run.id, T0, "gate", 0, {"msg": "ложь ≠ истина"})],
        ))
        stats = store.metric_stats([run.id])[run.id]
        assert stats[long_key].last == 1.5 and stats["Δloss"].last == 2.5
        assert store.metric_series(run.id, [long_key]) == {long_key: [(0, 1.5, T0)]}
        assert store.params(run.id) == {"config": {long_key: long_value, "模型.层数": 12}}
        assert store.summary(run.id) == {long_key: {"ネスト": ["é", "✓"]}}
        assert store.notes(run.id)[0].text == "заметка 📝 " + "n" * 50_000
        assert store.artifacts(run.id)[0].path == "/tmp/модель/" + "m" * 400 + ".pt"
        assert store.artifacts(run.id)[0].kind == "モデル"
        assert store.output(run.id)[0][3] == "ëxample ✓ output\n" * 1000
        assert store.events(run.id)[-1].data == {"msg": "ложь ≠ истина"}

    def test_float_values_round_trip_exactly(self, store: Store) -> None:
        run = self._create(store, created_at=1_712_345_678.123456789)
        values = [0.1, 1 / 3, 1e-300, 1e300, -0.0, 5e-324, 123456789.987654321, 2.0**53 + 1]
        store.log_metrics([(run.id, "v", i, v, T0 + i) for i, v in enumerate(values)])
        assert [p[1] for p in store.metric_series(run.id)["v"]] == values
        assert store.get_run(run.id).created_at == run.created_at

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
