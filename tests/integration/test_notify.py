"""Alerts (gatebook.notify, `notify:` in gatebook.yaml) against HTTP servers this test starts on
127.0.0.1 (one that answers, one that hangs, one that answers 500) and a command target: a real
`gatebook run` whose gate fails and stops it, a promotion and a refused one, a lost run, a failed API
run. Deliveries never hold the run up; failures are events on the run; the webhook's token never
reaches the ledger or the output."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.helpers import PY, env_with, gb, invoke, invoke_json, one_line_error

SECRET = "T0SECRET/B0SECRET/XXXXSECRETTOKEN"


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length))
        mode = self.server.mode  # type: ignore[attr-defined]
        self.server.got.append(body)  # type: ignore[attr-defined]
        if mode == "hang":
            time.sleep(3)
        try:
            self.send_response(500 if mode == "500" else 200)
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:  # the hung one: its client gave up long ago
            pass

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hooks() -> Iterator[dict[str, Any]]:
    servers = {}
    for mode in ("ok", "hang", "500"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
        server.mode, server.got = mode, []  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[mode] = server
    yield servers
    for server in servers.values():
        server.shutdown()
        server.server_close()


def _url(server: Any) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/services/{SECRET}"


def _project(root: Path, hooks: dict[str, Any]) -> Path:
    (root / "append.py").write_text("import sys\nopen('alerts.jsonl', 'a').write(sys.stdin.read() + '\\n')\n")
    (root / "gatebook.yaml").write_text(textwrap.dedent(f"""\
        gates:
          floor: {{checks: ["acc >= 0.5"]}}
          early:
            on_fail: stop
            checks: ["acc >= 0.9 @ step 2"]
        aliases:
          prod: {{gates: [floor]}}
        notify:
          - {{webhook: "{_url(hooks['ok'])}", on: [gate_fail, stopped, failed, lost, promoted, promotion_refused]}}
          - {{webhook: "$HANG_HOOK", on: [gate_fail], timeout: 0.5}}
          - {{webhook: "{_url(hooks['500'])}", on: [stopped]}}
          - {{command: "{sys.executable} append.py",
              on: [stopped, promoted, promotion_refused]}}
        """))
    return root


TRAIN = textwrap.dedent("""\
    import time
    import gatebook as gb
    gb.init(name="doomed")
    for step in range(1, 200):
        gb.log({"acc": 0.1 * step / 10}, step=step)
        if gb.should_stop():
            break
        time.sleep(0.05)
    gb.finish()
