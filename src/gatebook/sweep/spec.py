"""The sweep file (``sweep.yaml``): its model, loaded and validated through gatebook.config_io.

Four forms of space, exactly one per file::

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

    search:                             # adaptive (gatebook[optuna]): needs an objective
      optuna: {sampler: tpe, n: 40, seed: 0}        # tpe | gp | cmaes | random
      space: {lr: {loguniform: [1.0e-4, 1.0e-1]}, dropout: {uniform: [0.0, 0.5]}}

    repeat: 3                           # or seeds: [0, 7, 42]: each trial once per seed, as {seed}

``command`` is a string or a list of strings (:mod:`gatebook.sweep.template`); ``{name}`` is
the trial's name. With ``config: base.yaml`` (YAML or JSON, relative to the sweep file), params
that are keys of that file (dotted keys reach nested sections) are written into a per-trial
copy, and ``{config}`` -- required then -- is that copy's path.

Every problem is a :class:`~gatebook.errors.ConfigError` ``FILE:LINE: FIELD: message``
raised by :func:`load_sweep`, before anything runs. The space's values and distributions are
:mod:`gatebook.sweep.space`'s, the trials :mod:`gatebook.sweep.plan`'s.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Mapping

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from gatebook.config_io import MISSING, dotted_get, parse_yaml, write_config_copy, yaml_line
from gatebook.errors import ConfigError
from gatebook.placeholders import PARAM
from gatebook.project_config import _short
from gatebook.sweep.plan import Trial, check_repeat, expand_trials, parse_gpus
from gatebook.sweep.space import (
    MAX_TRIALS,
    NAME,
    GridValues,
    RandomSpec,
    SearchSpec,
    SweepProblem,
    canonical,
    format_value,
    list_item,
    param_sets,
)
from gatebook.sweep.template import Token, fill, placeholders, split_command, token_doc

__all__ = ["SweepSpec", "load_sweep", "parse_sweep", "validate_gates", "write_trial_config"]

RESERVED = ("config", "name")
"""Placeholders that are not params: the per-trial config copy and the trial's name."""
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


# -- the model ------------------------------------------------------------------------------------


