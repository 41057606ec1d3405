"""Running the project's preflight checks for a command: its templates filled, each check's result, the verdict."""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from gatebook import placeholders as grammar
from gatebook.errors import ConfigError
from gatebook.placeholders import MissingParams
from gatebook.preflight.checks import check_command, check_free_disk, check_git_clean, check_gpu, check_path_exists

_DETAIL_MAX = 240


# -- templates ------------------------------------------------------------------------------------


def _lookup(values: Mapping[str, str]) -> Callable[[str], str | None]:
    """``values[name]``, where a dash in ``name`` also matches an underscore (``--a-b`` gives ``a_b``)."""

    def get(name: str) -> str | None:
        for key in (name, name.replace("-", "_")):
            if key in values:
                return values[key]
        return None

    return get


def placeholders(template: str) -> list[str]:
    """The param names a template refers to, in order, each once (malformed braces are text)."""
    return grammar.names([grammar.parse(template, strict=False)])


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]`` (a dash in ``name``
    also matches an underscore); raises :class:`~gatebook.placeholders.MissingParams` naming
    every unfilled one. A brace that starts no ``{name}`` stays as written."""
    return grammar.fill(grammar.parse(template, strict=False), _lookup(values))


def fill_command(command: str, values: Mapping[str, str]) -> list[str]:
    """``command`` split into words (:func:`shlex.split`, no shell), each filled as :func:`fill`;
    MissingParams names every unfilled placeholder of every word."""
    return grammar.fill_words([grammar.parse(w, strict=False) for w in shlex.split(command)], _lookup(values))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def command_values(argv: Sequence[str], config_file: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """What ``{param}`` placeholders are filled with for the command ``argv``.

    The ``--key value`` / ``--key=value`` options of ``argv`` (as
    :func:`gatebook.capture.params.params_from_argv` finds them, but with the value's text
    as typed: ``--lr 1e-3`` gives ``1e-3``, a bare ``--flag`` gives ``true``) over the
    flattened params of ``config_file`` (``optim.lr``). Raises ConfigError for a bad file.
    """
    from gatebook.capture.params import argv_options, load_config_file, params_from_object

    values: dict[str, str] = {}
    if config_file is not None:
        values.update({k: _text(v) for k, v in params_from_object(load_config_file(config_file)).items()})
    values.update({key: "true" if raw is None else raw for key, raw in argv_options(argv)})
    return values


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    kind: str
    passed: bool
    detail: str
    seconds: float = 0.0

    @property
    def result(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "result": self.result, "detail": self.detail,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class PreflightReport:
    """Every check's result; the verdict is FAIL when one failed."""

    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def verdict(self) -> str:
        return "PASS" if self.ok else "FAIL"

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "ok": self.ok, "checks": [c.to_dict() for c in self.checks]}


