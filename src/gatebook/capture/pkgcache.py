"""Installed-package lists of an interpreter, cached on disk and in memory.

Reading every distribution's metadata costs 0.3 s or more in a big environment (torch, ray...),
and a run records the packages of its command's interpreter, which for a Python command means
starting that interpreter to ask it. Both are done once per environment: the answer is kept with
the modification times of the directories it was read from (the interpreter's ``sys.path``), and
is used again while none of them changed -- installing, upgrading or removing a package changes
its ``site-packages`` directory, so the next run reads the metadata afresh.

An interpreter is known by the path it is invoked as and the environment that path belongs to
(the ``pyvenv.cfg`` beside it or one directory up, as Python itself looks for it), never by its
resolved symlink alone: a virtualenv's ``bin/python`` is a symlink to its base interpreter, and the
two have different packages. An entry also records the interpreter's own ``sys.prefix`` and is
used only while its stamps cover that prefix (and, for a virtualenv, while the prefix is that
virtualenv's), so an entry made for one environment is never taken for another.

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

from gatebook.files import write_atomic

_VERSION = 2
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
                             "executable": sys.executable, "prefix": sys.prefix},
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


def venv_root(executable: str) -> str | None:
    """The virtualenv that ``executable`` (a path as invoked, symlinks not resolved) belongs to:
    the directory holding ``pyvenv.cfg`` beside it or one level up, else None."""
    here = os.path.dirname(os.path.abspath(executable))
    for directory in (here, os.path.dirname(here)):
        if os.path.isfile(os.path.join(directory, "pyvenv.cfg")):
            return directory
    return None


def _key(executable: str, env: Mapping[str, str], *extra: str) -> str:
    invoked = os.path.abspath(executable)
    real = os.path.realpath(executable)
    venv = venv_root(invoked) or ""
    cfg = os.path.join(venv, "pyvenv.cfg") if venv else ""
    parts = [str(_VERSION), invoked, real, str(_stamp(real)), venv, str(_stamp(cfg)) if cfg else "", *extra]
    parts += [f"{k}={env.get(k, '')}" for k in _ENV_KEYS]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _within(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip(os.sep) + os.sep)


def _fresh(entry: dict[str, Any], venv: str | None = None) -> bool:
    """The entry's stamps are unchanged, cover its interpreter's ``sys.prefix``, and that prefix
    is the virtualenv ``venv`` when the interpreter was invoked from one."""
    stamps = entry.get("stamps")
    prefix = entry.get("prefix")
    if not isinstance(stamps, dict) or not isinstance(prefix, str) or not prefix:
        return False
    prefix = os.path.realpath(prefix)
    if venv is not None and prefix != os.path.realpath(venv):
        return False
    if not any(_within(os.path.realpath(p), prefix) for p in stamps):
        return False
    return all(_stamp(p) == s for p, s in stamps.items())


def _load(path: Path) -> dict[str, Any] | None:
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("packages"), dict) else None


def _save(path: Path, entry: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(entry))
    except OSError:
        pass


def _cached(key: str, compute: Callable[[], dict[str, Any] | None],
            environ: Mapping[str, str] | None, venv: str | None = None) -> dict[str, Any] | None:
    """The entry for ``key``: from memory, else disk, else ``compute()`` (saved when it answers)."""
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:  # trials of a sweep starting together probe once
        entry = _memory.get(key)
        if entry is not None and _fresh(entry, venv):
            return entry
        path = cache_dir(environ) / f"packages-{key}.json"
        entry = _load(path)
        if entry is None or not _fresh(entry, venv):
            entry = compute()
            if entry is None:
                return None
            if _fresh(entry, venv):  # an answer that does not describe itself is not kept
                _save(path, entry)
        _memory[key] = entry
        return entry


def _with_stamps(data: dict[str, Any], paths: list[str], prefix: str) -> dict[str, Any]:
    """``data`` with the interpreter's ``prefix`` and the stamps of ``paths`` (the prefix and
    its ``pyvenv.cfg`` included, so a venv re-created in place is read afresh)."""
    cfg = os.path.join(prefix, "pyvenv.cfg")
    stamped = [*paths, prefix] + ([cfg] if os.path.isfile(cfg) else [])
    data["prefix"] = prefix
    data["stamps"] = {p: _stamp(p) for p in dict.fromkeys(stamped)}
    return data


def interpreter_packages(executable: str, *, env: Mapping[str, str] | None = None,
                         timeout: float = 15.0,
                         cwd: str | None = None) -> tuple[dict[str, Any], dict[str, str]] | None:
    """``(python_info, packages)`` of the Python at ``executable`` (a PATH name, or a path that
    is relative to ``cwd`` when it has a slash), or None when it is not a Python that answers
    within ``timeout``."""
    import shutil

    environ = os.environ if env is None else env
    if os.sep in executable:
        path = os.path.join(cwd or os.getcwd(), executable)
    else:
        path = shutil.which(executable, path=environ.get("PATH")) or executable
    path = os.path.abspath(path)

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
            prefix = str(out["python"].pop("prefix"))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return None
        return _with_stamps(out, [os.path.realpath(path), *paths], prefix)

    entry = _cached(_key(path, environ), probe, environ, venv_root(path))
    if entry is None:
        return None
    return dict(entry["python"]), dict(entry["packages"])


def own_packages(read: Callable[[], dict[str, str]]) -> dict[str, str]:
    """The packages of the interpreter gatebook runs on; ``read()`` reads them afresh."""
    paths = [p for p in sys.path if p and os.path.isdir(p)]

    def compute() -> dict[str, Any]:
        return _with_stamps({"python": {}, "packages": read()}, [os.path.realpath(sys.executable), *paths],
                            sys.prefix)

    key = _key(sys.executable, os.environ, sys.prefix, *paths)
    entry = _cached(key, compute, None, sys.prefix if sys.prefix != sys.base_prefix else None)
    return dict(entry["packages"]) if entry is not None else read()
