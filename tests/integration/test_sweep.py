"""`gatebook sweep` end to end through the real CLI: a grid run in parallel with a stop gate,
the ranked table, the JSON document, resume, --retry-failed, status / show, bad input,
Ctrl-C, a sweep killed outright, GPU slots, the live view on a terminal, and the median pruner."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PY, env_with, gb, gb_json, one_line_error, wait_for, write_script

GATEBOOK_YAML = textwrap.dedent("""\
    metrics:
      higher_is_better: ["val_*"]
      lower_is_better: ["*loss*"]
    gates:
      epoch2:
        on_fail: stop
        checks:
          - "val_acc >= 0.5 @ epoch 2"
    """)

# val_acc = lr * epoch: lr 0.1 fails the gate at epoch 2 (0.2 < 0.5); --fail makes it exit 1; a file
# `hurry` in the directory skips the sleeps (a resumed sweep finishes quickly, same command line).
TRAIN = textwrap.dedent("""\
    import argparse, json, os, sys, time
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--sleep", type=float, default=0.3)
    p.add_argument("--fail", type=int, default=0)
    a = p.parse_args()
    for epoch in range(1, a.epochs + 1):
        acc = round(a.lr * epoch, 4)
        print("gatebook: " + json.dumps({"epoch": epoch, "val_acc": acc, "val_loss": round(1 - acc, 4)}), flush=True)
        if a.fail and epoch == 2:
            sys.exit("crashed on purpose")
        time.sleep(0 if os.path.exists("hurry") else a.sleep)
    print("done", flush=True)
    """)


def sweep_yaml(name: str = "lrs", lrs: str = "[0.1, 0.3, 0.4, 0.5]", extra: str = "", command: str | None = None,
               parallel: int = 2) -> str:
    command = command or "python train.py --lr {lr} --epochs 3 --sleep 0.3"
    return textwrap.dedent(f"""\
        name: {name}
        command: {command}
        grid:
          lr: {lrs}
        gates: [epoch2]
        objective: val_acc
        parallel: {parallel}
        """) + extra


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "gatebook.yaml").write_text(GATEBOOK_YAML)
    write_script(tmp_path, "train.py", TRAIN)
    assert gb("init", cwd=tmp_path).returncode == 0
    return tmp_path


def write_sweep(proj: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = proj / name
    path.write_text(text.replace("command: python ", f"command: {PY} "))
    return path


def group_runs(proj: Path, group: str) -> list[dict]:
    return gb_json("ls", "--group", group, "--limit", "0", cwd=proj)["runs"]


def wait_until_running(proj: Path, group: str, n: int = 2, also: Any = lambda: True, timeout: float = 60) -> None:
    """Wait until ``n`` runs of ``group`` are running in the ledger (and ``also()`` holds)."""
    def running() -> bool:
        runs = group_runs(proj, group) if (proj / ".gatebook").exists() else []
        return len([r for r in runs if r["status"] == "running"]) == n and bool(also())

    wait_for(running, timeout, what=f"{n} running trials of {group}", interval=0.3)


def wait_until_logging(proj: Path, group: str, n: int = 2, timeout: float = 60) -> None:
    """Wait until ``n`` running runs of ``group`` have logged a metric point."""
    def logging() -> bool:
        runs = [r for r in group_runs(proj, group) if r["status"] == "running"]
        return len([r for r in runs if gb_json("show", r["id"], cwd=proj)["metrics"]]) >= n

    wait_for(logging, timeout, what=f"{n} trials of {group} logging", interval=0.3)


def test_sweep_runs_the_grid_in_parallel_gates_stop_and_resume(proj: Path) -> None:
    write_sweep(proj, sweep_yaml())
    doc = gb_json("sweep", "run", "sweep.yaml", cwd=proj, timeout=120)
    assert doc["sweep"] == "lrs"
    trials = {t["params"]["lr"]: t for t in doc["trials"]}
    assert set(trials) == {0.1, 0.3, 0.4, 0.5}
    for t in doc["trials"]:
        assert set(t) >= {"index", "name", "params", "run_id", "status", "skipped", "exit_code", "objective"}
        assert t["skipped"] is False and t["run_id"]
    assert trials[0.1]["status"] == "stopped"  # 0.2 < 0.5 at epoch 2
    assert [trials[lr]["status"] for lr in (0.3, 0.4, 0.5)] == ["finished"] * 3
    assert trials[0.5]["objective"] == pytest.approx(1.5)
    assert doc["counts"]["finished"] == 3 and doc["counts"]["stopped"] == 1 and doc["counts"]["total"] == 4
    # the ranked table: best val_acc first, the gate's verdict column
    ranking = doc["ranking"]
    assert ranking["sort"] == "val_acc"
    # no baseline: the trials are peers, no trial is made the baseline and there are no deltas
    assert ranking["baseline"] is None and not any(r["baseline"] for r in ranking["runs"])
    assert all(c["delta"] is None for r in ranking["runs"] for c in r["metrics"].values())
    assert [m["key"] for m in ranking["metrics"]][0] == "val_acc"
    names = [r["name"] for r in ranking["runs"]]
    order = [trials[lr]["run_id"] for lr in (0.5, 0.4, 0.3, 0.1)]
    assert [r["id"] for r in ranking["runs"]] == order, names
    assert ranking["gates"][0]["name"] == "epoch2"
    by_id = {r["id"]: r for r in ranking["runs"]}
    assert by_id[trials[0.1]["run_id"]]["verdicts"]["epoch2"]["verdict"] == "FAIL"
    assert by_id[trials[0.5]["run_id"]]["verdicts"]["epoch2"]["verdict"] == "PASS"

    runs = group_runs(proj, "lrs")
    assert len(runs) == 4
    assert all("sweep" in r["tags"] for r in runs)
    assert {r["name"] for r in runs} == {f"lrs-{t['name']}" for t in doc["trials"]}

    # resume: nothing to do, no new run
    again = gb("sweep", "run", "sweep.yaml", cwd=proj, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "4 skipped" in again.stderr
    assert "val_acc" in again.stdout  # the table is printed again
    assert len(group_runs(proj, "lrs")) == 4

    # status and show read the ledger
    status = gb_json("sweep", "status", "lrs", cwd=proj)
    assert status["counts"] == {"total": 4, "finished": 3, "stopped": 1}
    assert len(status["trials"]) == 4
    text = gb("sweep", "status", "lrs", cwd=proj)
    assert text.returncode == 0 and "stopped" in text.stdout and "finished" in text.stdout
    show = gb_json("sweep", "show", "lrs", cwd=proj)
    assert [r["id"] for r in show["ranking"]["runs"]] == order
    assert show["ranking"]["sort"] == "val_acc"
    assert show["ranking"]["gates"][0]["name"] == "epoch2"  # the gates the trials ran with
    shown = gb("sweep", "show", "lrs", cwd=proj)
    assert shown.returncode == 0 and "FAIL" in shown.stdout
    # the sweep file names the sweep too, and its objective ranks the table
    by_file = gb_json("sweep", "show", "sweep.yaml", cwd=proj)
    assert by_file["sweep"] == "lrs" and by_file["ranking"]["sort"] == "val_acc"
    assert [r["id"] for r in by_file["ranking"]["runs"]] == order
    assert gb_json("sweep", "status", "sweep.yaml", cwd=proj)["counts"] == status["counts"]


def test_retry_failed_reruns_only_the_failed_trial(proj: Path) -> None:
    write_sweep(proj, sweep_yaml(name="fl", lrs="[0.6]", command="python train.py --lr {lr} --fail {fail} --sleep 0.1",
                                 extra="") .replace("grid:\n  lr: [0.6]", "grid:\n  lr: [0.6]\n  fail: [0, 1]"))
    doc = gb_json("sweep", "run", "sweep.yaml", cwd=proj, timeout=120)
    status = {t["params"]["fail"]: t["status"] for t in doc["trials"]}
    assert status == {0: "finished", 1: "failed"}
    failed = next(t for t in doc["trials"] if t["params"]["fail"] == 1)
    assert failed["exit_code"] == 1
    # without --retry-failed both are skipped; with it only the failed one runs again
    assert gb_json("sweep", "run", "sweep.yaml", cwd=proj)["counts"]["skipped"] == 2
    assert len(group_runs(proj, "fl")) == 2
    retry = gb_json("sweep", "run", "sweep.yaml", "--retry-failed", cwd=proj, timeout=120)
    assert [t["skipped"] for t in sorted(retry["trials"], key=lambda t: t["params"]["fail"])] == [True, False]
    assert len(group_runs(proj, "fl")) == 3
    st = gb_json("sweep", "status", "fl", cwd=proj)
    assert st["counts"]["total"] == 2
    assert max(t["attempts"] for t in st["trials"]) == 2


@pytest.mark.parametrize("case", ["placeholder", "gate", "baseline", "missing", "command"])
def test_bad_input_is_one_line_and_starts_nothing(proj: Path, case: str) -> None:
    text = sweep_yaml(name="bad")
    if case == "command":  # every trial would fail the same way: refused up front
        text = text.replace("command: python train.py", "command: no-such-program train.py")
    if case == "placeholder":
        text = text.replace("--lr {lr}", "--lr {lr} --wd {wd}")
    elif case == "gate":
        text = text.replace("gates: [epoch2]", "gates: [epoch9]")
    elif case == "baseline":
        text += "baseline: no-such-run\n"
    if case != "missing":
        write_sweep(proj, text)
    proc = gb("sweep", "run", "sweep.yaml", cwd=proj)
    err = one_line_error(proc, 2)
    if case == "command":
        assert "'no-such-program' is not found" in err
    assert gb_json("ls", "--limit", "0", cwd=proj)["runs"] == []


def test_status_and_show_of_an_unknown_sweep(proj: Path) -> None:
    one_line_error(gb("sweep", "status", "nope", cwd=proj), 2)
    one_line_error(gb("sweep", "show", "nope", cwd=proj), 2)


def test_ctrl_c_interrupts_the_running_trials(proj: Path) -> None:
    write_sweep(proj, sweep_yaml(name="cc", lrs="[0.6, 0.7, 0.8]",
                                 command="python train.py --lr {lr} --epochs 40 --sleep 0.5"))
    proc = subprocess.Popen([PY, "-m", "gatebook", "sweep", "run", "sweep.yaml", "--json"], cwd=proj,
                            env=env_with(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until_running(proj, "cc")
    wait_until_logging(proj, "cc")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    doc = json.loads(out)
    statuses = sorted(t["status"] for t in doc["trials"])
    assert statuses == ["interrupted", "interrupted", "not started"], doc["trials"]
    runs = group_runs(proj, "cc")
    assert len(runs) == 2 and all(r["status"] == "interrupted" for r in runs)
    # rerunning resumes: the interrupted trials and the one never started run now
    (proj / "hurry").write_text("")
    again = gb("sweep", "run", "sweep.yaml", "--json", cwd=proj)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert sorted(t["status"] for t in doc["trials"]) == ["finished"] * 3 and doc["counts"]["skipped"] == 0
    assert len(group_runs(proj, "cc")) == 5  # the interrupted attempts stay in the ledger


def test_median_pruner_stops_a_trial_worse_than_the_median(proj: Path) -> None:
    (proj / "gatebook.yaml").write_text(GATEBOOK_YAML.replace('"val_acc >= 0.5 @ epoch 2"', '"val_acc >= 0.0"'))
    # the worst trial starts last (parallel 3, sleeps longer) so the others have reached each step
    prune = "prune:\n  median:\n    metric: val_loss\n    warmup: 2\n    min_trials: 2\n"
    write_sweep(proj, sweep_yaml(name="pr", lrs="[0.3, 0.25, 0.05]", parallel=3,
                                 command="python train.py --lr {lr} --epochs 8 --sleep {lr}",
                                 extra=prune).replace("--sleep {lr}", "--sleep 0.4"))
    doc = gb_json("sweep", "run", "sweep.yaml", cwd=proj, timeout=120)
    by_lr = {t["params"]["lr"]: t for t in doc["trials"]}
    assert by_lr[0.05]["status"] == "stopped", doc["trials"]
    assert by_lr[0.3]["status"] == "finished"
    shown = gb_json("show", by_lr[0.05]["run_id"], cwd=proj)
    assert "median pruner: val_loss" in json.dumps(shown)
    assert "worse than the median" in json.dumps(shown)


def commands_running(proj: Path) -> list[int]:
    """Pids of the trial commands (train.py) running in ``proj``, read from /proc."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if b"train.py" in cmdline and cwd == str(proj):
            pids.append(int(entry))
    return pids


