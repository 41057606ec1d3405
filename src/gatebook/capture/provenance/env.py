"""The interpreter and its packages, and the random seeds a run was given (params, PYTHONHASHSEED)."""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Mapping, Sequence


def python_info() -> dict[str, Any]:
    """``{"version", "implementation", "executable"}`` of the running interpreter."""
    import platform

    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
    }


def _normalise_name(name: str) -> str:
    """A distribution name in PEP 503 normal form: lower case, runs of ``-_.`` as ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def packages() -> dict[str, str]:
    """Installed distributions as ``{normalised name: version}``, sorted by name.

    Uses ``importlib.metadata``; when a name is installed twice the first one on
    ``sys.path`` (the one ``import`` finds) wins. Broken metadata is skipped.
    """
    try:
        from importlib import metadata
    except Exception:  # noqa: BLE001 # pragma: no cover
        return {}
    found: dict[str, str] = {}
    try:
        dists = list(metadata.distributions())
    except Exception:  # noqa: BLE001
        return {}
    for dist in dists:
        try:
            name = dist.metadata["Name"]
            version = dist.version
        except Exception:  # noqa: BLE001
            continue
        if not name or version is None:
            continue
        found.setdefault(_normalise_name(str(name)), str(version))
    return dict(sorted(found.items()))


def interpreter_info(executable: str, *, env: Mapping[str, str] | None = None, timeout: float = 15.0,
                     cwd: str | None = None) -> tuple[dict[str, Any], dict[str, str]] | None:
    """``(python_info, packages)`` of another Python interpreter (the wrapped command's),
    or None when ``executable`` is not a Python that answers within ``timeout``. Cached
    while its environment is unchanged (:mod:`gatebook.capture.pkgcache`)."""
    from gatebook.capture.pkgcache import interpreter_packages

    return interpreter_packages(executable, env=env, timeout=timeout, cwd=cwd)


def is_python_command(argv: Sequence[str]) -> bool:
    """Whether a command is run by a Python interpreter (``python``, ``python3.11``...)."""
    if not argv:
        return False
    return re.fullmatch(r"python(\d+(\.\d+)?)?", os.path.basename(argv[0])) is not None


def _is_seed_key(key: str) -> bool:
    last = key.rsplit(".", 1)[-1].lower()
    return last == "seed" or last.endswith("_seed") or last.startswith("seed_")


def seeds_from_params(params: Mapping[str, object],
                      environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The random seeds among ``params`` plus ``PYTHONHASHSEED`` when it is set.

    A param is a seed when the last component of its dotted key, lower-cased, is
    ``seed``, ends with ``_seed`` or starts with ``seed_`` (nested mappings are flattened
    first). ``environ`` defaults to ``os.environ``; ``PYTHONHASHSEED`` is reported under
    that name.
    """
    from gatebook.serialize import flatten

    env = os.environ if environ is None else environ
    try:
        flat = flatten(params)
    except Exception:  # noqa: BLE001 - odd mappings: look at the top level only
        flat = dict(params)
    seeds: dict[str, Any] = {str(k): v for k, v in flat.items() if _is_seed_key(str(k))}
    hash_seed = env.get("PYTHONHASHSEED")
    if hash_seed is not None:
        seeds["PYTHONHASHSEED"] = hash_seed
    return seeds


def _own_packages() -> dict[str, str]:
    from gatebook.capture.pkgcache import own_packages

    return own_packages(packages)
