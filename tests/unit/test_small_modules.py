"""ids, settings, project lookup, project config, the public API surface."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import gatebook
from gatebook.errors import ConfigError, StoreError
from gatebook.ids import ID_LENGTH, looks_like_id_prefix, new_run_id


def test_public_api_is_pinned() -> None:
    assert gatebook.__all__ == ["GatebookError", "Run", "RunStatus", "__version__", "artifact", "current",
                                "finish", "init", "log", "note", "should_stop", "summary"]
    for name in gatebook.__all__:
        assert getattr(gatebook, name) is not None


def test_import_gatebook_does_not_import_the_database_layer() -> None:
    import subprocess
    import sys

    code = "import sys, gatebook; print(any(m.startswith(('sqlalchemy', 'rich', 'click')) for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_ids_are_short_sortable_and_typable() -> None:
    ids = [new_run_id(1_700_000_000 + i * 0.001) for i in range(200)]  # Nov 2023, one per ms
    assert all(len(i) == ID_LENGTH and looks_like_id_prefix(i) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 200
    assert not any(c in "".join(ids) for c in "ilou")
    assert new_run_id(time.time()) > ids[-1]  # later times sort later
    assert new_run_id(1_600_000_000) < ids[0]
    assert not looks_like_id_prefix("base-line")


def test_settings_validate_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from gatebook.settings import load_settings

    monkeypatch.setenv("GATEBOOK_FLUSH_INTERVAL", "soon")
    with pytest.raises(ConfigError, match="GATEBOOK_FLUSH_INTERVAL"):
        load_settings()
    monkeypatch.setenv("GATEBOOK_FLUSH_INTERVAL", "0.5")
    monkeypatch.setenv("GATEBOOK_MODE", "offline")
    with pytest.raises(ConfigError, match="GATEBOOK_MODE"):
        load_settings()


def test_project_lookup(tmp_path: Path) -> None:
    from gatebook import project

    with pytest.raises(StoreError, match="gatebook init"):
        project.locate(start=tmp_path)
    (tmp_path / ".git").mkdir()
    sub = tmp_path / "src" / "pkg"
    sub.mkdir(parents=True)
    proj = project.locate(start=sub, create=True)
    assert proj.root == tmp_path.resolve()  # the natural root: the git repository
    assert proj.store_url == f"sqlite:///{tmp_path.resolve()}/.gatebook/ledger.db"
    assert project.find_root(sub) == tmp_path.resolve()
    assert project.normalize_store_url(str(tmp_path)) == f"sqlite:///{tmp_path.resolve()}/ledger.db"
    assert project.normalize_store_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_project_config_errors_name_file_line_and_field(tmp_path: Path) -> None:
    from gatebook.project_config import load_project_config

    (tmp_path / "gatebook.yaml").write_text("ingest:\n  kv: maybe\n")
    with pytest.raises(ConfigError, match=r"gatebook.yaml:2: ingest.kv"):
        load_project_config(tmp_path)
    (tmp_path / "gatebook.yaml").write_text("ingest:\n  regex: ['(?P<x>[']\n")
    with pytest.raises(ConfigError, match="not valid"):
        load_project_config(tmp_path)
    (tmp_path / "gatebook.yaml").write_text("ingset: {}\n")
    with pytest.raises(ConfigError, match="unknown field 'ingset'"):
        load_project_config(tmp_path)
    (tmp_path / "gatebook.yaml").write_text("ingest: [1\n")
    with pytest.raises(ConfigError, match="gatebook.yaml:"):
        load_project_config(tmp_path)
    (tmp_path / "gatebook.yaml").unlink()
    (tmp_path / "pyproject.toml").write_text("[tool.gatebook.ingest]\nkv = true\n")
    assert load_project_config(tmp_path).ingest.kv is True


def test_tail_last_lines_counts_newlines_across_chunks() -> None:
    from gatebook.cli.read import _last_lines

    pieces = ["line", " ", "0", "\n", "line 1\nline 2\n", "line", " ", "3", "\n"]
    chunks = [(i, 0.0, "stdout", d) for i, d in enumerate(pieces)]
    text = lambda n: "".join(c[3] for c in _last_lines(chunks, n))  # noqa: E731
    assert text(1) == "line 3\n"
    assert text(2) == "line 2\nline 3\n"
    assert text(10) == "line 0\nline 1\nline 2\nline 3\n"
