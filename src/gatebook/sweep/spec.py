"""The sweep file (``sweep.yaml``): a command, a space of params and how to judge the trials.

Three forms of space, exactly one per file::

    name: lr-temp                       # default: the file's stem
    command: python train.py --lr {lr} --temperature {temperature}
    baseline: base                      # a run name, id or alias (optional)
    gates: [epoch2]                     # declared in gatebook.yaml (optional)
    objective: val_acc                  # ranked by its direction (optional)
    parallel: 2                         # default 1
    gpus: [0, 1]                        # or "0,1" (optional): GPUs of this machine to share out
    resources: {cpus: 1, gpus: 1}       # per trial (default 1 CPU, 0 GPU; with gpus: at least 1)
    tags: [sweep]
    prune: {median: {metric: val_loss, warmup: 1, min_trials: 3}}
    grid:                               # the product, last key varying fastest
      lr: [0.001, 0.01, 10.0]
      temperature: [0.05, 0.07]

    list:                               # named variants
      - {name: exp1-baseline, context: 5, margin: 0.07, lam: 0.8}

    random:
      n: 8
      seed: 0
      space: {lr: {loguniform: [1.0e-4, 1.0e-1]}, dropout: {uniform: [0.0, 0.5]},
              layers: {int: [2, 6]}, act: {choice: [relu, gelu]}, epochs: 10}

``command`` is a string (split with :func:`shlex.split`, never run through a shell) or a
list of strings. Placeholders are filled per argument after splitting, so a quoted
``"run {lr}"`` stays one argument; ``{{`` and ``}}`` are literal braces. ``{name}`` is the
trial's name. With ``config: base.yaml`` (YAML or JSON, relative to the sweep file), params
that are keys of that file (dotted keys reach nested sections) are written into a per-trial
copy, and ``{config}`` -- required then -- is that copy's path.

Every problem is a :class:`~gatebook.errors.ConfigError` ``FILE:LINE: FIELD: message``
raised by :func:`load_sweep`, before anything runs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Mapping

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from gatebook.config_io import MISSING as _MISSING
from gatebook.config_io import dotted_get as _dotted_get
from gatebook.config_io import write_config_copy
from gatebook.config_io import yaml_line as _yaml_line
from gatebook.errors import ConfigError
from gatebook.project_config import _short

__all__ = ["Dist", "SweepSpec", "Trial", "format_value", "load_sweep", "parse_sweep", "validate_gates",
           "write_trial_config"]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
"""Sweep and trial names: safe as file names and run names."""
PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
"""Param keys (dotted keys reach nested config sections)."""
RESERVED = ("config", "name")
"""Placeholders that are not params: the per-trial config copy and the trial's name."""
MAX_TRIALS = 10_000
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
DIST_KINDS = ("uniform", "loguniform", "int", "choice")
_NAME_LIMIT = 80
_ROUND_DIGITS = 6


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


def _name_value(value: Any, exact: bool) -> str:
    if isinstance(value, float) and not exact:
        return _clean_exponent(format(value, ".4g"))
    return format_value(value)


def _canonical(value: Any) -> str:
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
            return len({_canonical(v) for v in self.args})
        if self.kind == "int":
            return self.args[1] - self.args[0] + 1
        return None


def _parse_dist(value: Any) -> Dist:
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


# -- the model ------------------------------------------------------------------------------------


def _grid_values(value: Any) -> Any:
    return value if isinstance(value, list) else [value]  # a fixed value is a one-value list


def _distinct_values(values: list[Any]) -> list[Any]:
    if not values:
        raise ValueError("empty list: give at least one value")
    seen: set[str] = set()
    for value in values:
        if _canonical(value) in seen:
            raise ValueError(f"value {format_value(value)!r} appears twice")
        seen.add(_canonical(value))
    return values


GridValues = Annotated[list[Any], PlainValidator(lambda v: _distinct_values(list(_grid_values(v))))]


class RandomSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int
    seed: int = 0
    space: dict[str, Annotated[Dist, PlainValidator(_parse_dist)]]

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


class MedianPrune(BaseModel):
    """Stop a trial whose ``metric`` at a step is worse than the median of the trials so far."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1)
    warmup: int = Field(default=1, ge=0)
    min_trials: int = Field(default=3, ge=1)


def parse_gpus(value: Any) -> list[int]:
    """GPU indexes from ``"0,1"``, ``[0, 1]`` or ``0`` (a sweep file's ``gpus:``, ``--gpus``);
    ValueError saying what is wrong: not integers >= 0, a GPU twice, an empty list."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not all(p.isdigit() for p in parts):
            raise ValueError(f"give GPU indexes such as [0, 1] or \"0,1\", got {value!r}")
        value = [int(p) for p in parts]
    elif isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value):
        raise ValueError(f"GPU indexes are integers >= 0, got {_short(value)}")
    if len(set(value)) != len(value):
        raise ValueError(f"a GPU is listed twice: {_short(value)}")
    if not value:
        raise ValueError("empty list: give GPU indexes or leave gpus out")
    return value


class Resources(BaseModel):
    """What each trial needs: CPUs and GPUs (fractions allowed; Ray shares a GPU between trials)."""

    model_config = ConfigDict(extra="forbid")

    cpus: float = Field(default=1, gt=0)
    gpus: float = Field(default=0, ge=0)


class PruneSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    median: MedianPrune


def _list_item(value: Any) -> dict[str, Any]:
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


