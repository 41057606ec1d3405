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
from gatebook.store.urls import PG_BACKENDS, SCHEME, STORE_URL_FORMS, redact_store_url, store_backend

# the wrapper checks a new SQLite ledger through this module

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


def _is_url(text: str) -> bool:
    match = SCHEME.match(text)
    if match is None:
        return "://" in text
    backend = match.group("scheme").lower().partition("+")[0]
    return "://" in text or backend in ("sqlite", *PG_BACKENDS)


def normalize_store_url(raw: str) -> str:
    """The one place a store URL from a user (``--store``, ``GATEBOOK_STORE``) is made canonical.

    * a plain path is an SQLite ledger (a directory means the ledger file inside it);
    * ``sqlite:///PATH`` (also ``sqlite+pysqlite://``) becomes ``sqlite:///ABSOLUTE/PATH``
      (a relative PATH is from the cwd); one that names a directory is an error;
    * ``postgresql://``, ``postgres://``, ``postgresql+psycopg://`` and
      ``postgresql+psycopg2://`` become ``postgresql://`` (gatebook uses psycopg 3 for all);
    * another scheme or driver is an error naming the form to use.

    Errors are ConfigError / StoreError (one line, exit 2) and never show a password.
    """
    text = raw.strip()
    if not text:
        raise ConfigError("the store URL is empty", hint=f"give {STORE_URL_FORMS}")
    if not _is_url(text):
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        if path.is_dir() or text.endswith(("/", LEDGER_DIR)):
            path = path / LEDGER_FILE
        if path.is_dir():
            raise ConfigError(f"the store path {path} is a directory",
                              hint=f"give the ledger file, or {STORE_URL_FORMS}")
        return sqlite_url(path.resolve())
    backend = store_backend(text)
    match = SCHEME.match(text)
    assert match is not None  # store_backend checked it
    rest = text[match.end():]  # after "scheme:"
    shown = redact_store_url(text)
    if backend == "postgresql":
        if not rest.startswith("//"):
            raise ConfigError(f"store URL {shown!r} is not valid", hint="use postgresql://USER[:PASSWORD]@HOST[:PORT]/DB")
        # a password with an '@' in it, not percent-encoded: the host is after the last '@'
        # (otherwise a piece of the password would be taken for the host, and shown in errors)
        end = rest.find("?") if "?" in rest else len(rest)
        at = rest.rfind("@", 0, end)
        if at > 0 and "@" in rest[:at]:
            rest = rest[:at].replace("@", "%40") + rest[at:]
        return "postgresql:" + rest
    if not rest.startswith("///"):
        raise ConfigError(f"store URL {shown!r} is not valid",
                          hint="use sqlite:////ABSOLUTE/PATH, sqlite:///RELATIVE/PATH or a plain path")
    name = rest[3:]
    if not name or name == ":memory:":
        raise ConfigError(f"store URL {shown!r} names no ledger file",
                          hint="use sqlite:////ABSOLUTE/PATH, sqlite:///RELATIVE/PATH or a plain path")
    path = Path(name)
    if not path.is_absolute():
        path = Path.cwd() / path
    if path.is_dir():
        raise ConfigError(f"store URL {shown!r} names the directory {path}, not a ledger file",
                          hint=f"use sqlite:///{path / LEDGER_FILE} (or the plain path {path})")
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


def locate_for_reading(store: str | None = None, *, start: Path | None = None) -> Project:
    """:func:`locate` for readers (commands, the read API): the ledger must exist already; a
    SQLite file that is not there is a StoreError saying how to make one (opening it would
    create an empty ledger)."""
    proj = locate(store, create=False, start=start)
    if proj.store_url.startswith("sqlite:///"):
        path = Path(proj.store_url[len("sqlite:///"):])
        if not path.exists():
            raise StoreError(f"no ledger at {path}", hint="run `gatebook init` or record a run first")
    return proj


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