""")


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_a_gate_stop_alerts_every_target_without_holding_the_run_up(tmp_path: Path, hooks: dict[str, Any]) -> None:
    root = _project(tmp_path, hooks)
    (root / "train.py").write_text(TRAIN)
    env = env_with(HANG_HOOK=_url(hooks["hang"]))
    started = time.monotonic()
    proc = gb("run", "--gate", "early", "--", PY, "train.py", cwd=root, env=env)
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr  # stopped by its gate
    got = hooks["ok"].got
    assert [d["event"] for d in got] == ["gate_fail", "stopped"]
    fail, stop = got
    assert fail["run"]["name"] == "doomed" and fail["data"]["gate"] == "early" and fail["data"]["tier"] == "FAIL"
    assert "gate early FAIL" in fail["text"] and stop["text"].startswith("gatebook: doomed (")
    assert "stopped: gate early: acc" in stop["text"]
    assert stop["run"]["status"] == "stopped"
    assert [d["event"] for d in _lines(root / "alerts.jsonl")] == ["stopped"]
    assert len(hooks["hang"].got) == 3 and len(hooks["500"].got) == 3  # tried three times each
    doc = invoke_json("show", "doomed", cwd=root)
    failed = {e["data"]["target"]: e["data"] for e in doc["events"] if e["kind"] == "notify_failed"}
    failures = sorted((e["data"]["event"], e["data"]["error"]) for e in doc["events"] if e["kind"] == "notify_failed")
    assert failures == [("gate_fail", "timed out"), ("stopped", "HTTP 500")]
    assert set(failed) == {"webhook http://127.0.0.1/..."}  # named by scheme and host: the path is a secret
    assert "alert not delivered" in proc.stderr
    for text in (proc.stdout, proc.stderr, json.dumps(doc)):
        assert "SECRET" not in text
    assert took < 60


def test_promotions_and_refusals_are_alerted(tmp_path: Path, hooks: dict[str, Any]) -> None:
    root = _project(tmp_path, hooks)
    script = textwrap.dedent("""\
        import sys
        import gatebook as gb
        gb.init(name=sys.argv[1])
        gb.log({"acc": float(sys.argv[2])}, step=1)
        gb.finish()
    """)
    (root / "log.py").write_text(script)
    for name, acc in (("good", "0.8"), ("bad", "0.2")):
        subprocess.run([PY, "log.py", name, acc], cwd=root, env=env_with(), check=True, timeout=120)
    assert invoke("promote", "good", "--to", "prod", cwd=root).returncode == 0
    assert invoke("promote", "bad", "--to", "prod", cwd=root).returncode == 1
    events = [(d["event"], d["run"]["name"], d["data"]["alias"]) for d in hooks["ok"].got]
    assert events == [("promoted", "good", "prod"), ("promotion_refused", "bad", "prod")]
    assert [d["event"] for d in _lines(root / "alerts.jsonl")] == ["promoted", "promotion_refused"]
    refused = hooks["ok"].got[1]["text"]
    assert refused.startswith("gatebook: @prod refused bad (") and refused.endswith("(FAIL)")


def test_a_lost_run_and_a_failed_api_run_are_alerted(tmp_path: Path, hooks: dict[str, Any]) -> None:
    root = _project(tmp_path, hooks)
    script = textwrap.dedent("""\
        import gatebook as gb
        gb.init(name="crashy")
        gb.log({"acc": 0.1}, step=1)
        raise RuntimeError("diverged: loss is NaN")
    """)
    (root / "crash.py").write_text(script)
    proc = subprocess.run([PY, "crash.py"], cwd=root, env=env_with(HANG_HOOK=_url(hooks["ok"])), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert ("failed", "crashy") in [(d["event"], d["run"]["name"]) for d in hooks["ok"].got]
    # a run whose recording process is gone (a pid that cannot exist on this host)
    vanish = textwrap.dedent("""\
        import os
        import gatebook as gb
        run = gb.init(name="vanished")
        gb.log({"acc": 0.1}, step=1)
        run.flush()
        os._exit(0)
    """)
    (root / "vanish.py").write_text(vanish)
    subprocess.run([PY, "vanish.py"], cwd=root, env=env_with(), timeout=120)
    assert invoke("ls", cwd=root, env=env_with(GATEBOOK_LOST_AFTER="1")).returncode == 0
    lost = [d for d in hooks["ok"].got if d["event"] == "lost"]
    assert [d["run"]["name"] for d in lost] == ["vanished"] and "vanished" in lost[0]["text"]
    invoke("ls", cwd=root)  # found lost once: a second reader sends nothing
    assert len([d for d in hooks["ok"].got if d["event"] == "lost"]) == 1


def test_a_bad_notify_section_is_one_line(tmp_path: Path) -> None:
    assert invoke("init", cwd=tmp_path).returncode == 0
    (tmp_path / "gatebook.yaml").write_text('notify:\n  - {webhook: "https://x.invalid/h", on: [exploded]}\n')
    err = one_line_error(invoke("run", "--", PY, "-c", "pass", cwd=tmp_path))
    assert "exploded" in err and "gate_fail" in err
    (tmp_path / "gatebook.yaml").write_text('notify:\n  - {webhook: "ftp://x", command: "x", on: [lost]}\n')
    assert "exactly one" in one_line_error(invoke("run", "--", PY, "-c", "pass", cwd=tmp_path))
    (tmp_path / "gatebook.yaml").write_text('notify:\n  - {webhook: "https://h.invalid/T0/SECRETPATH", on: [nope]}\n')
    assert "SECRETPATH" not in one_line_error(invoke("run", "--", PY, "-c", "pass", cwd=tmp_path))
