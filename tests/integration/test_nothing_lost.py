"""Never lose data: killed trainings, killed wrappers, concurrent writers (see also tests/store)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

from tests.helpers import PY, env_with, gb, gb_json, wait_for, write_script

TRAINING = """
import sys, time
import gatebook as gb
gb.init(name="victim")
i = 0
while True:
    gb.log({"x": float(i)}, step=i)
    if i % 20 == 0:
        print(i, time.time(), flush=True)
    i += 1
    time.sleep(0.001)
"""


def test_sigkill_keeps_points_logged_a_second_before_and_marks_lost(tmp_path: Path, store_url: str) -> None:
    script = write_script(tmp_path, "victim.py", TRAINING)
    proc = subprocess.Popen([PY, str(script)], cwd=tmp_path, env=env_with(store_url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    progress: list[tuple[int, float]] = []
    start = time.time()
    while time.time() - start < 60:
        line = proc.stdout.readline()
        if not line:
            break
        i, ts = line.split()
        progress.append((int(i), float(ts)))
        if len(progress) > 5 and progress[-1][1] - progress[0][1] > 2.5:
            break
    proc.send_signal(signal.SIGKILL)
    killed_at = time.time()
    proc.wait(timeout=10)
    assert progress, proc.stderr.read() if proc.stderr else ""
    logged_before = max(i for i, ts in progress if ts <= killed_at - 1.0)
    doc = gb_json("show", "victim", store=store_url)
    assert doc["status"] == "lost"
    assert "vanished" in doc["reason"]
    stats = doc["metrics"]["x"]
    # every point logged up to 1 s before the kill is there, in order and without holes
    assert stats["count"] >= logged_before + 1
    assert stats["last_step"] == stats["count"] - 1


CHILD = """
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
while True:
    time.sleep(0.1)
"""


def test_killed_wrapper_leaves_no_orphan_child(tmp_path: Path, store_url: str) -> None:
    pidfile = tmp_path / "child.pid"
    script = write_script(tmp_path, "child.py", CHILD)
    wrapper = subprocess.Popen([PY, "-m", "gatebook", "run", "--name", "orphan", "--", PY, str(script), str(pidfile)],
                               cwd=tmp_path, env=env_with(store_url), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_for(lambda: pidfile.exists() and pidfile.read_text(), 30, what="the child's pid file")
    child_pid = int(pidfile.read_text())
    assert psutil.pid_exists(child_pid)
    # wait until the run is in the ledger, then kill the wrapper the hard way
    wait_for(lambda: gb("ls", "--json", store=store_url).returncode == 0 and gb_json("ls", store=store_url)["runs"],
             30, what="the run in the ledger")
    wrapper.send_signal(signal.SIGKILL)
    wrapper.wait(timeout=10)
    def gone() -> bool:
        try:
            return psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    try:
        wait_for(gone, 20, what="the child to end after its wrapper was killed")
    except AssertionError:
        os.kill(child_pid, signal.SIGKILL)
        raise
    doc = gb_json("show", "orphan", store=store_url)
    assert doc["status"] == "lost"


def test_wrapper_killed_run_is_lost_not_running_forever(tmp_path: Path) -> None:
    """A run whose wrapper host is elsewhere is judged by its heartbeat."""
    from gatebook.liveness import is_gone
    from gatebook.records import RunRecord, RunStatus

    now = time.time()
    other = RunRecord(id="x", name=None, status=RunStatus.RUNNING, created_at=now - 500, host="elsewhere",
                      pid=1, heartbeat_at=now - 120)
    assert is_gone(other, lost_after=60, now=now, host="here")
    fresh = RunRecord(id="y", name=None, status=RunStatus.RUNNING, created_at=now - 500, host="elsewhere",
                      pid=1, heartbeat_at=now - 10)
    assert not is_gone(fresh, lost_after=60, now=now, host="here")
    # same host: a live pid with another start time is a reused pid -> gone
    me = psutil.Process()
    reused = RunRecord(id="z", name=None, status=RunStatus.RUNNING, created_at=now, host="here", pid=me.pid,
                       pid_start=me.create_time() - 100)
    assert is_gone(reused, lost_after=60, now=now, host="here")
    alive = RunRecord(id="w", name=None, status=RunStatus.RUNNING, created_at=now, host="here", pid=me.pid,
                      pid_start=me.create_time())
    assert not is_gone(alive, lost_after=60, now=now, host="here")
