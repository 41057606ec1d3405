"""`gatebook promote` and `gatebook aliases` (list, log, rollback) through the CLI in this process;
``@alias`` wherever a run is named; and real concurrent `gatebook promote` processes on one alias,
on SQLite and on PostgreSQL: exactly one move per holder change, every attempt in the trail."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from gatebook.ids import new_run_id
from gatebook.project_config import load_project_config
from gatebook.records import RunRecord, RunStatus
from gatebook.registry.promote import promote
from gatebook.store import open_store
from tests.helpers import PY, env_with, gb, gb_json, invoke, invoke_json, one_line_error

GATEBOOK_YAML = textwrap.dedent("""\
    metrics:
      higher_is_better: [acc]
    gates:
      promotion:
        checks:
          - "acc >= 0.5"
          - "acc >= baseline, marginal >= baseline - 0.05"
        playbook:
          fixes:
            - {name: "lower lr", why: "the loss diverged", set: {lr: 0.01}}
      versus:
        baseline: "@champion"
        checks: ["acc >= baseline - 0.5"]
    aliases:
      champion: {gates: [promotion]}
    """)


def make_run(url: str, name: str, acc: float | None, status: RunStatus = RunStatus.FINISHED,
             params: dict[str, float] | None = None) -> str:
    now = time.time()
    with open_store(url) as store:
        run_id = store.create_run(RunRecord(id=new_run_id(now), name=name, status=status, created_at=now,
                                            ended_at=now, cwd=None))
        if acc is not None:
            store.log_metrics([(run_id, "acc", step, acc if step == 2 else acc / 2, now) for step in range(3)])
        store.log_params(run_id, "config", params or {"lr": 0.1})
    return run_id


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "gatebook.yaml").write_text(GATEBOOK_YAML)
    assert invoke("init", cwd=root).returncode == 0
    return root


def url_of(root: Path) -> str:
    return f"sqlite:///{root}/.gatebook/ledger.db"


def test_promote_refuse_move_list_log_and_rollback(project: Path) -> None:
    url = url_of(project)
    base = make_run(url, "base", 0.6)
    make_run(url, "doomed", 0.3)
    good = make_run(url, "good", 0.7)

    first = invoke("promote", "base", "--to", "champion", cwd=project)
    assert first.returncode == 0, first.stderr
    assert "no holder yet" in first.stdout and "@champion -> base" in first.stdout

    doomed = invoke("promote", "doomed", "--to", "@champion", cwd=project)
    assert doomed.returncode == 1, doomed.stderr
    assert "refused: @champion stays at base" in doomed.stdout
    assert "failing: gate promotion: acc >= 0.5" in doomed.stdout
    assert 'next fix: "lower lr"' in doomed.stdout

    doc = json.loads(invoke("promote", "good", "--to", "champion", "--json", cwd=project).stdout)
    assert (doc["action"], doc["moved"], doc["verdict"]) == ("moved", True, "PASS")
    assert doc["from"] == {"id": base, "name": "base"} and doc["holder"] == {"id": good, "name": "good"}
    assert set(doc) >= {"alias", "run", "gates", "forced", "reason", "by", "time", "attempts", "advice"}
    assert doc["gates"][0]["baseline"] == {"id": base, "name": "base"}

    noop = invoke("promote", "good", "--to", "champion", cwd=project)
    assert noop.returncode == 0 and "already points at good" in noop.stdout

    listed = invoke_json("aliases", cwd=project)["aliases"]
    assert [(a["alias"], a["run"]["id"], a["verdict"]) for a in listed] == [("champion", good, "PASS")]
    assert "@champion" in invoke("aliases", cwd=project).stdout

    log = invoke_json("aliases", "log", "champion", cwd=project)
    assert [(e["action"], e["verdict"]) for e in log["events"]] == [("moved", "PASS"), ("refused", "FAIL"),
                                                                   ("moved", "PASS")]
    refused = log["events"][1]
    check = next(c for c in refused["gates"][0]["checks"] if c["check"] == "acc >= 0.5")
    assert (check["observed"], check["threshold"], check["tier"]) == (0.3, 0.5, "FAIL")
    assert invoke_json("aliases", "log", cwd=project)["events"] == log["events"]
    text = invoke("aliases", "log", "champion", cwd=project).stdout
    assert "refused" in text and "observed 0.3" in text and "not judged (no holder yet)" in text

    back = invoke_json("aliases", "rollback", "champion", "--reason", "good regressed", cwd=project)
    assert (back["action"], back["holder"]["id"], back["reason"]) == ("rollback", base, "good regressed")
    forced = invoke_json("promote", "doomed", "--to", "champion", "--force", "--reason", "demo", cwd=project)
    assert (forced["action"], forced["forced"], forced["verdict"]) == ("forced", True, "FAIL")
    assert invoke_json("aliases", cwd=project)["aliases"][0]["forced"] is True


def test_bad_input_is_one_line_exit_2_and_writes_nothing(project: Path) -> None:
    url = url_of(project)
    make_run(url, "base", 0.6)
    make_run(url, "doomed", 0.3)
    make_run(url, "crashed", 0.9, status=RunStatus.FAILED)
    assert invoke("promote", "base", "--to", "champion", cwd=project).returncode == 0
    events = lambda: invoke_json("aliases", "log", cwd=project)["events"]  # noqa: E731
    before = events()

    err = one_line_error(invoke("promote", "doomed", "--to", "champion", "--force", cwd=project))
    assert "--force needs --reason" in err
    err = one_line_error(invoke("promote", "base", "--to", "bad//name", cwd=project))
    assert "malformed alias name 'bad//name'" in err and "letters, digits" in err
    err = one_line_error(invoke("promote", "crashed", "--to", "champion", cwd=project))
    assert "is failed: only a finished run can be promoted" in err
    err = one_line_error(invoke("promote", "base", "--to", "staging", cwd=project))
    assert "no gates to judge a promotion to @staging" in err
    err = one_line_error(invoke("aliases", "log", "nope", cwd=project))
    assert "no alias @nope" in err and "@champion" in err
    err = one_line_error(invoke("aliases", "rollback", "nope", "--reason", "x", cwd=project))
    assert "no alias @nope" in err and "@champion" in err
    err = one_line_error(invoke("aliases", "rollback", "champion", cwd=project))
    assert "needs --reason" in err
    err = one_line_error(invoke("show", "@nope", cwd=project))
    assert "@champion" in err
    assert events() == before


def test_an_alias_names_a_run_everywhere(project: Path) -> None:
    url = url_of(project)
    base = make_run(url, "base", 0.6, params={"lr": 0.1})
    other = make_run(url, "other", 0.7, params={"lr": 0.2})
    assert invoke("promote", "base", "--to", "champion", cwd=project).returncode == 0

    assert invoke_json("show", "@champion", cwd=project)["id"] == base
    comparison = invoke_json("compare", "@champion", "other", cwd=project)
    assert base in json.dumps(comparison) and other in json.dumps(comparison)
    assert invoke("diff", "@champion", "other", cwd=project).returncode == 0
    assert "0.1" in invoke("diff", "@champion", "other", cwd=project).stdout
    judged = invoke_json("gate", "other", "--gate", "promotion", "--baseline", "@champion", cwd=project)
    assert judged["baselines"]["promotion"]["id"] == base
    own = invoke_json("gate", "other", "--gate", "versus", cwd=project)  # baseline: "@champion" in gatebook.yaml
    assert own["baselines"]["versus"]["id"] == base and own["verdict"] == "PASS"

    child = gb("run", "--json", "--parent", "@champion", "--name", "child", "--", PY, "-c", "pass", cwd=project)
    assert child.returncode == 0, child.stderr
    assert invoke_json("show", json.loads(child.stdout)["id"], cwd=project)["parent"]["id"] == base


@pytest.mark.slow
def test_a_sweep_baseline_may_be_an_alias(project: Path) -> None:
    base = make_run(url_of(project), "base", 0.6)
    assert invoke("promote", "base", "--to", "champion", cwd=project).returncode == 0
    (project / "train.py").write_text(
        'import json, sys\nprint("gatebook: " + json.dumps({"acc": float(sys.argv[1])}))\n')
    (project / "sweep.yaml").write_text(textwrap.dedent(f"""\
        name: vs-champion
        command: {PY} train.py {{x}}
        baseline: "@champion"
        objective: acc
        list:
          - {{name: t1, x: 0.8}}
        """))
    doc = gb_json("sweep", "run", "sweep.yaml", cwd=project, timeout=120)
    assert doc["ranking"]["baseline"]["id"] == base
    (trial,) = doc["trials"]
    assert invoke_json("show", trial["run_id"], cwd=project)["parent"]["id"] == base


# -- concurrency: real processes, both stores ------------------------------------------------------------

CANDIDATES = (0.62, 0.7, 0.66, 0.8, 0.75)


def test_concurrent_promotes_move_once_per_holder_change(store_url: str, tmp_path: Path) -> None:
    (tmp_path / "gatebook.yaml").write_text(GATEBOOK_YAML)
    holder = make_run(store_url, "holder", 0.6)
    acc = {holder: 0.6}
    names = {}
    for i, value in enumerate(CANDIDATES):
        run_id = make_run(store_url, f"c{i}", value)
        acc[run_id], names[run_id] = value, f"c{i}"
    with open_store(store_url) as store:
        assert promote(store, load_project_config(tmp_path), holder, "champion").action == "moved"
    env = env_with(store_url)
    procs = {run_id: subprocess.Popen([PY, "-m", "gatebook", "promote", run_id, "--to", "champion", "--json"],
                                      cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for run_id in names}
    results = {run_id: (p.communicate(timeout=120), p.returncode) for run_id, p in procs.items()}
    docs = {}
    for run_id, ((out, err), code) in results.items():
        assert code in (0, 1), f"{names[run_id]} exited {code}: {err}"
        assert "Traceback" not in err and "locked" not in err.lower(), err
        docs[run_id] = json.loads(out)
        assert docs[run_id]["moved"] == (code == 0)

    with open_store(store_url) as store:
        trail = store.alias_events("champion")
        final = store.get_alias("champion")
    assert trail[0].to_run == holder
    attempts = trail[1:]
    assert sorted(e.to_run or "" for e in attempts) == sorted(names)  # every attempt, once
    current = holder
    for event in attempts:
        assert event.from_run is not None
        if event.action == "moved":  # exactly one move per holder change, each from the holder it replaced
            assert event.from_run == current and acc[event.to_run or ""] >= acc[current]
            current = event.to_run or ""
        else:
            assert event.action == "refused" and acc[event.to_run or ""] < acc[event.from_run]
        assert docs[event.to_run or ""]["action"] == event.action
    assert final is not None and final.run_id == current
