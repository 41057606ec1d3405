"""12. Dashboard: the runs API, the runs page's first paint and a live point drawn, at 10,000 runs.

The 10,000-run ledger of benchmark 6 (``bench_ls.build_ledger``: gatebook's own store, bulk
transactions), then, interleaved, median of REPEATS after a warm-up round:

a. ``GET /api/runs?limit=0`` (every run, the ``gatebook ls --limit 0 --json`` document):
   - ``api_call``: through ``gatebook.ui.app.call(app, path)`` in this process (the app's
     routing, guards, threadpool and JSON; no socket);
   - ``api_http``: a real HTTP request (one kept-alive ``http.client`` connection, the whole body
     read) to a running ``gatebook ui --port 0 --no-open --store URL`` (uvicorn) process;
   - ``page_call``: ``GET /`` (the runs page's HTML, or the API index before the pages exist)
     in-process, for context: the server's share of the page's first paint;
   - ``raw_sqlite``: the limit: plain sqlite3 ``SELECT * FROM gb_runs`` of the same ledger, all
     rows fetched; ``raw_sqlite_json``: the same rows as dicts through ``json.dumps`` (context).
   If the in-process request misses its target, a cProfile of it names where the time goes.
b. First paint of the runs page ``/`` in headless Chromium (Debian's, through Playwright; a new
   browser context each time): navigation start -> the first ``#runs tbody tr`` in the DOM and the
   animation frame after it (an init script's MutationObserver), the first-contentful-paint
   entry, and the wall time of ``page.goto(url, wait_until="load")``. The limit: the same browser
   loading, from disk (file://), a static HTML file of that page as rendered (scripts removed,
   stylesheets inlined). Headline: max(first contentful paint, frame after the first row).
c. A point logged -> drawn: a second ledger holding a ``running`` run (this process's pid and
   host, a fresh heartbeat) with ``loss`` at steps 0..49, served by its own ``gatebook ui``; its
   page ``/runs/{id}`` is opened, then LIVE_POINTS times a point with a new step is written through
   ``Store.log_metrics`` and timed until ``.chart[data-key="loss"]``'s ``data-last-x`` equals that
   step (a MutationObserver notes the moment in the page; clocks: ``time.time()`` here and
   ``performance.timeOrigin + performance.now()`` there). Median of LIVE_POINTS.

b and c need the pages (``/`` answering HTML) and Chromium: when either is missing they are
reported as ``n/a`` with the reason, and the rest still runs. The DOM contract the pages keep:
``table#runs tbody tr[data-run-id]`` rows and ``#runs-count`` on ``/``; ``div.chart[data-key=KEY]``
with ``data-points`` and ``data-last-x`` (updated after every draw) on ``/runs/{ref}``.
"""

from __future__ import annotations

import cProfile
import http.client
import io
import json
import os
import pstats
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    GATEBOOK_EXE,
    child_env,
    log,
    parse_args,
    perf,
    round_robin,
    sqlite_url,
    summary_stats,
    write_result,
)
from bench_ls import N_RUNS, build_ledger  # noqa: E402

API_PATH = "/api/runs?limit=0"
KEY = "loss"
LIVE_START = 50  # steps 0..49 are there when the run page opens
LIVE_POINTS = 5
TARGET_API_S = 0.3
TARGET_PAINT_S = 1.0
TARGET_LIVE_S = 1.0
PAGE_TIMEOUT_MS = 15_000
# Predicates for page.wait_for_function are arrow functions: the pages' CSP has no 'unsafe-eval', and
# Playwright evaluates a bare expression string that has to be polled with eval (refused).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

