"""`gatebook run --json` and `gatebook attach --json` print one document (the old key names kept as
aliases), and each command's exit code follows one rule."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.helpers import PY, env_with, gb, wait_for

EXPECTED = {"id", "name", "pid", "status", "exit_code", "duration", "reason", "metric_points", "detached",
            "warnings", "verdict", "advice", "stopped_by", "preflight", "points_from_output", "points"}


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[Any]]]:
    """Processes started by a test; whatever still runs at the end is killed (by its own pid)."""
    started: list[subprocess.Popen[Any]] = []
    yield started
    for proc in reversed(started):
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _attach(procs: list[subprocess.Popen[Any]], tmp_path: Path, ledger: str, pid: int,
            *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([PY, "-m", "gatebook", "attach", "--pid", str(pid), "--json", *args], cwd=tmp_path,
                            env=env_with(ledger), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(proc)
    return proc


def _sleeper(procs: list[subprocess.Popen[Any]], tmp_path: Path, seconds: float) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([PY, "-c", f"import time; time.sleep({seconds})"], cwd=tmp_path, start_new_session=True)
    procs.append(proc)
    return proc


def _attached_run(ledger: str, tmp_path: Path, attach: subprocess.Popen[str]) -> str:
    def found() -> str | None:
        assert attach.poll() is None, attach.communicate()
        proc = gb("ls", "--json", store=ledger, cwd=tmp_path)
        runs = json.loads(proc.stdout)["runs"] if proc.returncode == 0 else []
        return runs[0]["id"] if runs and runs[0]["status"] == "running" else None

    return wait_for(found, what="the attached run in the ledger")


def test_run_and_attach_print_the_same_keys_with_the_old_names_as_aliases(tmp_path: Path, ledger: str,
                                                                          procs: list[Any]) -> None:
    run = gb("run", "--json", "--", PY, "-c", "print('gatebook: {\"step\": 1, \"x\": 1}')", store=ledger,
             cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    run_doc = json.loads(run.stdout)
    assert set(run_doc) == EXPECTED
    assert run_doc["metric_points"] == run_doc["points_from_output"] == 1  # `run`'s old name kept
    assert run_doc["exit_code"] == 0 and run_doc["detached"] is False and run_doc["preflight"] is None

    sleeper = _sleeper(procs, tmp_path, 3)
    attach = _attach(procs, tmp_path, ledger, sleeper.pid, "--name", "adopted")
    out, err = attach.communicate(timeout=90)
    assert attach.returncode == 0, err
    attach_doc = json.loads(out)
    assert set(attach_doc) == set(run_doc)
    assert attach_doc["metric_points"] == attach_doc["points"] == 0  # `attach`'s old name kept
    assert attach_doc["exit_code"] is None and attach_doc["pid"] == sleeper.pid and attach_doc["name"] == "adopted"
    assert attach_doc["status"] == "finished" and attach_doc["detached"] is False


def test_run_exits_with_the_commands_code(tmp_path: Path, ledger: str) -> None:
    run = gb("run", "--json", "--", PY, "-c", "import sys; sys.exit(3)", store=ledger, cwd=tmp_path)
    assert run.returncode == 3
    doc = json.loads(run.stdout)
    assert doc["status"] == "failed" and doc["exit_code"] == 3 and doc["reason"] == "exit code 3"


def test_attach_detached_by_a_signal_exits_128_plus_it(tmp_path: Path, ledger: str, procs: list[Any]) -> None:
    sleeper = _sleeper(procs, tmp_path, 120)
    attach = _attach(procs, tmp_path, ledger, sleeper.pid)
    _attached_run(ledger, tmp_path, attach)
    attach.send_signal(signal.SIGINT)
    out, err = attach.communicate(timeout=60)
    assert attach.returncode == 130, err
    doc = json.loads(out)
    assert doc["detached"] is True and doc["status"] == "interrupted" and doc["exit_code"] is None
    assert sleeper.poll() is None  # detaching leaves the process running
