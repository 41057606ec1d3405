"""Python 3.10 has no ``tomllib``: gatebook reads TOML through the ``tomli`` backport then.

The real CLI runs with a ``tomllib.py`` shim first on PYTHONPATH that raises ImportError
(as ``import tomllib`` does on 3.10), and records each import attempt in a file, so the
tests know the fallback path was taken.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import PY, env_with, gb, gb_json, one_line_error

pytest.importorskip("tomli", reason="the tomli backport is in the dev extra")

SHIM = """\
import os
with open(os.environ["BLOCKED_IMPORTS_LOG"], "a") as log:
    log.write(__name__ + "\\n")
raise ImportError("No module named {name!r} (blocked by the test, as on Python 3.10)")
"""


def _blocking(tmp_path: Path, *modules: str) -> tuple[dict[str, str], Path]:
    """An environment where importing ``modules`` fails, and the log of those attempts."""
    shim = tmp_path / "shim"
    shim.mkdir()
    for module in modules:
        (shim / f"{module}.py").write_text(SHIM.format(name=module))
    log = tmp_path / "blocked.log"
    return env_with(PYTHONPATH=str(shim), BLOCKED_IMPORTS_LOG=str(log)), log


def _attempts(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_the_shim_makes_tomllib_unavailable(tmp_path: Path) -> None:
    env, log = _blocking(tmp_path, "tomllib")
    proc = subprocess.run([PY, "-c", "import tomllib"], env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and "blocked by the test" in proc.stderr
    assert _attempts(log) == ["tomllib"]


def test_without_tomllib_pyproject_section_and_toml_config_are_read(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.gatebook.ingest]\nprefix = "METRIC>"\n')
    (proj / "x.toml").write_text('seed = 3\n\n[optim]\nlr = 0.01\nbetas = [0.9, 0.99]\n')
    (proj / "train.py").write_text('print("METRIC> " + \'{"loss": 0.5, "acc": 0.75}\')\n')
    env, log = _blocking(tmp_path, "tomllib")

    proc = gb("run", "--name", "toml", "--config", "x.toml", "--", PY, "train.py", "--batch-size", "8",
              cwd=proj, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "tomllib" in _attempts(log)  # gatebook did try tomllib, and went on with tomli

    doc = gb_json("show", "toml", cwd=proj, env=env)
    # [tool.gatebook.ingest] prefix: the METRIC> line became metrics
    assert doc["metrics"]["loss"]["last"] == 0.5 and doc["metrics"]["acc"]["last"] == 0.75
    # --config x.toml: its params, flattened, with the command's own arguments
    assert doc["params"] == {"batch_size": 8, "optim.betas": [0.9, 0.99], "optim.lr": 0.01, "seed": 3}


def test_without_tomllib_a_toml_syntax_error_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("seed = 3\nlr = = 0.1\n")
    env, _log = _blocking(tmp_path, "tomllib")
    err = one_line_error(gb("run", "--config", "bad.toml", "--", PY, "-c", "pass", cwd=tmp_path,
                            env={**env, "GATEBOOK_STORE": str(tmp_path / "ledger.db")}))
    assert "bad.toml" in err and ":2" in err


def test_without_tomllib_or_tomli_a_toml_config_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text("seed = 3\n")
    env, log = _blocking(tmp_path, "tomllib", "tomli")
    proc = gb("run", "--config", "x.toml", "--", PY, "-c", "pass", cwd=tmp_path,
              env={**env, "GATEBOOK_STORE": str(tmp_path / "ledger.db")})
    err = one_line_error(proc)
    assert "tomli" in err and "Traceback" not in proc.stderr
    assert set(_attempts(log)) == {"tomllib", "tomli"}

