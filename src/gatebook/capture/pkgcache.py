"""Installed-package lists of an interpreter, cached on disk and in memory.

Reading every distribution's metadata costs 0.3 s or more in a big environment (torch, ray...),
and a run records the packages of its command's interpreter, which for a Python command means
starting that interpreter to ask it. Both are done once per environment: the answer is kept with
the modification times of the directories it was read from (the interpreter's ``sys.path``), and
is used again while none of them changed -- installing, upgrading or removing a package changes
its ``site-packages`` directory, so the next run reads the metadata afresh.

The cache lives in ``$GATEBOOK_CACHE_DIR``, else ``$XDG_CACHE_HOME/gatebook``, else
``~/.cache/gatebook`` (one small JSON file per interpreter and environment); it is only an
accelerator: when it cannot be read or written the packages are read as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

_VERSION = 1
_ENV_KEYS = ("PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONUSERBASE", "VIRTUAL_ENV")
_memory: dict[str, dict[str, Any]] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()

# Prints {"python", "packages", "paths"}; the script's own directory ('' for -c) is left out of
# the scan, so the answer depends on the interpreter and its environment, not on the cwd.
PROBE = r"""
import json, os, platform, re, sys
sys.path[:] = [p for p in sys.path if p]
from importlib import metadata
pk = {}
for d in metadata.distributions():
    try:
        n, v = d.metadata["Name"], d.version
    except Exception:
        continue
    if n and v:
        pk.setdefault(re.sub(r"[-_.]+", "-", str(n)).lower(), str(v))
print(json.dumps({"python": {"version": platform.python_version(),
                             "implementation": platform.python_implementation(),
                             "executable": sys.executable},
                  "packages": dict(sorted(pk.items())),
                  "paths": [p for p in sys.path if os.path.isdir(p)]}))
"""


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    from gatebook.settings import GATEBOOK_CACHE_DIR

    env = os.environ if environ is None else environ
    if GATEBOOK_CACHE_DIR.get(env):
        return Path(GATEBOOK_CACHE_DIR.get(env))
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gatebook"


def _stamp(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _key(executable: str, env: Mapping[str, str]) -> str:
    real = os.path.realpath(executable)
    parts = [str(_VERSION), real, str(_stamp(real))] + [f"{k}={env.get(k, '')}" for k in _ENV_KEYS]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _fresh(entry: dict[str, Any]) -> bool:
    stamps = entry.get("stamps")
    return isinstance(stamps, dict) and all(_stamp(p) == s for p, s in stamps.items())


def _load(path: Path) -> dict[str, Any] | None:
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("packages"), dict) else None


def _save(path: Path, entry: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps(entry), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def _cached(key: str, compute: Callable[[], dict[str, Any] | None],
            environ: Mapping[str, str] | None) -> dict[str, Any] | None:
    """The entry for ``key``: from memory, else disk, else ``compute()`` (saved when it answers)."""
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:  # trials of a sweep starting together probe once
        entry = _memory.get(key)
        if entry is not None and _fresh(entry):
            return entry
        path = cache_dir(environ) / f"packages-{key}.json"
        entry = _load(path)
        if entry is None or not _fresh(entry):
            entry = compute()
            if entry is None:
                return None
            _save(path, entry)
        _memory[key] = entry
        return entry


def _with_stamps(data: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    data["stamps"] = {p: _stamp(p) for p in paths}
    return data


def interpreter_packages(executable: str, *, env: Mapping[str, str] | None = None,
                         timeout: float = 15.0) -> tuple[dict[str, Any], dict[str, str]] | None:
    """``(python_info, packages)`` of the Python at ``executable`` (a PATH name or a path),
    or None when it is not a Python that answers within ``timeout``."""
    import shutil

    environ = os.environ if env is None else env
    path = shutil.which(executable, path=environ.get("PATH")) or executable

    def probe() -> dict[str, Any] | None:
        try:
            proc = subprocess.run([path, "-c", PROBE], capture_output=True, timeout=timeout,
                                  env=dict(env) if env is not None else None, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        if proc.returncode != 0:
            return None
        try:
            data = json.loads(proc.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
            out = {"python": dict(data["python"]), "packages": dict(data["packages"])}
            paths = [str(p) for p in data.get("paths") or []]
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        return _with_stamps(out, [os.path.realpath(path), *paths])

    entry = _cached(_key(path, environ), probe, environ)
    if entry is None:
        return None
    return dict(entry["python"]), dict(entry["packages"])


def own_packages(read: Callable[[], dict[str, str]]) -> dict[str, str]:
    """The packages of the interpreter gatebook runs on; ``read()`` reads them afresh."""
    paths = [p for p in sys.path if p and os.path.isdir(p)]

    def compute() -> dict[str, Any]:
        return _with_stamps({"python": {}, "packages": read()}, [os.path.realpath(sys.executable), *paths])

    key = _key(sys.executable, os.environ) + "-" + hashlib.sha256("\0".join(paths).encode()).hexdigest()[:8]
    entry = _cached(key, compute, None)
    return dict(entry["packages"]) if entry is not None else read()
