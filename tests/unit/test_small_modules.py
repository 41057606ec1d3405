"""ids, settings, project lookup, project config, the public API surface, the stop/triage/verdict helpers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import gatebook
from gatebook.errors import ConfigError, StoreError
from gatebook.ids import ID_LENGTH, looks_like_id_prefix, new_run_id


def test_public_api_is_pinned() -> None:
    assert gatebook.__all__ == ["GatebookError", "Ledger", "Run", "RunStatus", "__version__", "artifact", "current",
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


# -- gates/stop.py, gates/triage.py, render/gates.py: the library behind `stop`, `gate`, `triage` --------


def _record(**kw: object) -> object:
    from gatebook.records import RunRecord, RunStatus

    base: dict[str, object] = {"id": "r1", "name": "exp", "status": RunStatus.RUNNING, "created_at": time.time()}
    base.update(kw)
    return RunRecord(**base)  # type: ignore[arg-type]


def test_stop_never_signals_a_process_it_cannot_prove_is_the_run() -> None:
    import os
    import socket

    from gatebook.gates.stop import StopOutcome, same_process, signal_api_run, wait_gone
    from gatebook.records import RunStatus

    elsewhere = _record(host="some-other-host", pid=os.getpid())
    assert not same_process(elsewhere)
    assert signal_api_run(elsewhere, grace=0) is False  # nothing sent
    assert wait_gone(elsewhere, 0.1) is False  # another host: never seen ending
    reused = _record(host=socket.gethostname(), pid=os.getpid(), pid_start=1.0)  # this pid, a newer process
    assert not same_process(reused) and wait_gone(reused, 0.1) is True
    assert same_process(_record(host=socket.gethostname(), pid=os.getpid()))
    done = StopOutcome(_record(status=RunStatus.STOPPED, reason="enough"), signalled=False, ended=True)  # type: ignore[arg-type]
    assert done.to_dict() == {"id": "r1", "name": "exp", "status": "stopped", "reason": "enough",
                              "signalled": False, "ended": True}


def test_stop_refuses_a_run_that_is_not_running(tmp_path: Path) -> None:
    from gatebook.errors import UsageError
    from gatebook.gates.stop import stop_run
    from gatebook.records import RunStatus
    from gatebook.store import open_store

    store = open_store(f"sqlite:///{tmp_path}/ledger.db")
    store.create_run(_record(status=RunStatus.FINISHED, ended_at=time.time()))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"run exp \(r1\) is not running \(it is finished\)"):
        stop_run(store, "exp", reason=None, grace=0, wait=False)
    store.close()


def test_a_fix_is_rerun_with_its_secrets_filled_in_and_in_its_own_directory(tmp_path: Path) -> None:
    from gatebook.errors import UsageError
    from gatebook.gates.triage import rerunnable_argv

    rec = _record(command=("echo", "--token", "***"), cwd=str(tmp_path))
    assert rerunnable_argv(rec, {"GATEBOOK_SECRET_TOKEN": "s3cret"}) == ["echo", "--token", "s3cret"]  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="TOKEN"):
        rerunnable_argv(rec, {})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="no recorded command"):
        rerunnable_argv(_record(command=()), {})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="which no longer exists"):
        rerunnable_argv(_record(command=("echo",), cwd=str(tmp_path / "gone")), {})  # type: ignore[arg-type]


def test_verdict_tables_use_the_one_palette() -> None:
    import io

    from rich.console import Console

    from gatebook.gates.evaluate import CheckResult, GateResult, Tier, Verdict
    from gatebook.gates.playbook import Advice
    from gatebook.gates.spec import Fix
    from gatebook.render.gates import advice_lines, fix_lines, print_verdict
    from gatebook.render.styles import tier_style

    check = CheckResult(check="loss <= 0.5", metric="loss", observed=0.7, threshold=0.5, tier=Tier.FAIL,
                        reason="loss 0.7 > 0.5")
    verdict = Verdict(Tier.FAIL, (GateResult("smoke", Tier.FAIL, (check,)),))
    out = io.StringIO()
    print_verdict(Console(file=out, force_terminal=True, color_system="standard", highlight=False), verdict, "exp (r1)",
                  {"smoke": "base"})
    assert "gate smoke on exp (r1) vs baseline base" in out.getvalue()
    assert tier_style(Tier.FAIL) == "red" and "\x1b[31mFAIL\x1b[0m" in out.getvalue()  # render/styles.py's red
    lower, higher = Fix(name="lower lr", set={"lr": 0.01}), Fix(name="more data", set={"n": 2}, why="variance")
    advice = Advice("smoke", (), ((lower, True), (higher, False)), higher)
    assert fix_lines(advice) == ["  [tried] lower lr: lr=0.01", "  [next ] more data: n=2  (variance)"]
    assert advice_lines(advice, "exp") == ['next fix: "more data" (variance) -> gatebook triage exp --apply']
