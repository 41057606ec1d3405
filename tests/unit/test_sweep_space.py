"""gatebook.sweep.space: values as arguments, distributions, and the points of grid, list and random spaces."""

from __future__ import annotations

import random

import pytest

from gatebook.sweep.space import (
    Dist,
    RandomSpec,
    SweepProblem,
    canonical,
    format_value,
    list_item,
    name_value,
    param_sets,
    parse_dist,
)


@pytest.mark.parametrize(("value", "text"), [(1e-5, "1e-5"), (1e20, "1e20"), (0.001, "0.001"), (10.0, "10.0"),
                                             (True, "true"), (None, "null"), (3, "3"), ([1, "a"], '[1, "a"]'),
                                             ("x y", "x y")])
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text


def test_name_value_is_compact_unless_exact() -> None:
    assert name_value(0.123456789, exact=False) == "0.1235"
    assert name_value(0.123456789, exact=True) == "0.123456789"
    assert name_value(1.0e-7, exact=False) == "1e-7"


def test_canonical_ignores_key_order() -> None:
    assert canonical({"a": 1, "b": 2}) == canonical({"b": 2, "a": 1})


def test_parse_dist_forms() -> None:
    assert parse_dist(0.5) == Dist("fixed", (0.5,))
    assert parse_dist({"int": [2, 6]}) == Dist("int", (2, 6))
    assert parse_dist({"uniform": [0, 1]}) == Dist("uniform", (0.0, 1.0))
    assert parse_dist({"choice": ["a", "b", "a"]}).size == 2
    assert parse_dist({"loguniform": [1e-4, 1e-1]}).size is None


@pytest.mark.parametrize(("value", "message"), [
    ([1, 2], "a bare list is not a distribution"),
    ({"normal": [0, 1]}, "unknown distribution"),
    ({"choice": []}, "non-empty list"),
    ({"int": [1.5, 3]}, "two integers"),
    ({"uniform": [1, 1]}, "lo must be below hi"),
    ({"loguniform": [0, 1]}, "lo must be > 0"),
])
def test_parse_dist_errors(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_dist(value)


def test_samples_stay_in_bounds_and_are_rounded() -> None:
    rng = random.Random(0)
    for dist in (Dist("uniform", (0.0, 0.5)), Dist("loguniform", (1e-4, 1e-1))):
        for _ in range(200):
            x = dist.sample(rng)
            assert dist.args[0] <= x <= dist.args[1]
            assert float(f"{x:.6g}") == x
    assert all(2 <= Dist("int", (2, 6)).sample(rng) <= 6 for _ in range(50))


def test_grid_points_vary_the_last_key_fastest() -> None:
    sets = param_sets({"a": [1, 2], "b": ["x", "y"]}, None, None)
    assert [p for _, p in sets] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    assert all(name is None for name, _ in sets)


def test_list_points_keep_their_names() -> None:
    sets = param_sets(None, [{"name": "base", "lr": 0.1}, {"lr": 0.2}], None)
    assert sets == [("base", {"lr": 0.1}), (None, {"lr": 0.2})]


def test_random_points_are_distinct_and_seeded() -> None:
    spec = RandomSpec.model_validate({"n": 5, "seed": 3, "space": {"lr": {"loguniform": [1e-4, 1e-1]},
                                                                   "act": {"choice": ["relu", "gelu"]}}})
    first = param_sets(None, None, spec)
    assert first == param_sets(None, None, spec)
    assert len({canonical(p) for _, p in first}) == 5


def test_random_space_too_small() -> None:
    spec = RandomSpec.model_validate({"n": 3, "space": {"act": {"choice": ["relu", "gelu"]}}})
    with pytest.raises(SweepProblem, match="only 2 distinct points for n=3") as info:
        spec.check_size()
    assert info.value.loc == ("random", "n")
    with pytest.raises(SweepProblem, match="found only 2 distinct trials for n=3"):
        param_sets(None, None, spec)


@pytest.mark.parametrize(("value", "message"), [
    ("lr", "each variant is a mapping"),
    ({"name": "bad name", "lr": 1}, "name 'bad name'"),
    ({"name": "only"}, "at least one param"),
])
def test_list_item_errors(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        list_item(value)