class SweepSpec(BaseModel):
    """A validated sweep file; :meth:`trials` expands it. Build it with :func:`load_sweep`."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    command: Any = Field(...)
    config: str | None = None
    grid: dict[str, GridValues] | None = None
    variants: list[Annotated[Any, AfterValidator(_list_item)]] | None = Field(default=None, alias="list")
    random: RandomSpec | None = None
    baseline: str | None = Field(default=None, min_length=1)
    gates: list[str] = Field(default_factory=list)
    objective: str | None = Field(default=None, min_length=1)
    parallel: int = Field(default=1, ge=1)
    gpus: list[int] | None = None
    resources: Resources = Field(default_factory=Resources)
    tags: list[str] = Field(default_factory=list)
    prune: PruneSpec | None = None

    _path: Path = PrivateAttr(default=Path("sweep.yaml"))
    _node: Any = PrivateAttr(default=None)
    _tokens: list[list[Any]] = PrivateAttr(default_factory=list)
    _base_config: dict[str, Any] | None = PrivateAttr(default=None)
    _trials: list["Trial"] | None = PrivateAttr(default=None)

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("empty command: give a command line such as \"python train.py --lr {lr}\"")
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
        raise ValueError(f"give a command line (a string) or a non-empty list of strings, got {_short(value)}")

    @field_validator("gates", "tags", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [] if value is None else [value] if isinstance(value, str) else value

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpus(cls, value: Any) -> Any:
        return value if value is None else parse_gpus(value)

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list[Any]] | None) -> Any:
        if value is not None and not value:
            raise ValueError("empty grid: give at least one param with its values")
        return value

    @field_validator("variants")
    @classmethod
    def _variants(cls, value: list[Any] | None) -> Any:
        if value is not None and not value:
            raise ValueError("empty list: give at least one variant")
        return value

    # -- what it is --

    @property
    def path(self) -> Path:
        """The sweep file."""
        return self._path

    @property
    def mode(self) -> str:
        """``grid``, ``list`` or ``random``."""
        return "grid" if self.grid is not None else "list" if self.variants is not None else "random"

    @property
    def config_path(self) -> Path | None:
        """The base config file (relative paths are relative to the sweep file)."""
        if self.config is None:
            return None
        path = Path(self.config).expanduser()
        return path if path.is_absolute() else self._path.parent / path

    @property
    def placeholders(self) -> list[str]:
        """The ``{names}`` in the command, in order of first use."""
        seen: dict[str, None] = {}
        for token in self._tokens:
            for part in token:
                if isinstance(part, _Slot):
                    seen.setdefault(part.name, None)
        return list(seen)

    # -- trials --

    def trials(self, config_dir: str | Path | None = None) -> list["Trial"]:
        """The trials, in a deterministic order (random: ``random.Random(seed)``).

        With a ``config`` file, each trial's copy is ``CONFIG_DIR/TRIAL_NAME.SUFFIX``
        (default ``.gatebook/sweeps/NAME/configs`` beside the sweep file); it is written by
        :meth:`write_config` / :func:`write_trial_config`, not here.
        """
        if self._trials is None:
            self._trials = self._expand()
        out = list(self._trials)
        if self.config is None:
            return out
        base = self.config_path
        assert base is not None
        folder = (Path(config_dir) if config_dir is not None
                  else self._path.parent / ".gatebook" / "sweeps" / str(self.name) / "configs")
        return [Trial(t.index, t.name, t.params, self.render(t.params, t.name, folder / f"{t.name}{base.suffix}"),
                      t.config_overrides, folder / f"{t.name}{base.suffix}") for t in out]

    def render(self, params: Mapping[str, Any], name: str, config_path: str | Path | None = None) -> list[str]:
        """The command's argv with ``params``, ``{name}`` and ``{config}`` filled in."""
        values = {k: format_value(v) for k, v in params.items()}
        values["name"] = name
        values["config"] = str(config_path) if config_path is not None else "{config}"
        return ["".join(p if isinstance(p, str) else values[p.name] for p in token) for token in self._tokens]

    def fingerprint(self, trial: "Trial") -> str:
        """A stable hash of the command (as written, split into words), the config file
        named and the trial's params: equal for the same trial in a later resume."""
        tokens = [[p if isinstance(p, str) else {"slot": p.name} for p in token] for token in self._tokens]
        text = _canonical({"command": tokens, "config": self.config, "params": trial.params})
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def write_config(self, trial: "Trial") -> Path | None:
        """Write ``trial``'s config copy (None when the sweep has no config file)."""
        if self.config_path is None or trial.config_path is None:
            return None
        return write_trial_config(self.config_path, trial.config_overrides, trial.config_path)

    def _param_sets(self) -> list[tuple[str | None, dict[str, Any]]]:
        if self.grid is not None:
            keys = list(self.grid)
            return [(None, dict(zip(keys, combo, strict=False)))
                    for combo in itertools.product(*(self.grid[k] for k in keys))]
        if self.variants is not None:
            return [(item.get("name"), {k: v for k, v in item.items() if k != "name"}) for item in self.variants]
        assert self.random is not None
        rng = random.Random(self.random.seed)
        out: list[tuple[str | None, dict[str, Any]]] = []
        seen: set[str] = set()
        for _ in range(100 * self.random.n + 1000):
            params = {k: d.sample(rng) for k, d in self.random.space.items()}
            if _canonical(params) not in seen:
                seen.add(_canonical(params))
                out.append((None, params))
                if len(out) == self.random.n:
                    return out
        raise _Problem(("random", "n"), f"found only {len(out)} distinct trials for n={self.random.n}; "
                                        "widen the space or lower n")

    def _expand(self) -> list["Trial"]:
        sets = self._param_sets()
        if len(sets) > MAX_TRIALS:
            raise _Problem((self.mode,), f"{len(sets)} trials, more than {MAX_TRIALS}; shrink the space")
        seen: dict[str, int] = {}
        for i, (_, params) in enumerate(sets):
            key = _canonical(params)
            if key in seen:
                raise _Problem(("list", i), f"same params as list item {seen[key]}: the trial would run twice; "
                                            "to repeat a trial, add a param such as seed")
            seen[key] = i
        names = _trial_names(sets, self.mode)
        overrides = self._overrides
        return [Trial(i, names[i], dict(params), self.render(params, names[i]), overrides(params))
                for i, (_, params) in enumerate(sets)]

    def _overrides(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if self._base_config is None:
            return {}
        return {k: v for k, v in params.items() if _dotted_get(self._base_config, k) is not _MISSING}


@dataclass(frozen=True)
class Trial:
    """One point of the sweep: what to run and under which name."""

    index: int
    name: str
    params: dict[str, Any]
    argv: list[str]
    config_overrides: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None
    """Where this trial's config copy goes (sweeps with a ``config`` file only)."""


# -- names ----------------------------------------------------------------------------------------


def _trial_names(sets: list[tuple[str | None, dict[str, Any]]], mode: str) -> list[str]:
    """Given names, else ``key-value_key-value`` of the params that vary (all of them when
    none varies); compact numbers first, exact ones where compact ones collide, then an
    index suffix. Unique even on a case-insensitive file system."""
    keys: dict[str, None] = {}
    for _, params in sets:
        keys.update(dict.fromkeys(params))
    varying = [k for k in keys if len({_canonical(p.get(k, _MISSING_TEXT)) for _, p in sets}) > 1] or list(keys)

    def build(params: dict[str, Any], exact: bool) -> str:
        text = "_".join(f"{k}-{_name_value(params[k], exact)}" for k in varying if k in params)
        text = re.sub(r"[^A-Za-z0-9_.\-]+", "-", text).lstrip("_.-") or "trial"
        if len(text) > _NAME_LIMIT:
            text = text[: _NAME_LIMIT - 9].rstrip("_.-") + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]
        return text

    given = [n for n, _ in sets if n is not None]
    for n, _ in sets:
        if n is not None and [g.lower() for g in given].count(n.lower()) > 1:
            later = [j for j, (m, _) in enumerate(sets) if m is not None and m.lower() == n.lower()][1]
            raise _Problem(("list", later, "name"), f"two variants are named {n!r}; give each its own name")
    names = [n if n is not None else build(p, exact=False) for n, p in sets]
    lowered = [n.lower() for n in names]
    names = [n if sets[i][0] is not None or lowered.count(n.lower()) == 1 else build(sets[i][1], exact=True)
             for i, n in enumerate(names)]
    taken: set[str] = set()
    for i, n in enumerate(names):
        if sets[i][0] is not None:
            taken.add(n.lower())
    out = []
    for i, n in enumerate(names):
        if sets[i][0] is None and (n.lower() in taken or [m.lower() for m in names].count(n.lower()) > 1):
            suffix = i
            while f"{n}-{suffix}".lower() in taken:
                suffix += 1000
            n = f"{n}-{suffix}"
        taken.add(n.lower())
        out.append(n)
    return out


