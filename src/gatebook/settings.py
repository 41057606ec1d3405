"""Configuration in one place.

Every ``GATEBOOK_*`` environment variable is declared here once, with its type, default
and meaning. :func:`load_settings` resolves flag > environment > project file > default
and returns a frozen :class:`Settings`. Nothing here runs at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Generic, Mapping, TypeVar

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
