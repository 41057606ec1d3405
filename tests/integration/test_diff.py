"""`gatebook diff A B` and intended vs reported (`run` warning, `show`, `diff RUN --intended`).

`run`, the text `show` and the first `diff --intended` go through a real ``gatebook`` process; the
other reads run in this process (``invoke``: the CLI's ``main`` under Click's CliRunner)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.helpers import PY, gb, git, invoke, invoke_json, one_line_error, write_script

DIAG_PY = textwrap.dedent(
    '''\
    """A diagnostic that silently ignores its --checkpoint-path (seed 000)."""
    import argparse
    import json

    import gatebook as gb

    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint-path", default="models/outputs/full80.pth")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    checkpoint = "models/outputs/full80.pth"  # the bug: args.checkpoint_path is never used
    gb.init(config={"checkpoint_path": checkpoint, "batch_size": args.batch_size, "device": "cpu"})
    print("gatebook: " + json.dumps({"step": 1, "acc": 0.5}), flush=True)
    '''
)

WARNING = ("gatebook: warning: the command asked for checkpoint_path=models/outputs/v2.pth, "
           "the run reported models/outputs/full80.pth")


def test_intended_vs_reported(tmp_path: Path) -> None:
    ledger = f"sqlite:///{tmp_path}/ledger.db"
    work = tmp_path / "work"
    work.mkdir()
    write_script(work, "diag.py", DIAG_PY)

    proc = gb("run", "--name", "diag", "--", PY, "diag.py", "--checkpoint-path", "models/outputs/v2.pth",
              "--batch-size", "8", cwd=work, store=ledger)
    assert proc.returncode == 0, proc.stderr
    assert WARNING in proc.stderr.splitlines(), proc.stderr

    doc = invoke_json("show", "diag", store=ledger, cwd=work)
    assert doc["intended_mismatches"] == [{"key": "checkpoint_path", "intended": "models/outputs/v2.pth",
                                           "reported": "models/outputs/full80.pth", "source": "argv"}]
    text = gb("show", "diag", store=ledger, cwd=work)
    assert text.returncode == 0
    assert "intended vs reported" in text.stdout
    assert ("checkpoint_path: the command asked for models/outputs/v2.pth, the run reported "
            "models/outputs/full80.pth") in text.stdout

    check = gb("diff", "diag", "--intended", store=ledger, cwd=work)
    assert check.returncode == 1, check.stderr
    assert "1 disagreement" in check.stdout and "models/outputs/full80.pth" in check.stdout
    check = invoke("diff", "diag", "--intended", "--json", store=ledger, cwd=work)
    assert check.returncode == 1, check.stderr
    out = json.loads(check.stdout)
    assert out["run"]["name"] == "diag" and out["reported"] is True
    assert out["compared"] == ["batch_size", "checkpoint_path"]
    assert [m["key"] for m in out["intended_mismatches"]] == ["checkpoint_path"]

    # the same script asked for what it does anyway (spelled ./...): no warning, the check passes
    honest = gb("run", "--name", "honest", "--json", "--", PY, "diag.py", "--checkpoint-path",
                "./models/outputs/full80.pth", cwd=work, store=ledger)
    assert honest.returncode == 0, honest.stderr
    assert json.loads(honest.stdout)["warnings"] == []
    assert "asked for" not in honest.stderr
    ok = invoke("diff", "honest", "--intended", store=ledger, cwd=work)
    assert ok.returncode == 0, ok.stderr
    assert "agrees" in ok.stdout and "1 key compared" in ok.stdout

    one_line_error(invoke("diff", "diag", "honest", "--intended", store=ledger, cwd=work))


def test_diff_two_runs(git_project: Path, tmp_path: Path) -> None:
    ledger = f"sqlite:///{tmp_path}/ledger.db"
    (git_project / "gatebook.yaml").write_text(
        "metrics:\n  higher_is_better: [val_acc]\n  lower_is_better: ['*loss*']\n  primary: [val_acc]\n")
    git(git_project, "add", "gatebook.yaml")
    git(git_project, "commit", "-q", "-m", "gatebook.yaml")
    base = gb("run", "--name", "base", "--", PY, "train.py", "--lr", "0.5", "--epochs", "3",
              cwd=git_project, store=ledger)
    assert base.returncode == 0, base.stderr

    train = git_project / "train.py"
    source = train.read_text()
    source = source.replace('parser.add_argument("--epochs", type=int, default=3)',
                            'parser.add_argument("--epochs", type=int, default=3)\n'
                            '    parser.add_argument("--warmup", type=int, default=0)')
    source = source.replace('"val_acc": val_acc}', '"val_acc": val_acc, "val_loss": loss}')
    train.write_text(source)
    git(git_project, "commit", "-q", "-am", "log val_loss, take --warmup")
    (git_project / "notes.txt").write_text("try a lower lr\n")  # untracked: B runs dirty
    new = gb("run", "--name", "lower-lr", "--", PY, "train.py", "--lr", "0.1", "--warmup", "5",
             cwd=git_project, store=ledger)
    assert new.returncode == 0, new.stderr

    doc = invoke_json("diff", "base", "lower-lr", cwd=git_project, store=ledger)
    assert doc["a"]["name"] == "base" and doc["b"]["name"] == "lower-lr"
    assert doc["params"] == {"added": {"warmup": 5}, "removed": {"epochs": 3},
                             "changed": {"lr": {"a": 0.5, "b": 0.1}}}
    code = doc["code"]
    assert code["repo_available"] is True
    assert code["only_in_b"]["count"] == 1 and code["only_in_a"]["count"] == 0
    assert code["only_in_b"]["log"][0]["subject"] == "log val_loss, take --warmup"
    assert code["files_changed"] == ["train.py"]
    assert code["a_dirty_files"] == [] and code["b_dirty_files"] == ["notes.txt"]
    assert code["a_patch"] is False and code["b_patch"] is True
    assert doc["env"]["python"]["changed"] is False and doc["env"]["packages"]["changed"] == {}
    assert doc["metric_keys"] == {"only_a": [], "only_b": ["val_loss"]}
    metrics = {m["key"]: m for m in doc["metrics"]}
    assert list(metrics) == ["val_acc", "epoch", "loss"]  # primary first, then by name
    assert metrics["val_acc"]["change"] == "worse" and metrics["val_acc"]["direction"] == "higher"
    assert metrics["loss"]["change"] == "worse" and metrics["loss"]["delta"] > 0
    assert metrics["epoch"]["change"] == "same"
    assert doc["summary"].startswith("params 1 changed, 1 added, 1 removed; 1 commit in B (1 file); dirty: B")

    text = invoke("diff", "base", "lower-lr", "--patch", cwd=git_project, store=ledger)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    for header in ("params", "code", "metric keys", "metrics (last values)"):
        assert header in lines, text.stdout
    assert "environment" not in lines  # same interpreter and packages: no section
    assert any(line.split() == ["changed", "lr", "0.5", "->", "0.1"] for line in lines), text.stdout
    assert "  B is 1 commit ahead of A:" in lines
    assert "  only in B: val_loss" in lines
    assert lines[-1] == "summary: " + doc["summary"]
    assert "+try a lower lr" in lines and any(line.startswith("patch of B: lower-lr") for line in lines)
    assert any(line.startswith("patch of A: base") for line in lines)

    one_line_error(invoke("diff", "base", cwd=git_project, store=ledger))
    one_line_error(invoke("diff", "base", "no-such-run", cwd=git_project, store=ledger))
