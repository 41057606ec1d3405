"""A run started by the Python API takes its name, tags, group and parent from GATEBOOK_NAME,
GATEBOOK_TAGS, GATEBOOK_GROUP and GATEBOOK_PARENT (a scheduler's environment), and what
gb.init() is given wins."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import PY, env_with, invoke_json

SCRIPT = """\
import sys
import gatebook as gb
kwargs = {"name": sys.argv[1]} if len(sys.argv) > 1 else {}
gb.init(tags=["code"], **kwargs)
gb.log({"loss": 1.0}, step=1)
gb.finish()
"""


def _run(root: Path, *args: str, **env: str) -> None:
    proc = subprocess.run([PY, "train.py", *args], cwd=root, env=env_with(**env), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_a_slurm_array_names_its_runs_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    _run(tmp_path)  # no variables: a plain run, the parent-to-be
    base = invoke_json("ls", cwd=tmp_path)["runs"][0]["id"]
    _run(tmp_path, GATEBOOK_NAME="task-3", GATEBOOK_TAGS="slurm, array ,slurm", GATEBOOK_GROUP="4242",
         GATEBOOK_PARENT=base)
    doc = invoke_json("show", "task-3", cwd=tmp_path)
    assert doc["group"] == "4242" and doc["parent"]["id"] == base
    assert sorted(doc["tags"]) == ["array", "code", "slurm"]
    _run(tmp_path, "given", GATEBOOK_NAME="ignored", GATEBOOK_GROUP="4242")
    assert invoke_json("show", "given", cwd=tmp_path)["group"] == "4242"  # init's name wins, the group fills in
    assert [r["name"] for r in invoke_json("ls", "--group", "4242", cwd=tmp_path)["runs"]] == ["given", "task-3"]
