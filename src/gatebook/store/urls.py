"""What the store knows about store URLs: their backend, their password hidden, a writable SQLite file."""

from __future__ import annotations

import os
import re
from pathlib import Path

from gatebook.errors import ConfigError, StoreError

STORE_URL_FORMS = "a path, sqlite:///PATH or postgresql://USER@HOST/DB"
SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):")
PG_BACKENDS = ("postgresql", "postgres")
# the PostgreSQL URLs users already have (SQLAlchemy's, libpq's): all go through psycopg 3
_PG_DRIVERS = ("", "psycopg", "psycopg2")
_SQLITE_DRIVERS = ("", "pysqlite")
_SQLITE_HEADER = b"SQLite format 3\x00"


def redact_store_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``, whatever characters the
    password holds and however malformed the URL: everything between the first ``:``
    after the user name and the last ``@`` goes."""
    match = SCHEME.match(url)
    head, rest = (url[:match.end()], url[match.end():]) if match else ("", url)
    at = rest.rfind("@")
    if at < 0:
        return url
    userinfo = rest[:at]
    slashes = len(userinfo) - len(userinfo.lstrip("/"))
    user, colon, _password = userinfo[slashes:].partition(":")
    if not colon:
        return url
    return f"{head}{userinfo[:slashes]}{user}:***@{rest[at + 1:]}"


def store_backend(url: str) -> str:
    """``"sqlite"`` or ``"postgresql"``: the backend of a store URL. StoreError for a
    scheme or driver gatebook cannot use (the message never shows a password)."""
    match = SCHEME.match(url.strip())
    if match is None:
        raise ConfigError(f"cannot parse the store URL {redact_store_url(url)!r}", hint=f"use {STORE_URL_FORMS}")
    scheme = match.group("scheme").lower()
    backend, _plus, driver = scheme.partition("+")
    if backend in PG_BACKENDS:
        if driver not in _PG_DRIVERS:
            raise StoreError(f"gatebook cannot use the PostgreSQL driver {driver!r} ({scheme}://)",
                             hint="it connects through psycopg 3: use postgresql://USER@HOST/DB "
                                  "(pip install 'gatebook[postgres]')")
        return "postgresql"
    if backend == "sqlite":
        if driver not in _SQLITE_DRIVERS:
            raise StoreError(f"gatebook cannot use the SQLite driver {driver!r} ({scheme}://)",
                             hint="it opens SQLite ledgers itself: use sqlite:///PATH or a plain path")
        return "sqlite"
    raise StoreError(f"unknown store scheme {scheme!r} in {redact_store_url(url.strip())!r}",
                     hint="valid schemes: sqlite, postgresql (or give a plain path)")


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
    if path.is_dir():
        raise StoreError(f"the ledger {path} is a directory", hint="give the ledger file, or point --store elsewhere")
    try:
        with open(path, "rb") as fh:
            header = fh.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot read the ledger {path}: {exc.strerror or exc}",
                         hint="check its permissions or point GATEBOOK_STORE / --store elsewhere") from None
    if header and header != _SQLITE_HEADER[:len(header)]:  # an empty file becomes a new ledger
        raise StoreError(f"{path} is not a gatebook ledger (not an SQLite database)",
                         hint="point GATEBOOK_STORE / --store at a ledger file or a new path")
