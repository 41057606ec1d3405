"""Margins on a baseline: ``baseline + 10%`` is relative to |baseline|, ``10 pp`` is absolute.

Every case is checked against :func:`reference`, a formula written here independently of
the judge, and against the number written in the table; then the tier on both sides of
the threshold, the printed threshold, and the canonical-printing round trip.
"""

from __future__ import annotations

import math
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatebook.gates.evaluate import Tier, evaluate
from gatebook.gates.grammar import CheckSyntaxError, parse_check
from gatebook.gates.spec import Gate

Unit = Literal["", "%", "pp"]


def reference(base: float, op: str, amount: float, unit: Unit) -> float:
    """The threshold ``base op amount[unit]`` as the docs define it (only ``+`` / ``-``)."""
    sign = 1.0 if op == "+" else -1.0
    if unit == "%":  # relative: a share of the baseline's magnitude
        return base + sign * (amount / 100.0) * abs(base)
    if unit == "pp":  # percentage points: hundredths, absolute
        return base + sign * amount / 100.0
    return base + sign * amount


def direction_of(key: str) -> str | None:
    return {"latency_ms": "lower", "loss": "lower", "r@5": "higher", "score": "higher", "acc": "higher"}.get(key)


def judge(check: str, observed: float, baseline: dict[str, float]):
    series = {parse_check(check).metric: [(1, observed)]}
    base = {key: [(1, value)] for key, value in baseline.items()}
    return evaluate(Gate("g", (parse_check(check),)), series, base, direction_of=direction_of).checks[0]


# check, baseline value, (op, amount, unit) for reference(), the threshold written out by hand
CASES: list[tuple[str, float, tuple[str, float, Unit], float]] = [
    # metrics that are not fractions: 10% slower is 10% slower, not 0.10 ms
    ("latency_ms <= baseline + 10%", 200.0, ("+", 10, "%"), 220.0),
    ("latency_ms <= baseline + 10%", 0.9, ("+", 10, "%"), 0.99),
    ("latency_ms no worse than baseline + 10%", 200.0, ("+", 10, "%"), 220.0),
    ("loss <= baseline - 5%", 0.4, ("-", 5, "%"), 0.38),
    # higher is better, fractions: relative versus percentage points
    ("r@5 >= baseline + 10%", 0.30, ("+", 10, "%"), 0.33),
    ("r@5 >= baseline + 10 pp", 0.30, ("+", 10, "pp"), 0.40),
    ("r@5 >= baseline + 0.10", 0.30, ("+", 0.10, ""), 0.40),
    ("r@5 >= baseline - 2.5 pp", 0.30, ("-", 2.5, "pp"), 0.275),
    ("r@5 no worse than baseline - 5%", 0.80, ("-", 5, "%"), 0.76),
    # negative baselines: the margin moves the same way as for a positive one
    ("score >= baseline - 5%", -2.0, ("-", 5, "%"), -2.1),
    ("score >= baseline + 10%", -2.0, ("+", 10, "%"), -1.8),
    ("loss <= baseline + 10%", -4.0, ("+", 10, "%"), -3.6),
    ("loss <= baseline - 10%", -4.0, ("-", 10, "%"), -4.4),
    ("score >= baseline + 10 pp", -2.0, ("+", 10, "pp"), -1.9),
    ("score no worse than baseline - 50%", -3.0, ("-", 50, "%"), -4.5),
    # zero baseline: a relative margin is zero; percentage points are not
    ("score >= baseline + 10%", 0.0, ("+", 10, "%"), 0.0),
    ("score >= baseline - 10%", 0.0, ("-", 10, "%"), 0.0),
    ("score >= baseline - 10%", -0.0, ("-", 10, "%"), 0.0),
    ("loss <= baseline + 10 pp", 0.0, ("+", 10, "pp"), 0.10),
    # signs, large and fractional percentages
    ("score >= baseline + -10%", 5.0, ("+", -10, "%"), 4.5),
    ("score >= baseline - -10%", 5.0, ("-", -10, "%"), 5.5),
    ("score >= baseline - 200%", 3.0, ("-", 200, "%"), -3.0),
    ("score >= baseline + 1e3%", 0.5, ("+", 1000, "%"), 5.5),
    ("score >= baseline + .5%", 200.0, ("+", 0.5, "%"), 201.0),
    ("score >= baseline - 0.5 pp", 0.9, ("-", 0.5, "pp"), 0.895),
]


