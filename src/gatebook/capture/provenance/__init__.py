"""The provenance of a run: code version, working-tree patch, interpreter, packages, machine.

The parts live in :mod:`.git` (commit, patch), :mod:`.env` (interpreter, packages, seeds) and
:mod:`.machine` (GPUs, host); :func:`collect` puts them together.

Contract shared by every public function here: **nothing raises for environment
reasons**. No git, a directory that is not a repository, a repository without commits,
a missing ``nvidia-smi``, an unknown user id... each yields ``None`` / ``[]`` / ``{}``
for the part that cannot be known, and everything else is still returned.

Collection is meant to be cheap (a few ``git`` processes with timeouts,
``importlib.metadata`` rather than pip), and importing this module only pulls in the
standard library's light modules; heavier ones are imported inside the functions.

Secrets never leave this module in clear (the rules are in :mod:`gatebook.capture.redact`):
environment variables whose *name* looks secret are replaced by ``"***"``, passwords
embedded in URLs and the command line's secret values are masked, and git remote URLs lose
their credentials.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Collection, Mapping

from gatebook.capture.provenance.env import (
    _own_packages as _own_packages,  # capture.recorder falls back to them
)
from gatebook.capture.provenance.env import (
    interpreter_info,
    is_python_command,
    packages,
    python_info,
    seeds_from_params,
)
from gatebook.capture.provenance.git import (
    MAX_UNTRACKED_BYTES,
    MAX_UNTRACKED_FILES,
    MAX_UNTRACKED_TOTAL_BYTES,
    files_changed_between,
    git_info,
)
from gatebook.capture.provenance.git import (
    _git as _git,  # analysis.diff runs git through it
)
from gatebook.capture.provenance.machine import gpus, system_info

# the secrets part lives in gatebook.capture.redact; re-exported here for existing imports
from gatebook.capture.redact import (
    REDACTED,
    SECRET_NAME_PATTERNS,
    is_secret_name,
    redact_env,
    redact_url,
    strip_credentials,
)

__all__ = [
    "MAX_UNTRACKED_BYTES",
    "MAX_UNTRACKED_FILES",
    "MAX_UNTRACKED_TOTAL_BYTES",
    "REDACTED",
    "SECRET_NAME_PATTERNS",
    "collect",
    "files_changed_between",
    "git_info",
    "gpus",
    "interpreter_info",
    "is_python_command",
    "is_secret_name",
    "packages",
    "python_info",
    "redact_env",
    "redact_url",
    "seeds_from_params",
    "strip_credentials",
    "system_info",
]


def collect(cwd: str | Path, *, environ: Mapping[str, str] | None = None,
            include_packages: bool = True, secrets: Collection[str] = ()) -> tuple[dict[str, Any], str | None]:
    """The provenance of a run started in ``cwd``, and its working-tree patch.

    Returns ``(provenance, patch)`` where provenance is
    ``{"git": git_info(cwd) without "patch", "python", "packages", "gpus", "system", "env"}``
    (``packages`` is ``{}`` when ``include_packages`` is false; ``env`` is
    :func:`redact_env` of ``environ``, default ``os.environ``, with the values of ``secrets``, the
    command line's, masked too) and ``patch`` is the
    ``git_info`` patch or None. Never raises for environment reasons.
    """
    git = git_info(cwd)
    patch = git.pop("patch", None)
    env = os.environ if environ is None else environ
    provenance = {
        "git": git,
        "python": python_info(),
        "packages": _own_packages() if include_packages else {},
        "gpus": gpus(),
        "system": system_info(),
        "env": redact_env(env, secrets),
    }
    return provenance, patch
