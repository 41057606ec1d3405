"""Fixtures for the dashboard's tests in a real browser: Debian's Chromium driven by Playwright.

- ``chromium_browser`` (session): one headless Chromium (``shutil.which("chromium")``, never a
  browser downloaded by ``playwright install``), its profile, config and caches in a temp dir.
  When Chromium or Playwright is missing every browser test FAILS with one line saying how to
  install it: CI must run real browsers, so these tests never skip.
- ``page`` (function): a fresh context and page per test; default timeout 10 s; console errors
  and uncaught page errors collected on ``page.console_errors`` (tests assert it is empty);
  ``page.shot(name)`` saves a full-page PNG into the test's ``tmp_path`` and prints its path.
  The pages' Content-Security-Policy has no 'unsafe-eval': give ``page.wait_for_function`` an
  arrow function (``"() => ..."``); a bare expression string that must be polled is refused.
- ``ui_project`` (function): a temporary gatebook project (gatebook.yaml and a ledger) holding
  two finished runs logged through ``gatebook``'s API.
- ``ui_server`` (function): a factory ``ui_server(project, *extra_args) -> base URL`` that starts
  a real ``gatebook ui --port 0 --no-open`` process on that project, waits until it answers and,
  at teardown, ends it with Ctrl-C (SIGINT) and checks that it exited 0.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.helpers import PY, env_with

#: What ../shared/guide/ENVIRONMENT.md measured to work with Debian's Chromium (also as root in CI).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DEFAULT_TIMEOUT_MS = 10_000
INSTALL_HINT = "install Debian's package: `sudo apt-get install -y chromium` (.ci/run does; never `playwright install`)"
SERVING = re.compile(r"^gatebook ui: serving (?P<store>.+) at (?P<url>https?://\S+)")


def chromium_executable() -> str:
    """Debian's Chromium on PATH, or fail this test with one line."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(f"chromium not found on PATH: the browser tests need it: {INSTALL_HINT}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def chromium_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the session (Playwright's sync API)."""
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package playwright is missing: run `make venv` (it is in the dev extra)",
                    pytrace=False)
    # Chromium writes crash-report settings under XDG_CONFIG_HOME (else ~/.config/chromium) and
    # dconf under XDG_CACHE_HOME; its profile is a temp dir Playwright makes and removes.
    home = tmp_path_factory.mktemp("chromium-home")
    env = env_with(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"),
                   XDG_DATA_HOME=str(home / "data"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True, env=env)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium_browser: Any, tmp_path: Path) -> Iterator[Any]:
    """A new browser context and page for this test.

    ``page.console_errors``: console messages of type error and uncaught exceptions, as text.
    ``page.shot(name)``: a full-page PNG ``tmp_path/NAME.png`` (path printed and returned).
    """
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text} ({msg.location.get('url', '')})")
          if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))

    def shot(name: str) -> Path:
        path = tmp_path / f"{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    pg.console_errors = errors
    pg.shot = shot
    try:
        yield pg
    finally:
        context.close()


# -- a project and a real `gatebook ui` --------------------------------------------------------

UI_PROJECT_YAML = """\
metrics:
  higher_is_better: ["val_*"]
  lower_is_better: ["*loss*"]
  primary: ["val_acc"]
gates:
  floor:
    checks: ["val_acc >= 0.75"]
"""

LOG_RUNS = textwrap.dedent("""\
    import json, sys
    import gatebook as gb
    for name, steps in json.loads(sys.argv[1]):
        gb.init(name=name, config={"lr": 0.1}, tags=["browser"])
        for step in range(steps):
            gb.log({"loss": 1.0 / (step + 1), "val_acc": 0.5 + 0.4 * step / max(steps - 1, 1)}, step=step)
        gb.finish()
""")


def log_runs(root: Path, runs: list[tuple[str, int]]) -> None:
    """Log finished runs ``(name, steps)`` (metrics loss and val_acc) into the project at ``root``
    through gatebook's API, in a child process as a training script would."""
    proc = subprocess.run([PY, "-c", LOG_RUNS, json.dumps(runs)], cwd=root, env=env_with(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def ui_project(tmp_path: Path) -> Path:
    """A temporary project: gatebook.yaml (a ``floor`` gate on val_acc) and two finished runs,
    ``alpha`` and ``beta``, of 20 steps each."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "gatebook.yaml").write_text(UI_PROJECT_YAML)
    log_runs(root, [("alpha", 20), ("beta", 20)])
    return root


class _Server:
    """One `gatebook ui` child: its stdout lines read by a thread (so a pipe never fills), its
    stderr in a file."""

    def __init__(self, project: Path, args: tuple[str, ...], env: dict[str, str], log_dir: Path) -> None:
        self.stderr_path = log_dir / f"gatebook-ui-{time.monotonic_ns()}.stderr"
        self.argv = [PY, "-m", "gatebook", "ui", "--port", "0", "--no-open", *args]
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(self.argv, cwd=project, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True)
        self.lines: list[str] = []
        self._first = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._first.set()
        self._first.set()  # EOF: the process ended

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def url(self, timeout: float) -> str:
        """The base URL (``http://127.0.0.1:PORT``) from the first stdout line."""
        if not self._first.wait(timeout):
            raise AssertionError(f"`gatebook ui` printed nothing in {timeout:g} s; stderr: {self.stderr()}")
        if not self.lines:
            self.proc.wait(10)
            raise AssertionError(f"`gatebook ui` exited {self.proc.returncode} before printing its URL; "
                                 f"stderr: {self.stderr()}")
        match = SERVING.match(self.lines[0])
        assert match, f"unexpected first line of `gatebook ui`: {self.lines[0]!r}"
        return match["url"].split("?", 1)[0].rstrip("/")

    def wait_answering(self, base: str, timeout: float) -> None:
        """Until any HTTP answer comes back (a 401 without the token is an answer too)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"`gatebook ui` exited {self.proc.returncode}; stderr: {self.stderr()}")
            try:
                with urllib.request.urlopen(base + "/api", timeout=5):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                if time.monotonic() >= deadline:
                    raise AssertionError(f"`gatebook ui` at {base} did not answer in {timeout:g} s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Ctrl-C, then wait; it must exit 0."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
                    raise AssertionError("`gatebook ui` did not end within 30 s of Ctrl-C (killed)") from None
            self._reader.join(10)
            assert self.proc.returncode == 0, (f"`gatebook ui` exited {self.proc.returncode} after Ctrl-C; "
                                               f"stderr: {self.stderr()}")
        finally:
            self._stderr.close()


@pytest.fixture
def ui_server(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``ui_server(project, *extra_args, env=None, timeout=30) -> base URL`` (no trailing slash).

    Starts ``python -m gatebook ui --port 0 --no-open EXTRA_ARGS`` in ``project`` (the ledger of
    that project, or ``--store URL`` among the extra args), reads the URL from its first stdout
    line (``gatebook ui: serving STORE at URL``), waits until it answers, and returns the URL
    without path or ``?token=`` (the test knows the token it passed). Every server started is
    ended at teardown with SIGINT and must exit 0.
    """
    servers: list[_Server] = []

    def start(project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 30.0) -> str:
        server = _Server(project, args, env or env_with(), tmp_path)
        servers.append(server)
        base = server.url(timeout)
        server.wait_answering(base, timeout)
        return base

    try:
        yield start
    finally:
        failures = []
        for server in servers:
            try:
                server.stop()
            except AssertionError as exc:
                failures.append(str(exc))
        assert not failures, "; ".join(failures)
