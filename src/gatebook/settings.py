"""Configuration in one place.

Every ``GATEBOOK_*`` environment variable is declared here once, with its type, default
and meaning. :func:`load_settings` resolves flag > environment > project file > default
and returns a frozen :class:`Settings`. Nothing here runs at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Generic, Mapping, Sequence, TypeVar

from gatebook.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class EnvVar(Generic[T]):
    name: str
    parse: Callable[[str], T]
    default: T
    doc: str

    def get(self, environ: Mapping[str, str] | None = None) -> T:
        env = os.environ if environ is None else environ
        raw = env.get(self.name)
        if raw is None or raw == "":
            return self.default
        try:
            return self.parse(raw)
        except ValueError:
            raise ConfigError(
                f"{self.name}={raw!r} is not valid",
                hint=f"expected {self.parse.__name__}: {self.doc}",
            ) from None


def _str(raw: str) -> str:
    return raw


def _float(raw: str) -> float:
    return float(raw)


def _bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


_bool.__name__ = "bool (1/0, true/false)"

_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1000, "m": 1 << 20, "mib": 1 << 20,
               "mb": 1000 ** 2, "g": 1 << 30, "gib": 1 << 30, "gb": 1000 ** 3}


def parse_size(raw: str | int) -> int:
    """A size in bytes: ``8388608``, ``64KiB``, ``8 MiB``, ``20MB`` (KB/MB/GB are powers of 1000;
    KiB/MiB/GiB and bare K/M/G powers of 1024). ``0`` is allowed (it means no limit where a
    limit is asked for). ValueError otherwise."""
    import re

    if isinstance(raw, bool):
        raise ValueError(raw)
    if isinstance(raw, int):
        if raw < 0:
            raise ValueError(raw)
        return raw
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", raw)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _SIZE_UNITS:
        raise ValueError(raw)
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


parse_size.__name__ = "size (bytes, or 64KiB, 8MiB, 20MB; 0: no limit)"

DEFAULT_OUTPUT_LIMIT = 8 << 20
"""Bytes of output stored per run when neither GATEBOOK_OUTPUT_LIMIT nor output.limit says."""

GATEBOOK_STORE = EnvVar(
    "GATEBOOK_STORE", _str, "",
    "store URL: a path or sqlite:///PATH for the embedded ledger, postgresql://... for a shared one",
)
GATEBOOK_DIR = EnvVar(
    "GATEBOOK_DIR", _str, "",
    "the project directory holding .gatebook/ (default: found by walking up from the cwd)",
)
GATEBOOK_RUN_ID = EnvVar(
    "GATEBOOK_RUN_ID", _str, "",
    "set by `gatebook run` for its child: gb.init() attaches to this run",
)
GATEBOOK_FLUSH_INTERVAL = EnvVar(
    "GATEBOOK_FLUSH_INTERVAL", _float, 0.2,
    "seconds between background flushes of logged points (bounds what a SIGKILL can lose)",
)
GATEBOOK_HEARTBEAT = EnvVar(
    "GATEBOOK_HEARTBEAT", _float, 5.0,
    "seconds between heartbeats of a live run",
)
GATEBOOK_LOST_AFTER = EnvVar(
    "GATEBOOK_LOST_AFTER", _float, 60.0,
    "a running run on another host whose heartbeat is older than this many seconds is lost",
)
GATEBOOK_QUIET = EnvVar(
    "GATEBOOK_QUIET", _bool, False,
    "silence gatebook's own informational lines on stderr",
)
GATEBOOK_MODE = EnvVar(
    "GATEBOOK_MODE", _str, "online",
    "'online' records; 'disabled' makes every API call a no-op (for tests of training code)",
)
GATEBOOK_CACHE_DIR = EnvVar(
    "GATEBOOK_CACHE_DIR", _str, "",
    "where package lists of interpreters are cached (default $XDG_CACHE_HOME/gatebook or ~/.cache/gatebook)",
)
GATEBOOK_OUTPUT_LIMIT: EnvVar[int | None] = EnvVar(
    "GATEBOOK_OUTPUT_LIMIT", parse_size, None,
    "bytes of a run's output kept in the ledger (its start and its end; 0: all); "
    "overrides output.limit of gatebook.yaml (default 8 MiB)",
)

GATEBOOK_NAME = EnvVar(
    "GATEBOOK_NAME", _str, "",
    "the name of a run the Python API starts when gb.init() is not given one (e.g. $SLURM_JOB_NAME)",
)
GATEBOOK_TAGS = EnvVar(
    "GATEBOOK_TAGS", _str, "",
    "tags, comma-separated, added to a run the Python API starts (besides gb.init(tags=...))",
)
GATEBOOK_GROUP = EnvVar(
    "GATEBOOK_GROUP", _str, "",
    "the group of a run the Python API starts when gb.init() is not given one (e.g. $SLURM_ARRAY_JOB_ID)",
)
GATEBOOK_PARENT = EnvVar(
    "GATEBOOK_PARENT", _str, "",
    "the parent (id, id prefix, name or @alias) of a run the Python API starts when gb.init() is not given one",
)

ALL_ENV_VARS: tuple[EnvVar, ...] = (
    GATEBOOK_STORE,
    GATEBOOK_DIR,
    GATEBOOK_RUN_ID,
    GATEBOOK_FLUSH_INTERVAL,
    GATEBOOK_HEARTBEAT,
    GATEBOOK_LOST_AFTER,
    GATEBOOK_QUIET,
    GATEBOOK_MODE,
    GATEBOOK_CACHE_DIR,
    GATEBOOK_OUTPUT_LIMIT,
    GATEBOOK_NAME,
    GATEBOOK_TAGS,
    GATEBOOK_GROUP,
    GATEBOOK_PARENT,
)


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one process."""

    store_url: str
    flush_interval: float
    heartbeat: float
    lost_after: float
    quiet: bool
    mode: str


