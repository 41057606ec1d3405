"""`gatebook ui`'s JSON API (gatebook.ui) through Starlette's TestClient on a real SQLite ledger:
each document equals the CLI's --json, the guards (Host, Origin, token, read-only), the writes
(stop a real `gatebook run`, notes), bad input; then the command itself: --get, a port in use,
and a real server started, asked and stopped with Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from gatebook.project import sqlite_url  # noqa: E402
from gatebook.sweep.plan import TRIAL_TAG_PREFIX  # noqa: E402
from gatebook.ui.app import create_app  # noqa: E402
from tests.helpers import PY, env_with, gb, invoke, invoke_json, one_line_error, wait_for, write_script  # noqa: E402

GATEBOOK_YAML = """\
metrics:
  higher_is_better: ["val_*"]
  lower_is_better: ["*loss*"]
  primary: ["val_acc"]
gates:
  floor:
    checks: ["val_acc >= 0.75"]
"""
XSS = "<img src=x onerror=alert(1)>"
RUNS = [("base", {"val_acc": 0.70, "val_loss": 0.5}, [], None),
        ("b", {"val_acc": 0.80, "val_loss": 0.4}, ["sweep", f"{TRIAL_TAG_PREFIX}t1"], "sw"),
        ("c", {"val_acc": 0.72, "val_loss": float("nan")}, ["sweep", f"{TRIAL_TAG_PREFIX}t2"], "sw"),
        (XSS, {"val_acc": 0.1}, ["evil"], None)]
BASE = "http://127.0.0.1:8765"
ORIGIN = {"Origin": BASE}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ui")
    (root / "gatebook.yaml").write_text(GATEBOOK_YAML)
    script = textwrap.dedent("""\
        import json, sys
        import gatebook as gb
        for name, last, tags, group in json.loads(sys.argv[1]):
            gb.init(name=name, config={"lr": 0.1}, tags=tags, group=group)
            for step in range(3):
                gb.log({k: (v if step == 2 else v / 2) for k, v in last.items()}, step=step)
            gb.finish()
    """)
    proc = subprocess.run([PY, "-c", script, json.dumps(RUNS)], cwd=root, env=env_with(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return root


def _client(root: Path, **kwargs: Any) -> TestClient:
    app = create_app(sqlite_url(root / ".gatebook" / "ledger.db"), port=8765, root=root, **kwargs)
    return TestClient(app, base_url=BASE)


@pytest.fixture()
def client(project: Path) -> Iterator[TestClient]:
    with _client(project) as c:
        yield c


def _one_line_error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert len(resp.text.strip().splitlines()) == 1 and "Traceback" not in resp.text
    doc = resp.json()
    assert set(doc) == {"error", "hint"} and doc["error"]
    return doc


@pytest.mark.parametrize(("path", "cli"), [
    ("/api/runs", ["ls"]),
    ("/api/runs?tag=sweep&sort=name&limit=1", ["ls", "--tag", "sweep", "--sort", "name", "--limit", "1"]),
    ("/api/runs?name=b*&status=finished&since=1d", ["ls", "b*", "--status", "finished", "--since", "1d"]),
    ("/api/runs?group=sw", ["ls", "--group", "sw"]),
    ("/api/runs/b", ["show", "b"]),
    ("/api/compare?runs=base,b,c", ["compare", "base", "b", "c"]),
    ("/api/compare?runs=b,c&baseline=base&metrics=val_loss,val_acc&gates=floor&sort=val_acc",
     ["compare", "b", "c", "--baseline", "base", "--metric", "val_loss,val_acc", "--gate", "floor", "--sort",
      "val_acc"]),
    ("/api/compare?tag=sweep", ["compare", "--tag", "sweep"]),
    ("/api/sweeps/sw", ["sweep", "show", "sw"]),
    ("/api/sweeps/sw?gates=floor&metrics=val_acc", ["sweep", "show", "sw", "--gate", "floor", "-m", "val_acc"]),
    ("/api/aliases", ["aliases"]),
    ("/api/aliases/log", ["aliases", "log"]),
])
def test_each_document_equals_the_cli_json(project: Path, client: TestClient, path: str, cli: list[str]) -> None:
    resp = client.get(path)
    assert resp.status_code == 200, resp.text
    assert resp.json() == invoke_json(*cli, cwd=project)


def test_events_are_the_show_documents_events(project: Path, client: TestClient) -> None:
    shown = invoke_json("show", "c", cwd=project)
    doc = client.get("/api/events", params={"run": "c"}).json()
    assert doc == {"id": shown["id"], "name": "c", "events": shown["events"]}
    only = client.get("/api/events", params={"run": "c", "kind": "status"}).json()["events"]
    assert only and all(e["kind"] == "status" for e in only)


def test_unknown_run_and_bad_input_are_one_line_json(client: TestClient) -> None:
    assert "nope" in _one_line_error(client.get("/api/runs/nope"), 404)["error"]
    assert _one_line_error(client.get("/api/events", params={"run": "nope"}), 404)
    assert _one_line_error(client.get("/api/compare", params={"runs": "base,nope"}), 404)
    assert "baseline" in _one_line_error(client.get("/api/compare?runs=b&baseline=nope"), 404)["error"]
    assert _one_line_error(client.get("/api/sweeps/nosuch"), 404)
    assert _one_line_error(client.get("/api/aliases/nosuch/log"), 404)
    assert _one_line_error(client.get("/api/nothing"), 404)
    assert "limit" in _one_line_error(client.get("/api/runs?limit=x"), 400)["error"]
    assert "status" in _one_line_error(client.get("/api/runs?status=bogus"), 400)["error"]
    assert "since" in _one_line_error(client.get("/api/runs?since=yesterdayish"), 400)["error"]
    assert _one_line_error(client.get("/api/events"), 400)
    assert _one_line_error(client.get("/api/compare?runs=b&metrics=no_such_metric"), 400)
    assert _one_line_error(client.post("/api/runs/b/notes", content=b"{not json", headers=ORIGIN), 400)
    assert _one_line_error(client.post("/api/runs/b/notes", json={"text": "  "}, headers=ORIGIN), 400)
    assert _one_line_error(client.post("/api/runs/b/notes", json=["x"], headers=ORIGIN), 400)
    assert "not running" in _one_line_error(client.post("/api/runs/b/stop", json={}, headers=ORIGIN), 400)["error"]
    assert _one_line_error(client.get("/api/runs/b/notes"), 405)


def test_a_run_named_like_html_comes_back_as_data(project: Path, client: TestClient) -> None:
    rows = client.get("/api/runs", params={"tag": "evil"}).json()["runs"]
    assert [r["name"] for r in rows] == [XSS]
    resp = client.get(f"/api/runs/{rows[0]['id']}")
    assert resp.headers["content-type"].startswith("application/json") and resp.json()["name"] == XSS


def test_a_foreign_host_header_is_refused(project: Path) -> None:
    with _client(project) as c:
        for host in ("evil.example:8765", "127.0.0.1:9999", "attacker.com", ""):
            assert "Host" in _one_line_error(c.get("/api/runs", headers={"Host": host}), 400)["error"]
        for host in ("localhost:8765", "127.0.0.1:8765", "[::1]:8765"):
            assert c.get("/api/runs", headers={"Host": host}).status_code == 200, host


def test_writes_need_this_servers_origin(project: Path, client: TestClient) -> None:
    assert "Origin" in _one_line_error(client.post("/api/runs/b/notes", json={"text": "hi"}), 403)["error"]
    refused = client.post("/api/runs/b/notes", json={"text": "hi"}, headers={"Origin": "http://evil.example"})
    assert "another origin" in _one_line_error(refused, 403)["error"]
    ok = client.post("/api/runs/b/notes", json={"text": "same origin"}, headers={"Origin": "http://localhost:8765"})
    assert ok.status_code == 200, ok.text


def test_notes_are_added_like_gatebook_note(project: Path, client: TestClient) -> None:
    resp = client.post("/api/runs/base/notes", json={"text": f"tried {XSS}"}, headers=ORIGIN)
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    cli = invoke_json("note", "base", "from the cli", cwd=project)
    assert set(doc) == set(cli) and doc["id"] == cli["id"] and doc["note"] == f"tried {XSS}"
    notes = [n["text"] for n in invoke_json("show", "base", cwd=project)["notes"]]
    assert notes[-2:] == [f"tried {XSS}", "from the cli"]


def test_read_only_refuses_every_write(project: Path) -> None:
    with _client(project, read_only=True) as c:
        assert "read-only" in _one_line_error(c.post("/api/runs/b/notes", json={"text": "x"}, headers=ORIGIN),
                                              403)["error"]
        assert _one_line_error(c.post("/api/runs/b/stop", json={}, headers=ORIGIN), 403)
        assert c.get("/api/runs").status_code == 200
    assert "x" not in [n["text"] for n in invoke_json("show", "b", cwd=project)["notes"]]


def test_a_token_is_required_on_every_request_when_set(project: Path) -> None:
    with _client(project, token="s3cret") as c:
        assert "token" in _one_line_error(c.get("/api/runs"), 401)["error"]
        assert _one_line_error(c.get("/api/runs", headers={"Authorization": "Bearer wrong"}), 401)
        assert c.get("/api/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        # the first page load carries ?token=; the answer sets a cookie that later requests send
        first = c.get("/api/runs?token=s3cret")
        assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
        assert "SameSite=Strict" in first.headers["set-cookie"]
        assert c.get("/api/runs").status_code == 200  # the cookie
        c.cookies.clear()
        assert _one_line_error(c.get("/api/runs"), 401)
        # a script with the token header may write without Origin; the token alone is not an Origin
        ok = c.post("/api/runs/c/notes", json={"text": "by script"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200, ok.text
        assert _one_line_error(c.post("/api/runs/c/notes?token=s3cret", json={"text": "x"}), 403)


def test_the_stop_endpoint_stops_a_real_wrapped_run(tmp_path: Path) -> None:
    write_script(tmp_path, "train.py", textwrap.dedent("""\
        import time
        for epoch in range(600):
            print(f"epoch={epoch} loss={1 / (epoch + 1)}", flush=True)
            time.sleep(0.1)
        """))
    child = subprocess.Popen([PY, "-m", "gatebook", "run", "--name", "long", "--", PY, "train.py"], cwd=tmp_path,
                             env=env_with(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: gb("show", "long", cwd=tmp_path).returncode == 0, what="the run in the ledger")
        with _client(tmp_path) as c:
            resp = c.post("/api/runs/long/stop", json={"reason": "from the page"}, headers=ORIGIN)
            assert resp.status_code == 200, resp.text
            doc = resp.json()
            assert doc["status"] == "stopped" and doc["reason"] == "from the page"
            assert set(doc) == {"id", "name", "status", "reason", "signalled", "ended"}
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 143, err
    shown = invoke_json("show", "long", cwd=tmp_path)
    assert shown["status"] == "stopped" and shown["reason"] == "from the page"


def test_get_answers_one_request_in_process(project: Path) -> None:
    proc = invoke("ui", "--get", "/api/runs", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == invoke_json("ls", cwd=project)
    missing = invoke("ui", "--get", "/api/runs/nope", cwd=project)
    assert "404" in one_line_error(missing, 2)
    assert json.loads(missing.stdout)["error"].startswith("no run matches")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_port_in_use_names_another_and_exits_2(project: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        started = time.monotonic()
        proc = gb("ui", "--port", str(port), "--no-open", cwd=project, timeout=30)
    assert time.monotonic() - started < 20
    err = one_line_error(proc, 2)
    assert f"port {port} on 127.0.0.1 is in use" in err and "try --port " in err


def test_a_real_server_answers_and_ends_cleanly_on_ctrl_c(project: Path) -> None:
    port = _free_port()
    server = subprocess.Popen([PY, "-m", "gatebook", "ui", "--port", str(port), "--no-open"], cwd=project,
                              env=env_with(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line, line

        def answer() -> Any:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs", timeout=5) as resp:
                    return json.loads(resp.read())
            except OSError:
                return None

        assert wait_for(answer, timeout=30, what="the server") == invoke_json("ls", cwd=project)
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    assert "Traceback" not in err and "stopped" in err


def test_without_the_ui_extra_one_line_names_it(project: Path) -> None:
    code = "import sys; sys.modules['starlette'] = None; from gatebook.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([PY, "-c", code, "ui", "--no-open"], cwd=project, env=env_with(), capture_output=True,
                          text=True, timeout=60)
    assert "pip install 'gatebook[ui]'" in one_line_error(proc, 2)


def test_the_series_route_is_mounted(client: TestClient) -> None:
    doc = client.get("/api/runs/b/series/val_acc", params={"buckets": 10}).json()
    assert doc["key"] == "val_acc" and doc["run"]["name"] == "b"
    assert _one_line_error(client.get("/api/runs/nope/series/val_acc"), 404)
    missing = _one_line_error(client.get("/api/runs/b/series/val_accc"), 404)
    assert "never logged" in missing["error"] and "val_acc" in missing["hint"]  # the closest keys first
    assert _one_line_error(client.get("/api/runs/b/series/val_acc?buckets=0"), 400)


def test_api_lists_what_the_server_answers_and_the_root_is_the_runs_page(tmp_path: Path) -> None:
    """`/api` lists the endpoints and pages; `/` (what `gatebook ui` opens) is the runs page."""
    assert invoke("init", cwd=tmp_path).returncode == 0
    proc = invoke("ui", "--get", "/api", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert "GET /api/runs" in doc["api"] and "POST /api/runs/{ref}/promote" in doc["api"] and "/" in doc["pages"]
    page = invoke("ui", "--get", "/", cwd=tmp_path)
    assert page.returncode == 0 and '<table id="runs"' in page.stdout and "No runs match" in page.stdout
