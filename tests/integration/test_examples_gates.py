"""The gate examples (examples/gates/*) do what their gatebook.yaml comments promise.

Each test copies one example directory to tmp_path (its gatebook.yaml makes the copy the
project root, so the ledger is the copy's own .gatebook/) and drives the CLI with no
GATEBOOK_* variable set: `gatebook run`, `triage --apply` and one `gate` call through real
``gatebook`` processes, the reading commands (`gate`, `triage`, `show`) in this process
(``invoke``). ``python`` in the examples' commands is this interpreter.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers import PY, env_with, gb, invoke, one_line_error

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "gates"

GATE_KEYS = {"verdict", "gates", "run", "baselines", "advice"}
CHECK_KEYS = {"check", "metric", "observed", "threshold", "tier", "reason"}


def _project(tmp_path: Path, name: str) -> Path:
    dest = tmp_path / name
    shutil.copytree(EXAMPLES / name, dest,
                    ignore=shutil.ignore_patterns(".gatebook", "history.json*", "__pycache__"))
    assert (dest / "gatebook.yaml").is_file()
    return dest


def _gb(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`gatebook ARGS` in a real process."""
    return gb(*args, cwd=cwd, env=env_with(), timeout=120)


def _in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`gatebook ARGS` in this process (a command that only reads the ledger)."""
    return invoke(*args, cwd=cwd, env=env_with())


def _run(cwd: Path, name: str, script: str, *args: str, gate: str | None = None,
         watch: str | None = None) -> dict[str, Any]:
    """`gatebook run --json --name NAME [--gate G] [--watch F] -- python SCRIPT ARGS`: its document."""
    opts = ["run", "--json", "--name", name]
    if gate:
        opts += ["--gate", gate]
    if watch:
        opts += ["--watch", watch]
    proc = _gb(cwd, *opts, "--", PY, script, *args)
    assert proc.stdout.strip(), (proc.returncode, proc.stderr)
    doc = json.loads(proc.stdout)
    assert proc.returncode == doc["exit_code"], (proc.returncode, doc, proc.stderr)
    return doc


def _gate(cwd: Path, run: str, *args: str) -> tuple[int, dict[str, Any]]:
    """`gatebook gate RUN ARGS --json`: the exit code and the checked document."""
    proc = _in(cwd, "gate", run, *args, "--json")
    assert proc.returncode in (0, 1), (proc.returncode, proc.stdout, proc.stderr)
    doc = json.loads(proc.stdout)
    assert GATE_KEYS <= set(doc), doc
    assert doc["run"]["name"] == run
    for g in doc["gates"]:
        assert {"name", "verdict", "checks"} <= set(g), g
        for c in g["checks"]:
            assert CHECK_KEYS <= set(c), c
    return proc.returncode, doc


def _tiers(verdict: dict[str, Any]) -> dict[str, str]:
    """metric -> tier over every gate of a verdict document."""
    return {c["metric"]: c["tier"] for g in verdict["gates"] for c in g["checks"]}


def test_epoch2_stops_the_run_and_triage_applies_the_next_fix(tmp_path: Path) -> None:
    cwd = _project(tmp_path, "epoch2")

    # tau 0.07: the gate fails when epoch 2 lands in history.json and the run is stopped
    run = _run(cwd, "tau07", "train.py", "--temperature", "0.07", gate="epoch2", watch="history.json")
    assert run["status"] == "stopped", run
    assert run["exit_code"] == 143  # SIGTERM
    assert "epoch2" in run["reason"], run["reason"]
    assert "val_cosine" in run["reason"] and "< 0.50 at epoch 2" in run["reason"], run["reason"]
    assert run["verdict"]["verdict"] == "FAIL"
    assert run["advice"]["next_fix"]["name"] == "temperature 0.05"
    history = json.loads((cwd / "history.json").read_text())
    assert 2 <= len(history) < 8, history  # stopped before the 8 epochs were done

    triage = _in(cwd, "triage", "tau07", "--json")
    assert triage.returncode == 0, triage.stderr
    doc = json.loads(triage.stdout)
    assert doc["run"]["status"] == "stopped" and doc["verdict"]["verdict"] == "FAIL"
    (check,) = doc["verdict"]["gates"][0]["checks"]
    assert check["metric"] == "val_cosine" and check["observed"] == 0.465 and check["tier"] == "FAIL"
    assert "val_cosine 0.465 < 0.50 at epoch 2" in check["reason"], check
    (advice,) = doc["advice"]
    assert advice["next_fix"]["name"] == "temperature 0.05"
    assert [d["fix"] for d in advice["diagnoses"]] == ["temperature 0.05"]
    assert [f["tried"] for f in advice["fixes"]] == [False, False, False]

    applied = _gb(cwd, "triage", "tau07", "--apply", "--json")
    assert applied.returncode == 0, applied.stderr
    app = json.loads(applied.stdout)["applied"]
    assert app["fix"] == "temperature 0.05"
    assert app["command"][-2:] == ["--temperature", "0.05"]
    assert app["run"]["name"] == "tau07-temperature-0.05"
    assert (app["run"]["status"], app["run"]["exit_code"]) == ("finished", 0)

    show = _in(cwd, "show", "tau07-temperature-0.05", "--json")
    assert show.returncode == 0, show.stderr
    child = json.loads(show.stdout)
    assert child["id"] == app["run"]["id"]
    assert child["parent"] == {"id": doc["run"]["id"], "name": "tau07"}
    assert child["params"]["temperature"] == 0.05
    assert child["metrics"]["val_cosine"]["count"] == 8  # all epochs: not stopped
    verdicts = [e["data"] for e in child["events"] if e["kind"] == "verdict"]
    assert verdicts == [{"verdict": "PASS", "gates": {"epoch2": "PASS"}}]

    again = _in(cwd, "triage", "tau07", "--json")
    assert again.returncode == 0, again.stderr
    (advice,) = json.loads(again.stdout)["advice"]
    assert [f["tried"] for f in advice["fixes"]] == [True, False, False]
    assert advice["next_fix"]["name"] == "more contrastive weight"

    # tau 0.05 from the start: PASS at epoch 2, and the run finishes
    good = _run(cwd, "tau05", "train.py", "--temperature", "0.05", gate="epoch2", watch="history.json")
    assert (good["status"], good["exit_code"]) == ("finished", 0), good
    assert good["verdict"]["verdict"] == "PASS"
    assert good["verdict"]["gates"][0]["checks"][0]["observed"] == 0.54
    assert len(json.loads((cwd / "history.json").read_text())) == 8


def test_smoke_eval_pass_and_named_failures(tmp_path: Path) -> None:
    cwd = _project(tmp_path, "smoke-eval")

    good = _run(cwd, "good", "eval.py", "--quality", "0.8", gate="smoke")
    weak = _run(cwd, "weak", "eval.py", "--quality", "0.55", gate="smoke")
    for run in (good, weak):  # the gate (on_fail: warn) reports; the command's code stands
        assert (run["status"], run["exit_code"]) == ("finished", 0), run
    assert good["verdict"]["verdict"] == "PASS"
    assert _tiers(good["verdict"]) == dict.fromkeys(["contain@50", "eff@5", "r@5", "p95_ms"], "PASS")
    assert weak["verdict"]["verdict"] == "FAIL"

    code, doc = _gate(cwd, "weak")
    assert code == 1 and doc["verdict"] == "FAIL"
    assert _tiers(doc) == {"contain@50": "PASS", "eff@5": "FAIL", "r@5": "FAIL", "p95_ms": "PASS"}
    reasons = {c["metric"]: c["reason"] for c in doc["gates"][0]["checks"]}
    assert "eff@5 0.5575 < 0.68" in reasons["eff@5"], reasons
    assert "r@5 0.3484 < 0.40" in reasons["r@5"], reasons
    (advice,) = doc["advice"]
    assert [d["diagnosis"].split(":")[0] for d in advice["diagnoses"]] == ["ranking issue"]


def test_tiered_validation_pass_marginal_fail(tmp_path: Path) -> None:
    cwd = _project(tmp_path, "tiered-validation")

    runs = {
        "strong": _run(cwd, "strong", "train.py", "--quality", "1.0", gate="validation"),
        "middling": _run(cwd, "middling", "train.py", "--quality", "0.6", gate="validation"),
        "weak": _run(cwd, "weak", "train.py", "--quality", "0.2", gate="validation"),
    }
    for run in runs.values():
        assert (run["status"], run["exit_code"]) == ("finished", 0), run
    assert {n: r["verdict"]["verdict"] for n, r in runs.items()} == {
        "strong": "PASS", "middling": "MARGINAL", "weak": "FAIL"}
    assert _tiers(runs["middling"]["verdict"]) == {"margin": "MARGINAL", "cos_next": "MARGINAL", "cos_anchor": "PASS"}

    code, doc = _gate(cwd, "strong")
    assert code == 0 and doc["verdict"] == "PASS"

    marginal = _in(cwd, "gate", "middling")
    assert marginal.returncode == 0, marginal.stderr
    assert "verdict: MARGINAL" in marginal.stdout
    assert "gatebook: warning: verdict MARGINAL" in marginal.stderr
    strict = _in(cwd, "gate", "middling", "--strict")
    assert strict.returncode == 1, strict.stderr
    assert "gatebook: warning: verdict MARGINAL (--strict: failing)" in strict.stderr

    code, doc = _gate(cwd, "weak")
    assert code == 1 and doc["verdict"] == "FAIL"
    assert _tiers(doc) == {"margin": "FAIL", "cos_next": "FAIL", "cos_anchor": "PASS"}
    margin = doc["gates"][0]["checks"][0]
    assert margin["check"] == "margin >= 0.20, marginal >= 0.10" and margin["observed"] == 0.0


def test_deployment_against_a_named_baseline(tmp_path: Path) -> None:
    cwd = _project(tmp_path, "deployment")

    p7 = _run(cwd, "p7", "evaluate.py", "--quality", "0.45")
    assert p7["status"] == "finished" and p7["verdict"] is None
    # the gate's baseline run does not exist yet: an input error, said in one line
    err = one_line_error(_gb(cwd, "gate", "p7"), 2)
    assert "DIRECT" in err

    _run(cwd, "DIRECT", "evaluate.py", "--quality", "0.20")
    _run(cwd, "P6b", "evaluate.py", "--quality", "0.10", "--rerank-depth", "20")
    rerank = _run(cwd, "p7-rerank", "evaluate.py", "--quality", "0.45", "--rerank-depth", "20")
    assert (rerank["status"], rerank["exit_code"]) == ("finished", 0), rerank

    code, doc = _gate(cwd, "p7")
    assert code == 0 and doc["verdict"] == "PASS"
    assert doc["baselines"]["deploy"]["name"] == "DIRECT"
    checks = {c["metric"]: c for c in doc["gates"][0]["checks"]}
    assert abs(checks["r@5"]["threshold"] - 0.40) < 1e-9  # DIRECT 0.30 + 0.10
    assert abs(checks["mrr@10"]["threshold"] - 0.24) < 1e-9  # DIRECT 0.19 + 0.05

    code, doc = _gate(cwd, "p7-rerank")
    assert code == 1 and doc["verdict"] == "FAIL"
    assert _tiers(doc) == {"r@5": "PASS", "mrr@10": "PASS", "latency_ms": "FAIL"}
    latency = doc["gates"][0]["checks"][2]
    assert "latency_ms 1.3 worse than 0.9" in latency["reason"] and "lower is better" in latency["reason"]

    code, doc = _gate(cwd, "p7-rerank", "--baseline", "P6b")
    assert code == 0 and doc["verdict"] == "PASS"
    assert doc["baselines"]["deploy"]["name"] == "P6b"
    assert {c["metric"]: c["threshold"] for c in doc["gates"][0]["checks"]}["latency_ms"] == 1.3


def test_separation_statistics_and_gates(tmp_path: Path) -> None:
    cwd = _project(tmp_path, "separation")

    v1 = _run(cwd, "v1", "diagnose.py", gate="separation")
    v2 = _run(cwd, "v2", "diagnose.py", "--pos-score", "2.3", "--neg-score", "6.2", gate="separation")
    for run in (v1, v2):
        assert (run["status"], run["exit_code"]) == ("finished", 0), run
    assert v1["verdict"]["verdict"] == "PASS"
    observed = {c["metric"]: c["observed"] for c in v1["verdict"]["gates"][0]["checks"]}
    assert observed["median_ratio"] > 10 and observed["neg_below_3"] < 0.1 and observed["pos_below_1"] > 0.9

    code, doc = _gate(cwd, "v2")
    assert code == 1 and doc["verdict"] == "FAIL"
    assert _tiers(doc) == {"median_ratio": "FAIL", "neg_below_3": "PASS", "pos_below_1": "FAIL"}
    observed = {c["metric"]: c["observed"] for c in doc["gates"][0]["checks"]}
    assert 2.4 < observed["median_ratio"] < 2.8, observed  # the seed's V2: 2.56
    (advice,) = doc["advice"]
    assert advice["diagnoses"][0]["diagnosis"].startswith("positives are shifted high")
