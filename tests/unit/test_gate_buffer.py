"""The live judge's bounded series give the same verdicts as the full series."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from gatebook.gates.buffer import SeriesBuffer, conditions_of, key_needs
from gatebook.gates.evaluate import evaluate
from gatebook.gates.grammar import parse_check
from gatebook.gates.spec import Gate

CHECKS = ["x < 0.5", "min x < 0.2", "max x > 0.8", "best x > 0.7", "mean of last 3 x < 0.5",
          "max of last 2 x > 0.6", "x between 0.1 and 0.9, marginal between 0 and 1"]


def test_needs() -> None:
    conds = [c for text in ["x < 1", "mean of last 4 x > 0", "y >= 1 @ epoch 2", "mean z > 0", "w > 0"]
             for c in conditions_of(parse_check(text))]
    assert key_needs(conds) == {"x": 4, "y": None, "epoch": None, "z": None, "w": 0}


def test_a_compact_buffer_holds_a_constant_number_of_points() -> None:
    buf = SeriesBuffer(3)
    for i in range(10_000):
        buf.add(i, 1.0 / (i + 1))
    assert buf.compact and len(buf.view()) == 5


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1), st.just(math.nan)), min_size=0, max_size=40),
       st.sampled_from(CHECKS), st.booleans())
def test_same_verdicts_as_the_full_series(values: list[float], text: str, finished: bool) -> None:
    check = parse_check(text)
    window = key_needs(conditions_of(check)).get("x", 0)
    buf = SeriesBuffer(window)
    full = []
    for i, v in enumerate(values):
        buf.add(i, v)
        full.append((i, v))
    gate = Gate("g", (check,))
    direction = lambda key: "higher"  # noqa: E731
    a = evaluate(gate, {"x": full} if full else {}, direction_of=direction, finished=finished)
    b = evaluate(gate, {"x": buf.view()} if buf.points else {}, direction_of=direction, finished=finished)
    assert [(c.tier, c.reason) for c in a.checks] == [(c.tier, c.reason) for c in b.checks]


def test_a_step_going_back_asks_for_a_reload() -> None:
    buf = SeriesBuffer(0)
    for i in range(5):
        buf.add(i, float(i))
    assert buf.compact
    buf.add(2, 9.0)
    assert buf.needs_reload


def test_live_gates_reread_a_series_whose_steps_go_back(tmp_path) -> None:
    import time

    from gatebook.capture.recorder import make_record
    from gatebook.gates.live import LiveGates
    from gatebook.gates.setup import Gating
    from gatebook.store import open_store

    store = open_store(f"sqlite:///{tmp_path}/ledger.db")
    run = make_record(run_id="run1", name="r", parent_id=None, tags=(), group=None, command=["x"], cwd=".",
                      source="api")
    store.create_run(run)
    gate = Gate("g", (parse_check("x < 5"), parse_check("min x < 0.5")))
    live = LiveGates(store, "run1", Gating([gate], {}, lambda k: None))
    store.log_metrics([("run1", "x", i, 1.0 + i / 100, time.time()) for i in range(50)])
    live.poll()
    assert live._buffers["x"].compact
    store.log_metrics([("run1", "x", 10, 0.1, time.time()), ("run1", "x", 60, 7.0, time.time())])
    live.poll()
    assert "x" in live._full and not live._buffers["x"].compact
    assert [c.tier.value for c in live.results["g"].checks] == ["FAIL", "PASS"]
    assert len(live.series["x"]) == 52
    store.close()