# -- command templates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    name: str


def _parse_token(token: str) -> list[Any]:
    """``--x={lr}`` -> ``["--x=", _Slot("lr")]``; ``{{``/``}}`` are literal braces."""
    parts: list[Any] = []
    text = ""
    i = 0
    while i < len(token):
        c = token[i]
        if token.startswith("{{", i) or token.startswith("}}", i):
            text += c
            i += 2
        elif c == "{":
            end = token.find("}", i)
            inner = token[i + 1: end] if end >= 0 else None
            if inner is None or not PARAM.fullmatch(inner):
                shown = token[i: end + 1] if end >= 0 else token[i:]
                raise ValueError(f"bad placeholder {shown!r} in {token!r}: write {{param}} with a param name, "
                                 "or '{{' and '}}' for literal braces")
            if text:
                parts.append(text)
                text = ""
            parts.append(_Slot(inner))
            i = end + 1
        elif c == "}":
            raise ValueError(f"unmatched '}}' in {token!r}: write '}}}}' for a literal brace")
        else:
            text += c
            i += 1
    if text or not parts:
        parts.append(text)
    return parts


# -- config files ---------------------------------------------------------------------------------


_MISSING_TEXT = "\x00missing"


def write_trial_config(base_path: str | Path, overrides: Mapping[str, Any], dest: str | Path) -> Path:
    """Write ``base_path`` (YAML or JSON) with ``overrides`` (dotted keys reach nested
    sections and list items: :func:`gatebook.config_io.set_dotted`) to ``dest``, in the format
    of ``dest``'s suffix (JSON for ``.json``, else YAML). Creates ``dest``'s folder; returns ``dest``."""
    return write_config_copy(base_path, overrides, dest)


