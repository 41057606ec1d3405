"""The read and write commands, the project lookup, JSON schemas and bad input.

Most commands run in this process (``invoke``, the CLI's ``main`` under Click's CliRunner);
`run`, `tail -f` and one call of each other command go through a real ``gatebook`` process.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.helpers import PY, env_with, gb, gb_json, invoke, invoke_json, one_line_error, wait_for, write_script


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    assert invoke("init", cwd=root).returncode == 0
    return root


def _run(root: Path, name: str, *args: str, body: str = "print('hi')\n", code: int = 0) -> str:
    script = write_script(root, f"{name}.py", body)
    out = gb("run", "--json", "--name", name, *args, "--", PY, str(script), cwd=root)
    assert out.returncode == code, out.stderr
    return json.loads(out.stdout)["id"]


def test_init_and_walk_up_like_git(project: Path) -> None:
    assert (project / ".gatebook" / "ledger.db").exists()
    assert (project / ".gatebook" / ".gitignore").read_text().strip().endswith("*")
    sub = project / "a" / "b"
    sub.mkdir(parents=True)
    run_id = _run(sub, "deep")
    assert not (sub / ".gatebook").exists()
    assert [r["id"] for r in invoke_json("ls", cwd=project)["runs"]] == [run_id]
    info = gb_json("init", cwd=project)  # idempotent (through the real executable)
    assert info["schema_version"] >= 1


def test_read_commands_without_a_ledger_say_what_to_do(tmp_path: Path) -> None:
    err = one_line_error(gb("ls", cwd=tmp_path))
    assert "gatebook init" in err


def test_ls_filters_sort_and_limit(project: Path) -> None:
    a = _run(project, "exp-a", "--tag", "grid", "--group", "g1")
    b = _run(project, "exp-b", "--tag", "grid", "--tag", "best")
    c = _run(project, "other", body="import sys; sys.exit(1)\n", code=1)
    ids = lambda *args: [r["id"] for r in invoke_json("ls", *args, cwd=project)["runs"]]  # noqa: E731
    assert ids() == [c, b, a]
    assert ids("exp-*") == [b, a]
    assert ids("--tag", "grid", "--tag", "best") == [b]
    assert ids("--status", "failed") == [c]
    assert ids("--group", "g1") == [a]
    assert ids("--sort", "name") == [a, b, c]
    assert ids("--limit", "1") == [c]
    assert ids("--since", "1h") == [c, b, a]
    assert ids("--since", "2099-01-01") == []
    text = invoke("ls", cwd=project).stdout
    assert "exp-a" in text and "failed" in text
    row = invoke_json("ls", cwd=project)["runs"][0]
    assert set(row) >= {"id", "name", "status", "exit_code", "created_at", "ended_at", "duration", "tags",
                        "parent_id", "group", "command"}


def test_show_by_id_prefix_name_and_schema(project: Path) -> None:
    run_id = _run(project, "shown")
    doc = invoke_json("show", run_id[:8], cwd=project)
    assert doc["id"] == run_id
    for key in ("id", "name", "status", "exit_code", "command", "parent", "tags", "git", "params", "metrics",
                "summary", "env", "notes"):
        assert key in doc
    assert set(doc["git"]) >= {"commit", "branch", "dirty", "files_changed"}
    assert set(doc["env"]) >= {"python", "packages"}
    text = gb("show", "shown", cwd=project).stdout
    assert run_id in text and "finished" in text


def test_secrets_in_env_are_redacted(project: Path) -> None:
    script = write_script(project, "s.py", "pass\n")
    env = env_with(None, HF_TOKEN="hf_supersecret", MY_API_KEY="k-123", DB_PASSWORD="pw", PLAIN="visible")
    assert gb("run", "--name", "sec", "--", PY, str(script), cwd=project, env=env).returncode == 0
    doc = invoke_json("show", "sec", cwd=project)
    variables = doc["env"]["variables"]
    assert variables["HF_TOKEN"] == "***" and variables["MY_API_KEY"] == "***" and variables["DB_PASSWORD"] == "***"
    assert variables["PLAIN"] == "visible"
    raw = (project / ".gatebook" / "ledger.db").read_bytes()
    assert b"hf_supersecret" not in raw and b"k-123" not in raw


def test_log_note_tail(project: Path) -> None:
    run_id = _run(project, "target", body="for i in range(5):\n    print('line', i)\n")
    assert invoke("log", "target", "val_acc=0.91", "loss=0.3", "--step", "4", cwd=project).returncode == 0
    assert invoke("log", "target", "weird=nan", "big=inf", cwd=project).returncode == 0
    assert gb("note", "target", "retune", "limited", "to", "sep_weight", cwd=project).returncode == 0
    doc = invoke_json("show", run_id, cwd=project)
    assert doc["metrics"]["val_acc"] == {"last": 0.91, "min": 0.91, "max": 0.91, "last_step": 4, "count": 1}
    assert doc["metrics"]["weird"]["last"] == "NaN" and doc["metrics"]["big"]["last"] == "Infinity"
    assert doc["notes"][0]["text"] == "retune limited to sep_weight"
    assert "NaN" in invoke("show", "target", cwd=project).stdout
    assert invoke("tail", "target", "-n", "2", cwd=project).stdout == "line 3\nline 4\n"
    lines = invoke("tail", "target", "--json", cwd=project).stdout.splitlines()
    assert json.loads(lines[0])["stream"] == "stdout"


def test_tail_follow_stops_when_the_run_ends(project: Path) -> None:
    script = write_script(project, "slow.py",
                          "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.5)\n")
    wrapper = subprocess.Popen([PY, "-m", "gatebook", "run", "--name", "live", "--", PY, str(script)], cwd=project,
                               env=env_with(None), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: gb_json("ls", cwd=project)["runs"], 20, what="the run in the ledger")
    follow = gb("tail", "-f", "live", cwd=project, timeout=60)
    wrapper.wait(timeout=30)
    assert follow.stdout == "tick 0\ntick 1\ntick 2\n"


@pytest.mark.parametrize("args, needle", [
    (["show", "nosuchrun"], "no run matches 'nosuchrun'"),
    (["log", "nosuchrun", "a=1"], "nosuchrun"),
    (["note", "nosuchrun", "x"], "nosuchrun"),
    (["tail", "nosuchrun"], "nosuchrun"),
    (["ls", "--since", "yesterday-ish"], "--since"),
    (["ls", "--sort", "bogus"], "cannot sort by 'bogus'"),
    (["ls", "--status", "done"], "Invalid value"),
    (["show"], "Missing argument"),
    (["frobnicate"], "no command 'frobnicate'"),
    (["shwo", "x"], "did you mean `gatebook show`"),
])
def test_bad_input_is_one_line_and_exit_2(project: Path, args: list[str], needle: str) -> None:
    _run(project, "exists")
    err = one_line_error(invoke(*args, cwd=project))
    assert needle in err


def test_log_rejects_non_numbers(project: Path) -> None:
    _run(project, "r")
    err = one_line_error(gb("log", "r", "acc=high", cwd=project))
    assert "not a number" in err
    err = one_line_error(gb("log", "r", "novalue", cwd=project))
    assert "key=value" in err


def test_similar_name_is_suggested(project: Path) -> None:
    _run(project, "baseline")
    err = one_line_error(invoke("show", "baselin", cwd=project))
    assert "did you mean baseline" in err


def test_unwritable_store_is_one_line(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores permissions: use a path under a regular file instead
        (tmp_path / "file").write_text("x")
        url = f"sqlite:///{tmp_path}/file/ledger.db"
    else:  # pragma: no cover - CI runs as root
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        url = f"sqlite:///{locked}/ledger.db"
    marker = tmp_path / "ran"
    script = write_script(tmp_path, "touch.py", f"open({str(marker)!r}, 'w').close()\n")
    err = one_line_error(gb("run", "--", PY, str(script), cwd=tmp_path, store=url))
    assert "ledger" in err
    assert not marker.exists()  # the command does not start when its run cannot be recorded


def test_bad_store_urls(tmp_path: Path) -> None:
    err = one_line_error(gb("ls", cwd=tmp_path, store="mongodb://x/y"))
    assert "valid schemes: sqlite, postgresql" in err
    err = one_line_error(gb("ls", cwd=tmp_path, store="postgresql://nobody@127.0.0.1:1/none"))
    assert "cannot" in err


def test_malformed_project_file(tmp_path: Path) -> None:
    (tmp_path / "gatebook.yaml").write_text("ingest:\n  prefx: 'x:'\n")
    err = one_line_error(gb("run", "--", "true", cwd=tmp_path))
    assert "gatebook.yaml:2" in err and "prefx" in err and "allowed here: prefix, kv, regex" in err


def test_every_command_has_help_and_is_documented() -> None:
    from gatebook.cli import COMMANDS

    reference = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    for name in COMMANDS:
        proc = invoke(name, "--help")
        assert proc.returncode == 0, proc.stderr
        assert "--json" in proc.stdout, name
        assert f"gatebook {name}" in reference, f"docs/cli.md does not document `gatebook {name}`"
    assert gb("--help").returncode == 0
    assert gb("--version").stdout.strip().startswith("gatebook")


def test_commands_run_in_process_close_their_ledger(project: Path) -> None:
    """A command closes the store it opened (the dashboard and tests run commands in-process):
    twenty reads leave no open files behind, without waiting for the garbage collector."""
    import gc

    run_id = _run(project, "fd")
    gc.disable()
    try:
        invoke("ls", cwd=project)  # first use: imports and caches
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(10):
            assert invoke("ls", cwd=project).returncode == 0
            assert invoke("log", run_id, "x=1", cwd=project).returncode == 0
        after = len(os.listdir("/proc/self/fd"))
    finally:
        gc.enable()
    assert after - before <= 2, (before, after)
