"""`gatebook sweep run --backend ray` against a real local Ray cluster (127.0.0.1, 2 CPUs, its own
temp dir, stopped with SIGTERM): the same 3-trial sweep as the local runner gives the same trials,
statuses and ranking; the PostgreSQL store; Ctrl-C; bad input. Needs ray (the dev extra)."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest
import ray  # noqa: F401  (the dev extra installs it: a missing Ray fails here, never skips)

from tests.helpers import PY, env_with, gb, one_line_error
from tests.integration.test_sweep import (
    GATEBOOK_YAML,
    TIMED,
    TRAIN,
    group_runs,
    overlapping,
    sweep_yaml,
    timed_trials,
    wait_until_logging,
    wait_until_running,
    write_sweep,
)

RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
LRS = "[0.1, 0.4, 0.5]"  # 0.1 is stopped by the gate at epoch 2, the others finish


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A real one-node Ray cluster on 127.0.0.1 for this module (stopped after it: 2 cores)."""
    ray_bin = Path(PY).parent / "ray"
    tmp = tempfile.mkdtemp(prefix="gbray")  # short: Ray's socket paths are length-limited
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = env_with(**RAY_ENV)
    log = open(Path(tmp) / "head.log", "wb")
    head = subprocess.Popen([str(ray_bin), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2",
                             "--num-gpus", "0", "--node-ip-address", "127.0.0.1", "--temp-dir", tmp,
                             "--include-dashboard=false"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        probe = f"import ray; ray.init(address={address!r}, log_to_driver=False); ray.shutdown()"
        deadline = time.time() + 90
        while True:
            if head.poll() is not None:
                pytest.fail(f"ray start exited {head.returncode}: {(Path(tmp) / 'head.log').read_text()[-2000:]}")
            try:
                if subprocess.run([PY, "-c", probe], env=env, capture_output=True, timeout=40).returncode == 0:
                    break
            except subprocess.TimeoutExpired:
                pass
            if time.time() > deadline:
                pytest.fail("the Ray cluster did not come up in 90 s")
            time.sleep(1)
        yield address
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            head.kill()
            head.wait(timeout=10)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _proj(root: Path) -> Path:
    root.mkdir()
    (root / "gatebook.yaml").write_text(GATEBOOK_YAML)
    (root / "train.py").write_text(TRAIN)
    assert gb("init", cwd=root).returncode == 0
    write_sweep(root, sweep_yaml(name="lrs", lrs=LRS))
    return root


def _sweep(proj: Path, *args: str, store: str | None = None) -> dict:
    proc = subprocess.run([PY, "-m", "gatebook", "sweep", "run", "sweep.yaml", "--json", *args], cwd=proj,
                          env=env_with(store, **RAY_ENV), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def _summary(doc: dict) -> tuple[dict, list]:
    by_id = {t["run_id"]: t["params"]["lr"] for t in doc["trials"]}
    statuses = {t["params"]["lr"]: (t["status"], t["exit_code"] is not None) for t in doc["trials"]}
    order = [by_id[r["id"]] for r in doc["ranking"]["runs"]]
    return statuses, order


@pytest.mark.slow
def test_ray_backend_gives_the_same_sweep_as_the_local_runner(tmp_path: Path, ray_address: str) -> None:
    local = _sweep(_proj(tmp_path / "local"))
    ray_proj = _proj(tmp_path / "ray")
    remote = _sweep(ray_proj, "--backend", "ray", "--address", ray_address)
    assert _summary(remote) == _summary(local)
    statuses, order = _summary(remote)
    assert statuses == {0.1: ("stopped", True), 0.4: ("finished", True), 0.5: ("finished", True)}
    assert order == [0.5, 0.4, 0.1]
    assert remote["counts"] == local["counts"]
    by_lr = {t["params"]["lr"]: t for t in remote["trials"]}
    assert by_lr[0.5]["objective"] == pytest.approx(1.5)
    # the trials are ordinary runs of the project's SQLite ledger, tagged like local trials
    runs = group_runs(ray_proj, "lrs")
    assert len(runs) == 3 and all("sweep" in r["tags"] for r in runs)
    # resume works the same: nothing left to run (and no cluster needed)
    again = _sweep(ray_proj, "--backend", "ray", "--address", ray_address)
    assert again["counts"]["skipped"] == 3


@pytest.mark.slow
@pytest.mark.postgres
def test_ray_backend_with_the_postgresql_store(tmp_path: Path, ray_address: str, pg_url: str) -> None:
    proj = _proj(tmp_path / "pg")
    doc = _sweep(proj, "--backend", "ray", "--address", ray_address, store=pg_url)
    statuses, order = _summary(doc)
    assert statuses == {0.1: ("stopped", True), 0.4: ("finished", True), 0.5: ("finished", True)}
    assert order == [0.5, 0.4, 0.1]
    runs = json.loads(gb("ls", "--group", "lrs", "--limit", "0", "--json", cwd=proj, store=pg_url).stdout)["runs"]
    assert len(runs) == 3
    assert gb("ls", "--group", "lrs", "--limit", "0", "--json", cwd=proj).stdout.count('"id"') == 0  # not SQLite


@pytest.mark.slow
def test_ctrl_c_interrupts_the_ray_trials(tmp_path: Path, ray_address: str) -> None:
    proj = _proj(tmp_path / "cc")
    write_sweep(proj, sweep_yaml(name="cc", lrs="[0.6, 0.7, 0.8]",
                                 command="python train.py --lr {lr} --epochs 40 --sleep 0.5"))
    proc = subprocess.Popen([PY, "-m", "gatebook", "sweep", "run", "sweep.yaml", "--json", "--backend", "ray",
                             "--address", ray_address], cwd=proj, env=env_with(**RAY_ENV),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until_running(proj, "cc")
    wait_until_logging(proj, "cc")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    statuses = sorted(t["status"] for t in json.loads(out)["trials"])
    # the wrappers were asked through the ledger (they may be on other nodes) to interrupt their
    # commands as a Ctrl-C would: the same statuses as local trials
    assert statuses == ["interrupted", "interrupted", "not started"], err
    runs = group_runs(proj, "cc")
    assert len(runs) == 2 and all(r["status"] == "interrupted" for r in runs)
    assert all(r["reason"] == "sweep interrupted" for r in runs), runs
    # rerunning resumes: the interrupted trials and the one never started run now
    (proj / "hurry").write_text("")
    again = subprocess.run([PY, "-m", "gatebook", "sweep", "run", "sweep.yaml", "--json", "--backend", "ray",
                            "--address", ray_address], cwd=proj, env=env_with(**RAY_ENV), capture_output=True,
                           text=True, timeout=240)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert sorted(t["status"] for t in doc["trials"]) == ["finished"] * 3 and doc["counts"]["skipped"] == 0


def test_ray_tasks_get_the_resources_the_sweep_asks_for(tmp_path: Path, ray_address: str) -> None:
    proj = _proj(tmp_path / "res")
    (proj / "timed.py").write_text(TIMED)
    # 2 CPUs per trial on a 2-CPU cluster: Ray runs one trial at a time even with parallel 2
    write_sweep(proj, "name: res\ncommand: python timed.py {i}\nparallel: 2\nresources: {cpus: 2}\n"
                      "grid:\n  i: [1, 2]\n")
    proc = subprocess.run([PY, "-m", "gatebook", "sweep", "run", "sweep.yaml", "--json", "--backend", "ray",
                           "--address", ray_address], cwd=proj, env=env_with(**RAY_ENV), capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "2 CPU and 0 GPU per trial" in proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["counts"]["finished"] == 2
    assert overlapping(timed_trials(proj, doc)) == []
    # a GPU the cluster does not have: refused before anything starts, not queued forever
    write_sweep(proj, sweep_yaml(name="nogpu", lrs="[0.4]", extra="resources: {gpus: 1}\n"))
    bad = subprocess.run([PY, "-m", "gatebook", "sweep", "run", "sweep.yaml", "--backend", "ray", "--address",
                          ray_address], cwd=proj, env=env_with(**RAY_ENV), capture_output=True, text=True, timeout=120)
    err = one_line_error(bad, 2)
    assert "1 GPU" in err and "no node" in err, err
    assert group_runs(proj, "nogpu") == []


def test_without_ray_the_backend_is_a_one_line_error(tmp_path: Path) -> None:
    proj = _proj(tmp_path / "noray")
    code = ("import sys; sys.modules['ray'] = None; from gatebook.cli import main; "
            "sys.exit(main(['sweep', 'run', 'sweep.yaml', '--backend', 'ray']))")
    proc = subprocess.run([PY, "-c", code], cwd=proj, env=env_with(), capture_output=True, text=True, timeout=60)
    err = one_line_error(proc, 2)
    assert "the Ray backend needs the 'ray' package" in err
    assert group_runs(proj, "lrs") == []


def test_address_needs_the_ray_backend(tmp_path: Path) -> None:
    proj = _proj(tmp_path / "addr")
    one_line_error(gb("sweep", "run", "sweep.yaml", "--address", "127.0.0.1:1", cwd=proj), 2)
