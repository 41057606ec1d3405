"""The gatebook exception tree.

Every error a user can cause is a :class:`GatebookError` whose message says what is
wrong and what to do, in one line, and which carries the process exit code the CLI
uses. Foreign exceptions (SQLAlchemy, psycopg, OS errors) are translated at the
boundary where they happen, never shown raw.

::

    GatebookError                 exit 2 unless said otherwise
    ├── UsageError                bad flags or arguments
    ├── ConfigError               a malformed or missing config / project file
    ├── NotFoundError             an unknown run id, name or prefix
    │   └── AmbiguousRunError     a prefix that matches several runs
    ├── StoreError                the ledger cannot be opened, read or written
    │   └── SchemaVersionError    the ledger's schema is newer / needs a migration
    └── MissingExtraError         an optional dependency is not installed

A failed verdict or check is a *result* with exit code 1, not an exception.
"""

from __future__ import annotations


class GatebookError(Exception):
    """Base class: a message for the user and an exit code for the CLI."""

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}; {self.hint}"
        return self.message


class UsageError(GatebookError):
    """Bad command-line usage."""


class ConfigError(GatebookError):
    """A config, project or gate file is missing or malformed."""


class NotFoundError(GatebookError):
    """A run (or another named thing) does not exist."""


class AmbiguousRunError(NotFoundError):
    """A run reference matches more than one run."""


class StoreError(GatebookError):
    """The ledger cannot be opened, read or written."""


class SchemaVersionError(StoreError):
    """The ledger's schema does not match this version of gatebook."""


class AliasBusyError(GatebookError):
    """An alias kept moving while a promotion (or rollback) judged: nothing moved (exit 1, a
    refused decision rather than bad input: try again)."""

    exit_code = 1


class MissingExtraError(GatebookError):
    """An optional dependency is needed but not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package",
            hint=f"install it with: pip install 'gatebook[{extra}]'",
        )
        self.package = package
        self.extra = extra
