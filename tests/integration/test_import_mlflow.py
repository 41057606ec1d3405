"""`gatebook import mlflow`: stores written by MLflow itself (its SQLite backend and its file store).

A real MLflow (in a subprocess: its imports never enter this interpreter) writes two experiments:
a baseline and a nested candidate (FINISHED), a FAILED run, a KILLED run, and a run still RUNNING;
then, for the update test, more points and the end of that running run. The imports run through
the real CLI in this process (``invoke``), then compare, gate and the dashboard read the runs.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import sqlite3
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PY, clean_env, invoke, invoke_json, one_line_error

if importlib.util.find_spec("mlflow") is None:  # not imported here: only the writer subprocess does
    pytest.skip("needs mlflow (the mlflow extra)", allow_module_level=True)

WRITER = textwrap.dedent("""\
    import json, math, sys
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    uri, phase, ids_file = sys.argv[1:4]
    c = MlflowClient(uri)
    T = 1_700_000_000_000
    if phase == "more":
        ids = json.loads(open(ids_file).read())
        live = ids["live"]
        c.log_batch(live, metrics=[Metric("val_acc", 0.6 + s / 100, T + 1000 * s, s) for s in (3, 4)])
        c.set_terminated(live, "FINISHED", end_time=T + 9000)
        sys.exit(0)

    def run(exp, name, status, tags=None, metrics=(), params=None):
        r = c.create_run(exp, run_name=name, tags=tags or {}, start_time=T)
        c.log_batch(r.info.run_id, metrics=list(metrics),
                    params=[Param(k, v) for k, v in (params or {}).items()])
        if status != "RUNNING":
            c.set_terminated(r.info.run_id, status, end_time=T + 5000)
        return r.info.run_id

    def curve(key, values):
        return [Metric(key, v, T + 1000 * s, s) for s, v in enumerate(values)]

    a = c.create_experiment("exp-a")
    b = c.create_experiment("exp-b")
    ids = {}
    ids["base"] = run(a, "base", "FINISHED", {"team": "vision", "mlflow.note.content": "the baseline",
                                             "mlflow.source.git.commit": "abc123"},
                      curve("val_acc", [0.5, 0.6, 0.7]) + curve("val_loss", [0.9, 0.7, 0.5]),
                      {"lr": "0.1", "layers": "4"})
    ids["cand"] = run(a, "cand", "FINISHED", {"mlflow.parentRunId": ids["base"]},
                      curve("val_acc", [0.6, 0.75, 0.8]) + curve("val_loss", [0.8, 0.6, 0.45])
                      + [Metric("odd", float("nan"), T, 0), Metric("odd", float("inf"), T + 1, 1)],
                      {"lr": "0.05", "layers": "4"})
    ids["broken"] = run(a, "broken", "FAILED", metrics=curve("val_acc", [0.1]))
    ids["killed"] = run(a, "killed", "KILLED", metrics=curve("val_acc", [0.2, 0.3]))
    ids["live"] = run(a, "live", "RUNNING", metrics=curve("val_acc", [0.1, 0.3, 0.5]))
    ids["other"] = run(b, "other", "FINISHED", metrics=curve("loss", list(range(250))))
    open(ids_file, "w").write(json.dumps(ids))
""")

GATEBOOK_YAML = """\
metrics:
  higher_is_better: ["val_acc"]
  lower_is_better: ["*loss*"]
gates:
  deploy:
    checks: ["val_acc >= baseline + 0.05", "val_loss no worse than baseline"]
"""


def mlflow_env() -> dict[str, str]:
    return clean_env(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", MLFLOW_ALLOW_FILE_STORE="true",
                     GIT_PYTHON_REFRESH="quiet")


def write_with_mlflow(uri: str, phase: str, ids_file: Path, cwd: Path) -> None:
    proc = subprocess.run([PY, "-c", WRITER, uri, phase, str(ids_file)], cwd=cwd, env=mlflow_env(),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both of MLflow's local stores, written by MLflow (the same runs in each)."""
    root = tmp_path_factory.mktemp("mlflow")
    out: dict[str, Any] = {"root": root}
    for kind, uri in (("sqlite", f"sqlite:///{root / 'mlflow.db'}"), ("file", (root / "mlruns").as_uri())):
        write_with_mlflow(uri, "new", root / f"{kind}-ids.json", root)
        out[kind] = uri
        out[f"{kind}_ids"] = json.loads((root / f"{kind}-ids.json").read_text())
    return out


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "gatebook.yaml").write_text(GATEBOOK_YAML)
    return tmp_path


