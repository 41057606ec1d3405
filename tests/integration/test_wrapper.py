"""`gatebook run`: a real child, its output, metrics, params, provenance, status, exit code."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers import PY, env_with, gb, gb_json, one_line_error, wait_for, write_script


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


def test_run_records_output_metrics_params_and_exit(git_project: Path, ledger: str) -> None:
    proc = gb("run", "--name", "base", "--tag", "smoke", "--", PY, "train.py", "--lr", "0.5", "--epochs=3",
              cwd=git_project, store=ledger)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count('gatebook: {"epoch"') == 3  # streamed through live
    assert "run " in proc.stderr and "finished" in proc.stderr
    doc = gb_json("show", "base", store=ledger)
    assert doc["status"] == "finished" and doc["exit_code"] == 0
    assert doc["command"][1:] == ["train.py", "--lr", "0.5", "--epochs=3"]
    assert doc["params"] == {"epochs": 3, "lr": 0.5}
    assert doc["params_by_source"]["argv"] == {"epochs": 3, "lr": 0.5}
    assert doc["metrics"]["val_acc"]["count"] == 3 and doc["metrics"]["val_acc"]["last_step"] == 3
    assert doc["metrics"]["loss"]["last"] == doc["metrics"]["loss"]["min"]
    assert doc["tags"] == ["smoke"]
    assert doc["git"]["commit"] and doc["git"]["dirty"] is False and doc["git"]["branch"] == "main"
    assert doc["env"]["python"]["executable"]
    assert "sqlalchemy" in doc["env"]["packages"]
    assert doc["system"]["cpu_count"] >= 1
    out = gb("tail", "base", store=ledger)
    assert out.stdout.count("gatebook:") == 3


def test_exit_code_and_failed_status(tmp_path: Path, ledger: str) -> None:
    script = write_script(tmp_path, "fail.py", "import sys\nprint('boom', file=sys.stderr)\nsys.exit(7)\n")
    proc = gb("run", "--name", "bad", "--", PY, str(script), cwd=tmp_path, store=ledger)
    assert proc.returncode == 7
    doc = gb_json("show", "bad", store=ledger)
    assert doc["status"] == "failed" and doc["exit_code"] == 7 and doc["reason"] == "exit code 7"


def test_child_gets_unbuffered_env_and_run_id(tmp_path: Path, ledger: str) -> None:
    script = write_script(tmp_path, "env.py",
                          "import os\nprint(os.environ['PYTHONUNBUFFERED'], os.environ['GATEBOOK_RUN_ID'])\n")
    res = json.loads(gb("run", "--json", "--", PY, str(script), cwd=tmp_path, store=ledger).stdout)
    out = gb("tail", res["id"], store=ledger).stdout.split()
    assert out == ["1", res["id"]]


def test_output_is_streamed_live(tmp_path: Path, ledger: str) -> None:
    """A line printed before a long sleep reaches our stdout (and the ledger) while the child sleeps."""
    script = write_script(tmp_path, "slow.py", "import time\nprint('first', flush=False)\ntime.sleep(30)\n")
    proc = subprocess.Popen([PY, "-m", "gatebook", "run", "--name", "slow", "--", PY, str(script)], cwd=tmp_path,
                            env=env_with(ledger), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # would block for 30 s if the child's stdout were buffered
        assert line.strip() == "first"
        wait_for(lambda: "first" in gb("tail", "slow", store=ledger).stdout, 10,
                 what="output in the ledger while the child runs")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    doc = gb_json("show", "slow", store=ledger)
    assert doc["status"] == "interrupted"


def test_sigterm_is_forwarded_and_recorded(tmp_path: Path, ledger: str) -> None:
    script = write_script(tmp_path, "term.py", (
        "import signal, sys, time\n"
        "def h(s, f):\n    print('got SIGTERM, saving', flush=True); sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, h)\nprint('ready', flush=True)\ntime.sleep(60)\n"))
    proc = subprocess.Popen([PY, "-m", "gatebook", "run", "--name", "term", "--", PY, str(script)], cwd=tmp_path,
                            env=env_with(ledger), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert "got SIGTERM, saving" in out
    doc = gb_json("show", "term", store=ledger)
    assert doc["status"] == "interrupted" and doc["exit_code"] == 3
    assert "SIGTERM" in doc["reason"]


def test_kv_and_regex_metrics(tmp_path: Path, ledger: str) -> None:
    script = write_script(tmp_path, "kv.py", (
        "print('epoch=1 loss=0.9 acc=50%')\nprint('epoch=2 loss=0.5 acc=75%')\n"
        "print('Epoch 3 | val_loss: 0.25')\n"))
    (tmp_path / "gatebook.yaml").write_text(
        "ingest:\n  regex: ['Epoch (?P<epoch>\\d+) \\| val_loss: (?P<val_loss>[-\\d.eE]+)']\n")
    proc = gb("run", "--kv", "--name", "kv", "--", PY, str(script), cwd=tmp_path, store=ledger)
    assert proc.returncode == 0, proc.stderr
    m = gb_json("show", "kv", store=ledger, cwd=tmp_path)["metrics"]
    assert m["loss"]["last"] == 0.5 and m["acc"]["last"] == 75.0 and m["acc"]["last_step"] == 2
    assert m["val_loss"]["last"] == 0.25 and m["val_loss"]["last_step"] == 3


def test_config_file_params_are_flattened(tmp_path: Path, ledger: str) -> None:
    (tmp_path / "cfg.yaml").write_text("optim:\n  lr: 0.001\n  betas: [0.9, 0.99]\nseed: 7\n")
    script = write_script(tmp_path, "noop.py", "pass\n")
    proc = gb("run", "--config", "cfg.yaml", "--name", "cfg", "--", PY, str(script), "--batch-size", "32",
              cwd=tmp_path, store=ledger)
    assert proc.returncode == 0, proc.stderr
    doc = gb_json("show", "cfg", store=ledger)
    assert doc["params"] == {"batch_size": 32, "optim.betas": [0.9, 0.99], "optim.lr": 0.001, "seed": 7}
    assert doc["seeds"] == {"seed": 7}


def test_parent_and_files_changed(git_project: Path, ledger: str) -> None:
    assert gb("run", "--name", "p", "--", PY, "train.py", cwd=git_project, store=ledger).returncode == 0
    (git_project / "model.py").write_text("X = 1\n")
    subprocess.run(["git", "add", "model.py"], cwd=git_project, check=True)
    subprocess.run(["git", "commit", "-qm", "model"], cwd=git_project, check=True)
    (git_project / "train.py").write_text((git_project / "train.py").read_text() + "# tweak\n")
    proc = gb("run", "--name", "c", "--parent", "p", "--", PY, "train.py", cwd=git_project, store=ledger)
    assert proc.returncode == 0, proc.stderr
    doc = gb_json("show", "c", store=ledger)
    assert doc["parent"]["name"] == "p"
    assert doc["git"]["dirty"] is True
    assert doc["git"]["files_changed"] == ["model.py", "train.py"]
    patch = gb("show", "c", "--patch", store=ledger).stdout
    assert "+# tweak" in patch
    # the patch restores the exact code on a checkout of the commit
    clone = git_project.parent / "clone"
    subprocess.run(["git", "clone", "-q", str(git_project), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", doc["git"]["commit"]], cwd=clone, check=True)
    subprocess.run(["git", "apply"], cwd=clone, input=patch, text=True, check=True)
    assert (clone / "train.py").read_text() == (git_project / "train.py").read_text()


def test_unknown_parent_is_an_input_error_and_nothing_runs(tmp_path: Path, ledger: str) -> None:
    marker = tmp_path / "ran"
    script = write_script(tmp_path, "touch.py", f"open({str(marker)!r}, 'w').close()\n")
    gb("init", str(tmp_path), store=ledger)
    err = one_line_error(gb("run", "--parent", "nope", "--", PY, str(script), cwd=tmp_path, store=ledger))
    assert "nope" in err
    assert not marker.exists()


@pytest.mark.parametrize("args, needle", [
    (["run", "--", "definitely-not-a-command-xyz"], "command not found"),
    (["run"], "Missing argument"),
    (["run", "--config", "missing.yaml", "--", "true"], "missing.yaml"),
])
def test_run_input_errors(tmp_path: Path, ledger: str, args: list[str], needle: str) -> None:
    err = one_line_error(gb(*args, cwd=tmp_path, store=ledger))
    assert needle in err


def test_malformed_config_file(tmp_path: Path, ledger: str) -> None:
    (tmp_path / "bad.yaml").write_text("a: 1\nb: [1, 2\n")
    err = one_line_error(gb("run", "--config", "bad.yaml", "--", "true", cwd=tmp_path, store=ledger))
    assert "bad.yaml:" in err


def test_api_inside_wrapper_attaches_to_the_same_run(tmp_path: Path, ledger: str) -> None:
    script = write_script(tmp_path, "api.py", (
        "import gatebook as gb\n"
        "run = gb.init(name='ignored-when-wrapper-named', config={'lr': 0.1, 'model': {'depth': 4}})\n"
        "for e in range(1, 4):\n    gb.log({'val_acc': e / 10}, step=e)\n"
        "print('gatebook: {\"epoch\": 3, \"stdout_metric\": 1.5}')\n"
        "gb.summary({'best': 0.3})\ngb.note('from the api')\n"))
    proc = gb("run", "--name", "wrapped", "--", PY, str(script), cwd=tmp_path, store=ledger)
    assert proc.returncode == 0, proc.stderr
    runs = gb_json("ls", store=ledger)["runs"]
    assert len(runs) == 1
    doc = gb_json("show", "wrapped", store=ledger)
    assert doc["name"] == "wrapped"
    assert doc["metrics"]["val_acc"]["count"] == 3 and doc["metrics"]["stdout_metric"]["last"] == 1.5
    assert doc["params_by_source"]["api"] == {"lr": 0.1, "model.depth": 4}
    assert doc["summary"] == {"best": 0.3}
    assert [n["text"] for n in doc["notes"]] == ["from the api"]
