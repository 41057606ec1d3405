"""The dashboard's pages, downloads, promote and live stream over a real ledger (Starlette's
TestClient, no browser: tests/browser drives Chromium). What a page shows is what the CLI
says; user text is escaped; downloads serve only what the run logged; the stream pushes what is
new."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from gatebook.project import sqlite_url  # noqa: E402
from gatebook.store import open_store  # noqa: E402
from gatebook.store.base import EventRow, WriteBatch  # noqa: E402
from gatebook.ui.app import create_app  # noqa: E402
from tests.helpers import PY, env_with, git, git_init, invoke_json  # noqa: E402

XSS = "<img src=x onerror=alert(1)>"
GATEBOOK_YAML = """\
metrics:
  higher_is_better: ["val_*"]
  lower_is_better: ["*loss*"]
  primary: ["val_acc"]
gates:
  floor:
    checks: ["val_acc >= 0.75", "val_loss <= 0.45 @ step 2"]
aliases:
  prod: {gates: [floor]}
"""
SCRIPT = """\
import json, sys
import gatebook as gb
for name, acc, note in json.loads(sys.argv[1]):
    run = gb.init(name=name, config={"lr": acc / 10, "width": 64 if name != "wide" else 128}, tags=["t"])
    for step in range(4):
        gb.log({"val_acc": acc * (step + 1) / 4, "val_loss": 1 - acc * (step + 1) / 4}, step=step)
    with open(name + ".ckpt", "w") as f:
        f.write("weights of " + name)
    gb.artifact(name + ".ckpt", kind="checkpoint")
    gb.finish()
