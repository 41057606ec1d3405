"""`gatebook run` records Hydra-style overrides as params and positional Python config files
as artifacts (path, size, sha256; not parsed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.helpers import PY, gb, invoke_json, write_script

TRAIN = """\
import json, sys
print("argv:", json.dumps(sys.argv[1:]), flush=True)
"""
CONFIG = "lr = 3e-4\nlayers = [64, 64]\nraise SystemExit('a config file is read, never run by gatebook')\n"


def test_hydra_overrides_are_params_and_a_py_config_is_an_artifact(tmp_path: Path) -> None:
    ledger = f"sqlite:///{tmp_path}/ledger.db"
    write_script(tmp_path, "train.py", TRAIN)
    (tmp_path / "config").mkdir()
    write_script(tmp_path / "config", "small.py", CONFIG)
    args = ["config/small.py", "--lr=3e-4", "optimizer=adam", "optimizer.lr=0.01", "+trainer.max_epochs=5",
            "++seed=42", "~model.dropout", "hydra.run.dir=outputs/x", "model.layers=[1,2,3]"]
    proc = gb("run", "--name", "hydra", "--", PY, "-u", "train.py", *args, cwd=tmp_path, store=ledger)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.split("argv:", 1)[1]) == args  # the command got its arguments untouched

    doc = invoke_json("show", "hydra", store=ledger)  # in this process
    assert doc["params_by_source"]["argv"] == {
        "lr": 0.0003, "optimizer": "adam", "optimizer.lr": 0.01, "trainer.max_epochs": 5, "seed": 42,
        "model.dropout": None, "hydra.run.dir": "outputs/x", "model.layers": "[1,2,3]",
    }
    assert doc["seeds"] == {"seed": 42}
    [artifact] = [a for a in doc["artifacts"] if a["kind"] == "config"]
    data = CONFIG.encode()
    assert artifact["path"] == "config/small.py"
    assert artifact["size"] == len(data) and artifact["sha256"] == hashlib.sha256(data).hexdigest()
    assert doc["intended_mismatches"] == []
