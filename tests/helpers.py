"""Helpers for tests that drive the real CLI in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

PY = sys.executable
T = TypeVar("T")

#: Set for the whole session by conftest.py (a temp dir); kept in every child's environment.
SESSION_KEEP = ("GATEBOOK_CACHE_DIR",)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without GATEBOOK_* settings (the session's cache dir kept)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEBOOK_") or k in SESSION_KEEP}
    env.update(extra)
    return env


def wait_for(cond: Callable[[], T], timeout: float = 60.0, what: str = "condition",
             interval: float = 0.05) -> T:
    """Poll ``cond()`` until it returns something truthy (returned); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def env_with(store_url: str | None = None, **extra: str) -> dict[str, str]:
    env = clean_env()
    if store_url:
        env["GATEBOOK_STORE"] = store_url
    env.update(extra)
    return env


def gb(*args: str, cwd: Path | str | None = None, store: str | None = None, env: dict[str, str] | None = None,
       timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `gatebook ARGS` in a subprocess (the real CLI), capturing text output."""
    return subprocess.run([PY, "-m", "gatebook", *args], cwd=cwd, env=env or env_with(store),
                          capture_output=True, text=True, timeout=timeout, input=input)


def gb_json(*args: str, **kwargs: Any) -> Any:
    proc = gb(*args, "--json", **kwargs)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def write_script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(body)
    return path


def one_line_error(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """Assert a user error: the exit code, one line on stderr, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("gatebook: error:"), err
    return err


def py_cmd(script: Path | str, *args: str) -> list[str]:
    return [PY, str(script), *args]


def run_args(name: str | None = None, extra: Sequence[str] = ()) -> list[str]:
    out = ["run"]
    if name:
        out += ["--name", name]
    return out + list(extra)
