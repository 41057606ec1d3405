"""gatebook.files.write_atomic: whole or nothing, the target's mode kept, nothing left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gatebook.files import write_atomic


def test_writes_text_and_bytes_and_keeps_the_target_mode(tmp_path: Path) -> None:
    target = tmp_path / "CHANGELOG.md"
    write_atomic(target, "a\n")
    assert target.read_text() == "a\n"
    os.chmod(target, 0o600)
    write_atomic(target, b"b\n")
    assert target.read_bytes() == b"b\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CHANGELOG.md"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "\ud800")  # a lone surrogate cannot be encoded: fails mid-write
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_an_unwritable_place_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_atomic(tmp_path / "missing" / "x.md", "x")
