"""The store contract on writes: atomic batches, params, summary, notes, artifacts, output, events."""

from __future__ import annotations

import math

import pytest

from gatebook.errors import StoreError
from gatebook.ids import new_run_id
from gatebook.records import Artifact, Note
from gatebook.store.base import ArtifactRow, EventRow, MetricRow, RunQuery, Store, WriteBatch
from gatebook.testing.store_contract.common import NAN, T0, ContractBase


class WritesContract(ContractBase):
    """What Store.write stores, and the reads that give it back."""

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

    def test_points_cursor_starts_a_live_read_at_now(self, store: Store) -> None:
        run, other = self._create(store), self._create(store)
        assert store.points_cursor() == 0
        store.log_metrics([(run.id, "loss", 1, 1.0, T0), (other.id, "loss", 1, 2.0, T0)])
        now = store.points_cursor()
        assert now == store.metric_points_after(run.id)[1] > 0
        assert store.metric_points_after(run.id, now) == ([], now)
        store.log_metrics([(run.id, "loss", 2, 0.5, T0 + 1)])
        new, later = store.metric_points_after(run.id, now)
        assert [(k, s, v) for k, s, v, _ in new] == [("loss", 2, 0.5)] and later == store.points_cursor() > now

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
