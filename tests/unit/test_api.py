"""The Python API in-process (and in subprocesses for exit, exceptions and signals)."""

from __future__ import annotations

import hashlib
import math
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

import gatebook as gb
from gatebook.errors import NotFoundError
from gatebook.store import open_store
from tests.helpers import PY, env_with, gb_json, write_script


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    u = f"sqlite:///{tmp_path}/ledger.db"
    monkeypatch.setenv("GATEBOOK_STORE", u)
    monkeypatch.chdir(tmp_path)
    yield u
    gb.finish()


def test_init_log_finish_round_trip(url: str, tmp_path: Path) -> None:
    ckpt = tmp_path / "model.bin"
    ckpt.write_bytes(b"weights")
    run = gb.init(name="api", config={"lr": np.float32(0.5), "model": {"depth": 4}}, tags=["t1"])
    for step in range(1, 4):
        gb.log({"loss": np.float64(1 / step), "acc": np.array(step / 10), "flag": True}, step=step)
    gb.log({"epoch": 4, "late": 1})  # the step comes from `epoch`
    gb.summary({"best": np.float32(0.25), Path("k"): {1, 2}})
    gb.note("hello")
    gb.artifact(ckpt, kind="checkpoint")
    gb.finish()
    with open_store(url) as store:
        rec = store.get_run(run.id)
        assert rec.status.value == "finished" and rec.name == "api" and rec.tags == ("t1",)
        stats = store.metric_stats([run.id])[run.id]
        assert stats["loss"].count == 3 and stats["loss"].last == pytest.approx(1 / 3)
        assert stats["late"].last_step == 4 and stats["flag"].last == 1.0
        assert store.params(run.id)["api"] == {"lr": 0.5, "model.depth": 4}
        assert store.summary(run.id) == {"best": 0.25, "k": [1, 2]}
        assert [n.text for n in store.notes(run.id)] == ["hello"]
        art = [a for a in store.artifacts(run.id) if a.kind == "checkpoint"][0]
        assert art.size == 7 and art.sha256 == hashlib.sha256(b"weights").hexdigest()
        assert rec.provenance["python"]["version"] and rec.provenance["system"]["cpu_count"]


def test_bad_values_warn_once_and_never_crash(url: str, capfd: pytest.CaptureFixture[str]) -> None:
    run = gb.init(name="bad")
    for step in range(3):
        gb.log({"ok": step, "text": "high", "vec": np.zeros(3), "nan": float("nan"), "inf": math.inf}, step=step)
    gb.summary({"obj": object()})
    gb.finish()
    err = capfd.readouterr().err
    assert err.count("metric 'text' not logged") == 1 and err.count("metric 'vec' not logged") == 1
    assert "summary value 'obj'" in err
    with open_store(url) as store:
        stats = store.metric_stats([run.id])[run.id]
        assert set(stats) == {"ok", "nan", "inf"}
        assert math.isnan(stats["nan"].last) and stats["inf"].last == math.inf
        assert store.summary(run.id)["obj"].startswith("<object object")


def test_flush_makes_points_durable_while_running(url: str) -> None:
    run = gb.init(name="flush")
    for i in range(10_000):
        run.log({"x": i}, step=i)
    assert run.flush(timeout=30)
    with open_store(url) as other:  # a second connection sees everything
        assert other.metric_stats([run.id])[run.id]["x"].count == 10_000
        assert other.get_run(run.id).status.value == "running"
    run.finish()


def test_context_manager_records_failures(url: str) -> None:
    with pytest.raises(ValueError):
        with gb.init(name="ctx") as run:
            gb.log({"a": 1})
            raise ValueError("diverged at step 3")
    with open_store(url) as store:
        rec = store.get_run(run.id)
        assert rec.status.value == "failed" and rec.reason == "ValueError: diverged at step 3"


