"""Helpers of the framework-hook tests: a gate that fails early, a gated ``gatebook run``, its checks."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path
from typing import Any

from tests.helpers import PY, gb, invoke_json

GATES = textwrap.dedent("""\
    gates:
      early:
        on_fail: stop
        checks:
          - "loss < 0.0001 @ step 3"
    """)
"""A gate no tiny training passes: it fails as soon as ``loss`` reaches step 3."""


def run_gated(proj: Path, script: Path, *args: str, timeout: float = 180) -> tuple[subprocess.CompletedProcess[str],
                                                                                  dict[str, Any]]:
    """``gatebook run --gate early -- python SCRIPT ARGS`` in ``proj`` (gate file written there);
    the finished process and ``gatebook show --json`` of its run."""
    (proj / "gatebook.yaml").write_text(GATES)
    proc = gb("run", "--name", "gated", "--grace", "30", "--gate", "early", "--", PY, str(script), *args,
              cwd=proj, timeout=timeout)
    return proc, invoke_json("show", "gated", cwd=proj)


def assert_stopped_by_gate(proc: subprocess.CompletedProcess[str], doc: dict[str, Any]) -> None:
    """The gate stopped the run and the child ended by itself (exit 0, no signal, no SIGKILL)."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])  # a gate stopped it
    assert "gate early FAIL" in proc.stderr, proc.stderr[-4000:]
    assert doc["status"] == "stopped", doc
    assert doc["reason"].startswith("gate early: loss "), doc["reason"]
    assert doc["exit_code"] == 0, (doc["exit_code"], proc.stderr[-4000:])  # exited by itself, cleanly
