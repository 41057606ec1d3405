"""The pure judge: tiers, aggregations, @ epoch, baselines, directions, NaN, missing metrics."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatebook.gates.evaluate import Tier, closest_keys, evaluate, holds, worst
from gatebook.gates.grammar import parse_check, parse_expr
from gatebook.gates.spec import Gate, MetricsConfig

DIRS = MetricsConfig(higher_is_better=["val_*", "r@*", "mrr*", "margin"],
                     lower_is_better=["*loss*", "latency*"]).direction


def gate(*checks: str, name: str = "g") -> Gate:
    return Gate(name=name, checks=tuple(parse_check(c) for c in checks))


def judge(check: str, series: dict, baseline: dict | None = None, finished: bool = True):
    result = evaluate(gate(check), series, baseline, direction_of=DIRS, finished=finished)
    return result.checks[0]


def test_the_epoch2_gate_fails_with_the_reason_a_researcher_writes() -> None:
    series = {"val_cosine": [(1, 0.11), (2, 0.22), (3, 0.9)]}
    r = judge("val_cosine >= 0.50 @ epoch 2", series)
    assert r.tier is Tier.FAIL and r.observed == 0.22 and r.step == 2
    assert r.reason == "val_cosine 0.22 < 0.50 at epoch 2"
    assert r.threshold == 0.5 and r.threshold_text == ">= 0.50"


def test_at_epoch_is_pending_until_the_run_gets_there_then_judged() -> None:
    assert judge("val_cosine >= 0.5 @ epoch 2", {"val_cosine": [(1, 0.9)]}, finished=False).tier is Tier.PENDING
    assert judge("val_cosine >= 0.5 @ epoch 2", {}, finished=False).tier is Tier.PENDING
    ended = judge("val_cosine >= 0.5 @ epoch 2", {"val_cosine": [(1, 0.9)]}, finished=True)
    assert ended.tier is Tier.ERROR and "never reached epoch 2 (last epoch 1)" in ended.reason
    # a metric logged every 5 epochs is judged at the first epoch at or after 2
    skip = judge("val_cosine >= 0.5 @ epoch 2", {"val_cosine": [(0, 0.1), (5, 0.7)]})
    assert skip.tier is Tier.PASS and skip.step == 5 and "first logged at or after 2" in skip.reason


def test_at_epoch_uses_an_epoch_series_logged_against_global_steps() -> None:
    series = {"epoch": [(100, 1), (200, 2), (300, 3)], "val": [(100, 0.1), (200, 0.4), (300, 0.9)]}
    assert judge("val >= 0.3 @ epoch 2", series).observed == 0.4
    assert judge("val >= 0.3 @ step 150", series).observed == 0.4  # step 200 is the first >= 150


def test_tiers_pass_marginal_fail() -> None:
    check = "margin >= 0.20, marginal >= 0.10"
    assert judge(check, {"margin": [(1, 0.25)]}).tier is Tier.PASS
    marginal = judge(check, {"margin": [(1, 0.15)]})
    assert marginal.tier is Tier.MARGINAL and "within marginal >= 0.10" in marginal.reason
    assert marginal.check == check
    assert judge(check, {"margin": [(1, 0.05)]}).tier is Tier.FAIL


def test_aggregations() -> None:
    s = {"val_loss": [(1, 0.9), (2, 0.3), (3, 0.5), (4, 0.4)], "val_acc": [(1, 0.5), (2, 0.8), (3, 0.7)]}
    assert judge("val_loss < 0.45", s).observed == 0.4  # last by default
    assert judge("min val_loss < 0.45", s).observed == 0.3
    assert judge("max val_loss < 0.45", s).observed == 0.9
    assert judge("mean val_loss < 1", s).observed == pytest.approx(0.525)
    assert judge("mean of last 2 val_loss < 1", s).observed == pytest.approx(0.45)
    assert judge("best val_loss < 1", s).observed == 0.3  # lower is better
    assert judge("best val_acc > 0", s).observed == 0.8  # higher is better
    assert judge("max of last 2 val_acc > 0", s).observed == 0.8
    pending = judge("mean of last 5 val_loss < 1", s, finished=False)
    assert pending.tier is Tier.PENDING


def test_last_is_the_highest_step_even_if_logged_out_of_order() -> None:
    assert judge("x > 0", {"x": [(2, 5.0), (1, 1.0)]}).observed == 5.0
    assert judge("x > 0", {"x": [(None, 5.0), (None, 1.0)]}).observed == 1.0


def test_baselines_with_arithmetic_and_other_metrics() -> None:
    base = {"r@5": [(None, 0.42)], "mrr@10": [(None, 0.30)], "latency_ms": [(None, 10.0)], "r@1": [(None, 0.2)]}
    run = {"r@5": [(None, 0.52)], "mrr@10": [(None, 0.33)], "latency_ms": [(None, 12.0)]}
    r = judge("r@5 >= baseline + 0.10", run, base)
    assert r.tier is Tier.PASS, r.reason  # 0.52 >= 0.42 + 0.10 despite float rounding
    assert r.threshold_text == ">= 0.52 (baseline 0.42 + 0.10)"
    assert judge("mrr@10 >= baseline + 0.05", run, base).tier is Tier.FAIL
    worse = judge("latency_ms no worse than baseline", run, base)
    assert worse.tier is Tier.FAIL and worse.reason == "latency_ms 12 worse than 10 (baseline); lower is better"
    assert judge("latency_ms no worse than baseline * 1.25", run, base).tier is Tier.PASS
    assert judge("r@5 >= baseline.r@1 * 2", run, base).tier is Tier.PASS
    assert judge("r@5 <= baseline / 0", run, base).tier is Tier.ERROR
    assert judge("r@5 >= 35%", run).threshold == 0.35
    # % after baseline +/- is relative to |baseline|; pp (percentage points) is absolute
    slower = judge("latency_ms <= baseline + 25%", run, base)
    assert slower.tier is Tier.PASS and slower.threshold == 12.5
    assert slower.threshold_text == "<= 12.5 (baseline 10 + 25%)"
    assert judge("latency_ms <= baseline + 10%", run, base).tier is Tier.FAIL  # 12 > 11
    points = judge("r@5 >= baseline + 10 pp", run, base)
    assert points.tier is Tier.PASS and points.threshold_text == ">= 0.52 (baseline 0.42 + 10 pp)"
    assert judge("r@5 >= baseline + 10%", run, base).threshold == 0.462
    assert judge("latency_ms no worse than baseline + 20%", run, base).tier is Tier.PASS


def test_baseline_problems_are_errors_that_say_what_to_do() -> None:
    run = {"r@5": [(None, 0.5)]}
    none = judge("r@5 >= baseline", run, None)
    assert none.tier is Tier.ERROR and "--baseline" in none.reason
    lacking = judge("r@5 >= baseline", run, {"r@10": [(None, 0.4)]})
    assert lacking.tier is Tier.ERROR and "never logged r@5" in lacking.reason and "r@10" in lacking.reason


def test_nan_fails_and_says_so() -> None:
    r = judge("val_loss < 1", {"val_loss": [(1, 0.5), (2, math.nan)]})
    assert r.tier is Tier.FAIL and "NaN" in r.reason
    # min/max ignore NaN points; mean does not
    assert judge("min val_loss < 1", {"val_loss": [(1, 0.5), (2, math.nan)]}).tier is Tier.PASS
    assert judge("mean val_loss < 1", {"val_loss": [(1, 0.5), (2, math.nan)]}).tier is Tier.FAIL


def test_missing_metric_names_the_keys_the_run_has_closest_first() -> None:
    r = judge("val_cosin >= 0.5", {"loss": [(1, 1.0)], "val_cosine": [(1, 0.2)], "acc": [(1, 0.1)]})
    assert r.tier is Tier.ERROR
    assert r.reason.startswith("the run never logged val_cosin; it has: val_cosine")
    assert judge("x > 0", {}).reason == "the run logged no metrics at all (so no x)"
    assert judge("x > 0", {"y": [(1, 1.0)]}, finished=False).tier is Tier.PENDING


def test_directions_needed_for_best_and_no_worse_than() -> None:
    r = judge("best weird > 0", {"weird": [(1, 1.0)]})
    assert r.tier is Tier.ERROR and "higher_is_better" in r.reason
    assert judge("weird no worse than 1", {"weird": [(1, 1.0)]}).tier is Tier.ERROR


def test_between_and_equality() -> None:
    assert judge("hota between 0.6 and 0.9", {"hota": [(1, 0.7)]}).tier is Tier.PASS
    out = judge("hota between 0.6 and 0.9", {"hota": [(1, 0.95)]})
    assert out.tier is Tier.FAIL and "outside" in out.reason and out.threshold == (0.6, 0.9)
    assert judge("n == 3", {"n": [(1, 3.0)]}).tier is Tier.PASS
    assert judge("n != 3", {"n": [(1, 3.0)]}).tier is Tier.FAIL


def test_gate_verdict_is_its_worst_check() -> None:
    g = gate("a > 0", "b > 0, marginal > -1", "c > 0")
    res = evaluate(g, {"a": [(1, 1.0)], "b": [(1, -0.5)], "c": [(1, 1.0)]})
    assert [c.tier for c in res.checks] == [Tier.PASS, Tier.MARGINAL, Tier.PASS]
    assert res.tier is Tier.MARGINAL
    assert worst([Tier.PASS, Tier.PENDING, Tier.FAIL, Tier.MARGINAL]) is Tier.FAIL
    assert worst([Tier.FAIL, Tier.ERROR]) is Tier.ERROR
    doc = res.to_dict()
    assert set(doc) == {"name", "verdict", "checks"}
    assert set(doc["checks"][0]) >= {"check", "metric", "observed", "threshold", "tier", "reason"}


def test_signatures_with_and_or() -> None:
    s = {"contain50": [(1, 0.7)], "r5": [(1, 0.3)]}
    assert holds(parse_expr("contain50 >= 0.60 and r5 < 0.40"), s)
    assert not holds(parse_expr("contain50 >= 0.80 and r5 < 0.40"), s)
    assert holds(parse_expr("contain50 >= 0.80 or r5 < 0.40"), s)
    assert not holds(parse_expr("missing > 0 or r5 > 0.5"), s)


def test_closest_keys() -> None:
    assert closest_keys("val_acc", ["loss", "val_loss", "val_accuracy", "acc"])[0] == "val_accuracy"


@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                          st.integers(-10, 10).map(float)), min_size=0, max_size=8),
       st.sampled_from(["x > 0", "min x <= 1", "mean of last 3 x < 5", "best x >= 0", "x between -1 and 1",
                        "x no worse than baseline", "x >= baseline - 1 @ step 3", "x <= baseline + 10%",
                        "x >= baseline - 5 pp, marginal >= baseline - 10%"]),
       st.booleans())
def test_the_judge_never_raises(values: list[float], check: str, finished: bool) -> None:
    series = {"x": [(i, v) for i, v in enumerate(values)]}
    r = evaluate(gate(check), series, {"x": [(3, 0.5)]}, direction_of=lambda k: "higher", finished=finished)
    assert r.tier in set(Tier)
    assert all(c.reason for c in r.checks)


def test_metric_directions_exact_then_most_specific_glob_then_lower() -> None:
    m = MetricsConfig(higher_is_better=["val_*", "r@*", "val_loss_ratio"], lower_is_better=["*loss*", "latency*"])
    assert m.direction("val_acc") == "higher"
    assert m.direction("val_loss") == "lower"  # tie on literal characters: lower wins
    assert m.direction("val_loss_ratio") == "higher"  # exact key
    assert m.direction("latency_ms") == "lower"
    assert m.direction("r@5") == "higher"
    assert m.direction("throughput") is None


def test_fail_reasons_mention_the_marginal_band_and_thresholds_have_no_float_noise() -> None:
    r = judge("margin >= 0.20, marginal >= 0.10", {"margin": [(1, 0.05)]})
    assert r.reason == "margin 0.05 < 0.20, below marginal >= 0.10"
    t = judge("x >= baseline + 0.01", {"x": [(1, 1.0)]}, {"x": [(1, 0.42)]})
    assert t.threshold == 0.43
