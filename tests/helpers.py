"""Helpers for tests that drive the CLI: in subprocesses (``gb``) or in this process (``invoke``)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

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


@contextlib.contextmanager
def _as_a_child(cwd: Path | str, env: dict[str, str]) -> Iterator[None]:
    """This process's cwd and environment as a child's would be (``env`` is the whole environment),
    restored afterwards."""
    old_cwd, old_env = os.getcwd(), dict(os.environ)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old_env)
        os.chdir(old_cwd)


def invoke(*args: str, cwd: Path | str | None = None, store: str | None = None, env: dict[str, str] | None = None,
           timeout: float | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """`gatebook ARGS` in this process: :func:`gatebook.cli.main` (the entry point, so errors map
    to the same exit codes) with Click's CliRunner capturing stdout and stderr, run in ``cwd``
    with ``env`` (else this environment without GATEBOOK_*, plus ``store``) as its environment.

    Takes and returns what :func:`gb` does, so a test switches with one word; for commands whose
    process is not what is tested (ls, show, log, note, gate, keys, init...), not for `run`,
    signals or the console script itself. ``timeout`` is accepted and ignored.
    """
    from click.testing import CliRunner

    from gatebook.cli import main

    with _as_a_child(cwd or os.getcwd(), env or env_with(store)), CliRunner().isolation(input=input) as streams:
        try:
            code = main(list(args))
        finally:
            sys.stdout.flush()  # the runner's text streams buffer what was written
            sys.stderr.flush()
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return subprocess.CompletedProcess(["gatebook", *args], code, out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


def invoke_json(*args: str, **kwargs: Any) -> Any:
    """:func:`gb_json` in this process (:func:`invoke`)."""
    proc = invoke(*args, "--json", **kwargs)
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


def git(cwd: Path, *args: str) -> str:
    """``git ARGS`` in ``cwd`` (no system config, never prompting); its stdout, stripped."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True,
                          timeout=30).stdout.strip()


def git_init(root: Path) -> Path:
    """A fresh repository at ``root`` on branch main, with the tests' identity and no signing."""
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Gatebook Tests")
    git(root, "config", "user.email", "tests@gatebook.invalid")
    git(root, "config", "commit.gpgsign", "false")
    return root
