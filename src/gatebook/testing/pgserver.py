"""A throw-away real PostgreSQL server for tests (stdlib only).

Usage::

    with PostgresServer() as pg:
        url = pg.url                      # postgresql://postgres@127.0.0.1:PORT/gatebook_test
        other = pg.new_database("t_abc")  # another empty database

The server lives in a fresh temporary directory (data, unix socket, log), listens on
127.0.0.1 on a free port, trusts every local connection, and runs with fsync off. When the
current user is root (CI), ``initdb``/``postgres`` refuse to run, so the directory is handed to
the ``postgres`` system user and the server binaries are run through ``runuser -u postgres --``.
Every subprocess has a timeout; ``__exit__`` stops the server (``pg_ctl stop -m fast``) and
removes the directory.
"""

from __future__ import annotations

import atexit
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

__all__ = ["PostgresServer", "find_pg_bindir"]

DEFAULT_DATABASE = "gatebook_test"
SUPERUSER = "postgres"

_INITDB_TIMEOUT = 120.0
_START_WAIT = 30  # seconds pg_ctl waits for the server (-t)
_START_TIMEOUT = _START_WAIT + 30.0
_STOP_TIMEOUT = 30.0
_CLIENT_TIMEOUT = 30.0
_START_ATTEMPTS = 3  # a free port can be taken between probing and binding
_MAX_SOCKET_DIR = 80  # unix socket paths are limited to ~107 bytes
_DBNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin -> numeric version parts
    parts = re.findall(r"\d+", path.parent.name)
    return tuple(int(p) for p in parts) if parts else (-1,)


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl"))


def find_pg_bindir() -> Path | None:
    """Directory holding the PostgreSQL server binaries (``initdb``, ``pg_ctl``), or None.

    Looks in ``/usr/lib/postgresql/*/bin`` (highest version first), then ``pg_config
    --bindir`` (on Debian that is /usr/bin, client tools only), then ``initdb`` on PATH.
    """
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        if _has_server(bindir):
            return bindir
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and _has_server(Path(out)):
            return Path(out)
    initdb = shutil.which("initdb")
    if initdb:
        bindir = Path(initdb).resolve().parent
        if _has_server(bindir):
            return bindir
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _others_can_traverse(path: Path) -> bool:
    """True if every directory from / down to ``path`` is searchable by other users."""
    path = path.resolve()
    for p in [path, *path.parents]:
        try:
            if not os.stat(p).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _clean_env() -> dict[str, str]:
    # libpq honours PG* variables (PGHOST, PGDATABASE, PGPASSWORD, ...): drop them all.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env.pop("LANG", None)
    env.pop("LANGUAGE", None)
    return env


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no server log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


