"""Gates and metric directions as declared in the project file, validated with Pydantic.

::

    metrics:
      higher_is_better: ["val_*", "r@*"]     # exact keys or shell globs
      lower_is_better: ["*loss*", "latency*"]
    gates:
      epoch2:
        on_fail: stop                        # stop | warn (default: warn)
        baseline: DIRECT                     # a run id or name (optional; --baseline wins)
        checks:
          - "val_cosine >= 0.50 @ epoch 2"
          - {metric: margin, pass: ">= 0.20", marginal: ">= 0.10"}
        playbook:
          fixes:
            - {name: "temperature 0.05", why: "sharper distribution", set: {temperature: 0.05}}
          signatures:
            - {when: "contain50 >= 0.60 and r5 < 0.40", diagnosis: "ranking issue"}

The Pydantic models (``*Spec``) only validate; :meth:`GateSpec.to_gate` gives the
frozen :class:`Gate` the judge works with. Every check string is parsed while the file
is validated, so a typo is reported with the file, line and field, before any run.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Iterator, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from gatebook.gates.checks import At, Check, Expr
from gatebook.records import Direction

GATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


class MetricsConfig(BaseModel):
    """Which way is better, per metric key or shell glob.

    An exact key wins; else the matching glob with the most literal characters; on a
    tie, ``lower_is_better`` wins. So with ``higher_is_better: ["val_*"]`` and
    ``lower_is_better: ["*loss*"]``, ``val_acc`` is higher-is-better and ``val_loss``
    lower-is-better (a loss-like name says what a metric measures; ``val_`` only its split).
    """

    model_config = ConfigDict(extra="forbid")

    higher_is_better: list[str] = Field(default_factory=list)
    lower_is_better: list[str] = Field(default_factory=list)
    primary: list[str] = Field(default_factory=list)
    """The metrics that matter most: the default columns of compare, changelog and reports."""

    def direction(self, key: str) -> Direction | None:
        if key in self.lower_is_better:
            return "lower"
        if key in self.higher_is_better:
            return "higher"
        best: tuple[int, int, Direction] | None = None
        for rank, (direction, patterns) in enumerate((("higher", self.higher_is_better),
                                                      ("lower", self.lower_is_better))):
            for pattern in patterns:
                if fnmatch.fnmatchcase(key, pattern):
                    score = (len(pattern.replace("*", "").replace("?", "")), rank, direction)
                    if best is None or score[:2] > best[:2]:
                        best = score  # type: ignore[assignment]
        return best[2] if best else None


@dataclass(frozen=True)
class Fix:
    """One thing to try next: settings applied to the command or its config file."""

    name: str
    set: dict[str, Any]
    why: str | None = None


@dataclass(frozen=True)
class Signature:
    """A known failure pattern: when ``when`` holds on the run, ``diagnosis`` applies."""

    when: Expr
    text: str
    diagnosis: str
    fix: str | None = None


@dataclass(frozen=True)
class Playbook:
    fixes: tuple[Fix, ...] = ()
    signatures: tuple[Signature, ...] = ()


@dataclass(frozen=True)
class Gate:
    """A named set of checks; its verdict is its worst check."""

    name: str
    checks: tuple[Check, ...]
    on_fail: Literal["stop", "warn"] = "warn"
    baseline: str | None = None
    playbook: Playbook = field(default_factory=Playbook)
    description: str | None = None

    @property
    def uses_baseline(self) -> bool:
        return any(c.uses_baseline for c in self.checks)


class FixSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    why: str | None = None
    set: dict[str, Any] = Field(min_length=1)


class SignatureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    when: str
    diagnosis: str = Field(min_length=1)
    fix: str | None = None

    @field_validator("when")
    @classmethod
    def _parse(cls, value: str) -> str:
        from gatebook.gates.grammar import parse_expr

        with _as_value_error():
            parse_expr(value)
        return value


class PlaybookSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fixes: list[FixSpec] = Field(default_factory=list)
    signatures: list[SignatureSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fix_names(self) -> "PlaybookSpec":
        names = [f.name for f in self.fixes]
        for dup in {n for n in names if names.count(n) > 1}:
            raise ValueError(f"two fixes are named {dup!r}; give each fix its own name")
        for sig in self.signatures:
            if sig.fix is not None and sig.fix not in names:
                raise ValueError(f"signature fix {sig.fix!r} is not one of the fixes: {', '.join(names) or 'none'}")
        return self


class CheckSpec(BaseModel):
    """The tiered form: ``{metric: margin, pass: ">= 0.20", marginal: ">= 0.10"}``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    metric: str
    pass_: str = Field(alias="pass")
    marginal: str | None = None
    at: str | None = None  # "epoch 2" / "step 100"

    @model_validator(mode="after")
    def _parses(self) -> "CheckSpec":
        with _as_value_error():
            self.to_check()
        return self

    def to_check(self) -> Check:
        from gatebook.gates.grammar import parse_operand, parse_tail

        operand = parse_operand(self.metric)
        at = _parse_at(self.at) if self.at else None
        condition = parse_tail(operand, self.pass_, at)
        marginal = parse_tail(operand, self.marginal, condition.at) if self.marginal else None
        return Check(condition, marginal)


