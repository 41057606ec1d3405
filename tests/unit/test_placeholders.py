"""gatebook.placeholders: the one {param} grammar (strict for sweeps, lenient for preflight), names, filling."""

from __future__ import annotations

import random
import re

import pytest

from gatebook.placeholders import PARAM, MissingParams, Slot, fill, fill_words, names, parse


def test_names_are_param_keys() -> None:
    for ok in ("lr", "_x", "optim.lr", "checkpoint-path", "a1.b_2-c"):
        assert PARAM.fullmatch(ok)
    for bad in ("", "1x", "a b", "-x", ".x", "a}"):
        assert not PARAM.fullmatch(bad)


@pytest.mark.parametrize("strict", [True, False])
def test_parse_into_text_and_slots(strict: bool) -> None:
    assert parse("", strict=strict) == [""]
    assert parse("plain", strict=strict) == ["plain"]
    assert parse("--x={lr}", strict=strict) == ["--x=", Slot("lr")]
    assert parse("{a}{b}", strict=strict) == [Slot("a"), Slot("b")]
    assert parse("run {optim.lr} now", strict=strict) == ["run ", Slot("optim.lr"), " now"]
    assert parse("{{x}}", strict=strict) == ["{x}"]
    assert parse("{{{x}}}", strict=strict) == ["{", Slot("x"), "}"]


@pytest.mark.parametrize(("text", "message"), [
    ("{bad key}", "bad placeholder '{bad key}' in '{bad key}'"),
    ("{}", "bad placeholder '{}'"),
    ("--a {a", "bad placeholder '{a'"),
    ("{1x}", "bad placeholder"),
    ("a}", "unmatched '}' in 'a}': write '}}' for a literal brace"),
    ("{{a}", "unmatched"),
])
def test_strict_parse_rejects_malformed_braces(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse(text)


def test_lenient_parse_keeps_malformed_braces_as_text() -> None:
    assert parse("{bad key}", strict=False) == ["{bad key}"]
    assert parse('print({"a": 1}) {}', strict=False) == ['print({"a": 1}) {}']
    assert parse("{a{b}", strict=False) == ["{a", Slot("b")]  # scanning goes on at the next character
    assert parse("{{a}", strict=False) == ["{a}"]
    assert parse("} {x", strict=False) == ["} {x"]


_OLD_LENIENT = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")
"""The regex preflight used before the grammar had one home: lenient parsing must read text as it did."""


def test_lenient_parse_reads_text_as_the_old_preflight_regex() -> None:
    rng = random.Random(10)
    for _ in range(5000):
        text = "".join(rng.choice("{{}}ab_.-1 ") for _ in range(rng.randint(0, 10)))
        old = _OLD_LENIENT.sub(lambda m: m.group(0)[0] if m.group(1) is None else f"<{m.group(1)}>", text)
        parts = parse(text, strict=False)
        assert "".join(p if isinstance(p, str) else f"<{p.name}>" for p in parts) == old, text
        try:
            strict = parse(text)
        except ValueError:
            continue
        assert strict == parts, text  # where strict parsing succeeds, both read the same


def test_names_in_order_of_first_use() -> None:
    words = [parse(w) for w in ("python", "--lr={lr}", "{name}-{lr}", "{{x}}", "{config}")]
    assert names(words) == ["lr", "name", "config"]
    assert names([]) == []


def test_fill_from_a_mapping_or_a_function() -> None:
    assert fill(parse("{a}/{b}.pt"), {"a": "x", "b": "y"}) == "x/y.pt"
    assert fill(parse("{{literal}} {a}"), {"a": ""}) == "{literal} "
    assert fill(parse("{A-b}"), lambda name: name.lower()) == "a-b"
    assert fill_words([parse("--lr={lr}"), parse("run {name}"), parse("plain")], {"lr": "0.1", "name": "n"}) == \
        ["--lr=0.1", "run n", "plain"]


def test_missing_values_are_all_named_once() -> None:
    with pytest.raises(MissingParams) as info:
        fill(parse("{a}/{b}/{a}/{c}"), {"b": "x"})
    assert info.value.names == ["a", "c"] and str(info.value) == "a, c"
    with pytest.raises(MissingParams) as info:
        fill_words([parse("{a}"), parse("{b}"), parse("{a}{c}")], lambda name: "v" if name == "b" else None)
    assert info.value.names == ["a", "c"]
