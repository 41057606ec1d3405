"""`gatebook compare`: columns, deltas, best, formats, gates, errors.

The commands run in this process (``invoke``: the CLI's ``main`` under Click's CliRunner); the
piped text table goes through a real ``gatebook`` process."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PY, env_with, gb, invoke, invoke_json, one_line_error

GATEBOOK_YAML = """\
metrics:
  higher_is_better: ["val_*"]
  lower_is_better: ["*loss*"]
  primary: ["val_acc"]
gates:
  deploy:
    checks: ["val_acc >= baseline + 0.05", "val_loss no worse than baseline"]
  floor:
    checks: ["val_acc >= 0.75"]
"""

# name, metrics at the last of 3 steps, tags, final status
RUNS = [
    ("base", {"val_acc": 0.70, "val_loss": 0.50, "throughput": 100.0}, [], "finished"),
    ("b", {"val_acc": 0.80, "val_loss": 0.45, "throughput": 90.0}, ["sweep"], "finished"),
    ("c", {"val_acc": 0.72, "bleu": 3.0}, ["sweep"], "finished"),
    ("d", {"val_acc": float("nan"), "val_loss": 0.40}, ["sweep"], "failed"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cmp")
    (root / "gatebook.yaml").write_text(GATEBOOK_YAML)
    script = textwrap.dedent("""\
        import json, sys
        import gatebook as gb
        for name, last, tags, status in json.loads(sys.argv[1]):
            gb.init(name=name, config={"lr": 0.1}, tags=tags)
            for step in range(3):
                gb.log({k: (v if step == 2 else v / 2) for k, v in last.items()}, step=step)
            gb.finish(status)
    """)
    proc = subprocess.run([PY, "-c", script, json.dumps(RUNS)], cwd=root, env=env_with(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return root


def _ids(project: Path) -> dict[str, str]:
    return {r["name"]: r["id"] for r in invoke_json("ls", cwd=project)["runs"]}


def test_json_columns_deltas_best_and_blanks(project: Path) -> None:
    doc = invoke_json("compare", "base", "b", "c", "d", cwd=project)
    # default columns: metrics.primary, then the gates' metrics; the rest are listed
    assert doc["value"] == "last"
    assert doc["metrics"] == [{"key": "val_acc", "direction": "higher"}, {"key": "val_loss", "direction": "lower"}]
    assert doc["metrics_from"] == "primary" and doc["other_metrics"] == ["bleu", "throughput"]
    assert doc["baseline"]["name"] == "base" and doc["baseline"]["from"] == "first run"
    runs = {r["name"]: r for r in doc["runs"]}
    assert [r["name"] for r in doc["runs"]] == ["base", "b", "c", "d"]
    assert runs["base"]["baseline"] and runs["base"]["metrics"]["val_acc"]["delta"] is None
    b = runs["b"]["metrics"]
    assert b["val_acc"] == {"value": 0.8, "step": 2, "delta": 0.1, "delta_pct": 14.2857142857, "change": "better",
                            "best": True}
    assert b["val_loss"]["delta"] == -0.05 and b["val_loss"]["change"] == "better"
    assert runs["c"]["metrics"]["val_loss"]["value"] is None  # a blank, not an error
    assert runs["d"]["metrics"]["val_acc"]["value"] == "NaN" and runs["d"]["status"] == "failed"
    assert runs["d"]["metrics"]["val_loss"]["best"] and not b["val_loss"]["best"]
    assert runs["b"]["verdicts"] == {} and doc["gates"] == [] and doc["sort"] is None


def test_selection_baseline_sort_and_explicit_metrics(project: Path) -> None:
    # --tag selects; --baseline is added first though not selected; --format json == --json
    proc = invoke("compare", "--tag", "sweep", "--baseline", "base", "--metric", "throughput,val_acc",
              "--sort", "val_acc", "--format", "json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [m["key"] for m in doc["metrics"]] == ["throughput", "val_acc"] and doc["metrics_from"] == "--metric"
    assert doc["baseline"]["from"] == "--baseline" and doc["sort"] == "val_acc"
    assert [r["name"] for r in doc["runs"]] == ["b", "c", "base", "d"]  # best first; NaN last
    assert [r["baseline"] for r in doc["runs"]] == [False, False, True, False]
    assert doc["runs"][0]["metrics"]["throughput"]["delta"] == -10.0
    assert doc["runs"][0]["metrics"]["throughput"]["change"] is None  # no declared direction


def test_table_markdown_and_csv(project: Path) -> None:
    ids = _ids(project)
    table = gb("compare", "base", "b", "c", cwd=project)  # the real executable, piped
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["run", "id", "status", "val_acc", "↑", "val_loss", "↓"]
    assert lines[1].startswith(f"base (baseline)  {ids['base']}  finished")
    assert "0.8 +0.1" in lines[2] and "0.45 -0.05" in lines[2]
    assert "\x1b[" not in table.stdout  # piped: no colour
    assert lines[-1].startswith("values: the last logged value; (+/-): delta vs the baseline base")
    coloured = invoke("compare", "base", "b", "c", cwd=project, env=env_with(FORCE_COLOR="1"))
    assert "\x1b[1m0.8\x1b[0m \x1b[32m+0.1\x1b[0m" in coloured.stdout  # best in bold, better in green
    assert "\x1b[32m-0.05\x1b[0m" in coloured.stdout

    md = invoke("compare", "base", "b", "c", "-f", "md", cwd=project).stdout.splitlines()
    assert md[0] == "| run | id | status | val_acc ↑ | val_loss ↓ |"
    assert md[1] == "|---|---|---|---:|---:|"
    assert md[2] == f"| base *(baseline)* | `{ids['base']}` | finished | 0.7 | 0.5 |"
    assert md[3] == f"| b | `{ids['b']}` | finished | **0.8** (+0.1) | **0.45** (-0.05) |"
    assert md[4] == f"| c | `{ids['c']}` | finished | 0.72 (+0.02) |  |"

    rows = list(csv.DictReader(io.StringIO(invoke("compare", "c", "b", "--format", "csv", cwd=project).stdout)))
    assert [r["name"] for r in rows] == ["c", "b"] and rows[0]["baseline"] == "true"
    assert rows[1]["val_acc"] == "0.8" and float(rows[1]["val_acc_delta"]) == pytest.approx(0.08)
    assert rows[0]["val_loss"] == "" and rows[1]["val_loss_delta"] == ""


def test_gate_verdict_columns_match_gatebook_gate(project: Path) -> None:
    doc = invoke_json("compare", "b", "c", "d", "--baseline", "base", "--gate", "deploy", "--gate", "floor",
                      cwd=project)
    assert [g["name"] for g in doc["gates"]] == ["deploy", "floor"]
    assert doc["gates"][0]["baseline"]["name"] == "base" and doc["gates"][1]["baseline"] is None
    verdicts = {r["name"]: {g: v["verdict"] for g, v in r["verdicts"].items()} for r in doc["runs"]}
    assert verdicts == {"base": {"deploy": "FAIL", "floor": "FAIL"}, "b": {"deploy": "PASS", "floor": "PASS"},
                        "c": {"deploy": "ERROR", "floor": "FAIL"}, "d": {"deploy": "FAIL", "floor": "FAIL"}}
    assert any("never logged val_loss" in r for r in doc["runs"][2]["verdicts"]["deploy"]["reasons"])
    judged = gb("gate", "c", "--gate", "deploy", "--baseline", "base", "--json", cwd=project)
    assert json.loads(judged.stdout)["verdict"] == "ERROR"
    text = invoke("compare", "b", "c", "--baseline", "base", "--gate", "deploy", cwd=project)
    assert text.returncode == 0 and text.stdout.splitlines()[0].split()[-2:] == ["gate", "deploy"]


def test_bad_input_is_one_line_exit_2(project: Path) -> None:
    err = one_line_error(invoke("compare", "b", "c", "--metric", "val_acx", cwd=project))
    assert "--metric 'val_acx': none of the 2 runs compared logged it; they have: val_acc" in err
    assert "bleu" in err and "throughput" in err
    err = one_line_error(invoke("compare", "b", "--sort", "nope", cwd=project))
    assert "--sort 'nope'" in err
    assert "no run matches 'zzz'" in one_line_error(invoke("compare", "b", "zzz", cwd=project))
    assert "--baseline: no run matches" in one_line_error(invoke("compare", "b", "--baseline", "zzz", cwd=project))
    assert "unknown gate 'nope'" in one_line_error(invoke("compare", "b", "--gate", "nope", cwd=project))
    assert "no runs selected" in one_line_error(invoke("compare", cwd=project))


def test_last_n_and_a_single_run(project: Path) -> None:
    doc: Any = invoke_json("compare", "--last", "2", cwd=project)
    assert [r["name"] for r in doc["runs"]] == ["c", "d"]
    assert doc["runs"][1]["metrics"]["val_acc"]["delta"] is None  # NaN: no delta
    one = invoke_json("compare", "b", "-m", "throughput", cwd=project)
    assert len(one["runs"]) == 1 and one["runs"][0]["baseline"] and not one["runs"][0]["metrics"]["throughput"]["best"]
