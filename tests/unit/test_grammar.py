"""The check-language parser: examples, errors, and round-trip / robustness properties."""

from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatebook.errors import ConfigError
from gatebook.gates.checks import (
    AGG_KINDS,
    COMPARATORS,
    Agg,
    At,
    Baseline,
    BoolOp,
    Check,
    Condition,
    Expr,
    Number,
    Operand,
    Value,
    format_key,
)
from gatebook.gates.grammar import (
    MAX_DEPTH,
    CheckSyntaxError,
    parse_check,
    parse_condition,
    parse_expr,
    parse_operand,
    parse_tail,
)

# -- helpers ------------------------------------------------------------------------------------


def num(text: str) -> Number:
    if text.endswith(" pp"):
        return Number(float(text[:-3]) / 100, text)
    return Number(float(text[:-1]) / 100 if text.endswith("%") else float(text), text)


def val(text: str) -> Value:
    return Value(num(text))


def cond(metric: str, comparator: str, value: Value | str, **kwargs: object) -> Condition:
    value = val(value) if isinstance(value, str) else value
    return Condition(Operand(metric), comparator, value, **kwargs)  # type: ignore[arg-type]


def syntax_error(parse: Callable[[str], object], text: str) -> CheckSyntaxError:
    with pytest.raises(CheckSyntaxError) as info:
        parse(text)
    return info.value


# -- examples -----------------------------------------------------------------------------------

EXAMPLES: list[tuple[str, Check]] = [
    ("val_cosine >= 0.50 @ epoch 2", Check(cond("val_cosine", ">=", "0.50", at=At("epoch", 2)))),
    ("margin >= 0.20, marginal >= 0.10", Check(cond("margin", ">=", "0.20"), cond("margin", ">=", "0.10"))),
    ("mean of last 3 val_loss < 0.4",
     Check(Condition(Operand("val_loss", Agg("mean", 3)), "<", val("0.4")))),
    ("r@5 >= baseline + 0.10", Check(cond("r@5", ">=", Value(Baseline(), "+", num("0.10"))))),
    ("mrr@10 >= baseline + 0.05", Check(cond("mrr@10", ">=", Value(Baseline(), "+", num("0.05"))))),
    ("latency_ms no worse than baseline", Check(cond("latency_ms", "no worse than", Value(Baseline())))),
    ("share_below_3 < 35%", Check(cond("share_below_3", "<", "35%"))),
    ("hota between 0.6 and 0.9", Check(cond("hota", "between", "0.6", upper=val("0.9")))),
    ("cos_anchor >= 0.05", Check(cond("cos_anchor", ">=", "0.05"))),
    ("median_ratio >= 3.0", Check(cond("median_ratio", ">=", "3.0"))),
    ("share_neg_below_3 < 0.35", Check(cond("share_neg_below_3", "<", "0.35"))),
    ("P95 <= 1.45", Check(cond("P95", "<=", "1.45"))),
    ("best val_acc >= 0.9", Check(Condition(Operand("val_acc", Agg("best")), ">=", val("0.9")))),
    ("x >= baseline.y * 1.1", Check(cond("x", ">=", Value(Baseline("y"), "*", num("1.1"))))),
    ("latency_ms <= baseline + 10%", Check(cond("latency_ms", "<=", Value(Baseline(), "+", num("10%"))))),
    ("r@5 >= baseline + 10 pp", Check(cond("r@5", ">=", Value(Baseline(), "+", num("10 pp"))))),
    ("x >= baseline.y - 5%, marginal >= baseline.y - 0.5 pp",
     Check(cond("x", ">=", Value(Baseline("y"), "-", num("5%"))),
           cond("x", ">=", Value(Baseline("y"), "-", num("0.5 pp"))))),
    ("x >= baseline * 90%", Check(cond("x", ">=", Value(Baseline(), "*", num("90%"))))),
    ("x <= 35% + 10 pp", Check(cond("x", "<=", Value(num("35%"), "+", num("10 pp"))))),
    ("`weird key` == 1", Check(cond("weird key", "==", "1"))),
]


@pytest.mark.parametrize(("text", "expected"), EXAMPLES, ids=[text for text, _ in EXAMPLES])
def test_examples_parse_and_print_canonically(text: str, expected: Check) -> None:
    assert parse_check(text) == expected
    assert str(parse_check(text)) == text
    assert parse_condition(text.split(", marginal")[0]) == expected.condition