ROWS = "#runs tbody tr"
# Before any page script: note when the first runs row enters the DOM and the next animation frame.
ROW_OBSERVER_JS = """
(() => {
  const seen = () => {
    if (window.__gbRowAt !== undefined) return true;
    if (!document.querySelector('#runs tbody tr')) return false;
    window.__gbRowAt = performance.now();
    requestAnimationFrame(() => { window.__gbRowFrame = performance.now(); });
    return true;
  };
  const obs = new MutationObserver(() => { if (seen()) obs.disconnect(); });
  obs.observe(document, {childList: true, subtree: true});
})();
"""
PAINT_JS = """
() => {
  const fcp = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');
  const nav = performance.getEntriesByType('navigation')[0];
  const count = document.querySelector('#runs-count');
  return {fcp: fcp ? fcp.startTime : null, row: window.__gbRowAt ?? null, frame: window.__gbRowFrame ?? null,
          load: nav ? nav.loadEventEnd : null, ttfb: nav ? nav.responseStart : null,
          rows: document.querySelectorAll('#runs tbody tr').length,
          count: count ? count.textContent.trim() : null};
}
"""
# Arms a watcher: the wall-clock moment (ms) the chart of KEY says it drew x == target.
DRAWN_WATCH_JS = """
([key, target]) => {
  window.__gbDrawn = undefined;
  const sel = `.chart[data-key="${key}"]`;
  const check = () => {
    const el = document.querySelector(sel);
    if (window.__gbDrawn === undefined && el && el.dataset.lastX === target) {
      window.__gbDrawn = performance.timeOrigin + performance.now();
      obs.disconnect();
    }
  };
  const obs = new MutationObserver(check);
  obs.observe(document.body, {attributes: true, attributeFilter: ['data-last-x'], childList: true, subtree: true});
  check();
}
"""


def timed(fn: Callable[[], Any]) -> float:
    t0 = perf()
    fn()
    return perf() - t0


# -- a real `gatebook ui` -------------------------------------------------------------------------

