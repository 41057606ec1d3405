"""`gatebook ui`: serve the dashboard (gatebook.ui) on this ledger, or answer one request with --get."""

from __future__ import annotations

import socket
import sys
from typing import Any

import click

from gatebook.cli.common import store_option, store_url_flag
from gatebook.errors import MissingExtraError, UsageError


def _need(module: str) -> None:
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(module, "ui", "gatebook ui") from None


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Any other than loopback requires a token (one is generated when not given).")
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to bind (0: any free port).")
@click.option("--open/--no-open", "open_browser", default=True, show_default=True,
              help="Open the page in a browser once the server is up.")
@click.option("--token", metavar="T", help="Require this token on every request (Authorization: Bearer T, "
              "or ?token=T once, then a cookie).")
@click.option("--read-only", is_flag=True, help="Refuse every change (stop, note).")
@click.option("--get", "get_path", metavar="PATH",
              help="Answer one GET (e.g. /api/runs) in this process and print its body (the same "
                   "document as the matching command's --json); no server. Exit 0 for 2xx, 2 for 4xx, 3 for 5xx.")
@store_option
def ui_cmd(host: str, port: int, open_browser: bool, token: str | None, read_only: bool,
           get_path: str | None) -> int:
    """Serve the dashboard and its JSON API on this ledger (docs/ui.md). Ctrl-C stops it.

    Binds 127.0.0.1 by default. Requests whose Host header names another address are refused
    (DNS rebinding); changes (stop, note) need this server's own Origin, or the token in the
    Authorization header.
    """
    _need("starlette")
    _need("numpy")
    from gatebook import project
    from gatebook.ui.app import create_app
    from gatebook.ui.security import is_loopback

    proj = project.locate_for_reading(store_url_flag())
    if get_path is not None:
        return _get(create_app(proj.store_url, token=token, read_only=read_only, host=host, port=port,
                               root=proj.root), get_path, token)
    _need("uvicorn")
    generated = False
    if not is_loopback(host) and not token:
        import secrets

        token, generated = secrets.token_urlsafe(24), True
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    app = create_app(proj.store_url, token=token, read_only=read_only, host=host, port=port, root=proj.root)
    url = app.state.base_url + "/" + (f"?token={token}" if token else "")
    click.echo(f"gatebook ui: serving {proj.store_url} at {url}" + (" (read-only)" if read_only else ""))
    if generated:
        click.echo(f"gatebook ui: {host} is not a loopback address: every request needs the token {token}")
    click.echo("gatebook ui: Ctrl-C stops it", err=True)
    sys.stdout.flush()
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(0.5, webbrowser.open, [url]).start()
    _serve(app, sock)
    click.echo("gatebook ui: stopped", err=True)
    return 0


def _get(app: object, path: str, token: str | None) -> int:
    from gatebook.ui.app import call

    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        status, body = call(app, path, headers=headers)  # type: ignore[arg-type]
    finally:
        app.state.gatebook.close()  # type: ignore[attr-defined]
    sys.stdout.write(body.decode("utf-8", "replace"))
    sys.stdout.flush()
    if status < 400:
        return 0
    import html
    import json

    try:
        message = json.loads(body).get("error") or ""
    except (ValueError, AttributeError):  # a page: its message is in its <p class="error">
        import re

        found = re.search(rb'<p class="error">(.*?)</p>', body)
        message = html.unescape(found.group(1).decode("utf-8", "replace")) if found else ""
    click.echo(f"gatebook: error: GET {path}: {status} {message}", err=True)
    return 2 if status < 500 else 3


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; a port in use is a UsageError naming a free one."""
    import errno

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise UsageError(f"--host {host!r} is not an address this machine can bind ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            free = _free_port(family, str(addr[0]))
            raise UsageError(f"port {port} on {host} is in use", hint=f"try --port {free} (free now)") from None
        raise UsageError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


def _free_port(family: int, address: str) -> int:
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def _serve(app: object, sock: socket.socket) -> None:
    """uvicorn on the bound socket until Ctrl-C (or SIGTERM): live streams end, open requests
    finish (at most 5 s), then the app's shutdown closes the store."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",  # type: ignore[arg-type]
                            timeout_graceful_shutdown=5)
    stopping = app.state.gatebook.stopping  # type: ignore[attr-defined]

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            stopping.set()  # open live streams end at their next tick instead of holding the shutdown
            super().handle_exit(sig, frame)

    server = Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled once it has shut down
        pass
    finally:
        sock.close()
