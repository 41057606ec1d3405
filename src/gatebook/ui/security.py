"""The dashboard's guards, as one ASGI middleware: the Host header, the token, same-origin writes, read-only.

Every request is checked in this order, and a refusal is a one-line JSON error
``{"error": ..., "hint": ...}``:

1. **Host** (DNS rebinding): the ``Host`` header must name the address the server is bound to
   with its port; a loopback bind accepts its loopback spellings (``127.0.0.1``, ``localhost``,
   ``[::1]``) with the same port. A wildcard bind (``0.0.0.0``, ``::``) cannot know the names it
   is reached by, so it checks only the port; such a bind always has a token. Else 400.
2. **Token** (when one is set): ``Authorization: Bearer T`` (scripts), or ``?token=T`` in the
   URL (the first page load: the answer sets an HttpOnly, SameSite=Strict cookie), or that
   cookie. Compared in constant time. Else 401.
3. **Writes** (any method but GET, HEAD, OPTIONS): refused with ``--read-only`` (403); else the
   ``Origin`` header must be the server's own origin. A request without ``Origin`` is accepted
   only with the token in the ``Authorization`` header (a script, not a browser: a page from
   another origin cannot set that header without a CORS preflight, which is never answered).
   Else 403.

Every answer carries :data:`HEADERS` (the Content-Security-Policy that forbids inline and foreign
script, ``nosniff``, no framing, no Referer).
"""

from __future__ import annotations

import hmac
import json
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "gatebook_token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("0.0.0.0", "::", "")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
"""Every answer's Content-Security-Policy: no inline or foreign script, nothing from elsewhere."""
HEADERS = ((b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
           (b"cache-control", b"no-store"))
"""Added to every answer: the CSP, no MIME sniffing, no framing, no Referer (a URL may carry the token)."""


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def allowed_hosts(host: str, port: int) -> set[str]:
    """The ``Host`` header values a server bound to ``host:port`` answers (lower case)."""
    names = set(LOOPBACK) if host in LOOPBACK else {host.lower()}
    out = {f"{_bracket(n)}:{port}" for n in names}
    if port == 80:  # a browser leaves the default port out
        out |= {_bracket(n) for n in names}
    return out


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def json_error(status: int, error: str, hint: str | None = None) -> tuple[int, bytes]:
    return status, json.dumps({"error": error, "hint": hint}, ensure_ascii=False).encode() + b"\n"


class Guard:
    """The middleware: wraps the app and answers refused requests itself."""

    def __init__(self, app: ASGIApp, *, host: str, port: int, token: str | None, read_only: bool) -> None:
        self.app = app
        self.host, self.port = host, port
        self.token = token
        self.read_only = read_only
        self.hosts = allowed_hosts(host, port)
        self.origins = {f"http://{h}" for h in self.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refused = self.check(scope, headers)
        if refused is not None:
            await _answer(send, *refused)
            return
        extra = list(HEADERS)
        query_token = _query_token(scope)
        if self.token and query_token is not None and hmac.compare_digest(query_token, self.token):
            extra.append((b"set-cookie", f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode("latin-1")))
        await self.app(scope, receive, _with_headers(send, extra))

    def check(self, scope: Scope, headers: dict[str, str]) -> tuple[int, bytes] | None:
        """The refusal for this request, or None when it may go on."""
        host = headers.get("host", "").strip().lower()
        if not self._host_ok(host):
            return json_error(400, f"Host {host or '(none)'!r} is not the address this server is bound to",
                              f"open http://{_bracket(self.host)}:{self.port}/ (requests for other names "
                              "are refused: DNS rebinding)")
        bearer = _bearer(headers)
        if self.token:
            given = bearer or _query_token(scope) or _cookie(headers)
            if given is None or not hmac.compare_digest(given, self.token):
                return json_error(401, "this server needs its token",
                                  "open the URL `gatebook ui` printed (it carries ?token=), or send "
                                  "the header Authorization: Bearer TOKEN")
        if scope.get("method", "GET").upper() in SAFE_METHODS:
            return None
        if self.read_only:
            return json_error(403, "this server is read-only (started with --read-only)",
                              "restart `gatebook ui` without --read-only to stop runs or add notes")
        origin = headers.get("origin")
        if origin is None:
            if self.token and bearer is not None:
                return None  # a script holding the token
            return json_error(403, "a write needs the Origin header of this server",
                              f"send Origin: http://{_bracket(self.host)}:{self.port}"
                              + (" or Authorization: Bearer TOKEN" if self.token else ""))
        if origin.lower().rstrip("/") not in self.origins and not self._wildcard_origin(origin):
            return json_error(403, f"a write from another origin ({origin}) is refused",
                              "stop runs and add notes from this server's own pages")
        return None

    def _host_ok(self, host: str) -> bool:
        if host in self.hosts:
            return True
        if self.host in WILDCARD:  # any name, the right port (a token is required for such a bind)
            return host.rpartition(":")[2] == str(self.port) or (self.port == 80 and ":" not in host)
        return False

    def _wildcard_origin(self, origin: str) -> bool:
        """For a wildcard bind: the Origin must be the Host the request was sent to (checked by
        the caller through the Host check) on this port."""
        if self.host not in WILDCARD:
            return False
        rest = origin.lower().removeprefix("http://")
        return rest != origin.lower() and self._host_ok(rest)


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _query_token(scope: Scope) -> str | None:
    raw = scope.get("query_string", b"").decode("latin-1")
    values = parse_qs(raw).get("token") if raw else None
    return values[0] if values else None


def _cookie(headers: dict[str, str]) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed cookie header is no token
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    """``send`` that adds ``extra`` to the response's headers (the hardening headers, the cookie)."""

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