def test_number_values_keep_their_text() -> None:
    assert parse_condition("x < 35%").value.base == Number(0.35, "35%")
    assert parse_condition("x > -1e-3").value.base == Number(-0.001, "-1e-3")
    assert parse_condition("x > .5").value.base == Number(0.5, ".5")
    assert parse_condition("x > +2.").value.base == Number(2.0, "+2.")
    assert parse_condition("x >= baseline - -0.5").value == Value(Baseline(), "-", Number(-0.5, "-0.5"))


def test_percent_and_percentage_points() -> None:
    relative = parse_condition("x <= baseline + 10%").value
    assert relative.relative and relative.operand == Number(0.10, "10%") and relative.operand.unit == "%"
    assert parse_condition("x <= baseline.y - 10%").value.relative
    points = parse_condition("x >= baseline + 10 pp").value
    assert not points.relative and points.operand == Number(0.10, "10 pp") and points.operand.unit == "pp"
    assert not parse_condition("x >= baseline * 90%").value.relative
    assert not parse_condition("x >= baseline + 0.10").value.relative
    assert parse_condition("x < 35%").value.base.unit == "%"  # type: ignore[union-attr]
    # pp glued or in any case prints as " pp"; the sign stays
    for text in ("x >= baseline + 10pp", "x >= baseline + 10 PP", "x >= baseline +  10\tPp"):
        assert str(parse_condition(text)) == "x >= baseline + 10 pp"
    assert parse_condition("x >= baseline - -2.5pp").value.operand == Number(-0.025, "-2.5 pp")
    assert parse_condition("pp >= baseline.pp + 1 pp").operand == Operand("pp")  # still a metric key


def test_spellings_are_normalised() -> None:
    assert str(parse_check("x≥1")) == "x >= 1"
    assert str(parse_check("x ≤ 1")) == "x <= 1"
    assert str(parse_check("x ≠ 1")) == "x != 1"
    assert str(parse_check("x = 1")) == "x == 1"
    assert str(parse_check("  x>=1@epoch 2 ")) == "x >= 1 @ epoch 2"
    assert str(parse_check("x >= 1 AT Step 7")) == "x >= 1 @ step 7"
    assert str(parse_check("x NO  Worse\tTHAN Baseline")) == "x no worse than baseline"
    assert str(parse_check("MEAN OF LAST 3 x BETWEEN 1 AND 2")) == "mean of last 3 x between 1 and 2"
    assert str(parse_check("x >= 1 marginal >= 0.5")) == "x >= 1, marginal >= 0.5"
    assert str(parse_check("`baseline` >= 1")) == "`baseline` >= 1"


def test_keys() -> None:
    assert parse_operand("r@5") == Operand("r@5")
    assert parse_operand("val/loss") == Operand("val/loss")
    assert parse_operand("train.loss") == Operand("train.loss")
    assert parse_operand("cos-sim") == Operand("cos-sim")
    assert parse_operand("Val_Loss") != parse_operand("val_loss")
    assert parse_operand("`min`") == Operand("min")
    assert parse_operand("`a``b`") == Operand("a`b")
    assert parse_operand("min of last 5 `last`") == Operand("last", Agg("min", 5))
    assert parse_operand("last x") == Operand("x")
    assert parse_operand("min_x") == Operand("min_x")
    assert parse_operand("baseline.x") == Operand("baseline.x")  # an ordinary key on the left
    assert parse_condition("x >= baseline.`weird key`").value == Value(Baseline("weird key"))
    assert parse_condition("x >= baseline.r@5").value == Value(Baseline("r@5"))
    assert parse_condition("a-0.1 > 0").operand == Operand("a-0.1")  # operators need spaces


def test_at_marker_versus_at_in_keys() -> None:
    assert parse_condition("r@5 > 0 @ epoch 1").at == At("epoch", 1)
    assert parse_condition("x > baseline@epoch 3").at == At("epoch", 3)
    assert parse_condition("x > 1@step 0").at == At("step", 0)
    assert parse_condition("x@epoch2 > 1") == cond("x@epoch2", ">", "1")
    assert parse_condition("`x@epoch` > 1") == cond("x@epoch", ">", "1")
    assert format_key("x@epoch") == "`x@epoch`"  # printed quoted so that it parses back


