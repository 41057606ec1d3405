"""Ledger storage: :func:`open_store` picks the backend from the store URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from gatebook.store.base import Store


def open_store(url: str, *, migrate: bool | None = None) -> "Store":
    """Open (creating or upgrading when allowed) the ledger at ``url``.

    ``url`` is ``sqlite:///PATH`` or ``postgresql://...``. ``migrate`` None means: create
    a missing schema always; upgrade an older SQLite ledger automatically; ask for
    ``gatebook migrate`` before upgrading a shared PostgreSQL ledger.
    """
    from gatebook.store.sql import SQLStore

    return SQLStore(url, migrate=migrate)
