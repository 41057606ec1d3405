"""`gatebook run --repeat N` / `--seeds`: one config over several seeds, recorded as a replicate set
(a shared name and `replicate` key, each run with its own seed), and the bad input around it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import PY, invoke, invoke_json, one_line_error, write_script

TRAIN = """\
import random, sys
seed = int(sys.argv[sys.argv.index("--seed") + 1])
random.seed(seed)
print('gatebook: {"acc": %.6f}' % (0.8 + random.gauss(0, 0.01)))
"""


def _run_json(cwd: Path, *args: str) -> Any:
    proc = invoke("run", "--json", *args, cwd=cwd)  # --json before the command's own arguments
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_repeated_run_is_one_replicate_set(tmp_path: Path) -> None:
    write_script(tmp_path, "train.py", TRAIN)
    assert invoke("init", cwd=tmp_path).returncode == 0
    doc = _run_json(tmp_path, "--name", "cfg", "--repeat", "3", "--", PY, "train.py", "--seed", "{seed}")
    key = doc["replicate"]
    assert key.startswith("r-") and doc["seeds"] == [0, 1, 2]
    assert [r["seed"] for r in doc["runs"]] == [0, 1, 2] and all(r["status"] == "finished" for r in doc["runs"])
    runs = invoke_json("ls", cwd=tmp_path)["runs"]
    assert {(r["name"], r["replicate"]) for r in runs} == {("cfg", key)}
    assert sorted(r["command"][-1] for r in runs) == ["0", "1", "2"]  # {seed} filled in each
    shown = invoke_json("show", runs[0]["id"], cwd=tmp_path)
    assert shown["replicate"] == key and shown["params"]["seed"] in (0, 1, 2)
    assert key in invoke("show", runs[0]["id"], cwd=tmp_path).stdout
    # the same command again later joins the same set; another command makes another
    more = _run_json(tmp_path, "--name", "cfg", "--seeds", "7,8", "--", PY, "train.py", "--seed", "{seed}")
    assert more["replicate"] == key and more["seeds"] == [7, 8]
    other = _run_json(tmp_path, "--name", "cfg", "--repeat", "1", "--", PY, "train.py", "--seed", "{seed}", "--x")
    assert other["replicate"] != key
    assert len([r for r in invoke_json("ls", cwd=tmp_path)["runs"] if r["replicate"] == key]) == 5


def test_repeat_bad_input_is_one_line(tmp_path: Path) -> None:
    write_script(tmp_path, "train.py", TRAIN)
    assert invoke("init", cwd=tmp_path).returncode == 0
    cmd = ["--", PY, "train.py", "--seed", "{seed}"]
    assert "{seed}" in one_line_error(invoke("run", "--repeat", "2", "--", PY, "train.py", cwd=tmp_path))
    assert "1 or more" in one_line_error(invoke("run", "--repeat", "0", *cmd, cwd=tmp_path))
    assert "not both" in one_line_error(invoke("run", "--repeat", "2", "--seeds", "1,2", *cmd, cwd=tmp_path))
    assert "distinct" in one_line_error(invoke("run", "--seeds", "1,1", *cmd, cwd=tmp_path))
    assert "whole numbers" in one_line_error(invoke("run", "--seeds", "a,b", *cmd, cwd=tmp_path))
    assert invoke_json("ls", cwd=tmp_path)["runs"] == []  # nothing recorded
