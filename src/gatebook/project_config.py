"""The project file: ``gatebook.yaml`` at the project root, or ``[tool.gatebook]`` in
``pyproject.toml``. Validated with Pydantic; an error names the file, the line, the
field and the form expected.

Sections known so far::

    ingest:
      prefix: "gatebook:"     # JSON metric lines start with this
      kv: false               # also parse key=value pairs on every output line
      regex:                  # named groups become metrics; step/epoch give the step
        - 'Epoch (?P<epoch>\\d+) .* val_loss: (?P<val_loss>[-\\d.eE]+)'

``metrics``, ``gates``, ``keys`` and ``preflight`` are reserved for the gate and
compare commands and accepted as they are for now.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gatebook.errors import ConfigError

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


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ingest: IngestConfig = Field(default_factory=IngestConfig)
    metrics: Any = None
    gates: Any = None
    keys: Any = None
    preflight: Any = None
    source: str | None = Field(default=None, exclude=True)


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
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: {problem}", hint="fix the YAML syntax") from None
    if data is None:
        return ProjectConfig(source=str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the file must be a mapping of sections (ingest, metrics, gates, ...)")
    return _validate(data, path, lambda loc: _yaml_line(node, loc))


def _load_pyproject(path: Path) -> ProjectConfig:
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
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
        err = exc.errors()[0]
        loc = tuple(err.get("loc", ()))
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = line_of(loc)
        where = f"{path}:{line}" if line else str(path)
        if err.get("type") == "extra_forbidden":
            parent = loc[:-1]
            model: Any = ProjectConfig
            for part in parent:
                model = model.model_fields[str(part)].annotation if hasattr(model, "model_fields") else None
            allowed = [n for n in getattr(model, "model_fields", {}) if n != "source"]
            raise ConfigError(f"{where}: unknown field {field!r}",
                              hint=f"allowed here: {', '.join(allowed)}") from None
        raise ConfigError(f"{where}: {field}: {err.get('msg')}",
                          hint=f"got {err.get('input')!r}") from None


def _yaml_line(node: Any, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (keys and list indexes)."""
    current = node
    line = None
    for part in loc:
        if current is None:
            break
        if hasattr(current, "value") and isinstance(current.value, list) and current.value and isinstance(current.value[0], tuple):
            found = None
            for key_node, value_node in current.value:
                if str(key_node.value) == str(part):
                    found = value_node
                    line = key_node.start_mark.line + 1
                    break
            current = found
        elif hasattr(current, "value") and isinstance(current.value, list) and isinstance(part, int):
            if part < len(current.value):
                current = current.value[part]
                line = current.start_mark.line + 1
            else:
                current = None
        else:
            break
    return line
