"""Gates end to end through the real CLI: live stops (stdout, API, watched file),
should_stop(), gatebook stop, gatebook gate exit codes and JSON, triage --apply, bad input.
`gate` and `triage --json` run in this process (``invoke``); the rest in real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import PY, env_with, gb, gb_json, invoke, one_line_error, wait_for, write_script

GATES = textwrap.dedent("""\
    metrics:
      higher_is_better: ["val_*", "r@*", "margin"]
      lower_is_better: ["*loss*", "latency*"]
    gates:
      epoch2:
        on_fail: stop
        checks:
          - "val_cosine >= 0.50 @ epoch 2"
        playbook:
          fixes:
            - {name: "temperature 0.05", why: "sharper distribution", set: {temperature: 0.05}}
            - {name: "more contrastive weight", set: {lambda_con: 0.85}}
          signatures:
            - {when: "contain50 >= 0.60 and r5 < 0.40", diagnosis: "ranking issue: tune the reranker"}
      watchful:
        on_fail: warn
        checks: ["val_cosine >= 0.50 @ epoch 2"]
        playbook:
          fixes: [{name: "lower temperature", set: {temperature: 0.05}}]
      validation:
        checks:
          - {metric: margin, pass: ">= 0.20", marginal: ">= 0.10"}
          - "val_cosine >= 0.05"
      deployment:
        baseline: DIRECT
        checks:
          - "r@5 >= baseline + 0.10"
          - "latency_ms no worse than baseline"
    """)

# Writes per epoch: a stdout metric line, history.json, and (with --api) gb.log.
# val_cosine grows 0.11 per epoch at temperature 0.07, 0.3 per epoch at 0.05.
TRAIN = textwrap.dedent("""\
    import argparse, json, os, signal, sys, time
    p = argparse.ArgumentParser()
    p.add_argument("--temperature", type=float, default=0.07)
    p.add_argument("--lambda_con", type=float, default=0.5)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--sleep", type=float, default=0.4)
    p.add_argument("--mode", default="stdout", choices=["stdout", "api", "watch", "coop"])
    a = p.parse_args()
    def on_term(signum, frame):
        open("got-sigterm", "w").write(str(time.time()))
        sys.exit(143)
    if a.mode != "coop":
        signal.signal(signal.SIGTERM, on_term)
    if a.mode in ("api", "coop"):
        import gatebook as gb
        gb.init()
    hist = []
    for epoch in range(1, a.epochs + 1):
        cos = (0.3 if a.temperature < 0.06 else 0.11) * epoch
        row = {"epoch": epoch, "val_cosine": round(cos, 4), "contain50": 0.7, "r5": 0.3, "margin": 0.15}
        if a.mode == "stdout":
            print("gatebook: " + json.dumps(row), flush=True)
        elif a.mode in ("api", "coop"):
            gb.log(row, step=epoch)
        else:
            hist.append(row)
            with open("history.json", "w") as f:
                json.dump(hist, f)
        print(f"epoch {epoch} done", flush=True)
        deadline = time.time() + a.sleep
        while time.time() < deadline:
            time.sleep(0.05)
            if a.mode == "coop" and gb.should_stop():
                open("checkpoint.pt", "w").write(f"epoch {epoch}: {gb.current().stop_reason}")
                sys.exit(0)
    print("training complete", flush=True)
    """)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "gatebook.yaml").write_text(GATES)
    write_script(tmp_path, "train.py", TRAIN)
    return tmp_path


def run(proj: Path, *args: str, name: str = "r", gates: tuple[str, ...] = ("epoch2",),
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    gate_args = [a for g in gates for a in ("--gate", g)]
    return gb("run", "--name", name, "--grace", "5", *gate_args, "--", PY, "train.py", *args, cwd=proj,
              timeout=timeout)


def show(proj: Path, ref: str) -> dict:
    return gb_json("show", ref, cwd=proj)


@pytest.mark.parametrize("mode", ["stdout", "api", "watch"])
def test_a_failing_stop_gate_stops_the_run_live(proj: Path, mode: str) -> None:
    extra = ["--watch", "history.json"] if mode == "watch" else []
    proc = gb("run", "--name", "mamba-s", "--gate", "epoch2", *extra, "--", PY, "train.py", "--mode", mode,
              "--epochs", "8", cwd=proj, timeout=120)
    assert proc.returncode == 143, proc.stderr  # the child's own SIGTERM handler
    assert (proj / "got-sigterm").exists()
    assert "training complete" not in proc.stdout
    assert "gate epoch2 FAIL: val_cosine 0.22 < 0.50 at epoch 2" in proc.stderr
    assert 'next fix: "temperature 0.05" (sharper distribution)' in proc.stderr
    assert "diagnosis (contain50 >= 0.60 and r5 < 0.40): ranking issue" in proc.stderr
    doc = show(proj, "mamba-s")
    assert doc["status"] == "stopped"
    assert doc["reason"] == "gate epoch2: val_cosine 0.22 < 0.50 at epoch 2"
    events = [e for e in doc["events"] if e["kind"] in ("gate", "stop", "verdict")]
    assert [e["kind"] for e in events] == ["gate", "stop", "verdict"]
    assert events[0]["data"]["tier"] == "FAIL" and events[0]["data"]["observed"] == 0.22
    assert events[0]["step"] == 2
    # the stop came at epoch 2: no later epoch reached the ledger
    assert max(p[0] for p in doc["metrics"]["val_cosine"].get("points", [[2]])) <= 3 if "points" in \
        doc["metrics"]["val_cosine"] else doc["metrics"]["val_cosine"]["last_step"] <= 3
    text = gb("show", "mamba-s", cwd=proj).stdout
    assert "gate epoch2 FAIL at step 2: val_cosine 0.22 < 0.50 at epoch 2" in text
    assert "stop requested by gate epoch2" in text


def test_passing_gates_let_the_run_finish_and_record_the_verdict(proj: Path) -> None:
    proc = run(proj, "--temperature", "0.05", "--epochs", "3", "--sleep", "0.1")
    assert proc.returncode == 0, proc.stderr
    assert "gate epoch2 PASS: val_cosine 0.6 >= 0.50 at epoch 2" in proc.stderr
    doc = show(proj, "r")
    assert doc["status"] == "finished"
    verdicts = [e for e in doc["events"] if e["kind"] == "verdict"]
    assert verdicts[-1]["data"] == {"verdict": "PASS", "gates": {"epoch2": "PASS"}}


def test_a_warn_gate_only_records_and_prints(proj: Path) -> None:
    proc = run(proj, "--epochs", "3", "--sleep", "0.1", gates=("watchful",))
    assert proc.returncode == 0, proc.stderr
    assert "gate watchful FAIL: val_cosine 0.22 < 0.50 at epoch 2" in proc.stderr
    assert "training complete" in proc.stdout
    assert 'next fix: "lower temperature" -> gatebook triage r --apply' in proc.stderr
    assert show(proj, "r")["status"] == "finished"


def test_should_stop_lets_training_save_a_checkpoint_and_exit_cleanly(proj: Path) -> None:
    proc = run(proj, "--mode", "coop", "--epochs", "8")
    # stopped at epoch 2, and stop_reason says why: the gate's reason, not the bare SIGTERM
    assert (proj / "checkpoint.pt").read_text() == "epoch 2: gate epoch2: val_cosine 0.22 < 0.50 at epoch 2"
    assert proc.returncode == 1, proc.stderr  # exited 0 itself, but a gate stopped it
    doc = show(proj, "r")
    assert doc["status"] == "stopped" and doc["exit_code"] == 0


def test_gatebook_stop_from_another_shell_stops_a_wrapped_run(proj: Path) -> None:
    child = subprocess.Popen([PY, "-m", "gatebook", "run", "--name", "long", "--", PY, "train.py", "--epochs", "200",
                              "--sleep", "0.2"], cwd=proj, env=env_with(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: gb("show", "long", cwd=proj).returncode == 0)
        stop = gb("stop", "long", "--reason", "enough of this", "--json", cwd=proj)
        assert stop.returncode == 0, stop.stderr
        doc = json.loads(stop.stdout)
        assert doc["status"] == "stopped" and doc["reason"] == "enough of this" and doc["ended"] is True, doc
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 143, err
    assert "stopping long: enough of this" in err
    assert show(proj, "long")["status"] == "stopped"
    again = gb("stop", "long", cwd=proj)
    assert "is not running (it is stopped)" in one_line_error(again)


def test_gatebook_stop_signals_a_run_recorded_by_the_api_alone(proj: Path) -> None:
    script = write_script(proj, "api_only.py", textwrap.dedent("""\
        import time, gatebook as gb
        gb.init(name="api-only")
        for i in range(600):
            gb.log({"loss": 1 / (i + 1)}, step=i)
            time.sleep(0.1)
        """))
    child = subprocess.Popen([PY, str(script)], cwd=proj, env=env_with(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: gb("show", "api-only", cwd=proj).returncode == 0)
        stop = gb("stop", "api-only", "--grace", "5", cwd=proj)
        assert stop.returncode == 0, stop.stderr
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGTERM
    doc = show(proj, "api-only")
    assert doc["status"] == "stopped" and doc["reason"].startswith("stopped by ")


def _log_run(proj: Path, name: str, **metrics: float) -> None:
    body = "import gatebook as gb\ngb.init(name=%r)\ngb.log(%r, step=1)\n" % (name, metrics)
    script = write_script(proj, f"log_{name}.py", body)
    subprocess.run([PY, str(script)], cwd=proj, env=env_with(), check=True, timeout=60)


def test_gate_command_exit_codes_tables_and_json(proj: Path) -> None:
    _log_run(proj, "DIRECT", **{"r@5": 0.42, "latency_ms": 10.0})
    _log_run(proj, "good", **{"r@5": 0.52, "latency_ms": 9.0, "margin": 0.25, "val_cosine": 0.5})
    _log_run(proj, "meh", **{"r@5": 0.60, "latency_ms": 12.0, "margin": 0.15, "val_cosine": 0.5})

    ok = invoke("gate", "good", "--gate", "deployment", "--gate", "validation", cwd=proj)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "gate deployment on good" in ok.stdout and "vs baseline DIRECT" in ok.stdout
    assert "0.52 (DIRECT 0.42 + 0.10)" in ok.stdout

    marginal = invoke("gate", "meh", "--gate", "validation", cwd=proj)
    assert marginal.returncode == 0 and "MARGINAL" in marginal.stdout and "warning" in marginal.stderr
    assert invoke("gate", "meh", "--gate", "validation", "--strict", cwd=proj).returncode == 1

    fail = invoke("gate", "meh", "--gate", "deployment", "--json", cwd=proj)
    assert fail.returncode == 1
    doc = json.loads(fail.stdout)
    assert doc["verdict"] == "FAIL" and doc["run"]["name"] == "meh"
    assert [g["name"] for g in doc["gates"]] == ["deployment"]
    checks = doc["gates"][0]["checks"]
    assert [c["tier"] for c in checks] == ["PASS", "FAIL"]
    assert set(checks[1]) >= {"check", "metric", "observed", "threshold", "tier", "reason"}
    assert checks[1]["observed"] == 12.0 and checks[1]["threshold"] == 10.0
    assert doc["baselines"]["deployment"]["name"] == "DIRECT"

    # --baseline overrides the gate's baseline
    assert invoke("gate", "meh", "--gate", "deployment", "--baseline", "meh", cwd=proj).returncode == 1  # r@5 + 0.10

    # ERROR: a metric the run never logged -> exit 2, one line naming the keys it has
    err = invoke("gate", "DIRECT", "--gate", "validation", cwd=proj)
    assert err.returncode == 2
    assert "never logged margin; it has: latency_ms, r@5" in err.stderr or "it has:" in err.stderr
    assert len(err.stderr.strip().splitlines()) == 1 and "Traceback" not in err.stderr


def test_gate_bad_input_is_one_line_exit_2(proj: Path) -> None:
    _log_run(proj, "a", **{"r@5": 0.5, "latency_ms": 1.0})
    assert "unknown gate 'deploy'" in one_line_error(invoke("gate", "a", "--gate", "deploy", cwd=proj))
    assert "no run matches" in one_line_error(invoke("gate", "nope", cwd=proj))
    assert "no run matches 'DIRECT'" in one_line_error(invoke("gate", "a", "--gate", "deployment", cwd=proj))
    assert "no run matches 'zzz'" in one_line_error(invoke("gate", "a", "--gate", "deployment", "--baseline", "zzz",
                                                           cwd=proj))
    (proj / "gatebook.yaml").write_text(GATES.replace('"r@5 >= baseline + 0.10"', '"r@5 >== baseline"'))
    err = one_line_error(invoke("gate", "a", cwd=proj))
    assert "gatebook.yaml:" in err and "r@5 >== baseline" in err
    (proj / "gatebook.yaml").write_text(GATES + "    oops: 1\n")
    assert "unknown field" in one_line_error(invoke("gate", "a", cwd=proj))
    (proj / "gatebook.yaml").write_text(GATES.replace("    baseline: DIRECT\n", ""))
    assert "compares with a baseline and none is set" in one_line_error(
        invoke("gate", "a", "--gate", "deployment", cwd=proj))
    # a gate on an unknown name in `run` fails before the command starts
    proc = gb("run", "--gate", "nope", "--", PY, "-c", "open('started', 'w')", cwd=proj)
    assert "unknown gate 'nope'" in one_line_error(proc)
    assert not (proj / "started").exists()
    proc = gb("run", "--baseline", "a", "--", PY, "-c", "open('started', 'w')", cwd=proj)
    assert "--baseline is for the gates given with --gate" in one_line_error(proc)
    assert not (proj / "started").exists()


def test_triage_names_the_next_fix_and_apply_runs_it_as_a_child(proj: Path) -> None:
    first = run(proj, "--epochs", "6", name="mamba-s")
    assert first.returncode == 143
    tri = invoke("triage", "mamba-s", "--json", cwd=proj)
    assert tri.returncode == 0, tri.stderr
    doc = json.loads(tri.stdout)
    assert doc["advice"][0]["next_fix"]["name"] == "temperature 0.05"
    assert [f["tried"] for f in doc["advice"][0]["fixes"]] == [False, False]
    assert doc["advice"][0]["diagnoses"][0]["diagnosis"] == "ranking issue: tune the reranker"

    applied = gb("triage", "mamba-s", "--apply", cwd=proj, timeout=120)
    assert applied.returncode == 0, applied.stderr
    assert 'applying fix "temperature 0.05"' in applied.stderr
    child = show(proj, "mamba-s-temperature-0.05")
    parent = show(proj, "mamba-s")
    assert child["parent"]["id"] == parent["id"] and child["status"] == "finished"
    assert child["command"][-2:] == ["--temperature", "0.05"]
    assert [e["data"]["verdict"] for e in child["events"] if e["kind"] == "verdict"] == ["PASS"]

    again = json.loads(invoke("triage", "mamba-s", "--json", cwd=proj).stdout)
    assert [f["tried"] for f in again["advice"][0]["fixes"]] == [True, False]
    assert again["advice"][0]["next_fix"]["name"] == "more contrastive weight"
    text = gb("triage", "mamba-s", cwd=proj).stdout
    assert "[tried] temperature 0.05" in text and "[next ] more contrastive weight" in text


def test_import_of_gates_stays_out_of_gatebook_import() -> None:
    code = "import sys, gatebook; print(any(m.startswith('gatebook.gates') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ)).stdout.strip() == "False"


@pytest.mark.postgres
def test_live_gates_and_gate_command_on_a_postgres_ledger(proj: Path, pg_url: str) -> None:
    proc = gb("run", "--name", "pg-run", "--gate", "epoch2", "--", PY, "train.py", "--mode", "api", "--epochs", "8",
              cwd=proj, store=pg_url, timeout=120)
    assert proc.returncode == 143, proc.stderr
    doc = gb_json("show", "pg-run", cwd=proj, store=pg_url)
    assert doc["status"] == "stopped" and doc["reason"] == "gate epoch2: val_cosine 0.22 < 0.50 at epoch 2"
    verdict = invoke("gate", "pg-run", "--gate", "epoch2", "--json", cwd=proj, store=pg_url)
    assert verdict.returncode == 1 and json.loads(verdict.stdout)["verdict"] == "FAIL"


def test_a_run_too_fast_to_stop_still_fails_its_stop_gate(proj: Path) -> None:
    # The wrapper polls once as the command starts and then, with a 60 s flush interval, only when
    # the command has ended (it wakes at once then); the command waits 1 s before writing
    # history.json, so no poll sees a point while it runs and the gate can only fail at the end.
    script = f"sleep 1; exec {PY} train.py --mode watch --epochs 3 --sleep 0"
    proc = gb("run", "--name", "fast", "--gate", "epoch2", "--watch", "history.json", "--", "sh", "-c", script,
              cwd=proj, env=env_with(GATEBOOK_FLUSH_INTERVAL="60"), timeout=45)  # < 60: the end woke it
    assert proc.returncode == 1, proc.stderr  # the command exited 0, the gate failed
    assert "the command ended before gate epoch2 could stop it" in proc.stderr
    doc = show(proj, "fast")
    assert [e["data"]["verdict"] for e in doc["events"] if e["kind"] == "verdict"] == ["FAIL"]


def test_triage_apply_all_runs_every_untried_fix_as_one_sweep(proj: Path) -> None:
    assert run(proj, "--epochs", "6", name="mamba-s").returncode == 143
    assert "--all goes with --apply" in one_line_error(gb("triage", "mamba-s", "--all", cwd=proj))
    proc = gb("triage", "mamba-s", "--apply", "--all", "--parallel", "2", "--json", cwd=proj, timeout=180)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    trials = {t["name"]: t for t in doc["trials"]}
    assert set(trials) == {"temperature-0.05", "more-contrastive-weight"}
    assert trials["temperature-0.05"]["status"] == "finished"  # 0.3 per epoch passes the gate
    assert trials["more-contrastive-weight"]["status"] == "stopped"  # temperature unchanged: fails again
    parent = show(proj, "mamba-s")["id"]
    for t in trials.values():
        assert show(proj, t["run_id"])["parent"]["id"] == parent
    after = json.loads(invoke("triage", "mamba-s", "--json", cwd=proj).stdout)
    assert [f["tried"] for f in after["advice"][0]["fixes"]] == [True, True]
    assert after["advice"][0]["next_fix"] is None
