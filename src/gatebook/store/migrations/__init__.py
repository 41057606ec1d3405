"""Versioned schema migrations.

Each module ``vNNNN_*.py`` defines ``VERSION`` (an int, one more than the previous),
``DESCRIPTION`` and ``upgrade(conn)``, which receives a SQLAlchemy Connection inside a
transaction. Migrations define their own Table snapshots, so they keep working after
``schema.py`` moves on. Old ledgers are upgraded one step at a time.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def all_migrations() -> list[ModuleType]:
    """Every migration module, ordered by version; versions are checked to be 1..N."""
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("v") and info.name[1:5].isdigit():
            mods.append(importlib.import_module(f"{__name__}.{info.name}"))
    mods.sort(key=lambda m: m.VERSION)
    for expected, mod in enumerate(mods, start=1):
        if mod.VERSION != expected:  # pragma: no cover - a packaging mistake
            raise RuntimeError(f"migration {mod.__name__} has VERSION {mod.VERSION}, expected {expected}")
    return mods