def test_expressions() -> None:
    a, b, c = cond("a", "<", "1"), cond("b", ">", "2"), cond("c", "==", "3")
    assert parse_expr("contain50 >= 0.60 and r5 < 0.40") == BoolOp(
        "and", (cond("contain50", ">=", "0.60"), cond("r5", "<", "0.40")))
    assert parse_expr("a < 1 or b > 2 and c == 3") == BoolOp("or", (a, BoolOp("and", (b, c))))
    assert parse_expr("(a < 1 or b > 2) and c == 3") == BoolOp("and", (BoolOp("or", (a, b)), c))
    assert parse_expr("a < 1 and b > 2 and c == 3") == BoolOp("and", (a, b, c))
    assert parse_expr("a < 1 and (b > 2 and c == 3)") == BoolOp("and", (a, b, c))
    assert parse_expr("((a < 1))") == a
    assert parse_expr("a between 1 and 2 and b > 2") == BoolOp("and", (cond("a", "between", "1", upper=val("2")), b))
    assert str(parse_expr("(a < 1 or b > 2) and c == 3")) == "(a < 1 or b > 2) and c == 3"
    nested = "(" * MAX_DEPTH + "a < 1" + ")" * MAX_DEPTH
    assert parse_expr(nested) == a


def test_parse_tail() -> None:
    margin = Operand("margin")
    assert parse_tail(margin, ">= 0.20") == Condition(margin, ">=", val("0.20"))
    assert parse_tail(margin, "between 1 and 2 @ step 4") == Condition(margin, "between", val("1"), val("2"),
                                                                       At("step", 4))
    assert parse_tail(margin, ">= 0.1", At("epoch", 2)).at == At("epoch", 2)
    assert parse_tail(margin, ">= 0.1 @ epoch 2", At("epoch", 2)).at == At("epoch", 2)
    error = syntax_error(lambda text: parse_tail(margin, text, At("epoch", 2)), ">= 0.1 @ epoch 3")
    assert "conflicts" in error.message and error.column == 8


def test_at_may_close_a_check_with_a_marginal() -> None:
    expected = parse_check("m >= 0.2 @ epoch 2, marginal >= 0.1")
    assert expected.marginal is not None and expected.marginal.at == At("epoch", 2)
    assert parse_check("m >= 0.2, marginal >= 0.1 @ epoch 2") == expected
    assert "second @" in syntax_error(parse_check, "m >= 0.2 @ epoch 2, marginal >= 0.1 @ epoch 2").message


# -- errors -------------------------------------------------------------------------------------


def test_error_message_shape() -> None:
    error = syntax_error(parse_check, "val_cosine >> 0.5")
    assert isinstance(error, ConfigError)
    assert error.text == "val_cosine >> 0.5" and error.column == 12
    assert error.message == ('cannot parse check "val_cosine >> 0.5": expected a comparator '
                             '(>=, >, <=, <, ==, !=, between, no worse than) at column 12, got ">>"')
    assert error.hint is not None and "r@5 >= baseline + 0.10" in error.hint
    assert str(error) == f"{error.message}; {error.hint}"


@pytest.mark.parametrize(("text", "column", "fragment"), [
    ("", 1, "empty"),
    ("   ", 1, "empty"),
    ("x", 2, "expected a comparator"),
    ("x >=", 5, "expected a number or baseline"),
    ("x => 1", 3, "expected a comparator"),
    ("x >= 1 2", 8, "got \"2\""),
    ("x >= nan", 6, "NaN and infinity"),
    ("x >= -inf", 6, "NaN and infinity"),
    ("x >= 1e999", 6, "out of range"),
    ("x >= `abc", 6, "unterminated backtick"),
    ("`` >= 1", 1, "empty metric key"),
    ("min >= 3", 1, "write it in backticks: `min`"),
    ("x >= baseline.min", 15, "baseline.`min`"),
    ("baseline >= 1", 1, "the baseline goes on the right"),
    ("mean of last 2.5 x < 1", 14, "whole number"),
    ("mean of last 0 x < 1", 14, "whole number"),
    ("mean of x < 1", 9, '"last"'),
    ("x > 1 @ epoch -1", 15, "whole number"),
    ("x > 1 @ epoch 1.5", 15, "whole number"),
    ("x > 1 @ week 1", 9, '"epoch" or "step"'),
    ("x between 1 or 2", 13, "two bounds"),
    ("x no better than 1", 6, '"worse"'),
    ("x >= baseline-0.1", 6, "put spaces around"),
    ("x >= baseline + y", 17, 'a number after "+"'),
    ("x >= 1 #", 8, "unexpected character"),
    ("x. >= 1", 1, 'cannot end with "."'),
    ("x >= 12abc", 6, "malformed number"),
    ("x >= 1,", 8, '"marginal"'),
    ("x >= 10 pp", 6, "write baseline + 10 pp, or 10% for a level"),
    ("x between 1 and 2 pp", 17, '"pp" (percentage points) is a margin'),
    ("x >= baseline * 10 pp", 17, "write baseline * 10%, or baseline + 10 pp to add"),
    ("x >= baseline / 10pp", 17, '"pp" (percentage points) cannot follow "/"'),
    ("x >= 0.5 + 10%", 12, "write 0.5 + 10 pp for percentage points, or baseline + 10%"),
    ("x >= 35% - 1%", 12, "needs a baseline"),
    ("x >= baseline + 10% pp", 21, 'a number takes "%" or "pp", not both'),
    ("x >= baseline + 10%pp", 17, "malformed number"),
    ("x >= baseline + 10ppm", 17, "malformed number"),
])
def test_errors(text: str, column: int, fragment: str) -> None:
    error = syntax_error(parse_check, text)
    assert error.column == column, error.message
    assert fragment in error.message


