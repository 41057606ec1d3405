"""Secrets on the command line never reach the ledger; reruns from the ledger ask for them.

`run`, `triage --apply`, `attach` and one `tail` go through a real ``gatebook`` process; the reads
(`show`, `ls`, `tail`) run in this process (``invoke``: the CLI's ``main`` under Click's CliRunner)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import textwrap
from pathlib import Path

from tests.helpers import PY, env_with, gb, invoke, invoke_json, one_line_error, wait_for, write_script

SECRETS = ("hf_abcSECRET", "pw_SECRET2", "PGSECRET3")
DB_URL = "postgresql://u:PGSECRET3@h/db"
ARGS = ["--hf-token", "hf_abcSECRET", "--password=pw_SECRET2", "--db", DB_URL]

# Prints its arguments (as a careless script does), reports its config through the API, checks
# it got the real values (exit 5 otherwise) and reports acc = lr, which the `quality` gate wants >= 0.4.
SCRIPT = textwrap.dedent("""\
    import argparse, json, sys
    import gatebook as gb
    p = argparse.ArgumentParser()
    p.add_argument("--hf-token")
    p.add_argument("--password")
    p.add_argument("--db")
    p.add_argument("--lr", type=float, default=0.1)
    a = p.parse_args()
    gb.init(config=a)
    print("args:", " ".join(sys.argv[1:]), flush=True)
    print("connecting to", a.db, "with token", a.hf_token, flush=True)
    real = (a.hf_token, a.password, a.db) == ("hf_abcSECRET", "pw_SECRET2", "postgresql://u:PGSECRET3@h/db")
    print("gatebook:", json.dumps({"acc": a.lr}), flush=True)
    sys.exit(0 if real else 5)
    """)
GATES = textwrap.dedent("""\
    metrics: {higher_is_better: [acc]}
    gates:
      quality:
        checks: ["acc >= 0.4"]
        playbook:
          fixes: [{name: "higher lr", set: {lr: 0.5}}]
    """)


def _project(tmp_path: Path) -> Path:
    write_script(tmp_path, "t.py", SCRIPT)
    (tmp_path / "gatebook.yaml").write_text(GATES)
    return tmp_path


def _ledger_bytes(project: Path) -> bytes:
    """Every byte gatebook wrote under .gatebook/ (the database, its WAL, anything else), after a
    checkpoint; the database is also dumped as SQL text (values stored compressed or split would
    still be caught by the bytes of the WAL before it)."""
    files = sorted(p for p in (project / ".gatebook").rglob("*") if p.is_file())
    raw = b"".join(p.read_bytes() for p in files)
    db = project / ".gatebook" / "ledger.db"
    assert db.is_file(), files
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(FULL)")
        dump = "\n".join(con.iterdump()).encode()
    finally:
        con.close()
    return raw + b"".join(p.read_bytes() for p in files if p.exists()) + dump


def _assert_no_secret(data: bytes | str) -> None:
    text = data.encode() if isinstance(data, str) else data
    for secret in SECRETS:
        assert secret.encode() not in text, secret


def test_command_line_secrets_are_redacted_everywhere_in_the_ledger(tmp_path: Path) -> None:
    project = _project(tmp_path)
    env = env_with(MY_HF="hf_abcSECRET")  # a variable whose name does not look secret, holding one
    proc = gb("run", "--name", "s", "--", PY, "t.py", *ARGS, cwd=project, env=env)
    assert proc.returncode == 0, proc.stderr  # the command ran with the real values
    assert "hf_abcSECRET" in proc.stdout  # echoed live to the user's own terminal, as printed

    stored = _ledger_bytes(project)
    _assert_no_secret(stored)
    assert b"postgresql://u:***@h/db" in stored and b"connecting to" in stored  # the search sees the text
    doc = invoke_json("show", "s", cwd=project)
    assert doc["command"][1:] == ["t.py", "--hf-token", "***", "--password=***", "--db", "postgresql://u:***@h/db"]
    assert doc["params_by_source"]["argv"] == {"hf_token": "***", "password": "***", "db": "postgresql://u:***@h/db"}
    assert doc["params_by_source"]["api"] == {"hf_token": "***", "password": "***", "db": "postgresql://u:***@h/db",
                                              "lr": 0.1}
    assert doc["intended_mismatches"] == []
    assert doc["env"]["variables"]["MY_HF"] == "***"
    tail = invoke("tail", "s", cwd=project).stdout
    assert "args: --hf-token *** --password=*** --db postgresql://u:***@h/db" in tail
    assert "connecting to postgresql://u:***@h/db with token ***" in tail
    for text in (json.dumps(doc), tail, invoke("show", "s", cwd=project).stdout):
        _assert_no_secret(text)


def test_triage_apply_needs_the_redacted_values_and_takes_them_from_the_environment(tmp_path: Path) -> None:
    project = _project(tmp_path)
    first = gb("run", "--name", "base", "--gate", "quality", "--", PY, "t.py", *ARGS, "--lr", "0.1", cwd=project)
    assert first.returncode == 0, first.stderr

    # no values given: one line naming the variables, exit 2, nothing started
    err = one_line_error(gb("triage", "base", "--apply", cwd=project))
    assert "the command of run base (" in err and "was recorded with secret values redacted" in err
    for var in ("GATEBOOK_SECRET_HF_TOKEN (or HF_TOKEN)", "GATEBOOK_SECRET_PASSWORD (or PASSWORD)",
                "GATEBOOK_SECRET_DB_PASSWORD (or DB_PASSWORD)"):
        assert var in err
    assert "***" in err and not (project / ".gatebook" / "fixes").exists()
    err = one_line_error(gb("triage", "base", "--apply", "--all", cwd=project,
                            env=env_with(GATEBOOK_SECRET_HF_TOKEN="hf_abcSECRET")))
    assert "GATEBOOK_SECRET_HF_TOKEN" not in err and "GATEBOOK_SECRET_PASSWORD" in err
    assert [r["name"] for r in invoke_json("ls", cwd=project)["runs"]] == ["base"]

    # given (a GATEBOOK_SECRET_ variable, and plain names that look secret): the fix runs with them
    env = env_with(GATEBOOK_SECRET_HF_TOKEN="hf_abcSECRET", PASSWORD="pw_SECRET2", DB_PASSWORD="PGSECRET3")
    applied = gb("triage", "base", "--apply", cwd=project, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr  # t.py exits 5 on a wrong value
    assert "running: " in applied.stderr
    _assert_no_secret(applied.stderr)
    child = invoke_json("show", "base-higher-lr", cwd=project)
    assert child["status"] == "finished" and child["parent"]["name"] == "base"
    assert child["command"][1:] == ["t.py", "--hf-token", "***", "--password=***", "--db", "postgresql://u:***@h/db",
                                    "--lr", "0.5"]
    assert child["metrics"]["acc"]["last"] == 0.5
    _assert_no_secret(_ledger_bytes(project))


# waits for `go`, then writes its arguments to its log, as a training started by hand would
LOGGING = textwrap.dedent("""\
    import os, sys, time
    deadline = time.time() + 120
    while not os.path.exists("go") and time.time() < deadline:
        time.sleep(0.05)
    with open("train.log", "a") as log:
        print("started with", " ".join(sys.argv[1:]), file=log, flush=True)
    """)


def test_attach_stores_the_process_command_redacted(tmp_path: Path) -> None:
    project = tmp_path
    (project / "gatebook.yaml").write_text("{}\n")
    write_script(project, "job.py", LOGGING)
    job = subprocess.Popen([PY, "job.py", *ARGS], cwd=project, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    attach = subprocess.Popen([PY, "-m", "gatebook", "attach", "--pid", str(job.pid), "--log", "train.log",
                               "--name", "adopted"], cwd=project, env=env_with(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def adopted() -> bool:
            assert attach.poll() is None, attach.communicate()
            listed = invoke("ls", "--json", cwd=project)
            return listed.returncode == 0 and bool(json.loads(listed.stdout)["runs"])

        wait_for(adopted, 60, what="the attached run in the ledger")
        (project / "go").write_text("")
        assert job.wait(timeout=60) == 0
        out, err = attach.communicate(timeout=90)
    finally:
        for proc in (job, attach):
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    assert attach.returncode == 0, err
    _assert_no_secret(err)  # "attached to pid N (python job.py --hf-token *** ...)"
    assert "--hf-token ***" in err
    doc = invoke_json("show", "adopted", cwd=project)
    assert doc["command"][1:] == ["job.py", "--hf-token", "***", "--password=***", "--db", "postgresql://u:***@h/db"]
    assert "started with --hf-token *** --password=*** --db postgresql://u:***@h/db" in gb("tail", "adopted",
                                                                                            cwd=project).stdout
    _assert_no_secret(_ledger_bytes(project))