# -- loading and validation -----------------------------------------------------------------------


class _Problem(Exception):
    """A problem found after the schema: where (a YAML location) and what."""

    def __init__(self, loc: tuple[Any, ...], message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.loc, self.message, self.hint = loc, message, hint


def load_sweep(path: str | Path) -> SweepSpec:
    """The validated sweep file at ``path``; ConfigError ``FILE:LINE: FIELD: message``."""
    from gatebook.config_io import parse_yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read sweep file {file}: {exc.strerror or exc}",
                          hint="check the path of the sweep file") from None
    data, node = parse_yaml(text, file)
    return parse_sweep(data, file, node)


def parse_sweep(data: Any, path: str | Path = "sweep.yaml", node: Any = None) -> SweepSpec:
    """A sweep from already-parsed data (``node``: the YAML node tree, for line numbers)."""
    file = Path(path)

    def where(loc: tuple[Any, ...]) -> str:
        line = _yaml_line(node, loc) if node is not None and loc else None
        return f"{file}:{line or 1}"

    if not isinstance(data, dict):
        raise ConfigError(f"{where(())}: a sweep file is a mapping with a command and one of grid, list, random",
                          hint="see the example in docs or gatebook.sweep.spec")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise _schema_error(exc, where) from None
    spec._path, spec._node = file, node
    try:
        _check(spec, data, file)
        spec._trials = spec._expand()
    except _Problem as problem:
        field_name = ".".join(str(p) for p in problem.loc) or "(top level)"
        raise ConfigError(f"{where(problem.loc)}: {field_name}: {problem.message}", hint=problem.hint) from None
    return spec


def _schema_error(exc: ValidationError, where: Callable[[tuple[Any, ...]], str]) -> ConfigError:
    errors = exc.errors()
    err = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
    loc = tuple(p for p in err.get("loc", ()) if p != "[key]")
    field_name = ".".join(str(p) for p in loc) or "(top level)"
    if err.get("type") == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = [f.alias or n for n, f in getattr(model, "model_fields", {}).items()]
        return ConfigError(f"{where(loc)}: unknown field {field_name!r}", hint=f"allowed here: {', '.join(allowed)}")
    msg = str(err.get("msg", "invalid"))
    if msg.startswith("Value error, "):
        return ConfigError(f"{where(loc)}: {field_name}: {msg[len('Value error, '):]}")
    return ConfigError(f"{where(loc)}: {field_name}: {msg}", hint=f"got {_short(err.get('input'))}")