def gb_import(project: Path, *args: str) -> dict[str, Any]:
    doc: dict[str, Any] = invoke_json("import", "mlflow", *args, cwd=project)
    return doc


def ledger_counts(project: Path) -> tuple[int, int]:
    con = sqlite3.connect(project / ".gatebook" / "ledger.db")
    try:
        return (con.execute("SELECT count(*) FROM gb_runs").fetchone()[0],
                con.execute("SELECT count(*) FROM gb_metrics").fetchone()[0])
    finally:
        con.close()


def show(project: Path, ref: str) -> dict[str, Any]:
    doc: dict[str, Any] = invoke_json("show", ref, cwd=project)
    return doc


@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_an_mlflow_store_imports_whole_and_once(stores: dict[str, Any], project: Path, kind: str) -> None:
    doc = gb_import(project, "--tracking-uri", stores[kind])
    assert (doc["created"], doc["updated"], doc["unchanged"]) == (6, 0, 0)
    assert doc["points"] == 3 + 3 + 3 + 3 + 2 + 1 + 2 + 3 + 250
    by_name = {r["name"]: r for r in doc["runs"]}
    assert {n: r["status"] for n, r in by_name.items()} == {
        "base": "finished", "cand": "finished", "broken": "failed", "killed": "interrupted", "live": "running",
        "other": "finished"}
    ids = stores[f"{kind}_ids"]

    base, cand = show(project, "base"), show(project, "cand")
    assert base["params_by_source"] == {"mlflow": {"lr": "0.1", "layers": "4"}}
    assert set(base["tags"]) == {"mlflow", "team=vision"} and base["group"] == "exp-a"
    assert base["git"]["commit"] == "abc123" and [n["text"] for n in base["notes"]] == ["the baseline"]
    assert base["created_at"] == "2023-11-14T22:13:20Z" and base["duration"] == pytest.approx(5.0)
    assert cand["parent"] == {"id": base["id"], "name": "base"}
    assert base["metrics"]["val_acc"] == {"last": 0.7, "min": 0.5, "max": 0.7, "last_step": 2, "count": 3}
    assert cand["metrics"]["odd"]["count"] == 2 and cand["metrics"]["odd"]["last"] == "Infinity"
    assert show(project, "killed")["reason"] == "killed in MLflow (status KILLED)"

    assert len(invoke_json("ls", "--tag", "mlflow", cwd=project)["runs"]) == 6
    from gatebook.store import open_store

    with open_store(f"sqlite:///{project / '.gatebook' / 'ledger.db'}") as store:
        rec = store.get_run(cand["id"])
        mark = rec.provenance["mlflow"]
        assert mark["run_id"] == ids["cand"] and mark["experiment"] == "exp-a"
        assert mark["parent_run_id"] == ids["base"] and mark["tracking_uri"] == stores[kind]
        assert mark["artifact_uri"] and mark["status"] == "FINISHED"
        series = store.metric_series(cand["id"], ["val_acc", "odd"])
        assert series["val_acc"] == [(0, 0.6, 1_700_000_000.0), (1, 0.75, 1_700_000_001.0), (2, 0.8, 1_700_000_002.0)]
        assert math.isnan(series["odd"][0][1]) and series["odd"][1][:2] == (1, math.inf)

    before = ledger_counts(project)
    again = gb_import(project, "--tracking-uri", stores[kind])
    assert (again["created"], again["updated"], again["unchanged"], again["points"]) == (0, 0, 6, 0)
    assert ledger_counts(project) == before