def test_a_killed_sweep_leaves_no_trial_running_unrecorded_and_resumes(proj: Path) -> None:
    write_sweep(proj, sweep_yaml(name="kl", lrs="[0.6, 0.7, 0.8]",
                                 command="python train.py --lr {lr} --epochs 40 --sleep 0.5"))
    proc = subprocess.Popen([PY, "-m", "gatebook", "sweep", "run", "sweep.yaml", "--json"], cwd=proj,
                            env=env_with(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_running(proj, "kl", also=lambda: len(commands_running(proj)) == 2)  # running and recorded
    proc.kill()  # SIGKILL: no handler runs, no cleanup
    proc.wait(timeout=30)
    # each trial's watchdog stops its command (SIGTERM, then SIGKILL)
    wait_for(lambda: not commands_running(proj), 30, what="the trials' commands to end", interval=0.2)
    status = gb_json("sweep", "status", "kl", cwd=proj)  # the runs' recording process is gone: lost
    assert [t["status"] for t in status["trials"]] == ["lost", "lost"], status["trials"]
    (proj / "hurry").write_text("")
    again = gb("sweep", "run", "sweep.yaml", "--json", cwd=proj)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert sorted(t["status"] for t in doc["trials"]) == ["finished"] * 3 and doc["counts"]["skipped"] == 0


# Logs when it started and ended (t0, t1) and its GPUs (CUDA_VISIBLE_DEVICES "2,3" -> 23, unset -> -1).
TIMED = textwrap.dedent("""\
    import json, os, time
    t0 = time.time()
    dev = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    print("gatebook: " + json.dumps({"epoch": 1, "t0": t0, "gpu": int(dev.replace(",", "")) if dev else -1}),
          flush=True)
    time.sleep(0 if os.path.exists("hurry") else 1.5)  # long enough that trials started together overlap
    print("gatebook: " + json.dumps({"epoch": 2, "t1": time.time()}), flush=True)
    """)


def timed_trials(proj: Path, doc: dict) -> list[tuple[float, float, int, str]]:
    """(start, end, gpu metric, CUDA_VISIBLE_DEVICES recorded) of each trial of a TIMED sweep."""
    out = []
    for t in doc["trials"]:
        shown = gb_json("show", t["run_id"], cwd=proj)
        m = shown["metrics"]
        out.append((m["t0"]["last"], m["t1"]["last"], int(m["gpu"]["last"]),
                    shown["env"]["variables"].get("CUDA_VISIBLE_DEVICES", "")))
    return out


def overlapping(spans: list[tuple[float, float, int, str]]) -> list[tuple[int, int]]:
    return [(i, j) for i, a in enumerate(spans) for j, b in enumerate(spans) if i < j and a[0] < b[1] and b[0] < a[1]]


def test_gpus_give_each_running_trial_a_device_of_its_own(proj: Path) -> None:
    write_script(proj, "timed.py", TIMED)
    write_sweep(proj, "name: gp\ncommand: python timed.py {i}\nparallel: 4\ngrid:\n  i: [1, 2, 3, 4, 5]\n")
    doc = gb_json("sweep", "run", "sweep.yaml", "--gpus", "0,1", cwd=proj, timeout=120)
    assert doc["counts"]["finished"] == 5
    spans = timed_trials(proj, doc)
    assert all(env == str(gpu) for _, _, gpu, env in spans)  # the command saw what was recorded
    assert {gpu for *_, gpu, _ in spans} == {0, 1}  # both devices used, --parallel 4 capped at 2 GPUs
    pairs = overlapping(spans)
    assert pairs  # trials did run side by side...
    assert all(spans[i][2] != spans[j][2] for i, j in pairs)  # ...each on its own GPU


def test_a_trial_can_ask_for_several_gpus(proj: Path) -> None:
    write_script(proj, "timed.py", TIMED)
    write_sweep(proj, "name: g2\ncommand: python timed.py {i}\nparallel: 4\nresources: {gpus: 2}\n"
                      "grid:\n  i: [1, 2, 3, 4]\n")
    doc = gb_json("sweep", "run", "sweep.yaml", "--gpus", "0,1,2,3", cwd=proj, timeout=120)
    assert doc["counts"]["finished"] == 4
    spans = timed_trials(proj, doc)
    assert {env for *_, env in spans} == {"0,1", "2,3"}  # two GPUs each, from the --gpus pool
    pairs = overlapping(spans)
    assert pairs and all(spans[i][3] != spans[j][3] for i, j in pairs)
    # half a GPU per trial is for a scheduler that shares GPUs (Ray): one line, exit 2, nothing run
    write_sweep(proj, "name: g3\ncommand: python timed.py {i}\nresources: {gpus: 0.5}\ngrid:\n  i: [1]\n")
    err = one_line_error(gb("sweep", "run", "sweep.yaml", "--gpus", "0,1", cwd=proj), 2)
    assert "resources.gpus 0.5" in err and "--backend ray" in err
    assert group_runs(proj, "g3") == []


def test_progress_is_a_live_view_on_a_terminal(proj: Path) -> None:
    write_sweep(proj, sweep_yaml(name="tty"))
    main, sub = pty.openpty()
    env = env_with(TERM="xterm-256color", COLUMNS="120")
    proc = subprocess.Popen([PY, "-m", "gatebook", "sweep", "run", "sweep.yaml"], cwd=proj, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=sub)
    os.close(sub)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    out = proc.stdout.read().decode() if proc.stdout else ""
    assert proc.wait(timeout=120) == 0
    raw = b"".join(chunks).decode("utf-8", "replace")
    assert "\x1b[" in raw  # drawn with terminal control codes, redrawn in place
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    assert "sweep tty: 3 done / 0 running / 1 stopped / 0 failed / 0 pending (of 4)" in screen
    assert "best val_acc 1.5 (lr-0.5)" in screen
    assert "gatebook:" not in screen  # the plain-line form is for logs, not terminals
    assert "val_acc" in out  # the ranked table on stdout


CFG_TRAIN = textwrap.dedent("""\
    import argparse, json, yaml
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    cfg = yaml.safe_load(open(p.parse_args().config))
    for epoch in range(1, cfg["epochs"] + 1):
        acc = round(cfg["optim"]["lr"] * epoch, 4)
        print("gatebook: " + json.dumps({"epoch": epoch, "val_acc": acc}), flush=True)
    """)


def test_a_config_file_sweep_of_named_variants_against_a_baseline(proj: Path) -> None:
    """The seeds' numbered experiments: named variants overriding keys of a config file, each a
    child of the baseline run, ranked against it."""
    write_script(proj, "cfgtrain.py", CFG_TRAIN)
    (proj / "base.yaml").write_text("epochs: 3\noptim:\n  lr: 0.1\n  momentum: 0.9\n")
    base = gb("run", "--name", "base", "--", PY, "cfgtrain.py", "--config", "base.yaml", cwd=proj)
    assert base.returncode == 0, base.stderr
    write_sweep(proj, textwrap.dedent("""\
        name: cf
        command: python cfgtrain.py --config {config}
        config: base.yaml
        baseline: base
        objective: val_acc
        list:
          - {name: exp1-small, optim.lr: 0.2}
          - {name: exp2-big, optim.lr: 0.4, epochs: 2}
        """))
    doc = gb_json("sweep", "run", "sweep.yaml", cwd=proj, timeout=120)
    trials = {t["name"]: t for t in doc["trials"]}
    assert set(trials) == {"exp1-small", "exp2-big"}
    assert all(t["status"] == "finished" for t in trials.values()), doc["trials"]
    assert trials["exp1-small"]["objective"] == pytest.approx(0.6)  # 0.2 x 3 epochs
    assert trials["exp2-big"]["objective"] == pytest.approx(0.8)  # 0.4 x 2 epochs
    # each trial read its own copy of the config: the overridden keys changed, the rest kept
    import yaml

    copy = yaml.safe_load((proj / ".gatebook" / "sweeps" / "cf" / "configs" / "exp2-big.yaml").read_text())
    assert copy == {"epochs": 2, "optim": {"lr": 0.4, "momentum": 0.9}}
    base_id = gb_json("show", "base", cwd=proj)["id"]
    for t in trials.values():
        assert gb_json("show", t["run_id"], cwd=proj)["parent"]["id"] == base_id
    ranking = doc["ranking"]
    assert ranking["baseline"]["id"] == base_id
    rows = ranking["runs"]  # ranked by val_acc, the baseline among them, marked
    assert [r["id"] for r in rows] == [trials["exp2-big"]["run_id"], trials["exp1-small"]["run_id"], base_id]
    assert [r["baseline"] for r in rows] == [False, False, True]
    assert rows[0]["metrics"]["val_acc"]["delta"] == pytest.approx(0.8 - 0.3)
