"""The store contract on runs: create (ids, collisions), update, status, resolve."""

from __future__ import annotations

import time

import pytest

from gatebook.errors import AmbiguousRunError, NotFoundError, StoreError
from gatebook.ids import new_run_id
from gatebook.records import RunRecord, RunStatus
from gatebook.store.base import Store
from gatebook.testing.store_contract.common import T0, ContractBase, distinct_ids, make_run


class RunsContract(ContractBase):
    """Creating, updating and resolving runs, and their status."""

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
        a, b = distinct_ids(2, T0)
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