def load_settings(
    *,
    store: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings: explicit argument > ``GATEBOOK_*`` environment > default.

    ``store_url`` is left empty when neither a flag nor the environment names a store;
    :func:`gatebook.project.default_store_url` then finds the project's ledger.
    """
    mode = GATEBOOK_MODE.get(environ)
    if mode not in ("online", "disabled"):
        raise ConfigError(f"GATEBOOK_MODE={mode!r} is not valid", hint="use 'online' or 'disabled'")
    return Settings(
        store_url=store or GATEBOOK_STORE.get(environ),
        flush_interval=max(0.01, GATEBOOK_FLUSH_INTERVAL.get(environ)),
        heartbeat=max(0.5, GATEBOOK_HEARTBEAT.get(environ)),
        lost_after=max(1.0, GATEBOOK_LOST_AFTER.get(environ)),
        quiet=GATEBOOK_QUIET.get(environ),
        mode=mode,
    )


Identity = tuple["str | None", "tuple[str, ...]", "str | None", "str | None"]


def run_identity(name: str | None, tags: Sequence[str], group: str | None, parent: str | None,
                 environ: Mapping[str, str] | None = None) -> Identity:
    """A new API run's name, tags, group and parent: what gb.init() was given, else
    GATEBOOK_NAME / GATEBOOK_GROUP / GATEBOOK_PARENT; GATEBOOK_TAGS (comma-separated) are added to
    the tags given. Lets a scheduler name runs from outside (a Slurm array:
    ``GATEBOOK_GROUP=$SLURM_ARRAY_JOB_ID``)."""
    extra = [t.strip() for t in GATEBOOK_TAGS.get(environ).split(",") if t.strip()]
    return (name or GATEBOOK_NAME.get(environ) or None, tuple(dict.fromkeys([*tags, *extra])),
            group or GATEBOOK_GROUP.get(environ) or None, parent or GATEBOOK_PARENT.get(environ) or None)


def output_limit(configured: int | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Bytes of a run's output to store: GATEBOOK_OUTPUT_LIMIT > ``configured`` (output.limit
    of the project file) > :data:`DEFAULT_OUTPUT_LIMIT`; 0 means no limit."""
    env = GATEBOOK_OUTPUT_LIMIT.get(environ)
    if env is not None:
        return env
    return DEFAULT_OUTPUT_LIMIT if configured is None else configured
