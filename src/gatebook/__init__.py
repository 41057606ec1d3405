"""gatebook: the local-first experiment ledger with gates.

Record a run from training code::

    import gatebook as gb

    run = gb.init(name="baseline", config=args)
    for epoch in range(10):
        gb.log({"loss": loss, "val_acc": acc}, step=epoch)
        if gb.should_stop():  # a gate failed or `gatebook stop` was run
            save_checkpoint()
            break
    gb.summary({"best_val_acc": best})
    gb.finish()

Read the ledger from a notebook or a script::

    from gatebook import Ledger

    Ledger().runs(last=20).to_pandas()

This module only re-exports; importing it stays cheap (the store and its database
drivers are imported by ``init()``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `from typing import ...`: importing typing costs start-up time

__version__ = "0.1.0"

__all__ = [
    "GatebookError",
    "Ledger",
    "Run",
    "RunStatus",
    "__version__",
    "artifact",
    "current",
    "finish",
    "init",
    "log",
    "note",
    "should_stop",
    "summary",
]

if TYPE_CHECKING:  # pragma: no cover
    from gatebook.api import Run, artifact, current, finish, init, log, note, should_stop, summary
    from gatebook.errors import GatebookError
    from gatebook.ledger import Ledger
    from gatebook.records import RunStatus

_LAZY = {
    "Run": "gatebook.api", "artifact": "gatebook.api", "current": "gatebook.api", "finish": "gatebook.api",
    "init": "gatebook.api", "log": "gatebook.api", "note": "gatebook.api", "summary": "gatebook.api",
    "should_stop": "gatebook.api",
    "GatebookError": "gatebook.errors", "RunStatus": "gatebook.records", "Ledger": "gatebook.ledger",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gatebook' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
