"""`gatebook keys`: metric-key contracts, on a real ledger.

`keys` runs in this process (``invoke``: the CLI's ``main`` under Click's CliRunner) but for one
failing check through a real ``gatebook`` process (its exit code 1), and `init` and `run`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import PY, env_with, gb, invoke, invoke_json, one_line_error

SEED = """
import gatebook as gb

def record(name, points, summary=None):
    gb.init(name=name)
    for step, values in enumerate(points, start=1):
        gb.log(values, step=step)
    if summary:
        gb.summary(summary)
    gb.finish()

record("ref", [{"loss": 1.0, "rollout/len": 10, "rollout/reward": 0.1, "time/step": 0.2}], {"best_acc": 0.8})
record("same-plus", [{"loss": 0.9, "rollout/len": 12, "rollout/reward": 0.2, "time/step": 0.2, "grad_norm": 3.0}],
       {"best_acc": 0.85, "comment": "not a number"})
record("no-rollout", [{"loss": 0.7, "time/step": 0.1}], {"best_acc": "n/a"})
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("keys") / "project"
    root.mkdir()
    assert gb("init", cwd=root).returncode == 0  # the real executable
    proc = subprocess.run([PY, "-c", SEED], cwd=root, env=env_with(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return root


def _config(root: Path, text: str) -> None:
    (root / "gatebook.yaml").write_text(text)


def test_required_keys_exact_and_globs(project: Path) -> None:
    _config(project, 'keys:\n  required: ["rollout/*", "time/step", loss, best_acc]\n')
    ok = invoke("keys", "same-plus", cwd=project)
    assert ok.returncode == 0, ok.stderr
    assert "verdict: PASS (all 4 required keys present)" in ok.stdout
    assert "rollout/len, rollout/reward" in ok.stdout  # what a glob matched

    bad = gb("keys", "no-rollout", cwd=project)  # the real executable
    assert bad.returncode == 1, bad.stderr
    assert "verdict: FAIL: missing 2 of 4: rollout/*, best_acc" in bad.stdout  # a text summary is no key
    assert "MISSING" in bad.stdout

    doc = json.loads(invoke("keys", "no-rollout", "--json", cwd=project).stdout)
    assert set(doc) == {"run", "like", "source", "mode", "ok", "verdict", "keys", "required", "missing", "extra"}
    assert doc["run"]["name"] == "no-rollout" and doc["run"]["status"] == "finished"
    assert doc["like"] is None and doc["source"] == str(project / "gatebook.yaml")
    assert (doc["mode"], doc["ok"], doc["verdict"]) == ("required", False, "FAIL")
    assert doc["keys"] == ["loss", "time/step"]
    assert doc["missing"] == ["rollout/*", "best_acc"] and doc["extra"] == []
    assert doc["required"][0] == {"key": "rollout/*", "glob": True, "present": False, "matched": []}
    assert doc["required"][1] == {"key": "time/step", "glob": False, "present": True, "matched": ["time/step"]}


def test_like_another_run(project: Path) -> None:
    missing = invoke("keys", "no-rollout", "--like", "ref", "--json", cwd=project)
    assert missing.returncode == 1, missing.stderr
    doc = json.loads(missing.stdout)
    assert doc["mode"] == "like" and doc["like"]["name"] == "ref" and doc["source"] is None
    assert doc["missing"] == ["best_acc", "rollout/len", "rollout/reward"]
    assert doc["extra"] == []

    extra = invoke("keys", "same-plus", "--like", "ref", cwd=project)
    assert extra.returncode == 0, extra.stderr  # extra keys are reported, not a failure
    assert "grad_norm" in extra.stdout and "EXTRA" in extra.stdout
    assert "5 of 5 keys of ref" in extra.stdout and "1 extra (not a failure)" in extra.stdout


def test_like_ignores_a_broken_config(project: Path) -> None:
    _config(project, "keys: [oops\n")
    assert invoke("keys", "same-plus", "--like", "ref", cwd=project).returncode == 0
    err = one_line_error(invoke("keys", "same-plus", cwd=project))
    assert "gatebook.yaml:2:1" in err and "YAML" in err


def test_nothing_to_check_against_is_a_usage_error(project: Path) -> None:
    _config(project, "metrics: {higher_is_better: [acc]}\n")
    err = one_line_error(invoke("keys", "ref", cwd=project))
    assert "has no keys.required and --like was not given" in err
    (project / "gatebook.yaml").unlink()
    err = one_line_error(invoke("keys", "ref", "--json", cwd=project))
    assert "no gatebook.yaml with keys.required" in err
    _config(project, "keys:\n  required: [loss, '']\n")
    assert "keys.required: entry 1 is empty" in one_line_error(invoke("keys", "ref", cwd=project))


def test_unknown_runs(project: Path) -> None:
    _config(project, "keys: {required: [loss]}\n")
    assert "nope" in one_line_error(invoke("keys", "ref", "--like", "nope", cwd=project))


def test_keys_of_a_wrapped_command(project: Path) -> None:
    """Keys from output lines of `gatebook run` count like the API's."""
    _config(project, 'keys:\n  required: ["eval/*", epoch]\n')
    line = 'print("gatebook: " + __import__("json").dumps({"epoch": 1, "eval/acc": 0.5}))'
    proc = gb("run", "-q", "--name", "wrapped", "--", PY, "-c", line, cwd=project)
    assert proc.returncode == 0, proc.stderr
    doc = invoke_json("keys", "wrapped", cwd=project)
    assert doc["ok"] and doc["keys"] == ["epoch", "eval/acc"]
