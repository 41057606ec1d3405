"""The dashboard's JSON API: each endpoint answers the document the matching CLI command prints with --json.

Endpoints are plain functions ``(ctx, request) -> document``; :func:`routes` wraps them so a
GatebookError becomes a one-line JSON error (404 for an unknown run, 400 for bad input) and
anything else a 500 with one line, never a traceback. See docs/ui.md.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Callable

from gatebook.errors import AliasBusyError, GatebookError, NotFoundError, StoreError, UsageError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from gatebook.store.base import Store
    from gatebook.ui.app import Context

Endpoint = Callable[["Context", "Request"], Any]


def json_response(doc: Any, status: int = 200) -> Response:
    """Strict JSON (NaN and infinities as strings, as ``emit_json`` writes them), one line."""
    from starlette.responses import Response

    from gatebook.serialize import json_safe_numbers

    body = json.dumps(json_safe_numbers(doc), ensure_ascii=False, allow_nan=False)
    return Response(body + "\n", status_code=status, media_type="application/json")


def error_response(status: int, message: str, hint: str | None = None) -> Response:
    return json_response({"error": message, "hint": hint}, status)


def status_of(exc: GatebookError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, AliasBusyError):
        return 409
    if isinstance(exc, StoreError):
        return 503
    return 400


def _params(request: Request, name: str) -> list[str]:
    """Every value of query parameter ``name``, comma-separated ones split, blanks dropped."""
    return [part.strip() for value in request.query_params.getlist(name) for part in value.split(",") if part.strip()]


def _int(request: Request, name: str, default: int | None, minimum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise UsageError(f"{name}={value}: give {minimum} or more")
    return value


# -- reads -------------------------------------------------------------------------------------

def runs(ctx: Context, request: Request) -> Any:
    """``gatebook ls --json``: name (a glob), tag (repeatable), group, status (repeatable), since,
    sort, limit (default 50, 0: all)."""
    from gatebook.liveness import current
    from gatebook.records import RunStatus
    from gatebook.selection import parse_since
    from gatebook.store.base import RunQuery
    from gatebook.views import ls_row

    q = request.query_params
    statuses = tuple(_params(request, "status"))
    known = [s.value for s in RunStatus]
    for s in statuses:
        if s not in known:
            raise UsageError(f"status={s!r} is not a run status", hint="one of " + ", ".join(known))
    since = q.get("since")
    query = RunQuery(name_glob=q.get("name") or None, tags=tuple(_params(request, "tag")), statuses=statuses,
                     group=q.get("group") or None, since=parse_since(since, option="since") if since else None,
                     sort=q.get("sort") or "-created", limit=_int(request, "limit", 50, 0) or 0)
    store = ctx.store()
    found = current(store, store.list_runs(query))
    if statuses:  # a run found lost just now is no longer "running"
        found = [r for r in found if r.status.value in statuses]
    return {"runs": [ls_row(r) for r in found]}


def run(ctx: Context, request: Request) -> Any:
    """``gatebook show REF --json`` (REF: an id, id prefix, name or @alias)."""
    from gatebook.liveness import resolve_current
    from gatebook.views import run_document

    store = ctx.store()
    return run_document(store, resolve_current(store, request.path_params["ref"]))


def compare(ctx: Context, request: Request) -> Any:
    """``gatebook compare --json``: runs (comma-separated), baseline, metrics, gates, sort, tag, group, last."""
    from gatebook.analysis.compare import build_comparison
    from gatebook.liveness import current
    from gatebook.selection import select_runs

    store = ctx.store()
    pconf = ctx.project_config()
    selected = select_runs(store, _params(request, "runs"), tags=_params(request, "tag"),
                           group=request.query_params.get("group") or None, last=_int(request, "last", None, 1),
                           full=False)
    baseline = request.query_params.get("baseline") or None
    base = None
    if baseline:
        try:
            base = current(store, [store.resolve_run(baseline)])[0]
        except NotFoundError as exc:
            raise NotFoundError(f"baseline: {exc.message}", hint=exc.hint) from None
    comparison = build_comparison(store, current(store, selected), metrics=_params(request, "metrics") or None,
                                  baseline=base, pconf=pconf, gates=tuple(_params(request, "gates")),
                                  sort=request.query_params.get("sort") or None)
    return comparison.to_dict()


def sweep(ctx: Context, request: Request) -> Any:
    """``gatebook sweep show NAME --json`` (``sweep.rank.show_document``: gates=, metrics=, sort=,
    baseline=)."""
    from gatebook.sweep.rank import show_document

    doc, _ = show_document(ctx.store(), ctx.project_config(), request.path_params["name"],
                           gates=_params(request, "gates"), metrics=_params(request, "metrics"),
                           sort=request.query_params.get("sort") or None,
                           baseline=request.query_params.get("baseline") or None)
    return doc


def aliases(ctx: Context, request: Request) -> Any:
    """``gatebook aliases --json``."""
    from gatebook.registry.trail import list_aliases

    return list_aliases(ctx.store()).to_dict()


def alias_log(ctx: Context, request: Request) -> Any:
    """``gatebook aliases log [NAME] --json`` (/api/aliases/log: every alias's trail)."""
    from gatebook.registry.trail import alias_log as trail

    return trail(ctx.store(), request.path_params.get("name")).to_dict()


def events(ctx: Context, request: Request) -> Any:
    """A run's events, as in the ``show --json`` document's ``events``: run= (required), kind=
    (repeatable: only those kinds)."""
    from gatebook.render.text import iso

    ref = request.query_params.get("run")
    if not ref:
        raise UsageError("give the run: /api/events?run=REF")
    store = ctx.store()
    rec = store.resolve_run(ref)
    rows = store.events(rec.id, _params(request, "kind") or None)
    return {"id": rec.id, "name": rec.name,
            "events": [{"ts": iso(e.ts), "kind": e.kind, "step": e.step, "data": e.data} for e in rows]}


# -- writes ------------------------------------------------------------------------------------

async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise UsageError("the request body is not JSON", hint='send e.g. {"reason": "..."}') from None
    if not isinstance(data, dict):
        raise UsageError("the request body must be a JSON object")
    return data


def _text(body: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise UsageError(f'"{key}" must be a {"non-empty " if required else ""}string')
    return value.strip()


def stop(ctx: Context, request: Request, body: dict[str, Any]) -> Any:
    """``gatebook stop REF --json`` (gates.stop.stop_run): body ``{"reason": ..., "grace": 10,
    "wait": false}``; the stop is recorded before the answer, the process ends within a second."""
    from gatebook.gates.stop import stop_run

    grace = body.get("grace", 10.0)
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or grace < 0:
        raise UsageError('"grace" must be a number of seconds, 0 or more')
    wait = body.get("wait", False)
    if not isinstance(wait, bool):
        raise UsageError('"wait" must be true or false')
    return stop_run(ctx.store(), request.path_params["ref"], reason=_text(body, "reason", required=False),
                    grace=float(grace), wait=wait).to_dict()


def note(ctx: Context, request: Request, body: dict[str, Any]) -> Any:
    """``gatebook note REF TEXT --json``: body ``{"text": ...}``."""
    text = _text(body, "text", required=True)
    assert text is not None
    store: Store = ctx.store()
    rec = store.resolve_run(request.path_params["ref"])
    now = time.time()
    store.add_note(rec.id, text, now)
    return {"id": rec.id, "note": text, "ts": now}


# -- wiring ------------------------------------------------------------------------------------

def _guarded(fn: Callable[[], Any]) -> Response:
    try:
        return json_response(fn())
    except GatebookError as exc:
        return error_response(status_of(exc), exc.message, exc.hint)
    except Exception as exc:  # a bug: one line, no traceback
        return error_response(500, f"internal error: {type(exc).__name__}: {exc}",
                              "rerun the same request with `gatebook --debug ui --get PATH` and report it")


def read_endpoint(ctx: Context, fn: Endpoint) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_guarded, lambda: fn(ctx, request))

    return endpoint


def write_endpoint(ctx: Context, fn: Callable[[Context, Request, dict[str, Any]], Any]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        try:
            body = await _body(request)
        except GatebookError as exc:
            return error_response(status_of(exc), exc.message, exc.hint)
        return await run_in_threadpool(_guarded, lambda: fn(ctx, request, body))

    return endpoint


API_PATHS = ("GET /api/runs", "GET /api/runs/{ref}", "GET /api/runs/{ref}/series/{key}", "GET /api/compare",
             "GET /api/sweeps/{name}", "GET /api/aliases", "GET /api/aliases/{name}/log", "GET /api/events",
             "POST /api/runs/{ref}/stop", "POST /api/runs/{ref}/notes")


def index(ctx: Context, request: Request) -> Any:
    """``/`` and ``/api``: what this server answers (the pages come with a later release)."""
    from gatebook import __version__

    return {"gatebook": __version__, "api": list(API_PATHS),
            "pages": None, "docs": "docs/ui.md: the JSON API; the pages come next"}


def routes(ctx: Context) -> list[Any]:
    """The API's routes (the series route is added by app.py when ui/series.py is there)."""
    from starlette.routing import Route

    return [
        Route("/", read_endpoint(ctx, index), methods=["GET"]),
        Route("/api", read_endpoint(ctx, index), methods=["GET"]),
        Route("/api/runs", read_endpoint(ctx, runs), methods=["GET"]),
        Route("/api/runs/{ref}", read_endpoint(ctx, run), methods=["GET"]),
        Route("/api/runs/{ref}/stop", write_endpoint(ctx, stop), methods=["POST"]),
        Route("/api/runs/{ref}/notes", write_endpoint(ctx, note), methods=["POST"]),
        Route("/api/compare", read_endpoint(ctx, compare), methods=["GET"]),
        Route("/api/sweeps/{name}", read_endpoint(ctx, sweep), methods=["GET"]),
        Route("/api/aliases", read_endpoint(ctx, aliases), methods=["GET"]),
        Route("/api/aliases/log", read_endpoint(ctx, alias_log), methods=["GET"]),
        Route("/api/aliases/{name}/log", read_endpoint(ctx, alias_log), methods=["GET"]),
        Route("/api/events", read_endpoint(ctx, events), methods=["GET"]),
    ]
