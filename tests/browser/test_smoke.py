"""The browser test set-up itself: Debian's Chromium opens what a real `gatebook ui` serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

# Chromium asks every origin for /favicon.ico when it shows a document without a <link rel=icon>
# (a JSON body here), and `gatebook ui` has no such route yet: that one failed request is the only
# console error these API views may show. Pages should declare their icon (or the server answer
# /favicon.ico), so page tests use page.console_errors as it is.
FAVICON = "/favicon.ico)"


def _errors(page: Any) -> list[str]:
    return [e for e in page.console_errors if not e.endswith(FAVICON)]


def test_the_browser_reads_the_api_of_a_real_server(page: Any, ui_project: Path, ui_server: Callable[..., str]) -> None:
    url = ui_server(ui_project)
    resp = page.goto(url + "/api")
    assert resp is not None and resp.status == 200
    assert resp.headers["content-type"].startswith("application/json")
    doc = json.loads(page.inner_text("body"))
    assert "gatebook" in doc and "GET /api/runs" in doc["api"]
    runs = json.loads(page.goto(url + "/api/runs").text())["runs"]
    assert sorted(r["name"] for r in runs) == ["alpha", "beta"]
    assert page.shot("api").stat().st_size > 0
    assert _errors(page) == []


def test_a_token_server_answers_the_browser_once_given_the_token(page: Any, ui_project: Path,
                                                                 ui_server: Callable[..., str]) -> None:
    url = ui_server(ui_project, "--token", "s3cret", "--read-only")
    refused = page.goto(url + "/api")
    assert refused is not None and refused.status == 401
    page.console_errors.clear()  # the 401 above is logged by the browser as a failed resource
    resp = page.goto(url + "/api?token=s3cret")  # sets the cookie later requests carry
    assert resp is not None and resp.status == 200
    assert "gatebook" in json.loads(page.goto(url + "/api").text())
    assert _errors(page) == []