def test_one_experiment_and_both_stores_agree(stores: dict[str, Any], project: Path, tmp_path: Path) -> None:
    doc = gb_import(project, "--tracking-uri", stores["file"], "--experiment", "exp-b")
    assert [(r["name"], r["points"]) for r in doc["runs"]] == [("other", 250)]
    from gatebook.importers.mlflow_read import read_runs

    def shape(runs: Any) -> list[Any]:
        return sorted((r.name, r.status, r.start, r.end, r.params, {k: v for k, v in r.tags.items()
                       if k != "mlflow.parentRunId"}, {k: [(s, repr(v), ts) for s, v, ts in p]
                       for k, p in r.metrics.items()}) for r in runs)

    direct = shape(read_runs(stores["sqlite"]))
    assert direct == shape(read_runs(stores["file"]))
    # MLflow's own client reads the same (in a subprocess: mlflow stays out of this interpreter)
    script = ("import json, sys; from gatebook.importers.mlflow_read import read_runs; "
              "print(json.dumps([[r.run_id, {k: [(s, repr(v), ts) for s, v, ts in p] for k, p in r.metrics.items()}]"
              " for r in read_runs(sys.argv[1], via='client')]))")
    proc = subprocess.run([PY, "-c", script, stores["sqlite"]], env=mlflow_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    via_client = {rid: {k: [tuple(p) for p in pts] for k, pts in m.items()} for rid, m in json.loads(proc.stdout)}
    assert via_client == {r.run_id: {k: [(s, repr(v), ts) for s, v, ts in p] for k, p in r.metrics.items()}
                          for r in read_runs(stores["sqlite"])}


def test_a_running_run_is_updated_by_the_next_import(stores: dict[str, Any], project: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    shutil.copy(stores["root"] / "mlflow.db", db)
    uri = f"sqlite:///{db}"
    gb_import(project, "--tracking-uri", uri)
    live = show(project, "live")
    assert live["status"] == "running" and live["metrics"]["val_acc"]["count"] == 3

    write_with_mlflow(uri, "more", stores["root"] / "sqlite-ids.json", tmp_path)
    doc = gb_import(project, "--tracking-uri", uri)
    assert [(r["name"], r["action"], r["points"], r["status"]) for r in doc["runs"] if r["action"] != "unchanged"] \
        == [("live", "updated", 2, "finished")]
    live2 = show(project, "live")
    assert live2["id"] == live["id"] and live2["status"] == "finished"
    assert live2["metrics"]["val_acc"] == {"last": 0.64, "min": 0.1, "max": 0.64, "last_step": 4, "count": 5}
    assert live2["ended_at"] == "2023-11-14T22:13:29Z"
    assert [e["data"]["status"] for e in live2["events"] if e["kind"] == "status"] == ["running", "finished"]
    assert gb_import(project, "--tracking-uri", uri)["unchanged"] == 6


def test_compare_gate_and_the_dashboard_read_imported_runs(stores: dict[str, Any], project: Path) -> None:
    gb_import(project, "--tracking-uri", stores["sqlite"])
    table = invoke_json("compare", "base", "cand", cwd=project)
    assert "val_acc" in json.dumps(table) and "cand" in json.dumps(table)
    verdict = invoke("gate", "cand", "--gate", "deploy", "--baseline", "base", "--json", cwd=project)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert json.loads(verdict.stdout)["verdict"] == "PASS"
    worse = invoke("gate", "base", "--gate", "deploy", "--baseline", "cand", "--json", cwd=project)
    assert worse.returncode == 1 and json.loads(worse.stdout)["verdict"] == "FAIL"
    pytest.importorskip("starlette")
    page = invoke("ui", "--get", "/api/runs/cand", cwd=project)
    assert page.returncode == 0, page.stderr
    run = json.loads(page.stdout)
    assert (run["name"], run["group"], run["parent"]["name"]) == ("cand", "exp-a", "base")
    assert run["metrics"]["val_acc"]["last"] == 0.8


def test_bad_sources_are_one_line_and_import_nothing(stores: dict[str, Any], project: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    broken = tmp_path / "mlruns"
    shutil.copytree(Path(stores["file"][len("file://"):]), broken)
    metric = next(p for p in broken.rglob("metrics/loss"))
    metric.write_text(metric.read_text() + "garbage line\n")
    cases = {
        f"sqlite:///{tmp_path / 'absent.db'}": "no MLflow database at",
        (tmp_path / "absent").as_uri(): "no MLflow file store at",
        "http://127.0.0.1:9": "does not answer",
        f"sqlite:///{junk}": "cannot read the MLflow database",
        broken.as_uri(): "cannot read the MLflow metric file",
    }
    for uri, words in cases.items():
        err = one_line_error(invoke("import", "mlflow", "--tracking-uri", uri, cwd=project))
        assert words in err, err
    err = one_line_error(invoke("import", "mlflow", "--tracking-uri", stores["sqlite"], "-e", "nope", cwd=project))
    assert "exp-a, exp-b" in err
    assert not (tmp_path / "absent.db").exists() and not (tmp_path / "absent").exists()
    assert ledger_counts(project) == (0, 0)
