"""The dashboard's Starlette app: one shared store, the API's routes, the guards; and one request answered in-process.

One store (one SQLAlchemy engine, whose pool hands each thread its own connection; SQLite runs
in WAL mode) serves every request; Starlette runs the endpoints in its threadpool. The store is
opened on first use and closed when the app shuts down (uvicorn's lifespan) or by ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from gatebook.project_config import ProjectConfig
    from gatebook.store.base import Store

DEFAULT_PORT = 8765


class Context:
    """What every endpoint shares: the store (opened once, lazily) and the project's config."""

    def __init__(self, store_url: str, root: Path | None, read_only: bool = False) -> None:
        self.store_url = store_url
        self.root = root
        self.read_only = read_only
        self._store: Store | None = None
        self._lock = threading.Lock()
        from gatebook.ui.series import SeriesCache

        self.series = SeriesCache()  # the curves read so far, kept current (gatebook.ui.series)
        self.stopping = threading.Event()  # set when the server shuts down: live streams end

    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                from gatebook.store import open_store

                self._store = open_store(self.store_url)
            return self._store

    def project_config(self) -> ProjectConfig:
        """gatebook.yaml / [tool.gatebook], read on each request like each CLI command does."""
        from gatebook.project_config import load_project_config

        return load_project_config(self.root)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def create_app(store_url: str, *, token: str | None = None, read_only: bool = False, host: str = "127.0.0.1",
               port: int = DEFAULT_PORT, root: Path | None = None) -> Starlette:
    """The app for the ledger at ``store_url``, answering only requests for ``host:port``
    (gatebook.ui.security). ``root`` is the project whose gatebook.yaml compare and sweeps read
    (default: the project found from the working directory)."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import Response

    from gatebook import project
    from gatebook.ui import api
    from gatebook.ui.security import Guard

    ctx = Context(store_url, root if root is not None else project.find_root(), read_only)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            ctx.close()

    async def http_error(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        if code == 404:
            return api.error_response(404, f"no such page: {request.url.path}",
                                      "the pages are /, /runs/REF, /compare, /sweeps, /aliases; the API is under "
                                      "/api/ (docs/ui.md)")
        if code == 405:
            return api.error_response(405, f"{request.method} is not allowed on {request.url.path}")
        return api.error_response(code, str(getattr(exc, "detail", "")) or "error")

    from gatebook.ui import site

    routes = api.routes(ctx) + site.routes(ctx)
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error},
                    middleware=[Middleware(Guard, host=host, port=port, token=token,  # type: ignore[arg-type]
                                           read_only=read_only)])
    app.state.gatebook = ctx
    app.state.base_url = f"http://{_bracket(host)}:{port}"
    return app


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def call(app: Starlette, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
         body: bytes = b"") -> tuple[int, bytes]:
    """Answer one request through ``app`` in this process (no socket, no HTTP client): ``(status,
    body)``. The request is sent to the app's own address, with ``headers`` added."""
    from urllib.parse import unquote, urlsplit

    base = urlsplit(app.state.base_url)
    target = urlsplit(path if path.startswith("/") else "/" + path)
    raw_headers = [(b"host", base.netloc.encode("latin-1"))]
    raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method.upper(),
             "scheme": "http", "path": unquote(target.path), "raw_path": target.path.encode("latin-1"), "root_path": "",
             "query_string": target.query.encode("latin-1"), "headers": raw_headers,
             "client": ("127.0.0.1", 0), "server": (base.hostname or "127.0.0.1", base.port or 80)}
    out: dict[str, Any] = {"status": 500, "body": b""}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # nothing more: the request is whole
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    failed: list[BaseException] = []

    def answer() -> None:
        try:
            asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
        except BaseException as exc:  # raised in the caller's thread below
            failed.append(exc)

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no event loop in this thread
        answer()
    else:  # a loop runs in this thread (a notebook, Playwright's sync API): answer from a thread of its own
        worker = threading.Thread(target=answer, name="gatebook-ui-call")
        worker.start()
        worker.join()
    if failed:
        raise failed[0]
    return out["status"], out["body"]
