"""The sweep's median pruner as a pure function over fake trials (no ledger, no processes)."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatebook.sweep.prune import MedianPrune, median_decisions

LOSS = MedianPrune(metric="val_loss", warmup=2, min_trials=2, direction="lower")
ACC = MedianPrune(metric="val_acc", warmup=1, min_trials=2, direction="higher")


def test_a_trial_worse_than_the_median_at_its_latest_step_is_pruned() -> None:
    series = {"a": {1: 1.0, 2: 0.8, 3: 0.6}, "b": {1: 1.0, 2: 0.7, 3: 0.5},  # ended trials
              "c": {1: 1.2, 2: 1.1, 3: 1.0}}  # running, worse than both at step 3
    [d] = median_decisions(LOSS, ["c"], series)
    assert (d.run_id, d.step, d.value, d.median, d.others) == ("c", 3, 1.0, 0.55, 2)
    assert d.reason("val_loss") == "median pruner: val_loss 1 worse than the median 0.55 of 2 trials at step 3"


def test_direction_decides_what_worse_means() -> None:
    series = {"a": {1: 0.9}, "b": {1: 0.8}, "c": {1: 0.5}}
    assert [d.run_id for d in median_decisions(ACC, ["a", "b", "c"], series)] == ["c"]
    lower = MedianPrune(metric="x", warmup=1, min_trials=2, direction="lower")
    # lower is better: a (0.9 > median 0.65 of b, c) and b (0.8 > median 0.7 of a, c) are worse
    assert [d.run_id for d in median_decisions(lower, ["a", "b", "c"], series)] == ["a", "b"]


@pytest.mark.parametrize("case, series", [
    ("during warm-up", {"a": {1: 0.1}, "b": {1: 0.1}, "c": {1: 9.0}}),
    ("too few others at that step", {"a": {1: 0.1, 2: 0.1}, "b": {1: 0.1}, "c": {1: 9.0, 2: 9.0}}),
    ("equal to the median", {"a": {2: 0.5}, "b": {2: 0.5}, "c": {2: 0.5}}),
    ("no points yet", {"a": {2: 0.5}, "b": {2: 0.5}, "c": {}}),
])
def test_kept(case: str, series: dict[str, dict[int, float]]) -> None:
    assert median_decisions(LOSS, ["c"], series) == [], case


def test_only_running_trials_are_judged_and_each_against_the_others() -> None:
    series = {"a": {2: 5.0}, "b": {2: 1.0}, "c": {2: 1.0}, "d": {2: 1.0}}
    assert median_decisions(LOSS, ["b", "c", "d"], series) == []  # "a" has ended: never pruned
    assert [d.run_id for d in median_decisions(LOSS, ["a", "b"], series)] == ["a"]


@given(st.dictionaries(st.sampled_from("abcdef"),
                       st.dictionaries(st.integers(0, 5), st.floats(-1e6, 1e6, allow_nan=False), max_size=6),
                       max_size=6))
def test_a_pruned_trial_is_always_strictly_worse_than_the_median_of_enough_others(
        series: dict[str, dict[int, float]]) -> None:
    for d in median_decisions(LOSS, list(series), series):
        others = [s[d.step] for rid, s in series.items() if rid != d.run_id and d.step in s]
        assert len(others) >= LOSS.min_trials and d.step >= LOSS.warmup
        assert d.median == statistics.median(others) and d.value > d.median
