"""Fixtures for the framework hooks: a ledger in a temp project for in-process runs.

``KERAS_BACKEND=torch`` is set before any test imports Keras (Keras 3 reads it once, at import).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

import gatebook as gb

os.environ.setdefault("KERAS_BACKEND", "torch")


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A ledger in ``tmp_path`` (the cwd) for in-process runs; the active run is finished after."""
    u = f"sqlite:///{tmp_path}/ledger.db"
    monkeypatch.setenv("GATEBOOK_STORE", u)
    monkeypatch.setenv("GATEBOOK_QUIET", "1")
    monkeypatch.chdir(tmp_path)
    yield u
    gb.finish()
