"""A sweep's space of params: values as arguments, distributions, and the points of a grid, list or random space.

Pure: no files, no ledger. :mod:`gatebook.sweep.spec` validates a sweep file with the field types
declared here (:data:`GridValues`, :class:`RandomSpec`, :func:`list_item`), and
:func:`param_sets` gives the points its trials are made of.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, PlainValidator, field_validator

from gatebook.project_config import _short

__all__ = ["DIST_KINDS", "MAX_TRIALS", "NAME", "SAMPLERS", "Dist", "GridValues", "OptunaSpec", "RandomSpec",
           "SearchSpec", "SweepProblem", "canonical", "format_value", "list_item", "name_value", "param_sets",
           "parse_dist"]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
"""Sweep and trial names: safe as file names and run names."""
MAX_TRIALS = 10_000
DIST_KINDS = ("uniform", "loguniform", "int", "choice")
SAMPLERS = ("tpe", "gp", "cmaes", "random")
"""The Optuna samplers of ``search: {optuna: {sampler: ...}}``."""
_ROUND_DIGITS = 6


class SweepProblem(Exception):
    """A problem found after the schema: where (a YAML location) and what."""

    def __init__(self, loc: tuple[Any, ...], message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.loc, self.message, self.hint = loc, message, hint


# -- values ---------------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A param as a command-line argument: ints as ints, floats in their shortest round-trip
    form (``0.001``, ``0.0001``, ``1e-5``, ``10.0``), booleans ``true``/``false``, None
    ``null``, lists and mappings as JSON, strings as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _clean_exponent(repr(value))
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _clean_exponent(text: str) -> str:
    """``1e-05`` -> ``1e-5``, ``1e+20`` -> ``1e20``."""
    mantissa, e, exponent = text.partition("e")
    if not e:
        return text
    sign = "-" if exponent.startswith("-") else ""
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"


def name_value(value: Any, exact: bool) -> str:
    """A param as part of a trial name: floats with 4 significant digits unless ``exact``."""
    if isinstance(value, float) and not exact:
        return _clean_exponent(format(value, ".4g"))
    return format_value(value)


def canonical(value: Any) -> str:
    """One text per value (sorted keys): what makes two params, or two points, the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# -- distributions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    """One entry of a random space: ``uniform``/``loguniform`` (lo, hi), ``int`` (lo, hi
    inclusive), ``choice`` (values) or ``fixed`` (one value)."""

    kind: str
    args: tuple[Any, ...]

    def sample(self, rng: random.Random) -> Any:
        if self.kind == "fixed":
            return self.args[0]
        if self.kind == "choice":
            return rng.choice(self.args)
        lo, hi = self.args
        if self.kind == "int":
            return rng.randint(lo, hi)
        if self.kind == "uniform":
            x = rng.uniform(lo, hi)
        else:
            x = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        # readable values (6 significant digits), never outside [lo, hi]
        return min(max(float(f"{x:.{_ROUND_DIGITS}g}"), float(lo)), float(hi))

    @property
    def size(self) -> int | None:
        """How many distinct values it gives (None: continuous)."""
        if self.kind == "fixed":
            return 1
        if self.kind == "choice":
            return len({canonical(v) for v in self.args})
        if self.kind == "int":
            return self.args[1] - self.args[0] + 1
        return None


def parse_dist(value: Any) -> Dist:
    """A random space's entry as a :class:`Dist`; ValueError saying which forms are allowed."""
    forms = "{uniform: [lo, hi]}, {loguniform: [lo, hi]}, {int: [lo, hi]}, {choice: [a, b, ...]} or a fixed value"
    if isinstance(value, Dist):
        return value
    if isinstance(value, list):
        raise ValueError(f"a bare list is not a distribution: write {{choice: {_short(value)}}}")
    if not isinstance(value, dict):
        return Dist("fixed", (value,))
    if len(value) != 1 or next(iter(value)) not in DIST_KINDS:
        raise ValueError(f"unknown distribution {_short(value)}: use {forms}")
    kind, args = next(iter(value.items()))
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ValueError(f"choice: give a non-empty list of values, got {_short(args)}")
        return Dist("choice", tuple(args))
    if not isinstance(args, list) or len(args) != 2 or not all(_is_number(a) for a in args):
        raise ValueError(f"{kind}: give [lo, hi] as two numbers, got {_short(args)}")
    lo, hi = args
    if kind == "int" and not all(isinstance(a, int) for a in args):
        raise ValueError(f"int: give [lo, hi] as two integers, got {_short(args)}")
    if lo >= hi:
        raise ValueError(f"{kind}: lo must be below hi, got [{format_value(lo)}, {format_value(hi)}]")
    if kind == "loguniform" and lo <= 0:
        raise ValueError(f"loguniform: lo must be > 0, got {format_value(lo)}")
    return Dist(kind, (lo, hi) if kind == "int" else (float(lo), float(hi)))