"""
BASE = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = git_init(tmp_path_factory.mktemp("pages"))
    (root / "gatebook.yaml").write_text(GATEBOOK_YAML)
    (root / "train.py").write_text(SCRIPT)
    git(root, "add", "gatebook.yaml", "train.py")
    git(root, "commit", "-q", "-m", "train")
    with (root / "train.py").open("a") as f:  # a dirty tree: the runs record the patch
        f.write("# an uncommitted <edit> & more\n")
    runs = [["base", 0.8, None], ["wide", 0.9, None], [XSS, 0.5, None]]
    proc = subprocess.run([PY, "train.py", json.dumps(runs)], cwd=root, env=env_with(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return root


def _client(root: Path, **kwargs: Any) -> TestClient:
    return TestClient(create_app(sqlite_url(root / ".gatebook" / "ledger.db"), port=8765, root=root, **kwargs),
                      base_url=BASE)


@pytest.fixture()
def client(project: Path) -> Iterator[TestClient]:
    with _client(project) as c:
        yield c


def _data(html: str) -> Any:
    found = re.search(r'<script type="application/json" id="gb-data">(.*?)</script>', html, re.S)
    assert found, "no data block"
    return json.loads(found.group(1))


def _id(project: Path, name: str) -> str:
    return str(invoke_json("show", name, cwd=project)["id"])


def test_every_page_renders_with_the_hardening_headers(client: TestClient, project: Path) -> None:
    for path in ("/", f"/runs/{_id(project, 'base')}", "/runs/base", "/compare?runs=base,wide&baseline=base",
                 "/sweeps", "/aliases", "/?sort=metric:val_acc", "/?sort=-param:lr&name=*a*"):
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.text[:500])
        assert resp.headers["content-type"].startswith("text/html")
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["x-content-type-options"] == "nosniff" and resp.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in resp.text  # no inline script: only the JSON block and /static files
    assert client.get("/static/uplot.iife.min.js").status_code == 200
    assert "MIT" in client.get("/static/uplot.LICENSE").text
    assert ".tier-FAIL" in client.get("/static/palette.css").text


def test_user_text_is_escaped_everywhere(client: TestClient, project: Path) -> None:
    evil = _id(project, XSS)
    client.post(f"/api/runs/{evil}/notes", json={"text": "<script>alert(2)</script>"}, headers={"Origin": BASE})
    for path in ("/", f"/runs/{evil}", f"/compare?runs=base,{evil}"):
        text = client.get(path).text
        assert "<img src=x" not in text and "<script>alert" not in text, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in text or "\\u003cimg src=x" in text, path
    page = client.get(f"/runs/{evil}").text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert _data(page)["run"]["name"] == XSS  # the data block holds it whole, as JSON the browser never runs


def test_runs_page_filters_sorts_and_counts_like_ls(client: TestClient, project: Path) -> None:
    page = client.get("/?sort=-metric:val_acc").text
    rows = re.findall(r'<tr data-run-id="([^"]+)"', page)
    assert rows == [_id(project, n) for n in ("wide", "base", XSS)]
    assert '<span id="runs-count">3 runs</span>' in page
    assert "val_acc" in page and ">width<" in page  # the primary metric; the param that differs
    only = client.get("/?name=w*").text
    assert re.findall(r'<tr data-run-id="([^"]+)"', only) == [_id(project, "wide")]
    bad = client.get("/?sort=colour")
    assert bad.status_code == 400 and "is not a column" in bad.text
    assert client.get("/?status=exploded").status_code == 400


def test_run_page_shows_gates_thresholds_provenance_and_patch(client: TestClient, project: Path) -> None:
    page = client.get("/runs/base").text
    data = _data(page)
    assert data["page"] == "run" and data["keys"] == ["val_acc", "val_loss"]
    marks = data["marks"]
    assert marks["val_acc"][0]["lines"] == [0.75] and marks["val_acc"][0]["tier"] == "PASS"
    loss = marks["val_loss"][0]
    assert loss["lines"] == [0.45] and loss["at"] == 2 and loss["observed"] == pytest.approx(0.4)
    assert loss["tier"] == "PASS"  # at step 2: 1 - 0.8 * 3/4 = 0.4 <= 0.45
    assert 'id="gate-timeline"' in page and 'id="provenance-table"' in page and "train.py" in page
    assert "an uncommitted &lt;edit&gt; &amp; more" in page  # the patch, escaped
    patch = client.get("/runs/base/patch")
    assert patch.status_code == 200 and patch.headers["content-type"].startswith("text/plain")
    assert "+# an uncommitted <edit> & more" in patch.text
    missing = client.get("/runs/nope")
    assert missing.status_code == 404 and "no run matches" in missing.text


def test_compare_page_has_the_numbers_of_compare(client: TestClient, project: Path) -> None:
    page = client.get("/compare?runs=base,wide&baseline=base").text
    doc = invoke_json("compare", "base", "wide", "--baseline", "base", cwd=project)
    wide = next(r for r in doc["runs"] if r["name"] == "wide")
    delta = wide["metrics"]["val_acc"]["delta"]
    assert f"+{delta:.6g}"[:6] in page
    assert [r["label"] for r in _data(page)["runs"]] == ["base", "wide"]
    assert 'id="params-differ"' in page and ">width<" in page and ">lr<" in page
    assert client.get("/compare").status_code == 400


def test_artifact_downloads_stay_inside_what_the_run_logged(project: Path, client: TestClient) -> None:
    listing = invoke_json("artifacts", "wide", cwd=project)["artifacts"]
    n = next(i for i, a in enumerate(listing) if a["kind"] == "checkpoint")
    got = client.get(f"/runs/wide/artifacts/{n}")
    assert got.status_code == 200 and got.content == b"weights of wide"
    assert "attachment" in got.headers["content-disposition"]
    for bad in ("/runs/wide/artifacts/99", "/runs/wide/artifacts/-1", "/runs/wide/artifacts/..%2F..%2Fetc%2Fpasswd",
                "/runs/wide/artifacts/%2Fetc%2Fpasswd", "/runs/wide/artifacts/../../gatebook.yaml"):
        resp = client.get(bad)
        assert resp.status_code == 404, bad
        assert b"weights" not in resp.content and b"gates:" not in resp.content
    ckpt = project / "wide.ckpt"
    secret = project / "secret.txt"
    secret.write_text("weights of wide")  # same bytes: only the symlink check can refuse it
    ckpt.rename(project / "wide.real")
    try:
        os.symlink(secret, ckpt)
        resp = client.get(f"/runs/wide/artifacts/{n}")
        assert resp.status_code == 403 and "symlink" in resp.json()["error"]
        ckpt.unlink()
        ckpt.write_text("tampered")
        resp = client.get(f"/runs/wide/artifacts/{n}")
        assert resp.status_code == 403 and "sha256" in resp.json()["error"]
    finally:
        ckpt.unlink(missing_ok=True)
        (project / "wide.real").rename(ckpt)


def test_promote_through_the_api_is_gated_like_the_cli(tmp_path: Path, project: Path) -> None:
    import shutil

    copy = tmp_path / "p"
    shutil.copytree(project, copy, symlinks=True)
    with _client(copy) as c:
        first = c.post("/api/runs/base/promote", json={"alias": "prod"}, headers={"Origin": BASE}).json()
        assert first["action"] == "moved" and first["alias"] == "prod"
        refused = c.post(f"/api/runs/{_id(copy, XSS)}/promote", json={"alias": "prod"}, headers={"Origin": BASE})
        assert refused.status_code == 200 and refused.json()["action"] == "refused"
        assert refused.json()["verdict"] == "FAIL"
        bad = c.post("/api/runs/base/promote", json={"alias": "prod", "force": True}, headers={"Origin": BASE})
        assert bad.status_code == 400 and "--force needs --reason" in bad.json()["error"]
        assert c.post("/api/runs/base/promote", json={}, headers={"Origin": BASE}).status_code == 400
        aliases = c.get("/aliases").text
        assert "@prod" in aliases and "refused" in aliases
    log = invoke_json("aliases", "log", "prod", cwd=copy)
    assert [e["action"] for e in log["events"]] == ["moved", "refused"]
    with _client(copy, read_only=True) as ro:
        assert ro.post("/api/runs/wide/promote", json={"alias": "prod"}, headers={"Origin": BASE}).status_code == 403
        assert 'id="promote-form"' not in ro.get("/runs/wide").text


def _events(body: str) -> list[tuple[str, Any]]:
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_stream_once_for_an_ended_run_and_the_ledger(client: TestClient) -> None:
    events = _events(client.get("/api/stream?run=base&once=1").text)
    assert [k for k, _ in events] == ["hello", "end"]
    assert events[0][1]["run"]["name"] == "base" and events[-1][1] == {"ended": True}
    assert [k for k, _ in _events(client.get("/api/stream?once=1").text)] == ["hello", "end"]
    assert client.get("/api/stream?run=nope&once=1").status_code == 404


def test_run_watch_pushes_points_events_output_and_the_end(tmp_path: Path) -> None:
    from gatebook.records import RunRecord, RunStatus
    from gatebook.ui.stream import RunWatch

    store = open_store(sqlite_url(tmp_path / "l.db"))
    try:
        now = time.time()
        rid = store.create_run(RunRecord(id="r1", name="live", status=RunStatus.RUNNING, created_at=now,
                                         heartbeat_at=now, pid=os.getpid(), host=os.uname().nodename))
        run = store.get_run(rid)
        store.log_metrics([(run.id, "loss", 0, 1.0, now)])
        watch = RunWatch(store, run, -1)
        assert watch.tick() == ([], False)  # what was there before the stream opened is read by the page
        store.log_metrics([(run.id, "loss", 1, 0.5, now), (run.id, "loss", 2, float("nan"), now)])
        store.add_event(EventRow(run.id, now, "gate", 2, {"gate": "g", "check": "loss < 1", "tier": "FAIL",
                                                           "previous": "PENDING", "reason": "no"}))
        store.write(WriteBatch(output=[(run.id, [(0, now, "stdout", "epoch 1\n")])]))
        out, ended = watch.tick()
        kinds = _events(b"".join(out).decode())
        assert [k for k, _ in kinds] == ["points", "event", "output"] and not ended
        assert kinds[0][1] == {"points": {"loss": [[1, 0.5], [2, "NaN"]]}}
        assert kinds[1][1]["kind"] == "gate" and "gate g FAIL" in kinds[1][1]["text"]
        assert kinds[2][1] == {"chunks": [[0, "stdout", "epoch 1\n"]]}
        store.set_status(run.id, RunStatus.STOPPED, exit_code=0, reason="enough", ended_at=time.time())
        out, ended = watch.tick()
        pushed = _events(b"".join(out).decode())
        assert ended and [k for k, _ in pushed] == ["event", "status"]  # the status event, then the status
        assert pushed[0][1]["text"] == "stopped (exit 0): enough"
        assert pushed[1][1] == {"status": "stopped", "reason": "enough", "exit_code": 0}
    finally:
        store.close()


def test_pages_series_and_stream_on_sqlite_and_postgresql(store_url: str, tmp_path: Path) -> None:
    script = textwrap.dedent("""\
        import gatebook as gb
        gb.init(name="both", config={"lr": 0.1})
        for step in range(50):
            gb.log({"loss": 1.0 / (step + 1)}, step=step)
        gb.finish()
    """)
    proc = subprocess.run([PY, "-c", script], cwd=tmp_path, env=env_with(store_url), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    with TestClient(create_app(store_url, port=8765, root=tmp_path), base_url=BASE) as c:
        assert 'data-run-id="' in c.get("/").text
        page = c.get("/runs/both")
        assert page.status_code == 200 and _data(page.text)["keys"] == ["loss"]
        doc = c.get("/api/runs/both/series/loss?buckets=10").json()
        assert doc["points"] == 50 and doc["reduced"] and len(doc["x"]) <= 10 and max(doc["max"]) == 1.0
        zoom = c.get("/api/runs/both/series/loss?buckets=10&start=40&end=45").json()
        assert zoom["x"] == [40, 41, 42, 43, 44, 45] and not zoom["reduced"]
        assert [k for k, _ in _events(c.get("/api/stream?run=both&once=1").text)] == ["hello", "end"]