def _pass_and_fail(check: str, threshold: float) -> tuple[float, float]:
    """An observed value that passes and one that fails, just either side of ``threshold``."""
    cond = parse_check(check).condition
    step = max(abs(threshold), 1.0) * 1e-3
    comparator = cond.comparator
    if comparator == "no worse than":
        comparator = ">=" if direction_of(cond.operand.metric) == "higher" else "<="
    return (threshold + step, threshold - step) if comparator in (">=", ">") else (threshold - step, threshold + step)


@pytest.mark.parametrize(("check", "base", "margin", "written"), CASES,
                         ids=[f"{check} [b={base}]" for check, base, _, _ in CASES])
def test_threshold_matches_the_independent_formula(check: str, base: float, margin: tuple[str, float, Unit],
                                                   written: float) -> None:
    expected = reference(base, *margin)
    assert expected == pytest.approx(written, abs=1e-12)
    metric = parse_check(check).metric
    r = judge(check, expected, {metric: base})
    assert r.threshold == pytest.approx(expected, rel=1e-9, abs=1e-12), r.threshold_text
    assert r.tier is Tier.PASS, r.reason  # exactly at the threshold: >= and <= hold
    passing, failing = _pass_and_fail(check, expected)
    assert judge(check, passing, {metric: base}).tier is Tier.PASS
    assert judge(check, failing, {metric: base}).tier is Tier.FAIL
    # canonical printing round-trips
    assert str(parse_check(check)) == check
    assert parse_check(str(parse_check(check))) == parse_check(check)


def test_relative_percent_is_not_hundredths_for_metrics_that_are_not_fractions() -> None:
    r = judge("latency_ms <= baseline + 10%", 215.0, {"latency_ms": 200.0})
    assert r.tier is Tier.PASS  # the old reading, 200 + 0.10 ms, failed this
    assert r.threshold == 220.0
    assert r.threshold_text == "<= 220 (baseline 200 + 10%)"
    assert r.reason == "latency_ms 215 <= 220 (baseline 200 + 10%)"
    doc = r.to_dict()
    assert doc["threshold"] == 220.0 and doc["threshold_text"] == "<= 220 (baseline 200 + 10%)"
    pp = judge("r@5 >= baseline + 10 pp", 0.35, {"r@5": 0.30})
    assert pp.tier is Tier.FAIL and pp.threshold == 0.4
    assert pp.reason == "r@5 0.35 < 0.4 (baseline 0.3 + 10 pp)"


def test_bare_percent_and_products_are_hundredths() -> None:
    assert judge("acc < 35%", 0.3, {}).threshold == 0.35
    assert judge("acc <= 35% + 10 pp", 0.3, {}).threshold == pytest.approx(0.45)
    assert judge("acc <= 0.5 - 10 pp", 0.3, {}).threshold == pytest.approx(0.40)
    assert judge("score >= baseline * 90%", 0.0, {"score": 200.0}).threshold == pytest.approx(180.0)
    assert judge("score >= baseline * 90%", 0.0, {"score": -2.0}).threshold == pytest.approx(-1.8)
    assert judge("score >= baseline / 50%", 0.0, {"score": 3.0}).threshold == pytest.approx(6.0)
    assert judge("score >= baseline * 1.10", 0.0, {"score": -2.0}).threshold == pytest.approx(-2.2)


def test_other_metrics_between_bounds_and_marginal_tails() -> None:
    other = judge("acc >= baseline.score - 10%", 0.0, {"score": -3.0})
    assert other.threshold == pytest.approx(-3.3)
    assert other.threshold_text == ">= -3.3 (baseline.score -3 - 10%)"
    band = judge("score between baseline - 5% and baseline + 5%", -9.6, {"score": -10.0})
    assert band.tier is Tier.PASS and band.threshold == (pytest.approx(-10.5), pytest.approx(-9.5))
    check = "loss <= baseline, marginal <= baseline + 25%"
    assert judge(check, 0.45, {"loss": 0.4}).tier is Tier.MARGINAL
    assert judge(check, 0.55, {"loss": 0.4}).tier is Tier.FAIL
    assert judge(check, 0.4, {"loss": 0.4}).tier is Tier.PASS
    pp = "r@5 >= baseline + 10 pp, marginal >= baseline + 5 pp"
    assert judge(pp, 0.36, {"r@5": 0.30}).tier is Tier.MARGINAL
    assert judge(pp, 0.34, {"r@5": 0.30}).tier is Tier.FAIL


