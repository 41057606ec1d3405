"""The preflight check functions (path, disk, GPU, git, command): each gives ``(passed, one-line detail)``."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any, Mapping, Sequence

GIB = 2**30
_GIT_TIMEOUT = 30.0


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
