"""`gatebook attach`: adopt a real process started without gatebook, follow it, judge, stop.

Each test starts a real training script in its own session (as a user would in another
terminal), then `gatebook attach --pid` in another subprocess. The script waits for a
`go` file before its first epoch, created once the run is in the ledger, so a slow start
of gatebook on a loaded machine never lets the training end before it is adopted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.helpers import PY, env_with, gb, gb_json, one_line_error, wait_for, write_script

TRAIN = """\
import json, os, sys, time
epochs = int(sys.argv[1])
deadline = time.time() + 120
while not os.path.exists("go") and time.time() < deadline:
    time.sleep(0.05)
history = []
with open("train.log", "a") as log:
    for epoch in range(1, epochs + 1):
        time.sleep(0.3)
        val_acc = round(0.1 * epoch, 3)
        history.append({"epoch": epoch, "loss": round(1.0 / epoch, 4), "val_acc": val_acc})
        with open("history.json", "w") as f:
            json.dump(history, f)
        print(f"epoch {epoch} done: val_acc {val_acc}", file=log, flush=True)
"""

GATE_YAML = """\
gates:
  early:
    on_fail: stop
    checks:
      - "val_acc >= 0.5 @ epoch 2"
"""


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start processes; whatever still runs at the end is killed (by its own pid)."""
    started: list[subprocess.Popen[Any]] = []

    def start(argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        proc = subprocess.Popen(argv, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _training(tmp_path: Path, spawn: Callable[..., Any], epochs: int) -> tuple[subprocess.Popen[bytes], Path]:
    """A training process in tmp_path/work, its own session leader, as if run from a terminal."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    write_script(work, "train.py", TRAIN)
    proc = spawn([PY, "train.py", str(epochs), "--lr", "0.01"], cwd=work, start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, work


def _attach(spawn: Callable[..., Any], tmp_path: Path, ledger: str, *args: str) -> subprocess.Popen[str]:
    return spawn([PY, "-m", "gatebook", "attach", *args], cwd=tmp_path, env=env_with(ledger),
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _running_run(ledger: str, tmp_path: Path, attach: subprocess.Popen[str]) -> str:
    """Wait until attach has recorded its run; its id."""
    def found() -> str | None:
        if attach.poll() is not None:
            out, err = attach.communicate()
            pytest.fail(f"gatebook attach ended early ({attach.returncode}): {err}")
        proc = gb("ls", "--json", store=ledger, cwd=tmp_path)
        if proc.returncode != 0:
            return None
        import json

        runs = json.loads(proc.stdout)["runs"]
        return runs[0]["id"] if runs and runs[0]["status"] == "running" else None

    return wait_for(found, what="the attached run in the ledger")


def _go(work: Path) -> None:
    (work / "go").write_text("")


def _finish(attach: subprocess.Popen[str], timeout: float = 90) -> tuple[str, str]:
    out, err = attach.communicate(timeout=timeout)
    return out, err


def test_attach_follows_files_and_log_until_the_process_ends(tmp_path: Path, ledger: str, spawn: Any) -> None:
    work = tmp_path / "work"
    work.mkdir()
    # an earlier run's files, last written an hour before the process starts: not this run's
    (work / "train.log").write_text("epoch 9 done: val_acc 0.99 (an earlier run)\n")
    (work / "history.json").write_text('[{"epoch": 1, "val_acc": 0.99, "stale": 1}]')
    old = time.time() - 3600
    for name in ("train.log", "history.json"):
        os.utime(work / name, (old, old))
    train, work = _training(tmp_path, spawn, epochs=5)
    # relative paths are taken from the process's cwd (work/), not ours (tmp_path)
    attach = _attach(spawn, tmp_path, ledger, "--pid", str(train.pid), "--watch", "history.json",
                     "--log", "train.log", "--name", "adopted", "--tag", "late")
    run_id = _running_run(ledger, tmp_path, attach)
    _go(work)
    assert train.wait(timeout=60) == 0
    out, err = _finish(attach)
    assert attach.returncode == 0, err
    assert f"attached to pid {train.pid}" in err
    assert "finished" in err and "exit code unknown" in err

    doc = gb_json("show", "adopted", store=ledger, cwd=tmp_path)
    assert doc["id"] == run_id
    assert doc["status"] == "finished" and doc["exit_code"] is None
    assert doc["reason"] == "process ended (exit code unknown: not started by gatebook)"
    assert doc["source"] == "attach" and doc["pid"] == train.pid and doc["tags"] == ["late"]
    assert doc["command"][1:] == ["train.py", "5", "--lr", "0.01"]
    assert Path(doc["cwd"]).resolve() == work.resolve()
    assert doc["params_by_source"]["argv"] == {"lr": 0.01}
    metrics = doc["metrics"]
    assert {"epoch", "loss", "val_acc"} <= set(metrics) and "stale" not in metrics
    assert metrics["val_acc"]["count"] == 5 and metrics["val_acc"]["last"] == 0.5
    assert metrics["val_acc"]["last_step"] == 5
    assert metrics["loss"]["last"] == 0.2 and metrics["loss"]["max"] == 1.0

    tail = gb("tail", "adopted", store=ledger, cwd=tmp_path)
    assert tail.returncode == 0, tail.stderr
    assert [line for line in tail.stdout.splitlines() if line] == [
        f"epoch {e} done: val_acc {round(0.1 * e, 3)}" for e in range(1, 6)]


def test_failing_stop_gate_with_allow_stop_stops_the_process(tmp_path: Path, ledger: str, spawn: Any) -> None:
    (tmp_path / "gatebook.yaml").write_text(GATE_YAML)
    train, work = _training(tmp_path, spawn, epochs=60)
    attach = _attach(spawn, tmp_path, ledger, "--pid", str(train.pid), "--watch", "history.json",
                     "--gate", "early", "--allow-stop", "--grace", "5", "--name", "gated")
    _running_run(ledger, tmp_path, attach)
    _go(work)
    assert train.wait(timeout=60) == -signal.SIGTERM  # stopped long before its 60 epochs
    out, err = _finish(attach)
    assert attach.returncode == 1, err
    assert "gate early FAIL" in err and "stopping gated" in err
    doc = gb_json("show", "gated", store=ledger, cwd=tmp_path)
    assert doc["status"] == "stopped"
    assert "val_acc" in doc["reason"] and "0.2" in doc["reason"] and "early" in doc["reason"]
    assert doc["metrics"]["val_acc"]["last_step"] < 30


def test_failing_stop_gate_without_allow_stop_only_warns(tmp_path: Path, ledger: str, spawn: Any) -> None:
    (tmp_path / "gatebook.yaml").write_text(GATE_YAML)
    train, work = _training(tmp_path, spawn, epochs=5)
    attach = _attach(spawn, tmp_path, ledger, "--pid", str(train.pid), "--watch", "history.json",
                     "--gate", "early", "--name", "warned")
    _running_run(ledger, tmp_path, attach)
    _go(work)
    assert train.wait(timeout=60) == 0  # ran to completion
    out, err = _finish(attach)
    assert attach.returncode == 0, err
    assert "would stop warned" in err and "--allow-stop" in err
    doc = gb_json("show", "warned", store=ledger, cwd=tmp_path)
    assert doc["status"] == "finished"
    assert doc["metrics"]["val_acc"]["last_step"] == 5


def test_gatebook_stop_from_another_shell_stops_the_process(tmp_path: Path, ledger: str, spawn: Any) -> None:
    train, work = _training(tmp_path, spawn, epochs=60)
    attach = _attach(spawn, tmp_path, ledger, "--pid", str(train.pid), "--watch", "history.json",
                     "--name", "manual")  # no --allow-stop: an explicit `gatebook stop` is honoured anyway
    run_id = _running_run(ledger, tmp_path, attach)
    _go(work)
    wait_for(lambda: (work / "history.json").exists(), what="the first epoch")
    # `gatebook stop` waits for the process to end: run it aside while this test, the
    # process's parent, reaps the stopped process (an unreaped zombie would look alive to it)
    stop = spawn([PY, "-m", "gatebook", "stop", run_id, "--reason", "enough for today"], cwd=tmp_path,
                 env=env_with(ledger), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert train.wait(timeout=60) == -signal.SIGTERM
    _, stop_err = stop.communicate(timeout=60)
    assert stop.returncode == 0, stop_err
    assert "enough for today" in stop_err
    out, err = _finish(attach)
    assert attach.returncode == 0, err
    doc = gb_json("show", "manual", store=ledger, cwd=tmp_path)
    assert doc["status"] == "stopped" and doc["reason"] == "enough for today"


def test_ctrl_c_detaches_and_leaves_the_process_running(tmp_path: Path, ledger: str, spawn: Any) -> None:
    train, work = _training(tmp_path, spawn, epochs=60)
    attach = _attach(spawn, tmp_path, ledger, "--pid", str(train.pid), "--name", "detached", "--allow-stop")
    _running_run(ledger, tmp_path, attach)
    attach.send_signal(signal.SIGINT)
    out, err = _finish(attach)
    assert attach.returncode == 130, err
    assert train.poll() is None  # not signalled
    doc = gb_json("show", "detached", store=ledger, cwd=tmp_path)
    assert doc["status"] == "interrupted"
    assert doc["reason"] == f"gatebook attach was interrupted; the process {train.pid} keeps running"


def test_bad_input_is_one_line_and_records_nothing(tmp_path: Path, ledger: str, spawn: Any) -> None:
    err = one_line_error(gb("attach", "--pid", "999999", cwd=tmp_path, store=ledger))
    assert "no process with pid 999999" in err
    err = one_line_error(gb("attach", "--pid", "abc", cwd=tmp_path, store=ledger))
    assert "abc" in err and "not a process id" in err
    err = one_line_error(gb("attach", "--pid", str(os.getpid()), cwd=tmp_path, store=ledger))
    assert "started gatebook" in err
    (tmp_path / "gatebook.yaml").write_text(GATE_YAML)
    sleeper = spawn([PY, "-c", "import time; time.sleep(120)"], start_new_session=True)
    err = one_line_error(gb("attach", "--pid", str(sleeper.pid), "--gate", "erly", cwd=tmp_path, store=ledger))
    assert "unknown gate 'erly'" in err and "early" in err
    err = one_line_error(gb("attach", "--pid", str(sleeper.pid), "--gate", "early", "--baseline", "nope",
                            cwd=tmp_path, store=ledger))
    assert "nope" in err
    assert gb_json("ls", store=ledger, cwd=tmp_path)["runs"] == []
    assert sleeper.poll() is None