@contextlib.contextmanager
def _as_value_error() -> Iterator[None]:
    """Parse errors become ValueErrors, so Pydantic reports them with their location."""
    from gatebook.errors import ConfigError

    try:
        yield
    except ConfigError as exc:
        raise ValueError(exc.message) from None


def _parse_at(text: str) -> At:
    parts = text.replace("@", " ").split()
    if len(parts) == 2 and parts[0] in ("epoch", "step") and parts[1].isdigit():
        return At(parts[0], int(parts[1]))  # type: ignore[arg-type]
    raise ValueError(f"at: expected 'epoch N' or 'step N', got {text!r}")


def _parse_text_check(value: str) -> str:
    from gatebook.gates.grammar import parse_check

    with _as_value_error():
        parse_check(value)
    return value


CheckEntry = Annotated[
    Union[Annotated[str, AfterValidator(_parse_text_check), Tag("text")], Annotated[CheckSpec, Tag("tiered")]],
    Discriminator(lambda v: "text" if isinstance(v, str) else "tiered"),
]
"""A check is a string, or the tiered mapping form (errors then name its fields)."""


class GateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    on_fail: Literal["stop", "warn"] = "warn"
    baseline: str | None = None
    checks: list[CheckEntry] = Field(min_length=1)
    playbook: PlaybookSpec = Field(default_factory=PlaybookSpec)

    @field_validator("checks", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, dict)) else value

    def to_gate(self, name: str) -> Gate:
        from gatebook.gates.grammar import parse_check, parse_expr

        checks = tuple(parse_check(c) if isinstance(c, str) else c.to_check() for c in self.checks)
        playbook = Playbook(
            fixes=tuple(Fix(name=f.name, set=dict(f.set), why=f.why) for f in self.playbook.fixes),
            signatures=tuple(Signature(when=parse_expr(s.when), text=s.when, diagnosis=s.diagnosis, fix=s.fix)
                             for s in self.playbook.signatures),
        )
        return Gate(name=name, checks=checks, on_fail=self.on_fail, baseline=self.baseline, playbook=playbook,
                    description=self.description)


def validate_gate_names(gates: dict[str, GateSpec]) -> dict[str, GateSpec]:
    for name in gates:
        if not GATE_NAME.fullmatch(str(name)):
            raise ValueError(f"gate name {name!r}: use letters, digits, '_', '.' or '-'")
    return gates


def select_gates(declared: dict[str, GateSpec], names: list[str] | tuple[str, ...], source: str | None) -> list[Gate]:
    """The gates called ``names`` (all declared gates when empty), in the order asked."""
    from gatebook.errors import ConfigError, UsageError

    where = source or "gatebook.yaml"
    if not declared:
        raise ConfigError(f"no gates are declared in {where}",
                          hint="add a 'gates:' section (see docs/gates.md)")
    if not names:
        return [spec.to_gate(name) for name, spec in declared.items()]
    out = []
    for name in names:
        if name not in declared:
            import difflib

            close = difflib.get_close_matches(name, list(declared), n=3, cutoff=0.0)
            raise UsageError(f"unknown gate {name!r} (not in {where})",
                             hint=f"declared gates: {', '.join(close + [n for n in declared if n not in close])}")
        out.append(declared[name].to_gate(name))
    return out