def _model_at(loc: tuple[Any, ...]) -> Any:
    """The model a location points into (sweep-level sections only; enough for extra keys)."""
    model: Any = SweepSpec
    for part in loc:
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        annotation = fields[part].annotation if part in fields else None
        nested = [a for a in (annotation, *getattr(annotation, "__args__", ()))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


def _check(spec: SweepSpec, data: Mapping[str, Any], file: Path) -> None:
    """What the schema cannot say: one space, the command's placeholders, the config file."""
    modes = [m for m in ("grid", "list", "random") if data.get(m) is not None]
    if len(modes) != 1:
        raise _Problem((modes[1],) if modes else (), f"give exactly one of grid, list, random "
                                                     f"(got {', '.join(modes) or 'none'})")
    if spec.name is None:
        spec.name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", file.stem).lstrip("_.-") or "sweep"
    elif not NAME.fullmatch(spec.name):
        raise _Problem(("name",),
                       f"{spec.name!r}: use letters, digits, '_', '.' or '-' (starting with a letter or digit)")

    # the command, split into words before any placeholder is filled
    command = spec.command
    if isinstance(command, str):
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise _Problem(("command",), f"cannot split {command!r} into words: {exc}") from None
        if not words:
            raise _Problem(("command",), "empty command")
    else:
        words = list(command)
    tokens = []
    for i, word in enumerate(words):
        try:
            tokens.append(_parse_token(word))
        except ValueError as exc:
            raise _Problem(("command",) if isinstance(command, str) else ("command", i), str(exc)) from None
    spec._tokens = tokens
    slots = spec.placeholders

    # the config file
    if spec.config is not None:
        base = spec.config_path
        assert base is not None
        if base.suffix.lower() not in CONFIG_SUFFIXES:
            raise _Problem(("config",), f"{spec.config!r}: the config file must be YAML or JSON "
                                        f"({', '.join(CONFIG_SUFFIXES)})")
        try:
            from gatebook.capture.params import load_config_file

            spec._base_config = load_config_file(base)
        except ConfigError as exc:
            raise _Problem(("config",), exc.message, exc.hint) from None
        if "config" not in slots:
            raise _Problem(("config",), "the command must contain {config}, the path of each trial's config copy")
    elif "config" in slots:
        raise _Problem(("command",), "{config} needs a config file: add 'config: PATH' (YAML or JSON)")

    # params vs placeholders
    mode = spec.mode
    groups: list[tuple[tuple[Any, ...], Iterable[str]]]
    if spec.grid is not None:
        groups = [(("grid",), list(spec.grid))]
    elif spec.variants is not None:
        groups = [(("list", i), [k for k in item if k != "name"]) for i, item in enumerate(spec.variants)]
    else:
        assert spec.random is not None
        groups = [(("random", "space"), list(spec.random.space))]
    every = sorted({k for _, keys in groups for k in keys})
    for loc, keys in groups:
        keys = list(keys)
        for key in keys:
            if not PARAM.fullmatch(key) or key in RESERVED:
                why = "is reserved (filled by the sweep)" if key in RESERVED else \
                    "must start with a letter or '_' and hold letters, digits, '_', '.' or '-'"
                raise _Problem(loc + (key,), f"param name {key!r} {why}")
        for slot in slots:
            if slot not in RESERVED and slot not in keys:
                if mode == "list" and slot in every:
                    raise _Problem(loc, f"no value for {{{slot}}}, which the command uses")
                raise _Problem(("command",), f"unknown placeholder {{{slot}}}: no such param in {mode} "
                                             f"(params: {', '.join(every) or 'none'})")
        for key in keys:
            in_config = spec._base_config is not None and _dotted_get(spec._base_config, key) is not _MISSING
            if key not in slots and not in_config:
                where = f"the command has no {{{key}}}"
                if spec.config is not None:
                    where += f" and {spec.config} has no key {key!r}"
                raise _Problem(loc + (key,), f"param {key!r} is not used: {where}",
                               hint=f"placeholders in the command: {', '.join(slots) or 'none'}")

    if spec.random is not None:
        sizes = [d.size for d in spec.random.space.values()]
        if all(s is not None for s in sizes) and math.prod(sizes) < spec.random.n:  # type: ignore[arg-type]
            raise _Problem(("random", "n"), f"the space has only {math.prod(sizes)} distinct points "  # type: ignore[arg-type]
                                            f"for n={spec.random.n}; lower n or widen the space")


def validate_gates(spec: SweepSpec, declared_gate_names: Iterable[str]) -> None:
    """ConfigError when the sweep names a gate that gatebook.yaml does not declare."""
    declared = list(declared_gate_names)
    for i, name in enumerate(spec.gates):
        if name not in declared:
            line = _yaml_line(spec._node, ("gates", i)) if spec._node is not None else None
            where = f"{spec.path}:{line}" if line else str(spec.path)
            raise ConfigError(f"unknown gate {name!r} in {where}; declared: {', '.join(declared) or 'none'}",
                              hint="declare it under 'gates:' in gatebook.yaml or fix the name")
