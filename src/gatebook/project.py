"""Find the project and its ledger.

The project root is the nearest directory, walking up from the cwd like git does, that
holds a ``.gatebook/`` directory or a ``gatebook.yaml``. The embedded ledger is
``ROOT/.gatebook/ledger.db``.
``GATEBOOK_STORE`` (or ``--store``) overrides it with any store URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gatebook.errors import ConfigError, StoreError

LEDGER_DIR = ".gatebook"
LEDGER_FILE = "ledger.db"
PROJECT_FILES = ("gatebook.yaml", "gatebook.yml")


@dataclass(frozen=True)
class Project:
    root: Path | None
    store_url: str

    @property
    def ledger_dir(self) -> Path | None:
        return self.root / LEDGER_DIR if self.root else None


def find_root(start: Path | None = None) -> Path | None:
    """The nearest ancestor of ``start`` (default: cwd) holding ``.gatebook/`` or ``gatebook.yaml``."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / LEDGER_DIR).is_dir() or any((d / f).is_file() for f in PROJECT_FILES):
            return d
    return None


def natural_root(start: Path | None = None) -> Path:
    """Where a new ledger goes when none exists: the nearest directory with a project
    file (gatebook.yaml, pyproject.toml) or a git repository, else ``start`` itself."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if any((d / f).exists() for f in (*PROJECT_FILES, "pyproject.toml", ".git")):
            return d
    return here


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def normalize_store_url(raw: str) -> str:
    """A store URL from what a user typed: a URL passes through; a path becomes sqlite.

    A directory path means the ledger file inside it.
    """
    raw = raw.strip()
    if "://" in raw:
        if raw.startswith("sqlite://") and not raw.startswith("sqlite:///"):
            raise ConfigError(f"store URL {raw!r} is not valid", hint="use sqlite:///ABSOLUTE/PATH or a plain path")
        if raw.startswith("sqlite:///"):
            path = Path(raw[len("sqlite:///"):])
            if not path.is_absolute():
                path = Path.cwd() / path
            return sqlite_url(path.resolve())
        return raw
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    if path.is_dir() or raw.endswith(("/", LEDGER_DIR)):
        path = path / LEDGER_FILE
    return sqlite_url(path.resolve())


def locate(store: str | None = None, *, create: bool = False, start: Path | None = None) -> Project:
    """The project and store URL to use.

    ``store`` (a flag) wins, then ``GATEBOOK_STORE``, then the ``.gatebook/`` found by
    walking up. With ``create`` (recording commands and the API), a missing ledger is
    created at :func:`natural_root`; otherwise a missing one raises StoreError.
    """
    from gatebook.settings import GATEBOOK_DIR, GATEBOOK_STORE

    explicit = store or GATEBOOK_STORE.get()
    base = Path(GATEBOOK_DIR.get()) if GATEBOOK_DIR.get() else start
    root = find_root(base)
    if explicit:
        return Project(root=root, store_url=normalize_store_url(explicit))
    if root is None or not (root / LEDGER_DIR).is_dir():
        if not create:
            raise StoreError(
                "no gatebook ledger here (no .gatebook/ in this directory or any parent)",
                hint="run `gatebook init` at your project root, or set GATEBOOK_STORE",
            )
        root = init_project(root or natural_root(base))
    return Project(root=root, store_url=sqlite_url(root / LEDGER_DIR / LEDGER_FILE))


def check_sqlite_writable(path: Path) -> None:
    """Create the ledger's directory and check the ledger can be written (no SQLAlchemy needed)."""
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the ledger directory {parent}: {exc.strerror or exc}",
            hint="check its permissions or point GATEBOOK_STORE / --store elsewhere",
        ) from None
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise StoreError(
            f"the ledger {path} is not writable",
            hint="check its permissions or point GATEBOOK_STORE / --store elsewhere",
        )


def init_project(root: Path) -> Path:
    """Create ``ROOT/.gatebook/`` (with a .gitignore) and return ROOT."""
    ledger = root / LEDGER_DIR
    try:
        ledger.mkdir(parents=True, exist_ok=True)
        ignore = ledger / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# gatebook's ledger: keep it out of git\n*\n")
    except OSError as exc:
        raise StoreError(f"cannot create {ledger}: {exc.strerror or exc}",
                         hint="check the directory's permissions") from None
    return root


def env_for_child(store_url: str, run_id: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a wrapped command gets: attach to ``run_id`` in ``store_url``."""
    env = dict(os.environ if base is None else base)
    env["GATEBOOK_STORE"] = store_url
    env["GATEBOOK_RUN_ID"] = run_id
    env["PYTHONUNBUFFERED"] = "1"
    return env