class UiServer:
    """``gatebook ui --port 0 --no-open --store URL`` in a child; its base URL from the first stdout
    line; SIGINT (Ctrl-C) at the end."""

    def __init__(self, store_url: str, workdir: Path, name: str) -> None:
        self.stderr_path = workdir / f"{name}.stderr"
        self._stderr = self.stderr_path.open("w")
        env = child_env(GATEBOOK_STORE=None, GATEBOOK_RUN_ID=None)
        self.proc = subprocess.Popen([GATEBOOK_EXE, "ui", "--port", "0", "--no-open", "--store", store_url],
                                     cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True)
        self.lines: list[str] = []
        first = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                first.set()
            first.set()

        threading.Thread(target=read, daemon=True).start()
        if not first.wait(60) or not self.lines:
            self.stop()
            raise RuntimeError(f"`gatebook ui` printed no URL: {self.stderr_path.read_text()[-2000:]}")
        match = re.search(r" at (http://\S+)", self.lines[0])
        if not match:
            self.stop()
            raise RuntimeError(f"unexpected first line of `gatebook ui`: {self.lines[0]!r}")
        self.base = match[1].split("?", 1)[0].rstrip("/")
        self.host, port = self.base.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base + "/api", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    why = self.stderr_path.read_text()[-2000:]
                    raise RuntimeError(f"`gatebook ui` does not answer: {why}") from None
                time.sleep(0.05)

    def get(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of one GET."""
        try:
            with urllib.request.urlopen(self.base + path, timeout=60) as resp:
                return resp.status, resp.headers.get("content-type", ""), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("content-type", ""), exc.read()

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._stderr.close()
        return self.proc.returncode


def pages_missing(server: UiServer, path: str) -> str | None:
    """Why ``path`` is not a page yet (None when it answers HTML)."""
    status, ctype, _body = server.get(path)
    if status == 200 and ctype.startswith("text/html"):
        return None
    return "pages missing"


# -- a. the runs API ----------------------------------------------------------------------------

def bench_api(db: Path, server: UiServer, repeats: int, workdir: Path) -> tuple[dict[str, Any], dict[str, Any],
                                                                                list[str]]:
    from gatebook.ui.app import call, create_app

    app = create_app(sqlite_url(db), root=workdir)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    raw = sqlite3.connect(str(db))

    def in_process() -> bytes:
        status, body = call(app, API_PATH)
        if status != 200:
            raise RuntimeError(f"GET {API_PATH} in-process: {status} {body[:300]!r}")
        return body

    def over_http() -> bytes:
        conn.request("GET", API_PATH)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {API_PATH} over HTTP: {resp.status} {body[:300]!r}")
        return body

    def raw_rows() -> list[Any]:
        return raw.execute("SELECT * FROM gb_runs").fetchall()

    def raw_json() -> str:
        cur = raw.execute("SELECT * FROM gb_runs")
        cols = [c[0] for c in cur.description]
        return json.dumps({"runs": [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]})

    def runs_page() -> bytes:
        status, body = call(app, "/")
        if status != 200:
            raise RuntimeError(f"GET / in-process: {status} {body[:300]!r}")
        return body

    variants = {"api_call": lambda: timed(in_process), "api_http": lambda: timed(over_http),
                "page_call": lambda: timed(runs_page),
                "raw_sqlite": lambda: timed(raw_rows), "raw_sqlite_json": lambda: timed(raw_json)}
    times = round_robin(variants, repeats, warmup=1)
    stats = {name: summary_stats(ts) for name, ts in times.items()}
    for name, s in stats.items():
        log(f"{name}: median {s['median'] * 1e3:.1f} ms  (min {s['min'] * 1e3:.1f} ms)")
    body_call, body_http = in_process(), over_http()
    values: dict[str, Any] = {name: s["median"] for name, s in stats.items()}
    values.update({f"{name}_min": s["min"] for name, s in stats.items()})
    values.update({"api_runs_listed": len(json.loads(body_call)["runs"]),
                   "api_http_runs_listed": len(json.loads(body_http)["runs"]), "api_bytes": len(body_call),
                   "raw_rows": len(raw_rows())})

    # Where the request's time goes (always recorded; reported when the target is missed). cProfile
    # sees one thread and the endpoint runs in Starlette's threadpool, so the endpoint's work
    # (gatebook.ui.api.runs and its JSON response) is profiled here in this thread.
    from starlette.requests import Request

    from gatebook.ui import api

    ctx = app.state.gatebook
    path, _, query = API_PATH.partition("?")
    request = Request({"type": "http", "method": "GET", "path": path, "query_string": query.encode(), "headers": []})
    resp = api._guarded(lambda: api.runs(ctx, request))
    if resp.status_code != 200:
        raise RuntimeError(f"api.runs: {resp.status_code} {resp.body[:300]!r}")
    prof = cProfile.Profile()
    prof.enable()
    api._guarded(lambda: api.runs(ctx, request))
    prof.disable()
    out = io.StringIO()
    ps = pstats.Stats(prof, stream=out)
    ps.sort_stats("tottime").print_stats(15)
    ps.sort_stats("cumulative").print_stats(30)
    top = sorted(((st[2], st[3], func) for func, st in ps.stats.items()),  # type: ignore[attr-defined]
                 key=lambda t: t[0], reverse=True)[:8]
    total = sum(st[2] for st in ps.stats.values())  # type: ignore[attr-defined]
    profile_top = [f"{_where(func)}: {tt * 1e3:.0f} ms own ({tt / total:.0%}), {cum * 1e3:.0f} ms with callees"
                   for tt, cum, func in top]
    values["profile_total_s"] = total
    for line in profile_top:
        log(f"profile: {line}")
    try:
        values.update(stages(ctx.store(), repeats))
    except Exception as exc:  # internals moved: the breakdown is context, not a measurement
        values["stages_error"] = _reason(exc)
    notes: list[str] = []
    if values["api_call"] > TARGET_API_S:
        if "stage_list_runs" in values:
            notes.append("Where the in-process request's time goes, stages timed by hand (medians): "
                         f"`Store.list_runs` of the 10,000 runs {_ms(values['stage_list_runs'])}, their "
                         f"`views.ls_row` rows {_ms(values['stage_ls_rows'])}, `serialize.json_safe_numbers` "
                         f"of the document {_ms(values['stage_json_safe'])}, `json.dumps` "
                         f"{_ms(values['stage_json_dumps'])}; raw sqlite3 reads the rows in "
                         f"{_ms(values['raw_sqlite'])}.")
        notes.append("cProfile of the endpoint's work (`api.runs` + `json_response`, own time, largest first; "
                     f"profiling inflates the total to {total * 1e3:.0f} ms): " + "; ".join(profile_top[:8]) + ".")
    raw.close()
    conn.close()
    app.state.gatebook.close()
    return values, {"seconds": stats, "profile_top": profile_top, "profile": out.getvalue()}, notes


def stages(store: Any, repeats: int) -> dict[str, float]:
    """The same request's stages timed by hand (no profiler): the store read of the 10,000 runs,
    their ``ls --json`` rows, the NaN-safe copy and ``json.dumps`` of the document."""
    from gatebook.serialize import json_safe_numbers
    from gatebook.store.base import RunQuery
    from gatebook.views import ls_row

    query = RunQuery(sort="-created", limit=0)
    found = store.list_runs(query)
    doc = {"runs": [ls_row(r) for r in found]}
    safe = json_safe_numbers(doc)
    variants = {
        "stage_list_runs": lambda: timed(lambda: store.list_runs(query)),
        "stage_ls_rows": lambda: timed(lambda: [ls_row(r) for r in found]),
        "stage_json_safe": lambda: timed(lambda: json_safe_numbers(doc)),
        "stage_json_dumps": lambda: timed(lambda: json.dumps(safe, ensure_ascii=False, allow_nan=False)),
    }
    times = round_robin(variants, repeats, warmup=1)
    out = {name: summary_stats(ts)["median"] for name, ts in times.items()}
    log("stages: " + ", ".join(f"{k.removeprefix('stage_')} {v * 1e3:.0f} ms" for k, v in out.items()))
    return out


def _where(func: tuple[str, int, str]) -> str:
    path, line, name = func
    if path == "~":
        return name
    for marker in ("/site-packages/", "/src/", "/lib/python"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path}:{line})"


# -- b. first paint of the runs page -----------------------------------------------------------

def launch_browser(workdir: Path) -> tuple[Any, Any]:
    """(playwright, browser): Debian's Chromium; its config and caches under ``workdir``."""
    executable = shutil.which("chromium")
    if executable is None:
        raise LookupError("chromium not found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise LookupError("playwright not installed") from None
    home = workdir / "chromium-home"
    home.mkdir(exist_ok=True)
    env = child_env(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"),
                    XDG_DATA_HOME=str(home / "data"))
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True, env=env)
    except Exception:
        pw.stop()
        raise
    return pw, browser


def load_once(browser: Any, url: str) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        page = context.new_page()
        page.add_init_script(ROW_OBSERVER_JS)
        t0 = perf()
        page.goto(url, wait_until="load")
        goto_s = perf() - t0
        page.wait_for_selector(ROWS, state="visible")
        page.wait_for_function("() => window.__gbRowFrame !== undefined")
        shown_s = perf() - t0
        m = page.evaluate(PAINT_JS)
        html = page.content() if url.startswith("http") else None
    finally:
        context.close()
    ms = [x for x in (m["fcp"], m["frame"]) if x is not None]
    return {"goto_s": goto_s, "shown_wall_s": shown_s, "fcp_s": _s(m["fcp"]), "row_s": _s(m["row"]),
            "frame_s": _s(m["frame"]), "load_event_s": _s(m["load"]), "ttfb_s": _s(m["ttfb"]),
            "visible_s": max(ms) / 1e3 if ms else None,
            "rows": m["rows"], "count": m["count"], "html": html}


def _s(ms: float | None) -> float | None:
    return None if ms is None else ms / 1e3


def static_copy(html: str, server: UiServer, path: Path) -> int:
    """The rendered page as a static file: scripts removed, stylesheets inlined; its size."""
    html = re.sub(r"<script\b[^>]*>.*?</script>", "", html, flags=re.S | re.I)

    def inline(match: re.Match[str]) -> str:
        href = re.search(r'href="([^"]+)"', match[0])
        if not href:
            return ""
        status, _ctype, body = server.get(href[1] if href[1].startswith("/") else "/" + href[1])
        return f"<style>{body.decode('utf-8', 'replace')}</style>" if status == 200 else ""

    html = re.sub(r"<link\b[^>]*rel=\"?stylesheet\"?[^>]*>", inline, html, flags=re.I)
    path.write_text(html, encoding="utf-8")
    return path.stat().st_size


def bench_paint(browser: Any, server: UiServer, repeats: int, workdir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    first = load_once(browser, server.base + "/")  # warm-up; its DOM becomes the static file
    static = workdir / "runs-page.html"
    static_bytes = static_copy(first["html"], server, static)
    _status, _ctype, served = server.get("/")
    load_once(browser, static.as_uri())
    variants = {"page": lambda: load_once(browser, server.base + "/"),
                "static": lambda: load_once(browser, static.as_uri())}
    runs = round_robin(variants, repeats)
    values: dict[str, Any] = {"page_rows_in_dom": first["rows"], "page_runs_count": first["count"],
                              "page_html_bytes": len(served), "page_dom_bytes": len(first["html"]),
                              "static_bytes": static_bytes}
    details: dict[str, Any] = {}
    for variant, results in runs.items():
        for field in ("visible_s", "fcp_s", "row_s", "frame_s", "goto_s", "shown_wall_s", "load_event_s", "ttfb_s"):
            got = [r[field] for r in results if r[field] is not None]
            if got:
                s = summary_stats(got)
                values[f"{variant}_{field}"] = s["median"]
                details[f"{variant}_{field}"] = s
        log(f"{variant}: rows painted {_ms(values.get(f'{variant}_visible_s'))} (FCP "
            f"{_ms(values.get(f'{variant}_fcp_s'))}, row in DOM {_ms(values.get(f'{variant}_row_s'))}, first byte "
            f"{_ms(values.get(f'{variant}_ttfb_s'))}), "
            f"goto(load) {_ms(values.get(f'{variant}_goto_s'))}")
    return values, details


def _ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 1e3:.0f} ms"


# -- c. a point logged -> drawn ---------------------------------------------------------------

def build_live(db: Path) -> str:
    import psutil

    from gatebook.ids import new_run_id
    from gatebook.records import RunRecord, RunStatus
    from gatebook.store import open_store

    now = time.time()
    me = psutil.Process()
    with open_store(sqlite_url(db)) as store:
        rid = store.create_run(RunRecord(
            id=new_run_id(now), name="live", status=RunStatus.RUNNING, created_at=now, command=("python", "train.py"),
            cwd=str(db.parent), host=socket.gethostname(), pid=me.pid, pid_start=me.create_time(), heartbeat_at=now))
        store.log_metrics([(rid, KEY, step, 1.0 / (step + 1), now + step * 1e-3) for step in range(LIVE_START)])
    return rid


def bench_live(browser: Any, server: UiServer, db: Path, rid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from gatebook.store import open_store

    chart = f'.chart[data-key="{KEY}"]'
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    latencies: list[float] = []
    walls: list[float] = []
    writes: list[float] = []
    rng = random.Random(7)
    store = open_store(sqlite_url(db))
    try:
        page = context.new_page()
        page.goto(f"{server.base}/runs/{rid}", wait_until="load")
        page.wait_for_function(f"() => document.querySelector('{chart}')?.dataset.lastX === '{LIVE_START - 1}'")
        points_before = page.evaluate(f"document.querySelector('{chart}').dataset.points")
        for step in range(LIVE_START, LIVE_START + LIVE_POINTS):
            time.sleep(0.2 + rng.random() * 0.4)  # land at different phases of the server's push
            store.heartbeat(rid, time.time())
            page.evaluate(DRAWN_WATCH_JS, [KEY, str(step)])
            t_wall = time.time()
            t0 = perf()
            store.log_metrics([(rid, KEY, step, 1.0 / (step + 1), time.time())])
            writes.append(perf() - t0)
            page.wait_for_function("() => window.__gbDrawn !== undefined")
            walls.append(perf() - t0)
            latencies.append(page.evaluate("window.__gbDrawn") / 1e3 - t_wall)
            log(f"step {step}: drawn {latencies[-1] * 1e3:.0f} ms after the write began "
                f"(seen here after {walls[-1] * 1e3:.0f} ms; the write {writes[-1] * 1e3:.1f} ms)")
        points_after = page.evaluate(f"document.querySelector('{chart}').dataset.points")
    finally:
        context.close()
        store.close()
    lat, wall, wr = summary_stats(latencies), summary_stats(walls), summary_stats(writes)
    values = {"live_s": lat["median"], "live_max_s": lat["max"], "live_wall_s": wall["median"],
              "live_write_s": wr["median"], "live_points": len(latencies),
              "live_data_points": f"{points_before} -> {points_after}"}
    return values, {"live": lat, "live_wall": wall, "live_write": wr}


# -- main ----------------------------------------------------------------------------------------

def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 3 if args.quick else 7
    page_repeats = 3 if args.quick else 5
    os.chdir(args.workdir)
    db = args.workdir / "ledger.db"
    built = build_ledger(db)
    log(f"ledger: {built['runs']:,} runs built in {built['build_s']:.1f} s ({db.stat().st_size / 1e6:.0f} MB)")
    values: dict[str, Any] = {"runs": built["runs"], "build_s": built["build_s"], "ledger_mb": db.stat().st_size / 1e6,
                              "n_runs_expected": N_RUNS}
    details: dict[str, Any] = {}
    notes: list[str] = []

    server = UiServer(sqlite_url(db), args.workdir, "ui-runs")
    live_server: UiServer | None = None
    pw = browser = None
    try:
        a_values, a_details, a_notes = bench_api(db, server, repeats, args.workdir)
        values.update(a_values)
        details["api"] = a_details
        notes += a_notes

        try:
            pw, browser = launch_browser(args.workdir)
            values["chromium"] = browser.version
        except Exception as exc:  # no browser: b and c are n/a, a stands
            values["paint_na"] = values["live_na"] = _reason(exc)
        if browser is not None:
            values["paint_na"] = pages_missing(server, "/")
            if values["paint_na"] is None:
                try:
                    b_values, details["paint"] = bench_paint(browser, server, page_repeats, args.workdir)
                    values.update(b_values)
                except Exception as exc:
                    values["paint_na"] = _reason(exc)

            live_db = args.workdir / "live.db"
            rid = build_live(live_db)
            live_server = UiServer(sqlite_url(live_db), args.workdir, "ui-live")
            values["live_na"] = pages_missing(live_server, f"/runs/{rid}")
            if values["live_na"] is None:
                try:
                    c_values, details["live"] = bench_live(browser, live_server, live_db, rid)
                    values.update(c_values)
                except Exception as exc:
                    values["live_na"] = _reason(exc)
        for part in ("paint", "live"):
            if values.get(f"{part}_na"):
                log(f"{part}: n/a ({values[f'{part}_na']})")
    finally:
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
        if live_server is not None:
            values["live_server_exit"] = live_server.stop()
        values["server_exit"] = server.stop()
    write_result(args.out, values, details, notes)


def _reason(exc: BaseException) -> str:
    """One short line: what failed."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if isinstance(exc, LookupError) else f"{type(exc).__name__}: {text}"[:200]


if __name__ == "__main__":
    main()
