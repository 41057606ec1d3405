"""The project file: ``gatebook.yaml`` at the project root, or ``[tool.gatebook]`` in
``pyproject.toml``. Validated with Pydantic; an error names the file, the line, the
field and the form expected.

Sections known so far::

    ingest:
      prefix: "gatebook:"     # JSON metric lines start with this
      kv: false               # also parse key=value pairs on every output line
      regex:                  # named groups become metrics; step/epoch give the step
        - 'Epoch (?P<epoch>\\d+) .* val_loss: (?P<val_loss>[-\\d.eE]+)'

    metrics: {higher_is_better: [...], lower_is_better: [...]}   # see gatebook.gates.spec
    gates: {NAME: {checks: [...], on_fail: stop|warn, baseline: RUN, playbook: {...}}}

    metrics: {primary: [hota, mota]}      # default columns of compare / changelog / report
    keys: {required: ["rollout/*", "time/step"]}                 # gatebook keys RUN
    preflight:                                                   # gatebook preflight, run --preflight
      - {path_exists: "models/outputs/{checkpoint_path}"}
      - {free_disk_gb: 20}
      - {gpu: true}
      - {git_clean: true}
      - {command: "python models/diagnose.py --help", timeout_s: 10}
    output:
      limit: 8MiB             # output stored per run: its start and end (0: all); GATEBOOK_OUTPUT_LIMIT wins
    aliases:                                                     # gatebook promote RUN --to champion
      champion: {gates: [promotion]}                             # the gates a promotion is judged by
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from gatebook.errors import ConfigError
from gatebook.gates.spec import GateSpec, MetricsConfig, validate_gate_names

PROJECT_FILES = ("gatebook.yaml", "gatebook.yml")


class IngestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = "gatebook:"
    kv: bool = False
    regex: list[str] = Field(default_factory=list)

    @field_validator("regex")
    @classmethod
    def _compile(cls, value: list[str]) -> list[str]:
        from gatebook.ingest.stdout import compile_regex

        for pattern in value:
            try:
                compile_regex(pattern)
            except ConfigError as exc:
                raise ValueError(exc.message) from None
        return value


class KeysConfig(BaseModel):
    """Metric keys every run must emit: exact keys or shell globs (a glob needs one match)."""

    model_config = ConfigDict(extra="forbid")

    required: list[str] = Field(default_factory=list)

    @field_validator("required")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        for i, key in enumerate(value):
            if not key.strip():
                raise ValueError(f"entry {i} is empty: give a metric key or a glob such as 'rollout/*'")
        return value


class OutputConfig(BaseModel):
    """What the ledger keeps of a run's output."""

    model_config = ConfigDict(extra="forbid")

    limit: int | None = None  # bytes (a number, or "64KiB", "8MiB", "20MB"); 0: no limit; None: the default

    @field_validator("limit", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        from gatebook.settings import parse_size

        if value is None:
            return None
        try:
            return parse_size(value)
        except (ValueError, TypeError):
            raise ValueError(f"{value!r} is not a size: give bytes, or 64KiB, 8MiB, 20MB (0: no limit)") from None


class AliasConfig(BaseModel):
    """An alias's own settings: the gates a promotion to it is judged by (``--gate`` wins)."""

    model_config = ConfigDict(extra="forbid")

    gates: list[str] = Field(default_factory=list)


class NotifyTarget(BaseModel):
    """Where alerts go (gatebook.notify): a webhook URL or a command, and the events it wants.
    ``$VAR`` / ``${VAR}`` in the webhook are read from the environment (keep its token there)."""

    model_config = ConfigDict(extra="forbid")

    webhook: str | None = None
    command: str | None = None
    on: list[str]
    timeout: float = Field(default=5.0, gt=0, le=120)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        """YAML 1.1 reads a bare ``on:`` key as the boolean true: take it as ``on``."""
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _one_target(self) -> "NotifyTarget":
        import os

        from gatebook.notify import EVENTS

        if (self.webhook is None) == (self.command is None):
            raise ValueError("give exactly one of webhook: URL or command: CMD")
        if self.webhook is not None:
            self.webhook = os.path.expandvars(self.webhook)  # an unset $VAR stays: that target is skipped
            if not self.webhook.startswith(("http://", "https://", "$")):
                raise ValueError("webhook must be an http:// or https:// URL (or $VAR naming one)")
        if self.command is not None and not self.command.strip():
            raise ValueError("command must not be empty")
        unknown = [e for e in self.on if e not in EVENTS]
        if unknown or not self.on:
            raise ValueError(f"on: {', '.join(unknown) or 'nothing'} is not an event; events: {', '.join(EVENTS)}")
        return self


PREFLIGHT_KINDS = ("path_exists", "free_disk_gb", "gpu", "git_clean", "command")


class PreflightCheck(BaseModel):
    """One check run before a command: exactly one of the kinds, plus options."""

    model_config = ConfigDict(extra="forbid")

    path_exists: str | None = None  # "{param}" placeholders are filled from the command's params
    free_disk_gb: float | None = Field(default=None, gt=0)
    gpu: bool | None = None
    git_clean: bool | None = None
    command: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)  # for command
    path: str = "."  # where free_disk_gb is measured
    name: str | None = None  # how the check is called in the verdict

    @model_validator(mode="after")
    def _one_kind(self) -> "PreflightCheck":
        kinds = [k for k in PREFLIGHT_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"each preflight check has exactly one of {', '.join(PREFLIGHT_KINDS)}"
                             + (f" (got {', '.join(kinds)})" if kinds else ""))
        self._sensible(kinds[0])
        return self

    def _sensible(self, kind: str) -> None:
        import shlex

        if kind == "git_clean" and self.git_clean is False:
            raise ValueError("git_clean: false checks nothing; remove the check or set it to true")
        if kind == "path_exists" and not self.path_exists.strip():  # type: ignore[union-attr]
            raise ValueError("path_exists is empty: give a path (\"{param}\" placeholders allowed)")
        if kind == "command":
            try:
                words = shlex.split(self.command or "")
            except ValueError as exc:
                raise ValueError(f"command {self.command!r} cannot be split into words: {exc}") from None
            if not words:
                raise ValueError("command is empty: give a command line such as \"python check.py --help\"")
        if "path" in self.model_fields_set and kind != "free_disk_gb":
            raise ValueError(f"path applies to free_disk_gb only, not to {kind}")
        if "timeout_s" in self.model_fields_set and kind != "command":
            raise ValueError(f"timeout_s applies to command only, not to {kind}")
        if "path" in self.model_fields_set and not self.path.strip():
            raise ValueError("path is empty: give a directory (default \".\")")

    @property
    def kind(self) -> str:
        return next(k for k in PREFLIGHT_KINDS if getattr(self, k) is not None)


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ingest: IngestConfig = Field(default_factory=IngestConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    gates: dict[str, GateSpec] = Field(default_factory=dict)
    keys: KeysConfig = Field(default_factory=KeysConfig)
    preflight: list[PreflightCheck] = Field(default_factory=list)
    output: OutputConfig = Field(default_factory=OutputConfig)
    aliases: dict[str, AliasConfig] = Field(default_factory=dict)
    notify: list[NotifyTarget] = Field(default_factory=list)
    source: str | None = Field(default=None, exclude=True)

    @field_validator("gates")
    @classmethod
    def _gate_names(cls, value: dict[str, GateSpec]) -> dict[str, GateSpec]:
        return validate_gate_names(value)

    @field_validator("gates", mode="before")
    @classmethod
    def _no_gates(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("aliases", mode="before")
    @classmethod
    def _no_aliases(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("aliases")
    @classmethod
    def _alias_names_and_gates(cls, value: dict[str, AliasConfig], info: ValidationInfo) -> dict[str, AliasConfig]:
        from gatebook.registry.names import ALLOWED_FORM, name_problem

        declared = info.data.get("gates") or {}
        for name, spec in value.items():
            problem = name_problem(name)
            if problem is not None:
                raise ValueError(f"{problem}: an alias name has {ALLOWED_FORM}")
            unknown = [g for g in spec.gates if g not in declared]
            if unknown:
                known = ", ".join(declared) or "none"
                raise ValueError(f"alias {name}: unknown gate {unknown[0]!r} (declared gates: {known})")
        return value


def find_project_file(root: Path | None) -> Path | None:
    if root is None:
        return None
    for name in PROJECT_FILES:
        if (root / name).is_file():
            return root / name
    return None


def load_project_config(root: Path | None) -> ProjectConfig:
    """The project's config (defaults when there is no project file)."""
    path = find_project_file(root)
    if path is not None:
        return _load_yaml(path)
    if root is not None and (root / "pyproject.toml").is_file():
        return _load_pyproject(root / "pyproject.toml")
    return ProjectConfig()


def _load_yaml(path: Path) -> ProjectConfig:
    from gatebook.config_io import parse_yaml, yaml_line

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    data, node = parse_yaml(text, path)
    if data is None:
        return ProjectConfig(source=str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the file must be a mapping of sections (ingest, metrics, gates, ...)")
    return _validate(data, path, lambda loc: yaml_line(node, loc))


def _load_pyproject(path: Path) -> ProjectConfig:
    from gatebook.tomlcompat import toml_loads

    loads = toml_loads()
    try:
        data = loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # TOMLDecodeError is a ValueError (tomllib and tomli)
        raise ConfigError(f"{path}: {exc}", hint="fix the TOML syntax") from None
    section = data.get("tool", {}).get("gatebook")
    if section is None:
        return ProjectConfig()
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.gatebook] must be a table")
    return _validate(section, path, lambda loc: None)


def _validate(data: dict[str, Any], path: Path, line_of: Any) -> ProjectConfig:
    try:
        return ProjectConfig(**data, source=str(path))
    except ValidationError as exc:
        errors = exc.errors()
        err = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
        loc = tuple(p for p in err.get("loc", ()) if p not in _UNION_TAGS)
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = line_of(loc)
        where = f"{path}:{line}" if line else str(path)
        if err.get("type") == "extra_forbidden":
            model = _model_at(loc[:-1])
            allowed = [f.alias or n for n, f in getattr(model, "model_fields", {}).items() if n != "source"]
            raise ConfigError(f"{where}: unknown field {field!r}",
                              hint=f"allowed here: {', '.join(allowed)}") from None
        msg = str(err.get("msg", "invalid"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
            raise ConfigError(f"{where}: {field}: {msg}") from None
        got = "(not shown: a webhook URL holds its token)" if field.startswith("notify") else _short(err.get("input"))
        raise ConfigError(f"{where}: {field}: {msg}", hint=f"got {got}") from None


_UNION_TAGS = frozenset({"text", "tiered"})


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _model_at(loc: tuple[Any, ...]) -> Any:
    """The Pydantic model a location points into (for listing the allowed fields)."""
    import typing

    def models_in(tp: Any) -> list[Any]:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return [tp]
        return [m for arg in typing.get_args(tp) for m in models_in(arg)]

    def container_item(tp: Any) -> Any:
        args = typing.get_args(tp)
        origin = typing.get_origin(tp)
        if origin in (dict, list) and args:
            return args[-1]
        for arg in args:  # Annotated / Union around a container
            if typing.get_origin(arg) in (dict, list):
                return container_item(arg)
        return None

    current: Any = ProjectConfig
    for part in loc:
        models = models_in(current)
        if models and isinstance(part, str) and part in models[0].model_fields:
            current = models[0].model_fields[part].annotation
        else:
            current = container_item(current)
        if current is None:
            return None
    found = models_in(current)
    return found[0] if found else None
