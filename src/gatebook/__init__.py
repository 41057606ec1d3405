"""gatebook: the local-first experiment ledger with gates.

Record a run from training code::

    import gatebook as gb

    run = gb.init(name="baseline", config=args)
    for epoch in range(10):
        gb.log({"loss": loss, "val_acc": acc}, step=epoch)
    gb.summary({"best_val_acc": best})
    gb.finish()

This module only re-exports; importing it stays cheap (the store and its database
drivers are imported by ``init()``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "GatebookError",
    "Run",
    "RunStatus",
    "__version__",
    "artifact",
    "current",
    "finish",
    "init",
    "log",
    "note",
    "summary",
]

from gatebook.errors import GatebookError
from gatebook.records import RunStatus

if TYPE_CHECKING:  # pragma: no cover
    from gatebook.api import Run, artifact, current, finish, init, log, note, summary

_LAZY = {"Run", "artifact", "current", "finish", "init", "log", "note", "summary"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from gatebook import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gatebook' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
