"""The comparison data model (gatebook.analysis.compare): columns, deltas, best, sorting,
renderers, and gate verdicts that match `gatebook gate`'s judge."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
from typing import Any, Iterator

import pytest

from gatebook.analysis.compare import (
    MISSING,
    assemble,
    build_comparison,
    choose_metrics,
    sort_rows,
)
from gatebook.analysis.verdicts import series_from_stats
from gatebook.errors import NotFoundError, UsageError
from gatebook.gates.evaluate import evaluate
from gatebook.gates.spec import GateSpec, MetricsConfig
from gatebook.project_config import ProjectConfig
from gatebook.records import MetricStats, RunRecord, RunStatus
from gatebook.render.compare import format_table, render_csv, render_markdown, render_table
from gatebook.serialize import json_safe_numbers

NAN = float("nan")
T0 = 1_700_000_000.0


def run(rid: str, name: str | None = None, status: RunStatus = RunStatus.FINISHED, t: float = 0.0) -> RunRecord:
    return RunRecord(id=rid, name=name if name is not None else rid, status=status, created_at=T0 + t)


def st(last: float, step: int | None = 3, lo: float | None = None, hi: float | None = None) -> MetricStats:
    lo = last if lo is None and not math.isnan(last) else lo
    hi = last if hi is None and not math.isnan(last) else hi
    return MetricStats(last=last, min=lo, max=hi, last_step=step, count=4)


def pconf(**metrics: Any) -> ProjectConfig:
    gates = metrics.pop("gates", {})
    return ProjectConfig(metrics=MetricsConfig(**metrics), gates={k: GateSpec(**v) for k, v in gates.items()})


DIRS = pconf(higher_is_better=["acc*"], lower_is_better=["*loss*"]).metrics.direction


# -- assemble: deltas, changes, best, order --------------------------------------------------------


def test_deltas_changes_and_best_follow_directions() -> None:
    runs = [run("a"), run("b"), run("c")]
    stats = {"a": {"acc": st(0.80), "loss": st(0.5), "lr": st(0.1)},
             "b": {"acc": st(0.90), "loss": st(0.6), "lr": st(0.2)},
             "c": {"acc": st(0.80), "loss": st(0.4)}}
    comp = assemble(runs, stats, ["acc", "loss", "lr"], baseline_id="a", direction_of=DIRS)
    a, b, c = comp.rows
    assert a.is_baseline and not b.is_baseline
    assert a.cells["acc"].delta is None and a.cells["acc"].change is None  # the baseline: no deltas
    assert b.cells["acc"].delta == 0.1  # tidied: not 0.09999999999999998
    assert b.cells["acc"].delta_pct == 12.5
    assert b.cells["acc"].change == "better" and b.cells["loss"].change == "worse"
    assert c.cells["acc"].change == "same" and c.cells["loss"].change == "better"
    assert b.cells["lr"].delta == 0.1 and b.cells["lr"].change is None  # no direction: no colour
    assert c.cells["lr"] is MISSING  # different metric sets: a blank, never an error
    assert [r.run.id for r in comp.rows if r.cells["acc"].best] == ["b"]
    assert [r.run.id for r in comp.rows if r.cells["loss"].best] == ["c"]
    assert not any(r.cells["lr"].best for r in comp.rows)  # unknown direction: no best
    assert [m.direction for m in comp.metrics] == ["higher", "lower", None]


def test_ties_are_all_best_nan_never_and_a_lone_value_is_not_marked() -> None:
    runs = [run("a"), run("b"), run("c")]
    stats = {"a": {"acc": st(0.9), "loss": st(NAN)}, "b": {"acc": st(0.9)}, "c": {"acc": st(NAN), "loss": st(0.3)}}
    comp = assemble(runs, stats, ["acc", "loss"], baseline_id="a", direction_of=DIRS)
    assert [r.cells["acc"].best for r in comp.rows] == [True, True, False]
    assert not any(r.cells["loss"].best for r in comp.rows)  # only one finite value
    c = comp.row("c").cells
    assert math.isnan(c["acc"].value) and c["acc"].delta is None and c["acc"].change is None
    assert c["loss"].delta is None  # the baseline's value is NaN


def test_zero_baseline_has_no_relative_delta() -> None:
    comp = assemble([run("a"), run("b")], {"a": {"x": st(0.0)}, "b": {"x": st(2.0)}}, ["x"], baseline_id="a")
    assert comp.row("b").cells["x"].delta == 2.0 and comp.row("b").cells["x"].delta_pct is None


def test_baseline_first_then_selection_order_and_sort_by_direction() -> None:
    runs = [run("a"), run("b"), run("c"), run("d")]
    stats = {"a": {"loss": st(0.5)}, "b": {"loss": st(0.2)}, "c": {"loss": st(NAN)}, "d": {"loss": st(0.9)}}
    comp = assemble(runs, stats, ["loss"], baseline_id="c", direction_of=DIRS)
    assert [r.run.id for r in comp.rows] == ["c", "a", "b", "d"]
    stats["e"] = {}
    comp = assemble([*runs, run("e")], stats, ["loss"], baseline_id="c", direction_of=DIRS, sort="loss")
    assert [r.run.id for r in comp.rows] == ["b", "a", "d", "c", "e"]  # best first, NaN then missing last
    rows = sort_rows(comp.rows, "loss", None)  # unknown direction: highest first
    assert [r.run.id for r in rows] == ["d", "a", "b", "c", "e"]


# -- choosing the columns --------------------------------------------------------------------------


STATS = {"a": {"acc": st(1), "loss": st(1), "epoch": st(3), "zeta": st(1), "only_a": st(1)},
         "b": {"acc": st(1), "loss": st(1), "epoch": st(3), "zeta": st(1)}}
RUNS = [run("a"), run("b")]


def test_default_columns_primary_then_gate_metrics_then_shared() -> None:
    conf = pconf(primary=["zeta", "not_logged"], lower_is_better=["*loss*"],
                 gates={"g": {"checks": ["loss <= 2", "acc >= 0.5"]}})
    keys, source, others = choose_metrics(STATS, RUNS, pconf=conf, gates=[conf.gates["g"].to_gate("g")])
    assert (keys, source) == (["zeta", "loss", "acc"], "primary")
    assert others == ["epoch", "only_a"]
    keys, source, _ = choose_metrics(STATS, RUNS, pconf=conf, gates=[])
    assert (keys, source) == (["zeta"], "primary")
    keys, source, _ = choose_metrics(STATS, RUNS, pconf=pconf(gates={"g": {"checks": ["acc >= 1"]}}),
                                     gates=[pconf(gates={"g": {"checks": ["acc >= 1"]}}).gates["g"].to_gate("g")])
    assert (keys, source) == (["acc"], "gates")
    # shared: every run has it, directed metrics first, axes (epoch) skipped
    keys, source, others = choose_metrics(STATS, RUNS, pconf=pconf(lower_is_better=["*loss*"]))
    assert (keys, source) == (["loss", "acc", "zeta"], "shared")
    assert others == ["epoch", "only_a"]


def test_shared_is_capped_and_falls_back_to_the_most_common() -> None:
    stats = {"a": {f"m{i:02d}": st(1) for i in range(20)}, "b": {f"m{i:02d}": st(1) for i in range(20)}}
    keys, source, others = choose_metrics(stats, RUNS)
    assert keys == [f"m{i:02d}" for i in range(8)] and source == "shared" and len(others) == 12
    disjoint = {"a": {"x": st(1), "y": st(1)}, "b": {"y": st(1), "z": st(1)}, "c": {"y": st(2)}}
    keys, source, _ = choose_metrics(disjoint, [run("a"), run("b")])
    assert keys == ["y"] and source == "shared"
    keys, source, _ = choose_metrics({"a": {"x": st(1)}, "b": {"z": st(1)}}, [run("a"), run("b")])
    assert keys == ["x", "z"] and source == "common"


def test_explicit_metrics_commas_sort_column_and_unknown_metric_errors() -> None:
    keys, source, _ = choose_metrics(STATS, RUNS, explicit=["loss,acc", "loss"], sort="zeta")
    assert (keys, source) == (["loss", "acc", "zeta"], "--metric")
    with pytest.raises(UsageError) as err:
        choose_metrics(STATS, RUNS, explicit=["accc"])
    msg = str(err.value)
    assert msg.startswith("--metric 'accc': none of the 2 runs compared logged it; they have: acc")
    assert "\n" not in msg
    with pytest.raises(UsageError, match=r"^--sort 'lss': the selected run never logged it; it has: loss"):
        choose_metrics(STATS, [run("a")], sort="lss")
    with pytest.raises(UsageError, match="logged no metric at all"):
        choose_metrics({"a": {}}, [run("a")], explicit=["x"])


# -- renderers -------------------------------------------------------------------------------------


def _sample() -> Any:
    runs = [run("6ah000000aa", "base"), run("6ah000000bb", "we|rd"), run("6ah000000cc", "c", RunStatus.FAILED)]
    stats = {"6ah000000aa": {"acc": st(0.8), "loss": st(0.5)}, "6ah000000bb": {"acc": st(0.9), "loss": st(0.7)},
             "6ah000000cc": {"acc": st(NAN)}}
    return assemble(runs, stats, ["acc", "loss"], baseline_id="6ah000000aa", direction_of=DIRS)


def test_markdown_table() -> None:
    text = render_markdown(_sample())
    lines = text.splitlines()
    assert lines[0] == "| run | id | status | acc ↑ | loss ↓ |"
    assert lines[1] == "|---|---|---|---:|---:|"
    assert lines[2] == "| base *(baseline)* | `6ah000000aa` | finished | 0.8 | **0.5** |"
    assert lines[3] == "| we\\|rd | `6ah000000bb` | finished | **0.9** (+0.1) | 0.7 (+0.2) |"
    assert lines[4] == "| c | `6ah000000cc` | failed | NaN |  |"
    assert lines[5] == "" and lines[6].startswith("values: the last logged value")
    assert render_markdown(_sample(), with_legend=False).count("\n") == 5


def test_csv_has_full_precision_and_blanks() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(_sample()))))
    assert list(rows[0]) == ["id", "name", "status", "baseline", "acc", "acc_delta", "acc_delta_pct",
                             "loss", "loss_delta", "loss_delta_pct"]
    assert rows[0]["baseline"] == "true" and rows[0]["acc_delta"] == ""
    assert rows[1]["name"] == "we|rd" and float(rows[1]["acc_delta"]) == 0.1 and rows[1]["loss_delta_pct"] == "40.0"
    assert rows[2]["acc"] == "NaN" and rows[2]["loss"] == ""


def test_text_table_aligns_and_colours() -> None:
    comp = _sample()
    plain = format_table(comp).splitlines()
    assert plain[0].split() == ["run", "id", "status", "acc", "↑", "loss", "↓"]
    assert plain[1].startswith("base (baseline)  6ah000000aa  finished")
    # value sub-columns line up (right edge of the value), the delta follows
    assert plain[1].index("0.8") + 3 == plain[2].index("0.9") + 3 == plain[3].index("NaN") + 3
    assert "0.9 +0.1" in plain[2] and "\x1b" not in "".join(plain)
    coloured = format_table(comp, color=True)
    assert "\x1b[1m0.9\x1b[0m\x1b[32m+0.1\x1b[0m" in coloured.replace(" ", "")  # best bold, better green
    assert "\x1b[31m+0.2\x1b[0m" in coloured  # worse red
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == "\n".join(plain) + "\n"
    rich_text = render_table(comp)
    assert rich_text.plain.splitlines() == [line.rstrip() for line in plain] or \
        [line.rstrip() for line in rich_text.plain.splitlines()] == plain


def test_to_dict_is_strict_json_with_the_documented_keys() -> None:
    doc = _sample().to_dict()
    json.dumps(json_safe_numbers(doc), allow_nan=False)
    assert set(doc) == {"value", "metrics", "metrics_from", "other_metrics", "baseline", "sort", "gates", "runs"}
    assert doc["value"] == "last"
    row = doc["runs"][1]
    assert set(row) == {"id", "name", "status", "created_at", "baseline", "metrics", "verdicts"}
    assert row["metrics"]["acc"] == {"value": 0.9, "step": 3, "delta": 0.1, "delta_pct": 12.5,
                                     "change": "better", "best": True}
    assert doc["runs"][2]["metrics"]["loss"] == {"value": None, "step": None, "delta": None, "delta_pct": None,
                                                 "change": None, "best": False}


# -- gate verdicts from stats are the judge's own ---------------------------------------------------


def _random_series(rng: random.Random) -> list[tuple[int | None, float]]:
    n = rng.randint(1, 6)
    stepped = rng.random() < 0.8
    steps = sorted(rng.choice([0, 1, 2, 3, 4, 5]) for _ in range(n)) if stepped else [None] * n
    return [(s, NAN if rng.random() < 0.1 else round(rng.uniform(0, 1), 2)) for s in steps]


def _stats_of(points: list[tuple[int | None, float]]) -> MetricStats:
    finite = [v for _, v in points if not math.isnan(v)]
    steps = [s for s, _ in points if s is not None]
    if steps and len(steps) == len(points):
        top = max(steps)
        last = [v for s, v in points if s == top][-1]
    else:
        last = points[-1][1]
    return MetricStats(last, min(finite) if finite else None, max(finite) if finite else None,
                       max(steps) if steps else None, len(points))


@pytest.mark.parametrize("check", ["acc >= 0.5", "min acc > 0.3", "max loss <= 0.6", "best acc >= 0.7",
                                   "best loss < 0.4", "acc >= baseline + 0.05", "loss no worse than baseline",
                                   "acc between 0.2 and 0.8", "acc >= 0.6, marginal >= 0.4"])
def test_series_from_stats_gives_the_same_tiers_as_the_full_series(check: str) -> None:
    gate = GateSpec(checks=[check]).to_gate("g")
    rng = random.Random(check)
    for _ in range(150):
        full = {"acc": _random_series(rng), "loss": _random_series(rng)}
        base = {"acc": _random_series(rng), "loss": _random_series(rng)}
        stand_in = series_from_stats({k: _stats_of(v) for k, v in full.items()}, ["acc", "loss"])
        for finished in (True, False):
            want = evaluate(gate, full, base, direction_of=DIRS, finished=finished)
            got = evaluate(gate, stand_in, base, direction_of=DIRS, finished=finished)
            assert got.tier == want.tier, (full, base)
            assert [c.observed for c in got.checks] == [c.observed for c in want.checks] or \
                any(c.observed is not None and math.isnan(c.observed) for c in want.checks)


# -- build_comparison on a real store (SQLite and PostgreSQL) ---------------------------------------------------------


@pytest.fixture
def store(store_url: str) -> Iterator[Any]:
    """A real store of each backend (SQLite; PostgreSQL from the session server)."""
    from gatebook.store import open_store

    s = open_store(store_url)
    yield s
    s.close()


def _add(store: Any, name: str, t: float, series: dict[str, list[tuple[int | None, float]]],
         status: RunStatus = RunStatus.FINISHED, summary: dict[str, Any] | None = None) -> RunRecord:
    from gatebook.ids import new_run_id

    rec = RunRecord(id=new_run_id(T0 + t), name=name, status=status, created_at=T0 + t)
    store.create_run(rec)
    store.log_metrics([(rec.id, k, s, v, T0 + t + i) for k, pts in series.items() for i, (s, v) in enumerate(pts)])
    if summary:
        store.set_summary(rec.id, summary)
    return rec


def test_build_comparison_with_gates_and_baselines(store: Any) -> None:
    conf = pconf(higher_is_better=["acc*"], lower_is_better=["*loss*"], gates={
        "deploy": {"checks": ["acc >= baseline + 0.05", "loss no worse than baseline"]},
        "early": {"checks": ["acc >= 0.5 @ epoch 0"]},
        "fixed": {"baseline": "base", "checks": ["acc >= baseline"]},
        "summary": {"checks": ["final >= 0.5"]},
    })
    base = _add(store, "base", 0, {"acc": [(0, 0.5), (1, 0.7)], "loss": [(0, 0.9), (1, 0.5)]})
    good = _add(store, "good", 1, {"acc": [(0, 0.6), (1, 0.8)], "loss": [(0, 0.8), (1, 0.4)]}, summary={"final": 0.9})
    bad = _add(store, "bad", 2, {"acc": [(0, 0.2), (1, 0.72)], "loss": [(0, 0.9), (1, 0.6)]})
    live = _add(store, "live", 3, {"loss": [(0, 1.0)]}, status=RunStatus.RUNNING)

    comp = build_comparison(store, [good, bad, live], pconf=conf, gates=["deploy", "early", "fixed", "summary"])
    assert comp.baseline is not None and comp.baseline.id == base.id and comp.baseline_from == "gate fixed"
    assert [r.run.name for r in comp.rows] == ["base", "good", "bad", "live"]
    assert comp.keys == ["acc", "loss"] and comp.metrics_from == "gates"  # summary values are no columns
    verdicts = {r.run.name: {g: v.verdict for g, v in r.verdicts.items()} for r in comp.rows}
    assert verdicts["good"] == {"deploy": "PASS", "early": "PASS", "fixed": "PASS", "summary": "PASS"}
    assert verdicts["bad"] == {"deploy": "FAIL", "early": "FAIL", "fixed": "PASS", "summary": "ERROR"}
    assert verdicts["live"] == {"deploy": "FAIL", "early": "PENDING", "fixed": "PENDING", "summary": "PENDING"}
    assert comp.row("bad").verdicts["deploy"].reasons[0].startswith("acc 0.72 < 0.75")
    doc = comp.to_dict()
    assert doc["baseline"] == {"id": base.id, "name": "base", "from": "gate fixed"}
    assert {g["name"]: g["baseline"] for g in doc["gates"]} == {
        "deploy": {"id": base.id, "name": "base"}, "early": None, "fixed": {"id": base.id, "name": "base"},
        "summary": None}
    # the same verdicts as `gatebook gate` (its judge, on the full series)
    from gatebook.gates.setup import load_series, prepare_gates

    gating = prepare_gates(store, conf, ["deploy"], base.id)
    for rec in (good, bad, live):
        want = evaluate(gating.gates[0], load_series(store, rec.id), gating.baselines["deploy"].series,
                        direction_of=conf.metrics.direction, finished=rec.status.is_terminal)
        assert comp.row(rec.id).verdicts["deploy"].verdict == want.tier.value

    # --baseline wins over every gate's own, and is added when not selected
    comp = build_comparison(store, [base, good], baseline="bad", pconf=conf, gates=["fixed"], metrics=["acc"])
    assert [r.run.name for r in comp.rows] == ["bad", "base", "good"] and comp.baseline_from == "--baseline"
    assert [r.verdicts["fixed"].verdict for r in comp.rows] == ["PASS", "FAIL", "PASS"]
    assert comp.row("good").cells["acc"].delta == 0.08

    # no gates: the first run is the baseline; the shared metrics are the columns
    comp = build_comparison(store, [bad, good], pconf=conf)
    assert comp.baseline_from == "first run" and comp.rows[0].run.name == "bad" and comp.keys == ["acc", "loss"]


def test_build_comparison_errors(store: Any) -> None:
    a = _add(store, "a", 0, {"acc": [(0, 0.5)]})
    conf = pconf(gates={"g": {"baseline": "gone", "checks": ["acc >= baseline"]}})
    with pytest.raises(NotFoundError, match="^gate g's baseline: "):
        build_comparison(store, [a], pconf=conf, gates=["g"])
    with pytest.raises(UsageError, match="unknown gate 'nope'"):
        build_comparison(store, [a], pconf=conf, gates=["nope"])
    with pytest.raises(UsageError, match="no runs to compare"):
        build_comparison(store, [], pconf=conf)
