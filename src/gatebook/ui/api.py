"""The dashboard's JSON API: each endpoint answers the document the matching CLI command prints with --json.

Endpoints are plain functions ``(ctx, request) -> document``; :func:`routes` wraps them so a
GatebookError becomes a one-line JSON error (404 for an unknown run, 400 for bad input) and
anything else a 500 with one line, never a traceback. See docs/ui.md.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable

from gatebook.errors import AliasBusyError, GatebookError, NotFoundError, StoreError, UsageError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from gatebook.analysis.compare import Comparison
    from gatebook.records import RunRecord
    from gatebook.store.base import RunQuery
    from gatebook.ui.app import Context

Endpoint = Callable[["Context", "Request"], Any]


def json_response(doc: Any, status: int = 200) -> Response:
    """Strict JSON (NaN and infinities as strings, as ``emit_json`` writes them), one line."""
    from starlette.responses import Response

    try:  # the common case, one pass: no NaN or infinity in the document
        body = json.dumps(doc, ensure_ascii=False, allow_nan=False)
    except ValueError:
        from gatebook.serialize import json_safe_numbers

        body = json.dumps(json_safe_numbers(doc), ensure_ascii=False, allow_nan=False)
    return Response(body + "\n", status_code=status, media_type="application/json")


def error_response(status: int, message: str, hint: str | None = None) -> Response:
    return json_response({"error": message, "hint": hint}, status)


class Forbidden(UsageError):
    """A request refused although well formed (403): a download the run's record no longer vouches for."""


def status_of(exc: GatebookError) -> int:
    if isinstance(exc, Forbidden):
        return 403
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


def int_param(request: Request, name: str, default: int | None, minimum: int) -> int | None:
    """Query parameter ``name`` as a whole number of at least ``minimum`` (``default`` when absent)."""
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

def run_query(request: Request, *, sort: str | None = None, limit: int | None = None, offset: int = 0) -> RunQuery:
    """The filters of the query (name glob, tag, group, status, since) as a RunQuery sorted by
    ``sort`` (default: the query's) and at most ``limit`` (default: the query's, 50)."""
    from gatebook.records import RunStatus
    from gatebook.selection import parse_since
    from gatebook.store.base import RunQuery

    q = request.query_params
    statuses = tuple(_params(request, "status"))
    known = [s.value for s in RunStatus]
    for s in statuses:
        if s not in known:
            raise UsageError(f"status={s!r} is not a run status", hint="one of " + ", ".join(known))
    since = q.get("since")
    return RunQuery(name_glob=q.get("name") or None, tags=tuple(_params(request, "tag")), statuses=statuses,
                    group=q.get("group") or None, since=parse_since(since, option="since") if since else None,
                    sort=sort or q.get("sort") or "-created",
                    limit=(int_param(request, "limit", 50, 0) or 0) if limit is None else limit, offset=offset)


def filtered_runs(ctx: Context, request: Request, *, sort: str | None = None, limit: int | None = None,
                  offset: int = 0) -> list[RunRecord]:
    """The runs :func:`run_query` selects, as they are now (a running run whose process vanished
    is ``lost``, and so no longer matches ``status=running``)."""
    from gatebook.liveness import current

    query = run_query(request, sort=sort, limit=limit, offset=offset)
    store = ctx.store()
    found = current(store, store.list_runs(query))
    if query.statuses:
        found = [r for r in found if r.status.value in query.statuses]
    return found


def runs(ctx: Context, request: Request) -> Any:
    """``gatebook ls --json``: name (a glob), tag (repeatable), group, status (repeatable), since,
    sort, limit (default 50, 0: all)."""
    from gatebook.views import ls_row

    return {"runs": [ls_row(r) for r in filtered_runs(ctx, request)]}


def run(ctx: Context, request: Request) -> Any:
    """``gatebook show REF --json`` (REF: an id, id prefix, name or @alias)."""
    from gatebook.liveness import resolve_current
    from gatebook.views import run_document

    store = ctx.store()
    return run_document(store, resolve_current(store, request.path_params["ref"]))


def comparison_of(ctx: Context, request: Request) -> Comparison:
    """The comparison ``gatebook compare`` builds: runs (comma-separated), baseline, metrics,
    gates, sort, tag, group, last."""
    from gatebook.analysis.compare import build_comparison
    from gatebook.liveness import current
    from gatebook.selection import select_runs

    store = ctx.store()
    pconf = ctx.project_config()
    selected = select_runs(store, _params(request, "runs"), tags=_params(request, "tag"),
                           group=request.query_params.get("group") or None, last=int_param(request, "last", None, 1),
                           full=False)
    baseline = request.query_params.get("baseline") or None
    base = None
    if baseline:
        try:
            base = current(store, [store.resolve_run(baseline)])[0]
        except NotFoundError as exc:
            raise NotFoundError(f"baseline: {exc.message}", hint=exc.hint) from None
    return build_comparison(store, current(store, selected), metrics=_params(request, "metrics") or None,
                            baseline=base, pconf=pconf, gates=tuple(_params(request, "gates")),
                            sort=request.query_params.get("sort") or None)


