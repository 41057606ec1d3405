"""Preflight checks: is everything in place before a (long, costly) command starts?

The checks are the ``preflight:`` list of ``gatebook.yaml`` (see
:class:`gatebook.project_config.PreflightCheck`); this module runs them and builds the
verdict, with no CLI. Every check runs (no short circuit), in the order declared, and
gives PASS or FAIL with a one-line detail; the verdict is FAIL when any check fails.

- ``path_exists: TEMPLATE``: the path exists (file, directory, or anything else).
- ``free_disk_gb: N`` (with ``path:``, default ``.``): at least N GiB (2**30 bytes, as
  ``df -h`` counts) free for unprivileged users on the file system holding ``path``; a
  path that does not exist yet is measured at its nearest existing parent.
- ``gpu: true``: at least one NVIDIA GPU is visible (``nvidia-smi``, else NVML, as the
  provenance sees them), narrowed by ``CUDA_VISIBLE_DEVICES`` when it is set;
  ``gpu: false``: no GPU is visible (a CPU-only job kept off GPU machines).
- ``git_clean: true``: the git work tree holding the cwd has no uncommitted change to a
  tracked file (staged or not); untracked files are not looked at. Not a git repository,
  or no git, is a FAIL.
- ``command: "CMD ARGS"``: CMD run with :func:`shlex.split` (no shell), stdin closed,
  in the cwd, exits 0 within ``timeout_s`` (default 60). A non-zero exit FAILs with its
  code and the last line of its stderr (else stdout); on timeout its process group is
  killed and the check FAILs.

Templates (``path_exists``, ``path``, each word of ``command``) may hold ``{param}``
placeholders, filled from the params of the command about to run: its ``--key value`` /
``--key=value`` arguments, as typed (dashes in keys become underscores), over the values of
its ``--config`` file (dotted keys). A placeholder with no such param makes its check FAIL,
naming the param. ``{{`` and ``}}`` are literal braces. Relative paths are relative to the
current directory (the command's cwd), ``~`` is expanded.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

GIB = 2**30
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")
_GIT_TIMEOUT = 30.0
_DETAIL_MAX = 240


# -- templates ------------------------------------------------------------------------------------


class MissingParams(Exception):
    """Placeholders of a template that no param fills."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(", ".join(names))
        self.names = list(names)