def test_expression_errors() -> None:
    assert "nested more than" in syntax_error(parse_expr, "(" * 10_000 + "a < 1" + ")" * 10_000).message
    assert "to close the \"(\" at column 1" in syntax_error(parse_expr, "(a < 1").message
    assert syntax_error(parse_expr, "a < 1 and").column == 10
    assert syntax_error(parse_expr, "a < 1 or or b > 1").column == 10
    assert syntax_error(parse_condition, "a < 1 and b > 2").column == 7
    assert syntax_error(parse_operand, "a b").column == 3


def test_error_message_is_one_line_even_for_multiline_input() -> None:
    error = syntax_error(parse_check, "x >=\n\u2028 1 \n junk" + "y" * 200)
    assert len(str(error).splitlines()) == 1
    assert "\\n" in error.message and "..." in error.message


# -- properties ---------------------------------------------------------------------------------

_FIRST = "abcxyzABCXYZ_"
_REST = _FIRST + "0159/.-"
_segments = st.tuples(st.sampled_from(_FIRST + "0159"), st.text(_REST, max_size=3)).map(lambda p: "@" + "".join(p))
bare_keys = st.tuples(  # shaped like checks.BARE_KEY; keywords and keys ending in "." / "-" dropped
    st.sampled_from(_FIRST), st.text(_REST, max_size=6), st.lists(_segments, max_size=2).map("".join),
).map("".join).filter(lambda key: format_key(key) == key)
keys = st.one_of(
    bare_keys,
    st.text(min_size=1, max_size=10),
    st.sampled_from(["r@5", "mrr@10", "val/loss", "min", "baseline", "and", "a@epoch", "x.", "`", "a``b",
                     "weird key", "baseline.x", "nan", "P95"]),
)

_digits = st.text("0123456789", min_size=1, max_size=4)
number_texts = st.tuples(
    st.sampled_from(["", "-", "+"]),
    st.one_of(  # 12 | 12. | 12.5 | .5
        _digits,
        _digits.map(lambda whole: whole + "."),
        st.tuples(_digits, _digits).map(".".join),
        _digits.map(lambda fraction: "." + fraction),
    ),
    st.sampled_from(["", "e", "E", "e-", "e+"]).flatmap(
        lambda e: st.just("") if not e else st.integers(0, 99).map(lambda n: f"{e}{n}")),
    st.sampled_from(["", "%", " pp"]),
).map("".join)
numbers = number_texts.map(num)
baselines = st.builds(Baseline, st.none() | keys)


@st.composite
def values(draw: st.DrawFn) -> Value:
    """Values the parser accepts: ``pp`` only after ``+`` / ``-``, ``%`` after ``+`` / ``-``
    only on a baseline."""
    base = draw(numbers.filter(lambda n: n.unit != "pp") | baselines)
    op = draw(st.sampled_from([None, "+", "-", "*", "/"]))
    if op is None:
        return Value(base)
    operand = draw(numbers)
    if (op in "*/" and operand.unit == "pp") or (op in "+-" and operand.unit == "%" and isinstance(base, Number)):
        operand = num(operand.text.rstrip("%p ") or "0")
    return Value(base, op, operand)


aggs = st.builds(Agg, st.sampled_from(AGG_KINDS), st.none() | st.integers(1, 10**6))
operands = st.builds(Operand, keys, aggs)
ats = st.none() | st.builds(At, st.sampled_from(["epoch", "step"]), st.integers(0, 10**12))