def _short(text: str, limit: int = _DETAIL_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_name(check: Any) -> str:
    """How a check is called in the verdict: its ``name:``, else ``KIND: VALUE``."""
    if getattr(check, "name", None):
        return str(check.name)
    kind = check.kind
    value = getattr(check, kind)
    if kind == "free_disk_gb":
        return f"free_disk_gb: {value:g}" + (f" (at {check.path})" if check.path != "." else "")
    if isinstance(value, bool):
        return f"{kind}: {'true' if value else 'false'}"
    return f"{kind}: {value}"


# -- running them ---------------------------------------------------------------------------------


def _missing_detail(names: Sequence[str], argv: Sequence[str] | None) -> str:
    what = ", ".join(f"{{{n}}}" for n in names)
    opts = " ".join(f"--{n} VALUE" for n in names)
    if not argv:
        return f"no value for {what}: no command was given to take {opts} from"
    return f"no value for {what}: the command has no {opts}"


def run_check(check: Any, *, values: Mapping[str, str], cwd: Path, argv: Sequence[str] | None = None,
              gpus: Callable[[], Sequence[Mapping[str, Any]]] | None = None,
              environ: Mapping[str, str] | None = None) -> CheckResult:
    """Run one :class:`~gatebook.project_config.PreflightCheck`."""
    kind = check.kind
    name = check_name(check)
    started = time.monotonic()
    try:
        if kind == "path_exists":
            passed, detail = check_path_exists(fill(check.path_exists, values), cwd)
        elif kind == "free_disk_gb":
            passed, detail = check_free_disk(check.free_disk_gb, fill(check.path, values), cwd)
        elif kind == "gpu":
            if gpus is None:
                from gatebook.capture.provenance import gpus as gpus_fn

                gpus = gpus_fn
            passed, detail = check_gpu(bool(check.gpu), gpus(), os.environ if environ is None else environ)
        elif kind == "git_clean":
            passed, detail = check_git_clean(cwd)
        elif kind == "command":
            words = fill_command(check.command, values)
            passed, detail = check_command(words, check.timeout_s, cwd)
        else:  # pragma: no cover - the config model knows every kind
            passed, detail = False, f"unknown check kind {kind!r}"
    except MissingParams as exc:
        passed, detail = False, _missing_detail(exc.names, argv)
    except OSError as exc:
        passed, detail = False, f"cannot check: {exc.strerror or exc}"
    return CheckResult(name, kind, passed, _short(detail), time.monotonic() - started)


def run_preflight(checks: Iterable[Any], *, argv: Sequence[str] | None = None,
                  config_file: str | os.PathLike[str] | None = None, cwd: Path | None = None,
                  gpus: Callable[[], Sequence[Mapping[str, Any]]] | None = None,
                  environ: Mapping[str, str] | None = None) -> PreflightReport:
    """Run every check, in order, for the command ``argv`` (None: no command) in ``cwd``.

    GPUs are listed at most once, and only when a ``gpu`` check is declared.
    """
    here = Path.cwd() if cwd is None else Path(cwd)
    values = command_values(argv or [""], config_file)
    listed: list[Sequence[Mapping[str, Any]]] = []

    def gpus_once() -> Sequence[Mapping[str, Any]]:
        if not listed:
            if gpus is not None:
                listed.append(gpus())
            else:
                from gatebook.capture.provenance import gpus as gpus_fn

                listed.append(gpus_fn())
        return listed[0]

    return PreflightReport(tuple(run_check(c, values=values, cwd=here, argv=argv, gpus=gpus_once, environ=environ)
                                 for c in checks))


# -- the project's checks -------------------------------------------------------------------------


def load_checks() -> tuple[list[Any], str | None]:
    """The project's ``preflight:`` checks and the file they come from.

    The project is found as for every command (``GATEBOOK_DIR``, else walking up from the
    cwd to a ``.gatebook/`` or ``gatebook.yaml``); no ledger is needed. Raises ConfigError
    (exit 2) when there is no check to run or the config is malformed.
    """
    from gatebook import project
    from gatebook.project_config import load_project_config
    from gatebook.settings import GATEBOOK_DIR

    start = Path(GATEBOOK_DIR.get()) if GATEBOOK_DIR.get() else None
    root = project.find_root(start)
    pconf = load_project_config(root)
    if not pconf.preflight:
        where = f"{pconf.source} has no preflight: section" if pconf.source else \
            "no gatebook.yaml here or in any parent directory"
        raise ConfigError(f"no preflight checks to run: {where}",
                          hint='add e.g. `preflight: [{git_clean: true}, {free_disk_gb: 20}]` to gatebook.yaml')
    return list(pconf.preflight), pconf.source


def check_command_line(argv: Sequence[str] | None,
                       config_file: str | None = None) -> tuple[PreflightReport, str | None]:
    """Run the project's checks for ``argv`` (None: no command) in the cwd: (report, source)."""
    checks, source = load_checks()
    return run_preflight(checks, argv=list(argv) if argv else None, config_file=config_file), source


def report_doc(report: PreflightReport, argv: Sequence[str] | None, source: str | None) -> dict[str, Any]:
    """The ``preflight --json`` document (and ``run --preflight --json``'s ``preflight``):
    the report's verdict and checks, the command, the cwd and the config file."""
    doc = report.to_dict()
    doc.update(command=list(argv) if argv else None, cwd=os.getcwd(), source=source)
    return doc
