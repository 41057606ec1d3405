"""The store contract on metrics: aggregates, series, many points, odd keys and values."""

from __future__ import annotations

import math

from gatebook.ids import new_run_id
from gatebook.records import MetricStats
from gatebook.store.base import ArtifactRow, EventRow, MetricRow, RunQuery, Store, WriteBatch
from gatebook.testing.store_contract.common import INF, NAN, T0, ContractBase, same_float


class MetricsContract(ContractBase):
    """metric_stats and metric_series, and values that must round-trip exactly."""

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

    def test_metric_points_by_step_nan_and_range(self, store: Store) -> None:
        run = self._create(store)
        store.log_metrics([(run.id, "loss", 5, 0.5, T0), (run.id, "loss", 2, NAN, T0 + 1),
                           (run.id, "acc", 1, 0.9, T0 + 2), (run.id, "loss", 2, 0.25, T0 + 3),
                           (run.id, "loss", 9, INF, T0 + 4)])
        steps, values = store.metric_points(run.id, "loss")
        assert steps == [2, 2, 5, 9]  # by step; equal steps in logging order
        assert all(same_float(a, b) for a, b in zip(values, [NAN, 0.25, 0.5, INF], strict=True))
        steps, values = store.metric_points(run.id, "loss", start=2, end=5)  # bounds inclusive
        assert steps == [2, 2, 5] and values[1:] == [0.25, 0.5] and math.isnan(values[0])
        assert store.metric_points(run.id, "loss", start=5, end=9) == ([5, 9], [0.5, INF])
        assert store.metric_points(run.id, "loss", start=3) == ([5, 9], [0.5, INF])
        assert store.metric_points(run.id, "loss", end=4)[0] == [2, 2]
        assert store.metric_points(run.id, "loss", start=6, end=8) == ([], [])
        assert store.metric_points(run.id, "acc") == ([1], [0.9])
        assert store.metric_points(run.id, "nope") == ([], [])
        assert store.metric_points(new_run_id(), "loss") == ([], [])

    def test_metric_points_without_steps_in_logging_order(self, store: Store) -> None:
        run = self._create(store)
        store.log_metrics([(run.id, "lr", 3, 0.3, T0), (run.id, "lr", None, 0.1, T0 + 1),
                           (run.id, "lr", 1, 0.2, T0 + 2)])
        assert store.metric_points(run.id, "lr") == ([3, None, 1], [0.3, 0.1, 0.2])
        assert store.metric_points(run.id, "lr", start=0, end=10) == ([1, 3], [0.2, 0.3])  # no step: never in a range

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
        assert all(same_float(a, b) for a, b in zip([p[1] for p in loss], [1.0, NAN, INF, 0.5], strict=False))
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
