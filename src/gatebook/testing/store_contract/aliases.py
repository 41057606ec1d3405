"""The store contract on aliases (compare-and-set moves, the append-only trail, ``@name``) and artifact lineage."""

from __future__ import annotations

import dataclasses
import math
import threading
from typing import Any

import pytest

from gatebook.errors import NotFoundError
from gatebook.records import AliasEvent, AliasRecord, Artifact
from gatebook.store.base import ArtifactRow, Store, WriteBatch
from gatebook.testing.store_contract.common import INF, T0, ContractBase

WHO = "me@host"


def alias_event(alias: str, from_run: str | None, to_run: str | None, *, action: str = "moved",
                ts: float = T0, verdict: str | None = "PASS", **fields: Any) -> AliasEvent:
    """An event as a promotion would make it (``id`` 0: the store gives the real one)."""
    return AliasEvent(id=0, alias=alias, ts=ts, by=fields.pop("by", WHO), action=action, from_run=from_run,
                      to_run=to_run, verdict=verdict, **fields)


def _stored(event: AliasEvent, got: AliasEvent) -> bool:
    """``got`` is ``event`` as stored (the same, but for the id the store gave it)."""
    return dataclasses.replace(event, id=got.id) == got


class AliasesContract(ContractBase):
    """Aliases: get, list, compare-and-set moves, refused attempts, the trail, ``@name``; lineage."""

    def _move(self, store: Store, name: str, to: str, expected: str | None, **fields: Any) -> bool:
        return store.move_alias(name, to, expected=expected, event=alias_event(name, expected, to, **fields))

    # =========================================================================================
    # aliases
    # =========================================================================================
    def test_a_fresh_ledger_has_no_aliases(self, store: Store) -> None:
        assert store.get_alias("champion") is None
        assert store.list_aliases() == []
        assert store.alias_events() == [] and store.alias_events("champion") == []

    def test_move_from_none_then_from_the_holder(self, store: Store) -> None:
        a, b = self._create(store, name="a"), self._create(store, name="b")
        first = alias_event("champion", None, a.id, ts=T0, verdict="PASS")
        assert store.move_alias("champion", a.id, expected=None, event=first)
        assert store.get_alias("champion") == AliasRecord("champion", a.id, T0, WHO, "PASS", False, None)
        second = alias_event("champion", a.id, b.id, action="forced", ts=T0 + 5, verdict=None, forced=True,
                             reason="hotfix", by="other@box")
        assert store.move_alias("champion", b.id, expected=a.id, event=second)
        assert store.get_alias("champion") == AliasRecord("champion", b.id, T0 + 5, "other@box", None, True, "hotfix")
        trail = store.alias_events("champion")
        assert len(trail) == 2 and _stored(first, trail[0]) and _stored(second, trail[1])
        assert trail[0].id < trail[1].id

    def test_a_stale_expected_writes_nothing(self, store: Store) -> None:
        a, b, c = (self._create(store) for _ in range(3))
        assert self._move(store, "prod", a.id, None)
        assert self._move(store, "prod", b.id, a.id)
        before = store.alias_events()
        assert not self._move(store, "prod", c.id, a.id)  # a no longer holds it
        assert not self._move(store, "prod", c.id, None)  # it exists already
        assert not self._move(store, "other", c.id, a.id)  # no such alias
        assert store.get_alias("prod") is not None and store.get_alias("prod").run_id == b.id  # type: ignore[union-attr]
        assert store.get_alias("other") is None
        assert store.alias_events() == before  # no event either

    def test_two_moves_from_one_holder_exactly_one_wins(self, store: Store) -> None:
        holder, x, y = (self._create(store) for _ in range(3))
        assert self._move(store, "champion", holder.id, None)
        assert self._move(store, "champion", x.id, holder.id)
        assert not self._move(store, "champion", y.id, holder.id)
        assert store.get_alias("champion").run_id == x.id  # type: ignore[union-attr]

    @pytest.mark.parametrize("from_none", [True, False], ids=["create", "move"])
    def test_concurrent_moves_exactly_one_wins(self, store: Store, from_none: bool) -> None:
        """Threads standing for processes (tests/store/test_alias_concurrency.py uses real ones)."""
        n = 6
        holder = None if from_none else self._create(store).id
        if holder is not None:
            assert self._move(store, "race", holder, None)
        candidates = [self._create(store).id for _ in range(n)]
        before = len(store.alias_events("race"))
        barrier = threading.Barrier(n)
        results: dict[str, bool] = {}
        errors: list[BaseException] = []

        def move(run_id: str) -> None:
            try:
                barrier.wait(timeout=30)
                results[run_id] = self._move(store, "race", run_id, holder)
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=move, args=(r,)) for r in candidates]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        assert not errors, errors
        winners = [r for r, won in results.items() if won]
        assert len(results) == n and len(winners) == 1, results
        assert store.get_alias("race").run_id == winners[0]  # type: ignore[union-attr]
        new = store.alias_events("race")[before:]
        assert [(e.from_run, e.to_run) for e in new] == [(holder, winners[0])]

    def test_refused_attempts_are_appended_in_order(self, store: Store) -> None:
        a, b, c = (self._create(store) for _ in range(3))
        assert self._move(store, "champion", a.id, None, ts=T0)
        refused = [alias_event("champion", a.id, b.id, action="refused", verdict="FAIL", ts=T0 + 2),
                   alias_event("champion", a.id, c.id, action="refused", verdict="PENDING", ts=T0 + 1)]
        for event in refused:
            store.add_alias_event(event)
        assert store.get_alias("champion").run_id == a.id  # type: ignore[union-attr]  # refusals move nothing
        trail = store.alias_events("champion")
        assert [e.action for e in trail] == ["moved", "refused", "refused"]
        assert [e.ts for e in trail] == [T0, T0 + 2, T0 + 1]  # the order they were stored in, not ts
        assert _stored(refused[0], trail[1]) and _stored(refused[1], trail[2])
        assert [e.id for e in trail] == sorted({e.id for e in trail})
        # a refused attempt on an empty alias is recorded too, and creates nothing
        store.add_alias_event(alias_event("empty", None, b.id, action="refused", verdict="ERROR"))
        assert store.get_alias("empty") is None and len(store.alias_events("empty")) == 1

    def test_alias_events_filter_by_name(self, store: Store) -> None:
        a, b = self._create(store), self._create(store)
        assert self._move(store, "champion", a.id, None)
        assert self._move(store, "ranker/prod", b.id, None)
        store.add_alias_event(alias_event("champion", a.id, b.id, action="refused", verdict="FAIL"))
        assert self._move(store, "ranker/prod", a.id, b.id, action="rollback", verdict=None, reason="bad")
        assert [(e.alias, e.action) for e in store.alias_events()] == [
            ("champion", "moved"), ("ranker/prod", "moved"), ("champion", "refused"), ("ranker/prod", "rollback")]
        assert [e.action for e in store.alias_events("champion")] == ["moved", "refused"]
        assert [e.action for e in store.alias_events("ranker/prod")] == ["moved", "rollback"]
        assert store.alias_events("ranker") == []
        assert [x.name for x in store.list_aliases()] == ["champion", "ranker/prod"]  # by name

    def test_event_data_round_trips(self, store: Store) -> None:
        run = self._create(store)
        data = {
            "gates": [{"gate": "promotion", "tier": "FAIL", "checks": [
                {"check": "auprc >= baseline - 0.01", "observed": 0.30740000000000001, "threshold": 1e-300,
                 "baseline": None, "tier": "FAIL"},
                {"check": "loss finite", "observed": INF, "threshold": -INF, "tier": "PASS", "nested": {"a": [1, [2]]}},
            ]}],
            "advice": None, "count": 3, "ok": False, "text": "ünïcode \"quoted\"",
        }
        store.add_alias_event(alias_event("c", None, run.id, action="refused", verdict="FAIL", data=data))
        assert store.alias_events("c")[0].data == data
        nan_event = alias_event("c", None, run.id, action="refused", verdict="ERROR", data={"observed": math.nan})
        store.add_alias_event(nan_event)
        assert math.isnan(store.alias_events("c")[1].data["observed"])
        assert self._move(store, "c", run.id, None)
        assert store.alias_events("c")[2].data == {}  # no data: an empty mapping

    def test_an_event_that_does_not_describe_the_move_is_refused(self, store: Store) -> None:
        a, b = self._create(store), self._create(store)
        for event in (alias_event("other", None, a.id), alias_event("x", b.id, a.id),
                      alias_event("x", None, b.id), alias_event("x", None, a.id, action="refused")):
            with pytest.raises(ValueError):
                store.move_alias("x", a.id, expected=None, event=event)
        with pytest.raises(ValueError):
            store.add_alias_event(alias_event("x", None, a.id, action="moved"))
        assert store.get_alias("x") is None and store.alias_events() == []

    def test_resolve_run_at_alias_follows_moves(self, store: Store) -> None:
        a, b = self._create(store, name="base"), self._create(store, name="variant")
        assert self._move(store, "champion", a.id, None)
        assert store.resolve_run("@champion").id == a.id
        assert store.resolve_run(" @champion ").id == a.id
        assert store.resolve_run("@champion") == store.get_run(a.id)  # the full record
        assert self._move(store, "champion", b.id, a.id)
        assert store.resolve_run("@champion").id == b.id
        assert self._move(store, "team/prod.v2", a.id, None)
        assert store.resolve_run("@team/prod.v2").id == a.id

    def test_an_alias_is_never_a_run_name(self, store: Store) -> None:
        named = self._create(store, name="champion")
        holder = self._create(store, name="other")
        with pytest.raises(NotFoundError):
            store.resolve_run("@champion")  # a run name, not an alias
        assert self._move(store, "champion", holder.id, None)
        assert store.resolve_run("champion").id == named.id
        assert store.resolve_run("@champion").id == holder.id

    def test_an_unknown_alias_is_not_found_listing_the_aliases(self, store: Store) -> None:
        with pytest.raises(NotFoundError) as none_yet:
            store.resolve_run("@champion")
        assert "@champion" in str(none_yet.value) and "no aliases" in str(none_yet.value)
        assert "gatebook aliases" in (none_yet.value.hint or "")
        run = self._create(store)
        assert self._move(store, "prod", run.id, None)
        assert self._move(store, "staging", run.id, None)
        with pytest.raises(NotFoundError) as unknown:
            store.resolve_run("@champion")
        message = str(unknown.value)
        assert "@champion" in message and "@prod" in message and "@staging" in message
        assert "gatebook aliases" in (unknown.value.hint or "")
        with pytest.raises(NotFoundError):
            store.resolve_run("@")

    # =========================================================================================
    # artifact lineage
    # =========================================================================================
    def test_artifacts_with_derived_from_round_trip(self, store: Store) -> None:
        a, b = self._create(store), self._create(store)
        parents = ({"path": "/ckpt/epoch_14.ckpt", "sha256": "1" * 64, "run_id": a.id},
                   {"path": "/ckpt/swa.ckpt", "sha256": "2" * 64, "run_id": None})
        store.write(WriteBatch(artifacts=[
            ArtifactRow(b.id, "/out/blend.ckpt", "checkpoint", 10, "3" * 64, T0, derived_from=parents),
            ArtifactRow(b.id, "/out/plain.ckpt", "checkpoint", 11, "4" * 64, T0 + 1),
        ]))
        assert store.artifacts(b.id) == [
            Artifact("/out/blend.ckpt", "checkpoint", 10, "3" * 64, T0, derived_from=parents),
            Artifact("/out/plain.ckpt", "checkpoint", 11, "4" * 64, T0 + 1),
        ]
        assert store.artifacts(b.id)[1].derived_from == ()

    def test_find_artifacts_by_hash(self, store: Store) -> None:
        first, second = self._create(store), self._create(store)
        h = "f" * 64
        store.add_artifact(ArtifactRow(second.id, "/b/copy.ckpt", "checkpoint", 5, h, T0 + 10))
        store.add_artifact(ArtifactRow(first.id, "/a/model.ckpt", "checkpoint", 5, h, T0))
        store.add_artifact(ArtifactRow(first.id, "/a/other.bin", "file", 1, "e" * 64, T0))
        assert store.find_artifacts(h) == [
            (first.id, Artifact("/a/model.ckpt", "checkpoint", 5, h, T0)),  # oldest first
            (second.id, Artifact("/b/copy.ckpt", "checkpoint", 5, h, T0 + 10)),
        ]
        assert store.find_artifacts("0" * 64) == []
