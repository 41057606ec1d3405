"""The dashboard's pages, assets, downloads and live stream as Starlette routes (the JSON API is ui/api.py).

A page endpoint gathers its data (gatebook.ui.pages) in the threadpool and answers HTML; a bad
request or an unknown run is an HTML page with the one-line message and its hint, and the
status the API would give (400, 404). Downloads serve only what the run recorded: the patch the
ledger keeps, and an artifact by its number in the run's list (no path from the URL is ever
opened), refused when it is not a regular file any more, when the path goes through a symlink,
or when its content no longer has the sha256 logged with it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from gatebook.errors import GatebookError, NotFoundError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from gatebook.ui.app import Context

STATIC = Path(__file__).with_name("static")


def html_endpoint(ctx: Context, fn: Callable[[Context, Request], str]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_page, lambda: fn(ctx, request))

    return endpoint


def _page(fn: Callable[[], str]) -> Response:
    from starlette.responses import HTMLResponse

    from gatebook.ui.api import status_of
    from gatebook.ui.html import error_page

    try:
        return HTMLResponse(fn())
    except GatebookError as exc:
        status = status_of(exc)
        return HTMLResponse(error_page(status, exc.message, exc.hint), status_code=status)
    except Exception as exc:  # a bug: one line, no traceback
        return HTMLResponse(error_page(500, f"internal error: {type(exc).__name__}: {exc}",
                                       "report it with the URL of this page"), status_code=500)


# -- pages ---------------------------------------------------------------------------------------

def runs_page(ctx: Context, request: Request) -> str:
    from gatebook.ui import html, pages

    return html.runs_page(pages.runs_view(ctx, request), read_only=ctx.read_only)


def run_page(ctx: Context, request: Request) -> str:
    from gatebook.ui import pages, run_html

    return run_html.run_page(pages.run_view(ctx, request.path_params["ref"]), read_only=ctx.read_only)


def compare_page(ctx: Context, request: Request) -> str:
    from gatebook.ui import pages, run_html

    return run_html.compare_page(pages.compare_view(ctx, request), read_only=ctx.read_only)


def sweeps_page(ctx: Context, request: Request) -> str:
    from gatebook.ui import html, pages

    return html.sweeps_page(pages.sweeps_list(ctx), read_only=ctx.read_only)


def sweep_page(ctx: Context, request: Request) -> str:
    from gatebook.ui import html, pages

    return html.sweep_page(pages.sweep_view(ctx, request.path_params["name"]), read_only=ctx.read_only)


def aliases_page(ctx: Context, request: Request) -> str:
    from gatebook.registry.trail import alias_log, list_aliases
    from gatebook.ui import html

    store = ctx.store()
    return html.aliases_page(list_aliases(store).to_dict(), alias_log(store).to_dict(), read_only=ctx.read_only)


# -- downloads -----------------------------------------------------------------------------------

def patch(ctx: Context, request: Request) -> Response:
    """The dirty-tree patch the ledger keeps for the run, as plain text."""
    from starlette.responses import Response

    from gatebook.liveness import resolve_current

    store = ctx.store()
    rec = resolve_current(store, request.path_params["ref"])
    content = store.artifact_content(rec.id, "patch")
    if content is None:
        raise NotFoundError(f"run {rec.label} has no patch (its tree was clean, or not a git repository)")
    return Response(content, media_type="text/plain; charset=utf-8",
                    headers={"content-disposition": f'inline; filename="{rec.id}.patch"'})


def artifact(ctx: Context, request: Request) -> Response:
    """Artifact number N of the run (its place in ``gatebook artifacts``), as a download."""
    from starlette.responses import FileResponse, RedirectResponse

    from gatebook.artifacts import file_sha256, list_artifacts, on_disk
    from gatebook.liveness import resolve_current
    from gatebook.ui.api import Forbidden

    store = ctx.store()
    rec = resolve_current(store, request.path_params["ref"])
    entries = list_artifacts(store, rec).artifacts
    n = request.path_params["n"]
    if not 0 <= n < len(entries):
        raise NotFoundError(f"run {rec.label} has {len(entries)} artifacts; there is no number {n}")
    a = entries[n]
    if a.stored:
        return RedirectResponse(f"/runs/{rec.id}/patch", status_code=303)
    path = on_disk(a.path, rec.cwd)
    if os.path.realpath(path) != os.path.abspath(path):
        raise Forbidden(f"{a.path} now goes through a symlink: only the file the run logged is served")
    if not os.path.isfile(path):
        raise NotFoundError(f"{a.path} is not a file on this machine any more")
    if a.sha256 is None or file_sha256(path) != a.sha256:
        raise Forbidden(f"{a.path} is not the file the run logged (its sha256 changed, or none was recorded)",
                        hint=f"gatebook artifacts {rec.id} --verify")
    return FileResponse(path, media_type="application/octet-stream", filename=os.path.basename(path))


def palette(request: Request) -> Response:
    """The tier, status and delta colours (gatebook.render.styles via the report's palette)."""
    from starlette.responses import Response

    from gatebook.report.html import palette_css

    return Response(palette_css() + "\n", media_type="text/css")


def favicon(request: Request) -> Response:
    """What a browser asks for on any URL (a JSON answer included): the SVG icon."""
    from starlette.responses import FileResponse

    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


def routes(ctx: Context) -> list[Any]:
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from gatebook.ui.api import response_endpoint
    from gatebook.ui.stream import stream

    return [
        Route("/", html_endpoint(ctx, runs_page), methods=["GET"]),
        Route("/runs/{ref}", html_endpoint(ctx, run_page), methods=["GET"]),
        Route("/runs/{ref}/patch", response_endpoint(ctx, patch), methods=["GET"]),
        Route("/runs/{ref}/artifacts/{n:int}", response_endpoint(ctx, artifact), methods=["GET"]),
        Route("/compare", html_endpoint(ctx, compare_page), methods=["GET"]),
        Route("/sweeps", html_endpoint(ctx, sweeps_page), methods=["GET"]),
        Route("/sweeps/{name}", html_endpoint(ctx, sweep_page), methods=["GET"]),
        Route("/aliases", html_endpoint(ctx, aliases_page), methods=["GET"]),
        Route("/api/stream", response_endpoint(ctx, stream), methods=["GET"]),
        Route("/static/palette.css", palette, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
