"""The SQL store's plumbing: read connections, write transactions retried while the ledger is busy, errors."""

from __future__ import annotations

import random
import time
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from gatebook.errors import StoreError
from gatebook.store.base import Store
from gatebook.store.dialects import Dialect

_RETRY_SECONDS = 300.0


class SQLBase(Store):
    """What every part of :class:`gatebook.store.sql.SQLStore` stands on: its engine and dialect,
    reads, retried writes, and backend errors translated into :class:`StoreError`."""

    url: str
    dialect: Dialect
    engine: Engine
    _where: str  # the ledger as errors name it (no password)

    # -- plumbing -------------------------------------------------------------------------
    def _translate(self, exc: BaseException, doing: str) -> StoreError:
        orig = getattr(exc, "orig", None) or exc
        msg = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        if "unable to open database" in msg or "readonly" in msg or "read-only" in msg:
            hint = "check that the ledger path is writable or point GATEBOOK_STORE elsewhere"
        elif "could not connect" in msg.lower() or "connection" in msg.lower():
            hint = "check that the server is running and the store URL is right"
        else:
            hint = "check the store URL and that the ledger is not damaged"
        return StoreError(f"cannot {doing} the ledger {self._where}: {msg}", hint=hint)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except (SQLAlchemyError, OSError) as exc:
            if isinstance(exc, StoreError):  # pragma: no cover
                raise
            raise self._translate(exc, "read") from None

    def _write(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(conn, *args)`` in a write transaction, retrying lock conflicts."""

        def attempt() -> Any:
            with self.engine.connect().execution_options(gb_write=True) as conn:
                with conn.begin():
                    return fn(conn, *args)

        return self._retrying(attempt, "write to")

    def _retrying(self, attempt: Any, doing: str) -> Any:
        """``attempt()``, again (with backoff, up to ``_RETRY_SECONDS``) while the ledger is
        locked or busy; other errors are translated at once."""
        deadline = time.monotonic() + _RETRY_SECONDS
        delay = 0.01
        retryable = (OperationalError, DBAPIError, self.engine.dialect.loaded_dbapi.Error)
        while True:
            try:
                return attempt()
            except IntegrityError as exc:
                raise self._translate(exc, doing) from None
            except retryable as exc:  # the driver's own errors too: the bulk insert bypasses SQLAlchemy
                if self.dialect.is_retryable(exc) and time.monotonic() < deadline:
                    time.sleep(delay * (1 + random.random()))
                    delay = min(delay * 2, 0.5)
                    continue
                raise self._translate(exc, doing) from None
            except (SQLAlchemyError, OSError) as exc:
                raise self._translate(exc, doing) from None

    def close(self) -> None:
        self.engine.dispose()


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """``items`` in slices of ``size`` (an IN (...) list stays short on every backend)."""
    for i in range(0, len(items), size):
        yield items[i:i + size]