class PostgresServer:
    """Context manager running a private PostgreSQL server in a temporary directory."""

    def __init__(self, bindir: Path | str | None = None, database: str = DEFAULT_DATABASE) -> None:
        found = Path(bindir) if bindir is not None else find_pg_bindir()
        if found is None:
            raise FileNotFoundError(
                "PostgreSQL server binaries (initdb, pg_ctl) not found; "
                "run scripts/ensure-postgres.sh"
            )
        self.bindir: Path = found
        self.database = database
        self.host = "127.0.0.1"
        self.port: int = 0
        self.url: str = ""
        self.tmpdir: Path | None = None
        self.datadir: Path | None = None
        self.logfile: Path | None = None
        self._as_postgres = _is_root()
        self._env = _clean_env()
        self._running = False

    # -- subprocess helpers ------------------------------------------------------------------

    def _server_cmd(self, name: str, *args: str) -> list[str]:
        cmd = [str(self.bindir / name), *args]
        if self._as_postgres:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            cmd = [runuser, "-u", SUPERUSER, "--", *cmd]
        return cmd

    def _run(self, cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self._env,
            cwd=str(self.tmpdir) if self.tmpdir else None,
            stdin=subprocess.DEVNULL,
        )

    def _client(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        # Client tools connect over TCP with trust auth: no need to switch users.
        cmd = [str(self.bindir / name), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, *args]
        return self._run(cmd, _CLIENT_TIMEOUT)

    # -- lifecycle ---------------------------------------------------------------------------

    def _make_tmpdir(self) -> Path:
        base: str | None = None
        default = Path(tempfile.gettempdir())
        too_long = len(str(default)) > _MAX_SOCKET_DIR - 20
        if too_long or (self._as_postgres and not _others_can_traverse(default)):
            base = "/tmp"
        path = Path(tempfile.mkdtemp(prefix="gatebook-pg-", dir=base))
        if self._as_postgres:
            import pwd

            pw = pwd.getpwnam(SUPERUSER)
            os.chown(path, pw.pw_uid, pw.pw_gid)
        return path

    def start(self) -> "PostgresServer":
        if self._running:
            return self
        self.tmpdir = self._make_tmpdir()
        self.datadir = self.tmpdir / "data"
        self.logfile = self.tmpdir / "server.log"
        try:
            self._initdb()
            self._start_server()
            self._create_database(self.database)
        except BaseException:
            self.stop()
            raise
        self.url = self.url_for(self.database)
        atexit.register(self.stop)
        return self

    def _initdb(self) -> None:
        assert self.datadir is not None
        try:
            proc = self._run(
                self._server_cmd(
                    "initdb", "-D", str(self.datadir), "-U", SUPERUSER, "--auth=trust",
                    "--no-sync", "-E", "UTF8", "--locale=C",
                ),
                _INITDB_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"initdb did not finish within {_INITDB_TIMEOUT:.0f} s") from None
        if proc.returncode != 0:
            raise RuntimeError(
                f"initdb failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}".rstrip()
            )

    def _start_server(self) -> None:
        assert self.tmpdir is not None and self.datadir is not None and self.logfile is not None
        last_error = ""
        for _attempt in range(_START_ATTEMPTS):
            self.port = _free_port()
            opts = " ".join(
                [
                    f"-c listen_addresses={self.host}",
                    f"-p {self.port}",
                    f"-k {shlex.quote(str(self.tmpdir))}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=200",
                ]
            )
            cmd = self._server_cmd(
                "pg_ctl", "-D", str(self.datadir), "-w", "-t", str(_START_WAIT),
                "-o", opts, "-l", str(self.logfile), "start",
            )
            try:
                proc = self._run(cmd, _START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._running = True  # something may be up: make stop() try
                raise RuntimeError(
                    f"pg_ctl start did not return within {_START_TIMEOUT:.0f} s; "
                    f"last lines of the server log:\n{_tail(self.logfile)}"
                ) from None
            if proc.returncode == 0:
                self._running = True
                return
            log = _tail(self.logfile)
            last_error = (
                f"pg_ctl start failed (exit {proc.returncode}): {proc.stderr.strip()}\n"
                f"last lines of the server log ({self.logfile}):\n{log}"
            )
            # Retry only when another process grabbed the port in the meantime.
            if "already in use" not in log and "could not bind" not in log:
                break
            self._pg_ctl_stop("immediate")
        raise RuntimeError(last_error)

    def _create_database(self, name: str) -> None:
        if not _DBNAME.match(name):
            raise ValueError(f"invalid database name {name!r} (letters, digits, _; max 63)")
        try:
            proc = self._client("createdb", "-T", "template0", "-E", "UTF8", name)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"createdb {name} did not finish within {_CLIENT_TIMEOUT:.0f} s") from None
        if proc.returncode != 0:
            raise RuntimeError(f"createdb {name} failed: {proc.stderr.strip()}")

    def url_for(self, name: str) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{name}"

    def new_database(self, name: str) -> str:
        """Create another empty database on this server and return its URL."""
        if not self._running:
            raise RuntimeError("the server is not running")
        self._create_database(name)
        return self.url_for(name)

    def _pg_ctl_stop(self, mode: str) -> bool:
        if self.datadir is None or not (self.datadir / "postmaster.pid").exists():
            return True
        try:
            proc = self._run(
                self._server_cmd("pg_ctl", "-D", str(self.datadir), "-w", "-t", "20", "-m", mode, "stop"),
                _STOP_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0

    def stop(self) -> None:
        """Stop the server (fast, then immediate) and remove the temporary directory."""
        # Also after a failed start: _pg_ctl_stop() is a no-op without a postmaster.pid.
        if not self._pg_ctl_stop("fast"):
            self._pg_ctl_stop("immediate")
        self._running = False
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        try:
            atexit.unregister(self.stop)
        except Exception:  # pragma: no cover - defensive
            pass

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<PostgresServer {state} {self.url or self.bindir}>"
