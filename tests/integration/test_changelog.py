"""`gatebook changelog` end to end: a real git project whose runs are recorded by
`gatebook run` with commits and uncommitted files between them (files changed vs the
parent's commit are real), one run stopped live by a gate, one failing, plus a sweep of
runs recorded quickly by one Python process through the API. Then the Markdown table,
its regeneration byte for byte, the JSON, run selection and bad input.

`run` and the first `changelog` go through a real ``gatebook`` process; the other commands run in
this process (``invoke``: the CLI's ``main`` under Click's CliRunner)."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PY, env_with, gb, git, git_init, invoke, invoke_json, one_line_error

TRAIN = textwrap.dedent("""\
    import argparse, json, sys, time
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--fail", action="store_true")
    a = p.parse_args()
    for e in range(1, a.epochs + 1):
        val = round(min(0.99, a.lr * e * (1 + a.dropout)), 4)
        print("gatebook: " + json.dumps({"epoch": e, "val_acc": val, "loss": round(1 - val, 4)}), flush=True)
        time.sleep(a.sleep)
    sys.exit(1 if a.fail else 0)
    """)

CONFIG = textwrap.dedent("""\
    metrics:
      higher_is_better: ["val_*"]
      lower_is_better: ["*loss*"]
      primary: [val_acc, loss]
    gates:
      epoch2:
        on_fail: stop
        checks: ["val_acc >= 0.15 @ epoch 2"]
    """)

# One process, many API runs: a chain of children (each changes lr and adds a param).
SWEEP = textwrap.dedent("""\
    import sys
    import gatebook as gb
    parent = sys.argv[1]
    for i in range(8):
        run = gb.init(name=f"sweep-{i}", config={"lr": 0.01 * (i + 1), "bs": 32, "depth": i % 2 + 1},
                      parent=parent, tags=["sweep"])
        for step in (1, 2):
            gb.log({"val_acc": round(0.5 + 0.04 * i * step / 2, 4), "loss": round(0.5 - 0.01 * i, 4)}, step=step)
        if i == 3:
            gb.note("plateau: try a longer warmup")
        gb.finish()
        parent = run.id
    """)


def _run(root: Path, *args: str, code: int = 0) -> dict[str, Any]:
    proc = gb("run", "--json", *args, cwd=root)
    assert proc.returncode == code, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The project, its store URL and run ids by name."""
    root = tmp_path_factory.mktemp("changelog") / "proj"
    root.mkdir()
    git_init(root)
    (root / "train.py").write_text(TRAIN)
    (root / "gatebook.yaml").write_text(CONFIG)
    (root / ".gitignore").write_text(".gatebook/\nCHANGELOG*.md\n.CHANGELOG*\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "train.py")
    store = invoke_json("init", cwd=root)["store"]
    ids: dict[str, str] = {}
    ids["base"] = _run(root, "--name", "base", "--", PY, "train.py", "--lr", "0.1")["id"]
    (root / "train.py").write_text(TRAIN + "# tuned\n")
    git(root, "commit", "-q", "-am", "tune train.py")
    ids["lr-02"] = _run(root, "--name", "lr-02", "--parent", "base", "--", PY, "train.py", "--lr", "0.2")["id"]
    (root / "model.py").write_text("LAYERS = 2\n")  # uncommitted from here on
    ids["dropout"] = _run(root, "--name", "dropout", "--parent", "lr-02", "--",
                          PY, "train.py", "--lr", "0.2", "--dropout", "0.1")["id"]
    ids["crash"] = _run(root, "--name", "crash", "--parent", "dropout", "--",
                        PY, "train.py", "--lr", "0.1", "--dropout", "0.1", "--fail", code=1)["id"]
    gated = _run(root, "--name", "gated", "--gate", "epoch2", "--",
                 PY, "train.py", "--lr", "0.05", "--epochs", "8", "--sleep", "0.4", code=143)
    assert gated["status"] == "stopped", gated
    ids["gated"] = gated["id"]
    assert invoke("note", "lr-02", "loss | spikes\nat epoch 3", cwd=root).returncode == 0
    (root / "sweep.py").write_text(SWEEP)
    proc = subprocess.run([PY, "sweep.py", ids["gated"]], cwd=root, env=env_with(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {"root": root, "store": store, "ids": ids}


@pytest.fixture(scope="module")
def markdown(ledger: dict[str, Any]) -> str:
    proc = gb("changelog", cwd=ledger["root"])  # the real executable
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| 20")]


def _cells(row: str) -> list[str]:
    # split on unescaped pipes
    out, cur, i = [], "", 1
    body = row.strip()[1:-1]
    while i <= len(body):
        ch = body[i - 1]
        if ch == "\\" and i < len(body) and body[i] == "|":
            cur += "\\|"
            i += 2
            continue
        if ch == "|":
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    out.append(cur.strip())
    return out


def test_markdown_table(ledger: dict[str, Any], markdown: str) -> None:
    md = markdown
    lines = md.splitlines()
    assert lines[0] == "| Date & Run | Key changes | Files touched | val_acc ↑ | loss ↓ | Notes |"
    assert lines[1] == "| --- | --- | --- | ---: | ---: | --- |"
    rows = _rows(md)
    ids = ledger["ids"]
    assert len(rows) == 5 + 8
    by_name = {name: _cells(rows[i]) for i, name in enumerate(["base", "lr-02", "dropout", "crash", "gated"])}
    assert [r.split(" – ")[1].split(" (")[0] for r in rows[5:]] == [f"sweep-{i}" for i in range(8)]

    base = by_name["base"]
    assert re.fullmatch(rf"20\d\d-\d\d-\d\d – base \({ids['base']}\)", base[0]), base[0]
    assert base[1] == "no parent: lr=0.1"
    assert base[2] == "–"  # clean tree, no parent commit
    assert base[3:5] == ["**0.30**", "**0.70**"]  # one format per column: 2 decimals here
    assert base[5] == ""

    lr = by_name["lr-02"]
    assert lr[1] == "lr 0.1 → 0.2<br>loss \\| spikes<br>at epoch 3"
    assert lr[2] == "`train.py`"  # committed between the parent's run and this one
    assert lr[3:5] == ["**0.60**", "**0.40**"]

    drop = by_name["dropout"]
    assert drop[1] == "+dropout=0.1"
    assert drop[2] == "`model.py`\\*"  # same commit as its parent, one untracked file
    assert drop[3:5] == ["**0.66**", "**0.34**"]

    crash = by_name["crash"]
    assert crash[1] == "+fail=true, lr 0.2 → 0.1"
    assert crash[3:5] == ["0.33", "0.67"]  # not the best so far: not bold
    assert crash[5] == "failed: exit code 1"

    gated = by_name["gated"]
    assert gated[1] == "no parent: epochs=8, lr=0.05, sleep=0.4"
    assert gated[2] == "`model.py`\\*"
    assert gated[5] == "stopped by gate epoch2: val_acc 0.1 < 0.15 at epoch 2; gates: epoch2 FAIL"

    sweeps = [_cells(r) for r in rows[5:]]
    assert sweeps[0][1] == "+bs=32, +depth=1, -epochs, lr 0.05 → 0.01, -sleep"  # vs its parent, the row above
    assert sweeps[1][1] == "depth 1 → 2, lr 0.01 → 0.02"
    assert sweeps[3][1] == "depth 1 → 2, lr 0.03 → 0.04<br>plateau: try a longer warmup"
    # best so far: 0.66 ties the dropout run's (bold), later ones beat it; loss never beats 0.34
    assert [s[3] for s in sweeps] == ["0.50", "0.54", "0.58", "0.62", "**0.66**", "**0.70**", "**0.74**", "**0.78**"]
    assert [s[4] for s in sweeps] == ["0.50", "0.49", "0.48", "0.47", "0.46", "0.45", "0.44", "0.43"]
    assert all(s[2] == "`model.py`\\*, `sweep.py`\\*" for s in sweeps)
    assert md.endswith("`file`\\*: uncommitted changes\n")


def test_out_file_regenerates_byte_identical(ledger: dict[str, Any], markdown: str) -> None:
    root = ledger["root"]
    first = invoke("changelog", "--out", "CHANGELOG.md", cwd=root)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "wrote CHANGELOG.md (13 runs, 2 metric columns)"
    content = (root / "CHANGELOG.md").read_bytes()
    second = invoke("changelog", "-o", str(root / "CHANGELOG.md"), cwd=root)
    assert second.returncode == 0, second.stderr
    assert (root / "CHANGELOG.md").read_bytes() == content
    assert content.decode("utf-8") == markdown  # the file is what stdout shows
    assert not [p.name for p in root.iterdir() if p.name.startswith(".CHANGELOG")]  # no temp file left


def test_json(ledger: dict[str, Any]) -> None:
    root, ids = ledger["root"], ledger["ids"]
    doc = invoke_json("changelog", "--out", "CHANGELOG-2.md", cwd=root)
    assert doc["out"] == "CHANGELOG-2.md" and (root / "CHANGELOG-2.md").read_text().startswith("| Date & Run")
    assert doc["metrics"] == ["val_acc", "loss"]
    assert doc["directions"] == {"val_acc": "higher", "loss": "lower"}
    assert doc["stat"] == "last"
    runs = doc["runs"]
    assert [r["id"] for r in runs[:5]] == [ids[n] for n in ("base", "lr-02", "dropout", "crash", "gated")]
    lr = runs[1]
    assert set(lr) == {"id", "name", "date", "created_at", "status", "parent", "changes", "run_notes", "files",
                       "metrics", "notes"}
    assert lr["parent"] == {"id": ids["base"], "name": "base"}
    assert lr["changes"] == [{"kind": "changed", "key": "lr", "from": 0.1, "to": 0.2, "text": "lr 0.1 → 0.2"}]
    assert lr["run_notes"] == ["loss | spikes\nat epoch 3"]
    assert lr["files"] == [{"path": "train.py", "dirty": False}]
    assert lr["metrics"] == {"val_acc": {"value": 0.6, "best_so_far": True},
                             "loss": {"value": 0.4, "best_so_far": True}}
    assert runs[3]["status"] == "failed" and runs[3]["notes"] == ["failed: exit code 1"]
    assert runs[4]["notes"][1] == "gates: epoch2 FAIL"
    assert lr["date"] == lr["created_at"][:10]


def test_selection_and_columns(ledger: dict[str, Any]) -> None:
    root, ids = ledger["root"], ledger["ids"]
    pick = lambda *args: [r["name"] for r in invoke_json("changelog", *args, cwd=root)["runs"]]  # noqa: E731
    doc = invoke_json("changelog", "dropout", "base", cwd=root)
    assert [r["name"] for r in doc["runs"]] == ["base", "dropout"]  # oldest first whatever the order given
    assert doc["out"] is None
    assert pick("--tag", "sweep", "sweep-?", "--last", "2") == ["sweep-6", "sweep-7"]
    assert pick("--since", "1d", "--last", "10")[:2] == ["crash", "gated"]
    doc = invoke_json("changelog", "crash", "--metric", "loss", "-m", "epoch", "--stat", "best",
                  "--out", "CHANGELOG-crash.md", cwd=root)
    assert doc["metrics"] == ["loss", "epoch"] and doc["stat"] == "best"
    assert doc["runs"][0]["metrics"] == {"loss": {"value": 0.67, "best_so_far": True},
                                         "epoch": {"value": 3.0, "best_so_far": False}}
    # the parent (dropout) is outside the selection: still diffed against, and named
    assert doc["runs"][0]["changes"][0]["text"] == "+fail=true"
    md = (root / "CHANGELOG-crash.md").read_text(encoding="utf-8")
    assert f"vs dropout ({ids['dropout']}): +fail=true, lr 0.2 → 0.1" in md
    assert md.splitlines()[0] == "| Date & Run | Key changes | Files touched | loss ↓ | epoch | Notes |"
    assert "metric values: best value of each run" in md


def test_outside_the_project_no_directions(ledger: dict[str, Any], tmp_path: Path) -> None:
    proc = invoke("changelog", "--store", ledger["store"], "base", "lr-02", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # no gatebook.yaml here: no primary metrics (the most common keys), no direction, no bold
    assert proc.stdout.splitlines()[0] == "| Date & Run | Key changes | Files touched | loss | val_acc | Notes |"
    assert "**" not in "\n".join(_rows(proc.stdout))


def test_bad_input_is_one_line(ledger: dict[str, Any], tmp_path: Path) -> None:
    root = ledger["root"]
    err = one_line_error(invoke("changelog", "--metric", "val_ac", cwd=root))
    assert "val_ac" in err and "val_acc" in err
    err = one_line_error(invoke("changelog", "--out", str(tmp_path / "missing" / "CHANGELOG.md"), cwd=root))
    assert "cannot write" in err
    err = one_line_error(invoke("changelog", "--out", str(tmp_path), cwd=root))
    assert "is a directory" in err
    assert "2099-01-01" in one_line_error(invoke("changelog", "--since", "2099-01-01", cwd=root))
    assert "gatebook init" in one_line_error(invoke("changelog", cwd=tmp_path))
    assert not list(tmp_path.iterdir())