@st.composite
def tails(draw: st.DrawFn, operand: Operand, at: At | None) -> Condition:
    comparator = draw(st.sampled_from(COMPARATORS))
    upper = draw(values()) if comparator == "between" else None
    return Condition(operand, comparator, draw(values()), upper, at)  # type: ignore[arg-type]


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    return draw(tails(draw(operands), draw(ats)))


@st.composite
def checks(draw: st.DrawFn) -> Check:
    condition = draw(conditions())
    marginal = draw(st.none() | tails(condition.operand, condition.at))
    return Check(condition, marginal)


def _bool_ops(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    """Canonical BoolOps only: at least two items, no item with the same op (that flattens)."""

    def build(op: str, items: list[Expr]) -> Expr:
        flat: list[Expr] = []
        for item in items:
            flat.extend(item.items if isinstance(item, BoolOp) and item.op == op else (item,))
        return BoolOp(op, tuple(flat))  # type: ignore[arg-type]

    return st.builds(build, st.sampled_from(["and", "or"]), st.lists(children, min_size=2, max_size=3))


exprs = st.recursive(conditions(), _bool_ops, max_leaves=8)


@given(checks())
def test_checks_round_trip(check: Check) -> None:
    assert parse_check(str(check)) == check


@given(conditions())
def test_conditions_round_trip(condition: Condition) -> None:
    assert parse_condition(str(condition)) == condition
    at = "" if condition.at is None else f" {condition.at}"
    assert parse_tail(condition.operand, condition.tail() + at) == condition
    assert parse_tail(condition.operand, condition.tail(), condition.at) == condition


@given(operands)
def test_operands_round_trip(operand: Operand) -> None:
    assert parse_operand(str(operand)) == operand


@given(exprs)
def test_exprs_round_trip(expr: Expr) -> None:
    assert parse_expr(str(expr)) == expr


TOKENS = [
    "x", "r@5", "val/loss", "a-0.1", "`weird key`", "`a``b`", "`", "``", "0.5", "-1e-3", "35%", ".5", "1", "3",
    "0", "1e999", ">=", ">", "<=", "<", "==", "!=", "=", "≥", "≤", "≠", ">>", "!", "between", "and", "or", "no",
    "worse", "than", "baseline", "baseline.y", "baseline.`q`", "baseline.", "marginal", ",", "@", "@epoch", "at",
    "epoch", "step", "last", "min", "max", "mean", "best", "of", "(", ")", "+", "-", "*", "/", "nan", "inf", "\n",
    "é", "%", ".", "pp", "PP", "10pp", "5 pp", "10%",
]
token_soup = st.lists(st.tuples(st.sampled_from(TOKENS), st.sampled_from(["", " ", "  ", "\t"])), max_size=14).map(
    lambda parts: "".join(token + space for token, space in parts))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A canonical check or expression with a token inserted, a span deleted, or both."""
    text = draw(st.one_of(checks().map(str), exprs.map(str)))
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 6)))
    inserted = draw(st.sampled_from(["", " "]) | st.sampled_from(TOKENS).map(lambda token: f" {token} "))
    return text[:start] + inserted + text[end:]




def _tail_text(condition: Condition) -> str:
    return condition.tail() + ("" if condition.at is None else f" {condition.at}")


PARSERS: list[tuple[Callable[[str], object], Callable[..., str]]] = [
    (parse_check, str), (parse_condition, str), (parse_expr, str), (parse_operand, str),
    (lambda text: parse_tail(Operand("m"), text), _tail_text),
]


def _parses_or_fails_cleanly(text: str) -> None:
    for parse, print_ in PARSERS:
        try:
            node = parse(text)
        except CheckSyntaxError as error:
            assert len(str(error).splitlines()) == 1 and "\n" not in str(error)
            assert error.text == text and 1 <= error.column <= len(text) + 1
        else:
            canonical = print_(node)
            assert parse(canonical) == node  # what parses once is stable under printing
            assert print_(parse(canonical)) == canonical


@settings(max_examples=300)
@given(st.text())
def test_any_text_parses_or_raises_check_syntax_error(text: str) -> None:
    _parses_or_fails_cleanly(text)


@settings(max_examples=500)
@given(token_soup)
def test_token_soup_parses_or_raises_check_syntax_error(text: str) -> None:
    _parses_or_fails_cleanly(text)


@settings(max_examples=200)
@given(mutated())
def test_mutated_checks_parse_or_raise_check_syntax_error(text: str) -> None:
    _parses_or_fails_cleanly(text)