# -- the three forms of space ---------------------------------------------------------------------


def _grid_values(value: Any) -> Any:
    return value if isinstance(value, list) else [value]  # a fixed value is a one-value list


def _distinct_values(values: list[Any]) -> list[Any]:
    if not values:
        raise ValueError("empty list: give at least one value")
    seen: set[str] = set()
    for value in values:
        if canonical(value) in seen:
            raise ValueError(f"value {format_value(value)!r} appears twice")
        seen.add(canonical(value))
    return values


GridValues = Annotated[list[Any], PlainValidator(lambda v: _distinct_values(list(_grid_values(v))))]
"""A grid param's values: a list of distinct values (a single value is a one-value list)."""


class RandomSpec(BaseModel):
    """``random: {n, seed, space}``: ``n`` distinct points drawn with ``random.Random(seed)``."""

    model_config = ConfigDict(extra="forbid")

    n: int
    seed: int = 0
    space: dict[str, Annotated[Dist, PlainValidator(parse_dist)]]

    @field_validator("n")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}: the space would be empty")
        if value > MAX_TRIALS:
            raise ValueError(f"at most {MAX_TRIALS} trials, got {value}")
        return value

    @field_validator("space")
    @classmethod
    def _non_empty(cls, value: dict[str, Dist]) -> dict[str, Dist]:
        if not value:
            raise ValueError("empty space: give at least one param")
        return value

    def check_size(self) -> None:
        """SweepProblem when the space has fewer distinct points than ``n``."""
        sizes = [d.size for d in self.space.values()]
        if all(s is not None for s in sizes) and math.prod(sizes) < self.n:  # type: ignore[arg-type]
            raise SweepProblem(("random", "n"), f"the space has only {math.prod(sizes)} distinct points "  # type: ignore[arg-type]
                                                f"for n={self.n}; lower n or widen the space")


class OptunaSpec(BaseModel):
    """``optuna: {sampler, n, seed}``: ``n`` trials asked of an Optuna sampler seeded with ``seed``."""

    model_config = ConfigDict(extra="forbid")

    sampler: Literal["tpe", "gp", "cmaes", "random"] = "tpe"
    n: int
    seed: int | None = 0

    @field_validator("n")
    @classmethod
    def _positive(cls, value: int) -> int:
        return RandomSpec._positive(value)


class SearchSpec(BaseModel):
    """``search: {optuna: {...}, space: {...}}``: adaptive search over a space written as in ``random:``."""

    model_config = ConfigDict(extra="forbid")

    optuna: OptunaSpec
    space: dict[str, Annotated[Dist, PlainValidator(parse_dist)]]

    @field_validator("space")
    @classmethod
    def _non_empty(cls, value: dict[str, Dist]) -> dict[str, Dist]:
        return RandomSpec._non_empty(value)


def list_item(value: Any) -> dict[str, Any]:
    """One variant of a ``list:`` space: a mapping of params and an optional ``name``."""
    if not isinstance(value, dict):
        raise ValueError(f"each variant is a mapping of params (and an optional name), got {_short(value)}")
    if not all(isinstance(k, str) for k in value):
        raise ValueError("param names must be strings")
    name = value.get("name")
    if "name" in value and not (isinstance(name, str) and NAME.fullmatch(name)):
        raise ValueError(f"name {name!r}: use letters, digits, '_', '.' or '-' (starting with a letter or digit)")
    if not [k for k in value if k != "name"]:
        raise ValueError("a variant needs at least one param")
    return value


def param_sets(grid: dict[str, list[Any]] | None, variants: list[dict[str, Any]] | None,
               rand: RandomSpec | None) -> list[tuple[str | None, dict[str, Any]]]:
    """The space's points in a deterministic order, each ``(given name or None, params)``: the
    grid's product (last key varying fastest), the list's variants, or ``n`` distinct random
    draws (SweepProblem when the space does not hold that many)."""
    if grid is not None:
        keys = list(grid)
        return [(None, dict(zip(keys, combo, strict=False))) for combo in itertools.product(*(grid[k] for k in keys))]
    if variants is not None:
        return [(item.get("name"), {k: v for k, v in item.items() if k != "name"}) for item in variants]
    assert rand is not None
    rng = random.Random(rand.seed)
    out: list[tuple[str | None, dict[str, Any]]] = []
    seen: set[str] = set()
    for _ in range(100 * rand.n + 1000):
        params = {k: d.sample(rng) for k, d in rand.space.items()}
        if canonical(params) not in seen:
            seen.add(canonical(params))
            out.append((None, params))
            if len(out) == rand.n:
                return out
    raise SweepProblem(("random", "n"), f"found only {len(out)} distinct trials for n={rand.n}; "
                                        "widen the space or lower n")