def test_log_before_init_starts_a_run_and_init_twice_closes_the_first(url: str) -> None:
    gb.log({"a": 1.0})
    first = gb.current()
    assert first is not None
    second = gb.init(name="second")
    assert second.id != first.id
    gb.finish()
    with open_store(url) as store:
        assert store.get_run(first.id).status.value == "finished"


def test_parent_by_name_and_unknown_parent(url: str) -> None:
    base = gb.init(name="base")
    gb.finish()
    child = gb.init(name="child", parent="base")
    gb.finish()
    with open_store(url) as store:
        assert store.get_run(child.id).parent_id == base.id
    with pytest.raises(NotFoundError, match="nope"):
        gb.init(name="orphan", parent="nope")


def test_disabled_mode_is_a_no_op(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEBOOK_MODE", "disabled")
    monkeypatch.chdir(tmp_path)
    run = gb.init(name="x")
    run.log({"a": 1})
    run.summary({"b": 2})
    run.finish()
    assert not (tmp_path / ".gatebook").exists()


def test_finished_run_ignores_more_logs(url: str, capfd: pytest.CaptureFixture[str]) -> None:
    run = gb.init(name="closed")
    run.finish()
    run.log({"late": 1})
    assert "is finished" in capfd.readouterr().err


@pytest.mark.parametrize("body, status, reason", [
    ("gb.log({'a': 1})\n", "finished", None),
    ("gb.log({'a': 1})\nraise RuntimeError('oom at batch 7')\n", "failed", "RuntimeError: oom at batch 7"),
    ("gb.log({'a': 1})\nraise KeyboardInterrupt\n", "interrupted", "KeyboardInterrupt"),
])
def test_exit_paths_flush_and_set_status(tmp_path: Path, body: str, status: str, reason: str | None) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    script = write_script(tmp_path, "t.py", "import gatebook as gb\ngb.init(name='p')\n" + body)
    subprocess.run([PY, str(script)], cwd=tmp_path, env=env_with(url), capture_output=True, timeout=60)
    doc = gb_json("show", "p", store=url)
    assert doc["status"] == status and doc["reason"] == reason
    assert doc["metrics"]["a"]["count"] == 1


def test_sigterm_flushes_and_marks_interrupted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    script = write_script(tmp_path, "t.py", (
        "import time, gatebook as gb\ngb.init(name='term', config={'seed': 3})\n"
        "for i in range(1000):\n    gb.log({'x': i}, step=i)\n"
        "print('logged', flush=True)\ntime.sleep(60)\n"))
    env = env_with(url, GATEBOOK_FLUSH_INTERVAL="1000")  # nothing flushed in the background
    proc = subprocess.Popen([PY, str(script)], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "logged"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM  # dies by the signal, as without gatebook
    doc = gb_json("show", "term", store=url)
    assert doc["status"] == "interrupted" and doc["reason"] == "SIGTERM"
    assert doc["metrics"]["x"]["count"] == 1000
    assert doc["seeds"] == {"seed": 3}


def test_a_cooperative_run_survives_its_first_sigterm_even_after_the_ledger_said_stop(tmp_path: Path) -> None:
    # should_stop() makes SIGTERM cooperative; the writer thread may have seen the stop request
    # in the ledger before the signal handler runs: the first SIGTERM must still only raise
    # the flag, and a second one ends the process as usual
    url = f"sqlite:///{tmp_path}/ledger.db"
    script = write_script(tmp_path, "t.py", (
        "import os, signal, time, gatebook as gb\nrun = gb.init(name='coop')\n"
        "assert not gb.should_stop()\n"
        "run._request_stop('gate epoch2: val_acc 0.1 < 0.5')  # as the ledger poll does\n"
        "os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(0.2)\n"
        "print('alive', gb.should_stop(), run.stop_reason, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(5)\nprint('not reached')\n"))
    proc = subprocess.run([PY, str(script)], cwd=tmp_path, env=env_with(url), capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.splitlines() == ["alive True gate epoch2: val_acc 0.1 < 0.5"], proc.stderr
    assert proc.returncode == -signal.SIGTERM
