"""The demo's real training script (examples/digits/train.py) recorded by `gatebook run`.

Runs the NumPy MLP for 3 epochs twice -- metrics through the Python API, then through
`gatebook:` stdout lines only -- and checks what the ledger holds. About 10 s in all.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import clean_env

REPO = Path(__file__).resolve().parents[2]
TRAIN_PY = REPO / "examples" / "digits" / "train.py"


def _gatebook() -> list[str]:
    """The gatebook console script next to this interpreter, else `python -m gatebook`."""
    script = shutil.which("gatebook", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "gatebook"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = clean_env()
    env["GATEBOOK_STORE"] = f"sqlite:///{tmp_path}/ledger.db"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def _gb(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_gatebook(), *args], cwd=tmp_path, env=_env(tmp_path), capture_output=True,
                          text=True, timeout=timeout, check=False)


def _show(tmp_path: Path, name: str) -> dict:
    proc = _gb(tmp_path, "show", name, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(TRAIN_PY, tmp_path / "train.py")
    return tmp_path


def _train(workdir: Path, name: str, mode: str) -> subprocess.CompletedProcess[str]:
    proc = _gb(workdir, "run", "--name", name, "--", sys.executable, "train.py",
               "--lr", "0.1", "--epochs", "3", "--log", mode)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def _check_common(run: dict, *, mode: str) -> None:
    assert run["status"] == "finished"
    assert run["exit_code"] == 0
    for key in ("loss", "val_loss", "val_acc"):
        m = run["metrics"][key]
        assert m["count"] == 3, (key, m)
        assert m["last_step"] == 3, (key, m)
        assert math.isfinite(float(m["last"])), (key, m)
    assert float(run["metrics"]["val_acc"]["last"]) > 0.8  # 3 epochs at lr 0.1 reach ~0.96
    assert float(run["metrics"]["loss"]["last"]) < float(run["metrics"]["loss"]["max"])
    assert run["params"]["lr"] == pytest.approx(0.1)
    assert run["params"]["log"] == mode


def test_api_mode_records_metrics_params_checkpoint_and_summary(workdir: Path) -> None:
    proc = _train(workdir, "digits-api", "api")
    assert "epoch  3/3" in proc.stdout
    assert "gatebook: {" not in proc.stdout  # api mode prints no metric lines

    run = _show(workdir, "digits-api")
    _check_common(run, mode="api")
    # gb.init(config=args) records the whole argparse namespace, defaults included
    assert run["params"]["hidden"] == 64
    assert run["params"]["epochs"] == 3
    assert run["params"]["batch_size"] == 32

    ckpts = [a for a in run["artifacts"] if a["kind"] == "checkpoint"]
    assert len(ckpts) == 1, run["artifacts"]
    ckpt = Path(ckpts[0]["path"])
    assert ckpt.is_file() and ckpt.suffix == ".npz"
    assert ckpt.parent == (workdir / "outputs").resolve()
    assert ckpts[0]["size"] == ckpt.stat().st_size

    summary = run["summary"]
    assert summary["best_val_acc"] == pytest.approx(float(run["metrics"]["val_acc"]["max"]))
    assert summary["final_val_acc"] == pytest.approx(float(run["metrics"]["val_acc"]["last"]))


def test_stdout_mode_records_metrics_from_output_only(workdir: Path) -> None:
    proc = _train(workdir, "digits-stdout", "stdout")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("gatebook: {")]
    assert len(lines) == 3
    assert json.loads(lines[-1][len("gatebook: "):])["epoch"] == 3
    assert "12 metric points from output" in proc.stderr  # epoch, loss, val_loss, val_acc x 3

    run = _show(workdir, "digits-stdout")
    _check_common(run, mode="stdout")
    assert run["params_by_source"].keys() == {"argv"}  # nothing came through the API
    assert run["summary"] == {}
    assert not [a for a in run["artifacts"] if a["kind"] == "checkpoint"]
    assert (workdir / "outputs").is_dir()  # the checkpoint is still written, just not recorded


def test_stdout_mode_does_not_import_gatebook(tmp_path: Path) -> None:
    """`--log stdout` must work where gatebook is not installed at all."""
    shutil.copy(TRAIN_PY, tmp_path / "train.py")
    probe = (
        "import runpy, sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'gatebook' or name.startswith('gatebook.'):\n"
        "            raise ImportError('gatebook imported in stdout mode')\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.argv = ['train.py', '--epochs', '1', '--log', 'stdout']\n"
        "runpy.run_path('train.py', run_name='__main__')\n"
    )
    env = clean_env()
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("gatebook: {") == 1


def test_the_demo_variant_that_misses_epoch_2_is_stopped_and_saves_its_checkpoint(workdir: Path) -> None:
    """The demo's stopped run: the epoch-2 gate of demo.sh, lr 0.002, 20 epochs paced at 0.25 s."""
    (workdir / "gatebook.yaml").write_text(
        "gates:\n  epoch2:\n    on_fail: stop\n    checks: ['val_acc >= 0.80 @ epoch 2']\n"
        "    playbook:\n      fixes: [{name: 'lr 0.05', set: {lr: 0.05}}]\n")
    proc = _gb(workdir, "run", "--name", "slow", "--gate", "epoch2", "--", sys.executable, "train.py",
               "--lr", "0.002", "--epochs", "20", "--epoch-time", "0.25", "--log", "api", timeout=120)
    assert proc.returncode == 1, proc.stderr  # the script exited 0; the gate made the run a failure
    assert "saved outputs/" in proc.stdout
    # the script prints gb.current().stop_reason: the gate's reason, not a bare "SIGTERM"
    assert re.search(r"stopping after epoch \d+: gate epoch2: val_acc 0.175487 < 0.80 at epoch 2", proc.stdout)
    run = _show(workdir, "slow")
    assert run["status"] == "stopped" and run["reason"].startswith("gate epoch2: val_acc 0.175")
    assert 2 <= run["metrics"]["val_acc"]["last_step"] < 20
    assert [a["kind"] for a in run["artifacts"]].count("checkpoint") == 1
    tri = _gb(workdir, "triage", "slow", "--json")
    assert json.loads(tri.stdout)["advice"][0]["next_fix"]["name"] == "lr 0.05"
