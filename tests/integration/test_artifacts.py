"""`gatebook artifacts` on runs a real training script recorded under `gatebook run`: checkpoints, a
50/50 blend derived from two of them, an SWA finetune derived from another run's checkpoint; lineage
in `artifacts --json` and `show`; `--path` (also as `$(...)` in a shell, and with `@alias`);
`--verify` after a file is edited or removed."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PY, env_with, gb, git, git_init, invoke, invoke_json, one_line_error

TRAIN = '''\
import sys
from pathlib import Path

import gatebook as gb

gb.init()
out = Path(sys.argv[1])
out.mkdir(exist_ok=True)
a, b, blend = out / "epoch_1.ckpt", out / "epoch_2.ckpt", out / "blend.ckpt"
for step, path in enumerate((a, b), start=1):
    gb.log({"val_auprc": 0.3 + step / 100}, step=step)
    path.write_bytes(b"weights of epoch %d" % step)
    gb.artifact(path, kind="checkpoint")
blend.write_bytes(a.read_bytes()[:9] + b.read_bytes()[9:])  # the seed's 50/50 blend
gb.artifact(blend, kind="blend", derived_from=[a, str(b)])
'''

SWA = '''\
import sys
from pathlib import Path

import gatebook as gb

start, out = Path(sys.argv[1]), Path(sys.argv[2])
out.write_bytes(start.read_bytes() + b" + swa")
gb.artifact(out, kind="checkpoint", derived_from=start)
gb.artifact(out.with_suffix(".log"), kind="log", derived_from=[start.parent / "missing.ckpt"])
'''


def _run(root: Path, *args: str) -> dict[str, Any]:
    proc = gb("run", "--json", *args, cwd=root, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A git project (its tree dirty, so the run keeps a patch) with two runs: `train` (two
    checkpoints and their blend) and `swa` (a finetune of train's first checkpoint)."""
    root = tmp_path_factory.mktemp("artifacts") / "proj"
    root.mkdir()
    git_init(root)
    (root / "train.py").write_text(TRAIN)
    (root / "swa.py").write_text(SWA)
    (root / ".gitignore").write_text(".gatebook/\nckpt/\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "scripts")
    (root / "train.py").write_text(TRAIN + "# tuned\n")  # dirty: the run keeps the patch in the ledger
    invoke_json("init", cwd=root)
    train = _run(root, "--name", "train", "--", PY, "train.py", "ckpt")["id"]
    swa = _run(root, "--name", "swa", "--", PY, "swa.py", "ckpt/epoch_1.ckpt", "ckpt/swa.ckpt")["id"]
    return {"root": root, "ckpt": (root / "ckpt").resolve(), "train": train, "swa": swa}


def test_lineage_in_artifacts_json_and_show(project: dict[str, Any]) -> None:
    root, ckpt = project["root"], project["ckpt"]
    doc = invoke_json("artifacts", "train", cwd=root)
    assert doc["run"] == {"id": project["train"], "name": "train", "status": "finished"} and doc["kind"] is None
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for a in doc["artifacts"]:
        by_kind.setdefault(a["kind"], []).append(a)
    assert [a["path"] for a in by_kind["checkpoint"]] == [str(ckpt / "epoch_1.ckpt"), str(ckpt / "epoch_2.ckpt")]
    assert by_kind["patch"][0]["path"] == "git.patch" and by_kind["patch"][0]["stored"] is True
    blend = by_kind["blend"][0]
    assert blend["stored"] is False and blend["size"] == len(b"weights of epoch 2")
    # logged in the same flush as the checkpoints it blends: the run names itself
    assert blend["derived_from"] == [
        {"path": str(ckpt / "epoch_1.ckpt"), "sha256": by_kind["checkpoint"][0]["sha256"], "run_id": project["train"]},
        {"path": str(ckpt / "epoch_2.ckpt"), "sha256": by_kind["checkpoint"][1]["sha256"], "run_id": project["train"]},
    ]
    swa = invoke_json("artifacts", "swa", "--kind", "checkpoint", cwd=root)
    assert swa["kind"] == "checkpoint" and len(swa["artifacts"]) == 1
    assert swa["artifacts"][0]["derived_from"] == [
        {"path": str(ckpt / "epoch_1.ckpt"), "sha256": by_kind["checkpoint"][0]["sha256"], "run_id": project["train"]}]
    log = invoke_json("artifacts", "swa", "--kind", "log", cwd=root)["artifacts"][0]
    assert log["size"] is None and log["derived_from"] == [
        {"path": str(ckpt / "missing.ckpt"), "sha256": None, "run_id": None}]
    shown = invoke_json("show", "swa", cwd=root)["artifacts"]
    assert [a["derived_from"] for a in shown if a["kind"] == "checkpoint"] == [swa["artifacts"][0]["derived_from"]]
    text = invoke("show", "swa", cwd=root).stdout
    assert f"from {ckpt / 'epoch_1.ckpt'} (run {project['train']})" in text
    assert f"from {ckpt / 'missing.ckpt'} (not there when logged)" in text
    listing = invoke("artifacts", "train", cwd=root)
    assert listing.returncode == 0, listing.stderr
    assert f"from {ckpt / 'epoch_2.ckpt'} (run {project['train']})" in listing.stdout
    assert "git.patch (in the ledger)" in listing.stdout


def test_path_prints_one_path(project: dict[str, Any]) -> None:
    root, ckpt = project["root"], project["ckpt"]
    proc = invoke("artifacts", "train", "--kind", "checkpoint", "--path", cwd=root)
    assert (proc.returncode, proc.stdout) == (0, f"{ckpt / 'epoch_2.ckpt'}\n")  # the newest
    assert invoke("artifacts", "swa", "--kind", "log", "--path", cwd=root).stdout == f"{ckpt / 'swa.log'}\n"
    err = one_line_error(invoke("artifacts", "train", "--path", cwd=root))
    assert "--kind" in err and "blend, checkpoint, patch" in err
    err = one_line_error(invoke("artifacts", "train", "--kind", "model", "--path", cwd=root))
    assert "no artifact of kind 'model'" in err
    assert "--patch" in one_line_error(invoke("artifacts", "train", "--kind", "patch", "--path", cwd=root))
    assert "--path and --verify" in one_line_error(invoke("artifacts", "train", "--path", "--verify", cwd=root))
    assert "nope" in one_line_error(invoke("artifacts", "nope", cwd=root))
    # the real executable in a shell's $(...)
    shell = subprocess.run(["bash", "-c", f'cat "$("{PY}" -m gatebook artifacts swa --kind checkpoint --path)"'],
                           cwd=root, env=env_with(), capture_output=True, text=True, timeout=120)
    assert (shell.returncode, shell.stdout) == (0, "weights of epoch 1 + swa"), shell.stderr


def test_alias_form(project: dict[str, Any]) -> None:
    from gatebook.records import AliasEvent
    from gatebook.store import open_store

    root = project["root"]
    with open_store(f"sqlite:///{root}/.gatebook/ledger.db") as store:
        try:
            if store.get_alias("champion") is None:
                event = AliasEvent(0, "champion", time.time(), "tests@host", "forced", None, project["swa"], None,
                                   forced=True, reason="the test's holder")
                assert store.move_alias("champion", project["swa"], expected=None, event=event)
        except NotImplementedError:
            pytest.skip("the store does not implement aliases yet")
    proc = invoke("artifacts", "@champion", "--kind", "checkpoint", "--path", cwd=root)
    assert (proc.returncode, proc.stdout) == (0, f"{project['ckpt'] / 'swa.ckpt'}\n"), proc.stderr
    assert invoke_json("artifacts", "@champion", cwd=root)["run"]["id"] == project["swa"]


def test_verify_finds_a_changed_and_a_vanished_file(project: dict[str, Any]) -> None:
    root, ckpt = project["root"], project["ckpt"]
    proc = invoke("artifacts", "train", "--verify", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == f"4 of 4 artifacts of train ({project['train']}) match what was logged"
    first, blend = ckpt / "epoch_1.ckpt", ckpt / "blend.ckpt"
    original = (first.read_bytes(), blend.read_bytes())
    try:
        first.write_bytes(b"weights of epoch 1, retrained")
        blend.unlink()
        proc = gb("artifacts", "train", "--verify", cwd=root)  # the real executable: its exit code
        assert proc.returncode == 1, proc.stdout + proc.stderr
        lines = proc.stdout.splitlines()
        assert [line.split()[:2] for line in lines if line.startswith(("CHANGED", "VANISHED"))] == [
            ["CHANGED", str(first)], ["VANISHED", str(blend)]]
        assert "2 of 4 artifacts" in lines[-1] and "(1 changed, 1 vanished)" in lines[-1]
        doc = json.loads(gb("artifacts", "train", "--verify", "--json", cwd=root).stdout)
        assert doc["ok"] is False and doc["counts"] == {"ok": 2, "changed": 1, "vanished": 1, "unchecked": 0}
        assert {c["path"]: c["status"] for c in doc["checks"]}["git.patch"] == "ok"  # against the ledger's copy
        only = invoke("artifacts", "train", "--kind", "checkpoint", "--verify", "--json", cwd=root)
        assert only.returncode == 1 and json.loads(only.stdout)["counts"]["changed"] == 1
        assert invoke("artifacts", "swa", "--kind", "checkpoint", "--verify", cwd=root).returncode == 0
    finally:
        first.write_bytes(original[0])
        blend.write_bytes(original[1])
    assert invoke("artifacts", "train", "--verify", cwd=root).returncode == 0