def placeholders(template: str) -> list[str]:
    """The param names a template refers to, in order, each once."""
    names: list[str] = []
    for m in _PLACEHOLDER.finditer(template):
        name = m.group(1)
        if name is not None and name not in names:
            names.append(name)
    return names


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]`` (a dash in ``name``
    also matches an underscore); raises :class:`MissingParams` naming every unfilled one."""
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        text = m.group(0)
        if text in ("{{", "}}"):
            return text[0]
        name = m.group(1)
        for key in (name, name.replace("-", "_")):
            if key in values:
                return values[key]
        if name not in missing:
            missing.append(name)
        return text

    out = _PLACEHOLDER.sub(sub, template)
    if missing:
        raise MissingParams(missing)
    return out


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


# -- the checks -----------------------------------------------------------------------------------


def _resolve(path_text: str, cwd: Path) -> Path:
    path = Path(os.path.expanduser(path_text))
    return path if path.is_absolute() else cwd / path


def check_path_exists(path_text: str, cwd: Path) -> tuple[bool, str]:
    path = _resolve(path_text, cwd)
    if path.is_dir():
        return True, f"{path} exists (directory)"
    if path.exists():
        return True, f"{path} exists" + (" (file)" if path.is_file() else "")
    if path.is_symlink():
        return False, f"{path} is a broken symlink (to {os.readlink(path)})"
    return False, f"{path} does not exist"


def check_free_disk(need_gib: float, path_text: str, cwd: Path) -> tuple[bool, str]:
    path = _resolve(path_text, cwd)
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    free = shutil.disk_usage(probe).free / GIB
    where = str(probe) if probe == path else f"{probe} (nearest existing parent of {path})"
    detail = f"{free:.1f} GiB free at {where}, needs {need_gib:g} GiB"
    return free >= need_gib, detail


def visible_gpus(gpus: Sequence[Mapping[str, Any]], environ: Mapping[str, str]) -> list[Mapping[str, Any]]:
    """The GPUs a command started with ``environ`` can use: all of them, or those that
    ``CUDA_VISIBLE_DEVICES`` lists (indexes; a UUID or MIG name counts as one GPU; like CUDA,
    the list ends at the first entry that names no GPU, so ``""`` and ``-1`` hide them all)."""
    raw = environ.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return list(gpus)
    by_index = {str(g.get("index")): g for g in gpus}
    shown: list[Mapping[str, Any]] = []
    for entry in (e.strip() for e in raw.split(",")):
        if re.fullmatch(r"-?\d+", entry or "x"):
            gpu = by_index.get(str(int(entry)))
        elif entry and not entry.startswith("-"):
            gpu = next((g for g in gpus if all(g is not s for s in shown)), None)
        else:
            gpu = None
        if gpu is None:
            break
        if all(gpu is not s for s in shown):
            shown.append(gpu)
    return shown


def _gpu_list(gpus: Sequence[Mapping[str, Any]]) -> str:
    names = [f"{g.get('index')}: {g.get('name')}" for g in gpus]
    return ", ".join(names)


def check_gpu(want: bool, gpus: Sequence[Mapping[str, Any]], environ: Mapping[str, str]) -> tuple[bool, str]:
    shown = visible_gpus(gpus, environ)
    hidden = ""
    if len(shown) < len(gpus):
        hidden = f" ({len(gpus) - len(shown)} hidden by CUDA_VISIBLE_DEVICES={environ.get('CUDA_VISIBLE_DEVICES')!r})"
    if want:
        if shown:
            return True, f"{len(shown)} GPU{'s' if len(shown) != 1 else ''}: {_gpu_list(shown)}{hidden}"
        if gpus:
            return False, f"no GPU visible{hidden}"
        return False, "no GPU found (nvidia-smi missing or listing none, and no NVML)"
    if shown:
        return False, (f"gpu: false but {len(shown)} GPU{'s are' if len(shown) != 1 else ' is'} visible: "
                       f"{_gpu_list(shown)}")
    return True, f"no GPU visible{hidden}"


def _git(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(["git", "-c", "core.quotepath=off", "-c", "color.ui=never", *args], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                          timeout=_GIT_TIMEOUT, check=False)


def check_git_clean(cwd: Path) -> tuple[bool, str]:
    if shutil.which("git") is None:
        return False, "git is not installed (not on PATH)"
    try:
        top = _git(["rev-parse", "--show-toplevel"], cwd)
        if top.returncode != 0:
            return False, f"{cwd} is not in a git repository"
        root = top.stdout.strip()
        status = _git(["status", "--porcelain=v1", "--untracked-files=no"], Path(root))
    except subprocess.TimeoutExpired:
        return False, f"git did not answer within {_GIT_TIMEOUT:g} s"
    if status.returncode != 0:
        last = [ln for ln in status.stderr.splitlines() if ln.strip()]
        return False, "git status failed" + (f": {last[-1].strip()}" if last else "")
    changed = [ln[3:] for ln in status.stdout.splitlines() if len(ln) > 3]
    if not changed:
        return True, f"no uncommitted change to tracked files in {root} (untracked files not checked)"
    shown = ", ".join(changed[:5]) + (f", +{len(changed) - 5} more" if len(changed) > 5 else "")
    return False, (f"{len(changed)} tracked file{'s' if len(changed) != 1 else ''} with uncommitted changes: "
                   f"{shown} (commit or stash them)")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        try:
            proc.kill()
        except OSError:
            pass


def check_command(argv: Sequence[str], timeout: float, cwd: Path) -> tuple[bool, str]:
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except FileNotFoundError:
        return False, f"command not found: {argv[0]}"
    except PermissionError:
        return False, f"not executable: {argv[0]}"
    except OSError as exc:
        return False, f"cannot start {argv[0]}: {exc.strerror or exc}"
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a child left the group and holds the pipes
            pass
        return False, f"timed out after {timeout:g} s (killed)"
    finally:
        if proc.returncode is None:
            _kill_group(proc)
            proc.wait()
    code = proc.returncode
    if code == 0:
        return True, "exit 0"
    said = _last_line(err.decode("utf-8", "replace")) or _last_line(out.decode("utf-8", "replace"))
    if code < 0:
        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    else:
        how = f"exit {code}"
    return False, how + (f": {said}" if said else "")


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
            words = [fill(w, values) for w in shlex.split(check.command)]
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