class MedianPrune(BaseModel):
    """Stop a trial whose ``metric`` at a step is worse than the median of the trials so far."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1)
    warmup: int = Field(default=1, ge=0)
    min_trials: int = Field(default=3, ge=1)


class Resources(BaseModel):
    """What each trial needs: CPUs and GPUs (fractions allowed; Ray shares a GPU between trials)."""

    model_config = ConfigDict(extra="forbid")

    cpus: float = Field(default=1, gt=0)
    gpus: float = Field(default=0, ge=0)


class PruneSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    median: MedianPrune


class SweepSpec(BaseModel):
    """A validated sweep file; :meth:`trials` expands it. Build it with :func:`load_sweep`."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    command: Any = Field(...)
    config: str | None = None
    grid: dict[str, GridValues] | None = None
    variants: list[Annotated[Any, AfterValidator(list_item)]] | None = Field(default=None, alias="list")
    random: RandomSpec | None = None
    search: SearchSpec | None = None
    repeat: int | None = Field(default=None, ge=1)
    seeds: list[int] | None = None
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
    _tokens: list[Token] = PrivateAttr(default_factory=list)
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
        """``grid``, ``list``, ``random`` or ``search``."""
        return ("grid" if self.grid is not None else "list" if self.variants is not None else
                "search" if self.search is not None else "random")

    @property
    def seed_list(self) -> list[int] | None:
        """The seeds each trial runs with (``repeat: N`` is 0..N-1), None without repeats."""
        return list(self.seeds) if self.seeds is not None else list(range(self.repeat)) if self.repeat else None

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
        return placeholders(self._tokens)

    # -- trials --

    def trials(self, config_dir: str | Path | None = None) -> list[Trial]:
        """The trials, in a deterministic order (random: ``random.Random(seed)``).

        With a ``config`` file, each trial's copy is ``CONFIG_DIR/TRIAL_NAME.SUFFIX``
        (default ``.gatebook/sweeps/NAME/configs`` beside the sweep file); it is written by
        :meth:`write_config`, not here.
        """
        if self._trials is None:
            self._trials = self._expand()
        if self.config is None:
            return list(self._trials)
        return [self.trial(t.index, t.name, t.params, seed=t.seed, replicate=t.replicate, config_dir=config_dir)
                for t in self._trials]

    def trial(self, index: int, name: str, params: Mapping[str, Any], *, seed: int | None = None,
              replicate: str | None = None, config_dir: str | Path | None = None) -> Trial:
        """One trial of ``params`` (a search's asked point, one seed of a replicate set), its
        config copy (if any) in ``config_dir`` as :meth:`trials` places it."""
        copy = None
        if self.config is not None:
            base = self.config_path
            assert base is not None
            folder = (Path(config_dir) if config_dir is not None
                      else self._path.parent / ".gatebook" / "sweeps" / str(self.name) / "configs")
            copy = folder / f"{name}{base.suffix}"
        return Trial(index, name, dict(params), self.render(params, name, copy), self._overrides(params), copy,
                     seed=seed, replicate=replicate)

    def render(self, params: Mapping[str, Any], name: str, config_path: str | Path | None = None) -> list[str]:
        """The command's argv with ``params``, ``{name}`` and ``{config}`` filled in."""
        values = {k: format_value(v) for k, v in params.items()}
        values["name"] = name
        values["config"] = str(config_path) if config_path is not None else "{config}"
        return fill(self._tokens, values)

    def fingerprint(self, trial: Trial) -> str:
        """A stable hash of the command (as written, split into words), the config file
        named and the trial's params: equal for the same trial in a later resume."""
        text = canonical({"command": token_doc(self._tokens), "config": self.config, "params": trial.params})
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def write_config(self, trial: Trial) -> Path | None:
        """Write ``trial``'s config copy (None when the sweep has no config file)."""
        if self.config_path is None or trial.config_path is None:
            return None
        return write_config_copy(self.config_path, trial.config_overrides, trial.config_path)

    def _expand(self) -> list[Trial]:
        if self.search is not None:  # asked one by one while the sweep runs (gatebook.sweep.search)
            return []
        sets = param_sets(self.grid, self.variants, self.random)
        seeds = self.seed_list
        if seeds is None:
            return expand_trials(sets, self.mode, self.render, self._overrides)
        base = expand_trials(sets, self.mode, lambda params, name: [], lambda params: {})
        if len(base) * len(seeds) > MAX_TRIALS:
            raise SweepProblem(("repeat" if self.seeds is None else "seeds",),
                               f"{len(base)} trials x {len(seeds)} seeds, more than {MAX_TRIALS} runs")
        return [self.trial(i * len(seeds) + j, f"{t.name}-s{s}", {**t.params, "seed": s}, seed=s, replicate=t.name)
                for i, t in enumerate(base) for j, s in enumerate(seeds)]

    def _overrides(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if self._base_config is None:
            return {}
        return {k: v for k, v in params.items() if dotted_get(self._base_config, k) is not MISSING}


# -- config files ---------------------------------------------------------------------------------


write_trial_config = write_config_copy
"""A trial's config copy is written by config_io's one editor (:func:`gatebook.config_io.write_config_copy`)."""


# -- loading and validation -----------------------------------------------------------------------


def load_sweep(path: str | Path) -> SweepSpec:
    """The validated sweep file at ``path``; ConfigError ``FILE:LINE: FIELD: message``."""
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
        line = yaml_line(node, loc) if node is not None and loc else None
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
    except SweepProblem as problem:
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
    modes = [m for m in ("grid", "list", "random", "search") if data.get(m) is not None]
    if len(modes) != 1:
        raise SweepProblem((modes[1],) if modes else (), f"give exactly one of grid, list, random, search "
                                                         f"(got {', '.join(modes) or 'none'})")
    if spec.name is None:
        spec.name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", file.stem).lstrip("_.-") or "sweep"
    elif not NAME.fullmatch(spec.name):
        raise SweepProblem(("name",),
                           f"{spec.name!r}: use letters, digits, '_', '.' or '-' (starting with a letter or digit)")

    # the command, split into words before any placeholder is filled
    tokens = split_command(spec.command)
    spec._tokens = tokens
    slots = spec.placeholders

    # the config file
    if spec.config is not None:
        base = spec.config_path
        assert base is not None
        if base.suffix.lower() not in CONFIG_SUFFIXES:
            raise SweepProblem(("config",), f"{spec.config!r}: the config file must be YAML or JSON "
                                            f"({', '.join(CONFIG_SUFFIXES)})")
        try:
            from gatebook.capture.params import load_config_file

            spec._base_config = load_config_file(base)
        except ConfigError as exc:
            raise SweepProblem(("config",), exc.message, exc.hint) from None
        if "config" not in slots:
            raise SweepProblem(("config",), "the command must contain {config}, the path of each trial's config copy")
    elif "config" in slots:
        raise SweepProblem(("command",), "{config} needs a config file: add 'config: PATH' (YAML or JSON)")

    # params vs placeholders
    mode = spec.mode
    groups: list[tuple[tuple[Any, ...], Iterable[str]]]
    if spec.grid is not None:
        groups = [(("grid",), list(spec.grid))]
    elif spec.variants is not None:
        groups = [(("list", i), [k for k in item if k != "name"]) for i, item in enumerate(spec.variants)]
    elif spec.search is not None:
        groups = [(("search", "space"), list(spec.search.space))]
    else:
        assert spec.random is not None
        groups = [(("random", "space"), list(spec.random.space))]
    every = sorted({k for _, keys in groups for k in keys})
    reserved = RESERVED + check_repeat(spec, data, slots)
    for loc, keys in groups:
        keys = list(keys)
        for key in keys:
            if not PARAM.fullmatch(key) or key in reserved:
                why = "is reserved (filled by the sweep)" if key in reserved else \
                    "must start with a letter or '_' and hold letters, digits, '_', '.' or '-'"
                raise SweepProblem(loc + (key,), f"param name {key!r} {why}")
        for slot in slots:
            if slot not in reserved and slot not in keys:
                if mode == "list" and slot in every:
                    raise SweepProblem(loc, f"no value for {{{slot}}}, which the command uses")
                raise SweepProblem(("command",), f"unknown placeholder {{{slot}}}: no such param in {mode} "
                                                 f"(params: {', '.join(every) or 'none'})")
        for key in keys:
            in_config = spec._base_config is not None and dotted_get(spec._base_config, key) is not MISSING
            if key not in slots and not in_config:
                where = f"the command has no {{{key}}}"
                if spec.config is not None:
                    where += f" and {spec.config} has no key {key!r}"
                raise SweepProblem(loc + (key,), f"param {key!r} is not used: {where}",
                                   hint=f"placeholders in the command: {', '.join(slots) or 'none'}")

    if spec.random is not None:
        spec.random.check_size()


def validate_gates(spec: SweepSpec, declared_gate_names: Iterable[str]) -> None:
    """ConfigError when the sweep names a gate that gatebook.yaml does not declare."""
    declared = list(declared_gate_names)
    for i, name in enumerate(spec.gates):
        if name not in declared:
            line = yaml_line(spec._node, ("gates", i)) if spec._node is not None else None
            where = f"{spec.path}:{line}" if line else str(spec.path)
            raise ConfigError(f"unknown gate {name!r} in {where}; declared: {', '.join(declared) or 'none'}",
                              hint="declare it under 'gates:' in gatebook.yaml or fix the name")