def test_dict_form_reads_margins_the_same_way() -> None:
    from gatebook.gates.spec import CheckSpec

    check = CheckSpec.model_validate({"metric": "latency_ms", "pass": "<= baseline + 10%",
                                      "marginal": "<= baseline + 20 pp"}).to_check()
    assert str(check) == "latency_ms <= baseline + 10%, marginal <= baseline + 20 pp"
    r = evaluate(Gate("g", (check,)), {"latency_ms": [(1, 1.15)]}, {"latency_ms": [(1, 1.0)]})
    assert r.checks[0].tier is Tier.MARGINAL  # 1.15 > 1.10 (relative), <= 1.20 (points)


@pytest.mark.parametrize(("text", "fragment"), [
    ("x >= 10 pp", "write baseline + 10 pp, or 10% for a level"),
    ("x >= baseline * 10 pp", "write baseline * 10%, or baseline + 10 pp to add"),
    ("x >= 0.5 + 10%", "write 0.5 + 10 pp for percentage points, or baseline + 10%"),
    ("x >= baseline + 10% pp", 'a number takes "%" or "pp", not both'),
])
def test_ambiguous_forms_are_refused_in_one_line_naming_the_form_to_use(text: str, fragment: str) -> None:
    with pytest.raises(CheckSyntaxError) as info:
        parse_check(text)
    assert fragment in info.value.message and len(str(info.value).splitlines()) == 1


def test_the_threshold_drawn_on_a_chart_is_the_resolved_number() -> None:
    from gatebook.gates.setup import BaselineData
    from gatebook.report.charts import gate_thresholds

    gates = [Gate("deploy", (parse_check("latency_ms <= baseline + 10%"),))]
    base = BaselineData(label="DIRECT", series={"latency_ms": [(1, 200.0)]})
    (found,), skipped = gate_thresholds(gates, "latency_ms", baselines={"deploy": base})
    assert skipped == [] and found.value == pytest.approx(220.0)
    assert found.label == "deploy: latency_ms <= baseline + 10% (=\u00a0220)"


_finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(_finite, st.floats(min_value=0, max_value=1e4), st.sampled_from(["+", "-"]), st.sampled_from(["%", "pp"]))
def test_any_baseline_matches_the_formula_and_plus_never_tightens_below_the_baseline(
        base: float, amount: float, op: str, unit: Unit) -> None:
    check = f"score >= baseline {op} {amount!r}{'%' if unit == '%' else ' pp'}"
    r = judge(check, 0.0, {"score": base})
    expected = reference(base, op, amount, unit)
    assert isinstance(r.threshold, float)
    assert r.threshold == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # a non-negative margin moves the threshold away from the baseline in the written direction
    if op == "+":
        assert r.threshold >= base or math.isclose(r.threshold, base, rel_tol=1e-9, abs_tol=1e-9)
    else:
        assert r.threshold <= base or math.isclose(r.threshold, base, rel_tol=1e-9, abs_tol=1e-9)


@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True),
       st.sampled_from(["x <= baseline + 10%", "x >= baseline - 5%", "x no worse than baseline + 1e300%",
                        "x >= baseline - 100%", "x between baseline - 5% and baseline + 5 pp",
                        "x >= baseline + 1 pp, marginal >= baseline - 50%", "x >= baseline * 90%"]))
def test_the_judge_never_raises_on_any_baseline(observed: float, base: float, check: str) -> None:
    r = evaluate(Gate("g", (parse_check(check),)), {"x": [(1, observed)]}, {"x": [(1, base)]},
                 direction_of=lambda key: "lower")
    assert r.tier in set(Tier) and all(c.reason for c in r.checks)