def compare(ctx: Context, request: Request) -> Any:
    """``gatebook compare --json`` (see :func:`comparison_of`)."""
    return comparison_of(ctx, request).to_dict()


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


def float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not a number") from None


def series(ctx: Context, request: Request) -> Any:
    """One run's series of one key, bucketed (min, max, last per bucket) or whole:
    ``gatebook.ui.series.series_document`` (buckets=2000, start=, end=)."""
    from gatebook.liveness import resolve_current
    from gatebook.ui.series import series_document

    store = ctx.store()
    rec = resolve_current(store, request.path_params["ref"])
    return series_document(store, rec, request.path_params["key"],
                           buckets=int_param(request, "buckets", 2000, 1) or 2000,
                           start=float_param(request, "start"), end=float_param(request, "end"), cache=ctx.series)


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
    from gatebook.views import add_note

    text = _text(body, "text", required=True)
    assert text is not None
    return add_note(ctx.store(), request.path_params["ref"], text)[1]


def promote(ctx: Context, request: Request, body: dict[str, Any]) -> Any:
    """``gatebook promote REF --to ALIAS --json``, gated exactly as that command is: body
    ``{"alias": ..., "reason": ..., "gates": [...], "allow_marginal": false, "force": false}``. A
    refused promotion is a 200 whose document says ``"action": "refused"`` with the advice."""
    from gatebook.registry.promote import promote as promote_run

    alias = _text(body, "alias", required=True)
    assert alias is not None
    gates = body.get("gates") or []
    if not isinstance(gates, list) or not all(isinstance(g, str) for g in gates):
        raise UsageError('"gates" must be a list of gate names')
    flags = {}
    for name in ("allow_marginal", "force"):
        flags[name] = body.get(name, False)
        if not isinstance(flags[name], bool):
            raise UsageError(f'"{name}" must be true or false')
    return promote_run(ctx.store(), ctx.project_config(), request.path_params["ref"], alias.lstrip("@"), gates=gates,
                       allow_marginal=flags["allow_marginal"], force=flags["force"],
                       reason=_text(body, "reason", required=False)).to_dict()


# -- wiring ------------------------------------------------------------------------------------

def _guarded(fn: Callable[[], Any], answer: Callable[[Any], Response] = json_response) -> Response:
    """``answer(fn())`` (a document as JSON by default); a GatebookError is its one-line JSON
    error with its status, anything else a 500 with one line."""
    try:
        return answer(fn())
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


def response_endpoint(ctx: Context, fn: Callable[[Context, Request], Response]) -> Callable[[Request], Any]:
    """An endpoint whose function makes its own Response (a download, the event stream), with
    the same errors as the JSON endpoints."""
    async def endpoint(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_guarded, lambda: fn(ctx, request), lambda response: response)

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
             "GET /api/sweeps/{name}", "GET /api/aliases", "GET /api/aliases/log", "GET /api/aliases/{name}/log",
             "GET /api/events", "GET /api/stream", "POST /api/runs/{ref}/stop", "POST /api/runs/{ref}/notes",
             "POST /api/runs/{ref}/promote")
PAGES = ("/", "/runs/{ref}", "/compare?runs=A,B&baseline=A", "/sweeps", "/sweeps/{name}", "/aliases",
         "/runs/{ref}/patch", "/runs/{ref}/artifacts/{n}")


def index(ctx: Context, request: Request) -> Any:
    """``/api``: what this server answers."""
    from gatebook import __version__

    return {"gatebook": __version__, "api": list(API_PATHS), "pages": list(PAGES), "docs": "docs/ui.md"}


def routes(ctx: Context) -> list[Any]:
    """The API's routes (the pages and the stream are gatebook.ui.site's)."""
    from starlette.routing import Route

    return [
        Route("/api", read_endpoint(ctx, index), methods=["GET"]),
        Route("/api/runs", read_endpoint(ctx, runs), methods=["GET"]),
        Route("/api/runs/{ref}", read_endpoint(ctx, run), methods=["GET"]),
        Route("/api/runs/{ref}/stop", write_endpoint(ctx, stop), methods=["POST"]),
        Route("/api/runs/{ref}/notes", write_endpoint(ctx, note), methods=["POST"]),
        Route("/api/runs/{ref}/promote", write_endpoint(ctx, promote), methods=["POST"]),
        Route("/api/runs/{ref}/series/{key:path}", read_endpoint(ctx, series), methods=["GET"]),
        Route("/api/compare", read_endpoint(ctx, compare), methods=["GET"]),
        Route("/api/sweeps/{name}", read_endpoint(ctx, sweep), methods=["GET"]),
        Route("/api/aliases", read_endpoint(ctx, aliases), methods=["GET"]),
        Route("/api/aliases/log", read_endpoint(ctx, alias_log), methods=["GET"]),
        Route("/api/aliases/{name}/log", read_endpoint(ctx, alias_log), methods=["GET"]),
        Route("/api/events", read_endpoint(ctx, events), methods=["GET"]),
    ]
