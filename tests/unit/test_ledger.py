"""`gatebook.Ledger`, the read API: selections, documents equal to the CLI's --json, DataFrames, notebook HTML.

The ledger is a real SQLite file in a project directory, written through the store; the CLI's
documents come from the real commands run in this process (``tests.helpers.invoke``).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator

import pytest

from gatebook.records import AliasEvent, RunRecord, RunStatus
from gatebook.render.text import iso
from gatebook.serialize import json_safe_numbers
from tests.helpers import invoke, invoke_json

GATEBOOK_YAML = """\
metrics:
  higher_is_better: ["val_*"]
  lower_is_better: ["*loss*"]
  primary: ["val_acc"]
gates:
  deploy:
    checks: ["val_acc >= baseline + 0.05", "val_loss no worse than baseline"]
  floor:
    checks: ["val_acc >= 0.75"]
"""

EVIL = '<script>alert("x")</script> & co'
NOW = time.time()
DAY = 86400.0


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# name, created (s before now), status, params, {key: values by step}, tags, group
RUNS: list[tuple[str, float, str, dict[str, Any], dict[str, list[float]], list[str], str | None]] = [
    ("base", 5 * DAY, "finished", {"lr": 0.1, "layers": 2}, {"val_acc": [0.35, 0.7], "val_loss": [1.0, 0.5]}, [], "g1"),
    ("b", 4 * DAY, "finished", {"lr": 0.05}, {"val_acc": [0.4, 0.8], "val_loss": [0.9, 0.45]}, ["sweep"], "g1"),
    (EVIL, 3 * DAY, "finished", {"lr": 0.2}, {"val_acc": [0.3, 0.72]}, ["sweep"], None),
    ("d", 2 * DAY, "failed", {"lr": 1.0}, {"val_acc": [0.1, float("nan")], "val_loss": [0.5, 0.4]}, ["sweep"], None),
    ("live", 120.0, "running", {}, {"val_acc": [0.2]}, [], None),
    ("ghost", 60.0, "running", {}, {}, [], None),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A project with gatebook.yaml and a ledger of the RUNS above; yields (root, name -> id)."""
    from gatebook.ids import new_run_id
    from gatebook.store import open_store

    root = tmp_path_factory.mktemp("ledger")
    (root / "gatebook.yaml").write_text(GATEBOOK_YAML)
    (root / ".gatebook").mkdir()
    ids: dict[str, str] = {}
    with open_store(f"sqlite:///{root}/.gatebook/ledger.db") as store:
        for name, ago, status, params, metrics, tags, group in RUNS:
            created = NOW - ago
            live = name == "live"
            rec = RunRecord(id=new_run_id(created), name=name, status=RunStatus.RUNNING, created_at=created,
                            tags=tuple(tags), group=group, command=("python", "train.py"), cwd=str(root),
                            host="elsewhere.invalid" if live else socket.gethostname(),
                            pid=None if live else _dead_pid(),
                            # another host's heartbeat, fresh for as long as this module runs however
                            # slow the machine (a heartbeat older than GATEBOOK_LOST_AFTER reads as lost)
                            heartbeat_at=time.time() + DAY if live else created)
            rid = ids[name] = store.create_run(rec)
            if params:
                store.log_params(rid, "config", params)
            store.log_metrics([(rid, key, step, value, created + step) for key, values in metrics.items()
                               for step, value in enumerate(values)])
            if status != "running":
                store.set_status(rid, RunStatus(status), exit_code=0 if status == "finished" else 1,
                                 ended_at=created + 30.0)
    yield root, ids


@pytest.fixture
def ledger(project: tuple[Path, dict[str, str]]) -> Iterator[Any]:
    from gatebook import Ledger

    with Ledger(project_dir=project[0]) as opened:
        yield opened


def _cli_doc(doc: Any) -> Any:
    """A document as the CLI prints it (NaN as "NaN", tuples as lists)."""
    return json.loads(json.dumps(json_safe_numbers(doc)))


# -- selections ----------------------------------------------------------------------------------


def test_runs_are_the_whole_ledger_oldest_first_with_lost_ones_marked(ledger: Any,
                                                                     project: tuple[Path, dict[str, str]]) -> None:
    root = project[0]
    runs = ledger.runs()
    assert [r.name for r in runs] == ["base", "b", EVIL, "d", "live", "ghost"]
    status = {r.name: r.status.value for r in runs}
    assert status["ghost"] == "lost" and status["live"] == "running"  # its process vanished / another host
    assert runs.to_dict()["runs"] == list(reversed(invoke_json("ls", cwd=root)["runs"]))  # ls: newest first
    assert isinstance(runs[1:3], type(runs)) and len(runs[1:3]) == 2


def test_runs_filters(ledger: Any, project: tuple[Path, dict[str, str]]) -> None:
    ids = project[1]
    names = lambda result: [r.name for r in result]  # noqa: E731
    assert names(ledger.runs(tag="sweep")) == ["b", EVIL, "d"]
    assert names(ledger.runs(tag=["sweep"], group="g1")) == ["b"]  # both
    assert names(ledger.runs(status="finished")) == ["base", "b", EVIL]
    assert names(ledger.runs(status=["failed", RunStatus.LOST])) == ["d", "ghost"]
    assert names(ledger.runs(name="b*")) == ["base", "b"]
    assert names(ledger.runs(since="1d")) == ["live", "ghost"]
    assert names(ledger.runs(since=NOW - 3.5 * DAY, status="finished")) == [EVIL]
    assert names(ledger.runs(last=2)) == ["live", "ghost"]
    assert names(ledger.runs(status="finished", last=2)) == ["b", EVIL]
    assert names(ledger.runs(tag="sweep", status="finished", last=1)) == [EVIL]
    assert names(ledger.runs("d", ids["base"][:8], "b")) == ["d", "base", "b"]  # the order given
    assert names(ledger.runs("ba*")) == ["base"]
    assert names(ledger.runs(name="nothing-*")) == []  # a filter that leaves nothing: empty


def test_bad_selections_are_one_line_errors(ledger: Any) -> None:
    from gatebook.errors import NotFoundError, UsageError

    with pytest.raises(NotFoundError):
        ledger.runs("no-such-run")
    with pytest.raises(UsageError, match="not a run status"):
        ledger.runs(status="done")
    with pytest.raises(UsageError, match="is not a time"):
        ledger.runs(since="yesterday")
    with pytest.raises(UsageError, match="positive"):
        ledger.runs(last=0)
    with pytest.raises(NotFoundError, match="never logged 'val_f1'"):
        ledger.series("base", "val_f1")


def test_run_by_id_prefix_and_name_is_the_show_document(ledger: Any,
                                                        project: tuple[Path, dict[str, str]]) -> None:
    root, ids = project
    by_name = ledger.run("b")
    assert by_name.id == ids["b"] and ledger.run(ids["b"]).id == ids["b"] and ledger.run(ids["b"][:9]).id == ids["b"]
    assert _cli_doc(by_name.to_dict()) == invoke_json("show", ids["b"], cwd=root)
    assert by_name.params == {"lr": 0.05}
    assert by_name.metrics["val_acc"]["last"] == 0.8
    assert ledger.run(RunRecord(id=ids["d"], name="d", status=RunStatus.FAILED, created_at=0.0)).name == "d"
    assert _cli_doc(ledger.run(ids["d"]).to_dict()) == invoke_json("show", "d", cwd=root)  # NaN as "NaN"


def test_aliases_and_gated_promotion(ledger: Any, project: tuple[Path, dict[str, str]]) -> None:
    from gatebook.errors import UsageError

    root, ids = project
    event = AliasEvent(id=0, alias="champion", ts=NOW, by="me@here", action="forced", from_run=None,
                       to_run=ids["base"], verdict=None, forced=True, reason="first")
    assert ledger.store.move_alias("champion", ids["base"], expected=None, event=event)
    assert ledger.run("@champion").id == ids["base"]
    aliases = ledger.aliases()
    assert [a.name for a in aliases] == ["champion"]
    assert aliases.to_dict() == {"aliases": [{"alias": "champion", "run": {"id": ids["base"], "name": "base"},
                                              "since": iso(NOW), "by": "me@here", "verdict": None, "forced": True,
                                              "reason": "first"}]}
    assert aliases.to_dict() == invoke_json("aliases", cwd=root)
    assert aliases.to_pandas()[["alias", "run_name", "forced"]].to_dict("records") == [
        {"alias": "champion", "run_name": "base", "forced": True}]

    refused = ledger.promote(ids[EVIL], to="@champion", gates=["floor"])  # 0.72 < 0.75
    assert not refused.moved and refused.to_dict()["action"] == "refused" and refused.tier.value == "FAIL"
    page = Parsed(refused._repr_html_())
    assert "tier-FAIL" in page.classes and "script" not in page.tags and EVIL in "".join(page.text)
    moved = ledger.promote("b", to="champion", gates=["deploy", "floor"])
    assert moved.moved and moved.to_dict()["holder"] == {"id": ids["b"], "name": "b"}
    assert "tier-PASS" in Parsed(moved._repr_html_()).classes
    assert ledger.run("@champion").id == ids["b"]
    with pytest.raises(UsageError, match="only a finished run"):
        ledger.promote("d", to="champion", gates=["floor"])
    rows = Parsed(ledger.aliases()._repr_html_()).body_rows
    assert rows == [[rows[0][0]]] and rows[0][0].startswith("@championb")


def test_series_points_and_frame(ledger: Any) -> None:
    series = ledger.series("base", "val_loss")
    assert list(series) == [(0, 1.0), (1, 0.5)] and series.values == [1.0, 0.5] and len(series) == 2
    doc = series.to_dict()
    assert doc["key"] == "val_loss" and doc["run"]["name"] == "base"
    assert [(p["step"], p["value"]) for p in doc["points"]] == [(0, 1.0), (1, 0.5)]
    df = series.to_pandas()
    assert list(df.columns) == ["step", "value", "ts"] and df["value"].tolist() == [1.0, 0.5]
    assert str(df["ts"].dt.tz) == "UTC"


# -- compare and gate: the CLI's documents -------------------------------------------------------


def test_compare_document_is_compare_json(ledger: Any, project: tuple[Path, dict[str, str]]) -> None:
    root, ids = project
    result = ledger.compare(["base", "b", ids[EVIL], "d"], gates=["deploy", "floor"])
    cli = invoke_json("compare", "base", "b", ids[EVIL], "d", "--gate", "deploy", "--gate", "floor", cwd=root)
    assert _cli_doc(result.to_dict()) == cli
    with_base = ledger.compare(ledger.runs(tag="sweep"), baseline="b", metrics="val_acc")
    assert _cli_doc(with_base.to_dict()) == invoke_json("compare", "--tag", "sweep", "-b", "b", "-m", "val_acc",
                                                        cwd=root)
    df = result.to_pandas()
    assert df["name"].tolist() == ["base", "b", EVIL, "d"]
    assert df["delta.val_acc"].tolist()[1] == pytest.approx(0.1)
    assert df["verdict.floor"].tolist()[:2] == ["FAIL", "PASS"]


def test_gate_document_is_gate_json(ledger: Any, project: tuple[Path, dict[str, str]]) -> None:
    root, _ids = project
    verdict = ledger.gate("b", gates=["deploy", "floor"], baseline="base")
    proc = invoke("gate", "b", "--gate", "deploy", "--gate", "floor", "-b", "base", "--json", cwd=root)
    assert _cli_doc(verdict.to_dict()) == json.loads(proc.stdout)
    assert verdict.tier.value == "PASS" and proc.returncode == 0
    failed = ledger.gate(ledger.run("base"), gates="floor")
    proc = invoke("gate", "base", "--gate", "floor", "--json", cwd=root)
    assert proc.returncode == 1 and _cli_doc(failed.to_dict()) == json.loads(proc.stdout)
    checks = failed.to_pandas()
    assert checks.to_dict("records")[0] | {"reason": ""} == {
        "gate": "floor", "check": "val_acc >= 0.75", "metric": "val_acc", "observed": 0.7, "threshold": 0.75,
        "tier": "FAIL", "reason": ""}


# -- DataFrames ----------------------------------------------------------------------------------


def test_runs_frame_has_params_and_last_metric_columns(ledger: Any, project: tuple[Path, dict[str, str]]) -> None:
    import pandas as pd

    df = ledger.runs(status=["finished", "failed"]).to_pandas()
    assert list(df.columns) == ["id", "name", "status", "created", "duration", "params.layers", "params.lr",
                                "metrics.val_acc", "metrics.val_loss"]
    assert df["id"].tolist() == [project[1][n] for n in ("base", "b", EVIL, "d")]
    assert df["params.lr"].tolist() == [0.1, 0.05, 0.2, 1.0]
    assert df["params.layers"].iloc[0] == 2 and df["params.layers"].iloc[1:].isna().all()
    assert df["metrics.val_acc"].tolist()[:3] == [0.7, 0.8, 0.72] and pd.isna(df["metrics.val_acc"].iloc[3])
    assert pd.isna(df["metrics.val_loss"].iloc[2])  # never logged
    assert df["duration"].tolist() == [30.0] * 4 and str(df["created"].dt.tz) == "UTC"
    one = ledger.run("b").to_pandas()
    assert one.to_dict("records") == df[df["name"] == "b"][list(one.columns)].to_dict("records")


def test_without_pandas_to_pandas_says_how_to_install_it(ledger: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from gatebook.errors import MissingExtraError

    runs = ledger.runs(last=2)
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` raises ImportError
    with pytest.raises(MissingExtraError) as caught:
        runs.to_pandas()
    assert "pip install pandas" in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


# -- HTML ----------------------------------------------------------------------------------------


class Parsed(HTMLParser):
    """Tags (with their classes), the text, and the rows of each table's body."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.classes: list[str] = []
        self.text: list[str] = []
        self.body_rows: list[list[str]] = []  # per table: the text of each <tbody> row
        self._in_body = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.classes += (dict(attrs).get("class") or "").split()
        if tag == "tbody":
            self._in_body = True
            self.body_rows.append([])
        elif tag == "tr" and self._in_body:
            self.body_rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_body and self.body_rows[-1]:
            self.body_rows[-1][-1] += data


def test_run_table_html_escapes_names(ledger: Any) -> None:
    page = Parsed(ledger.runs()._repr_html_())
    assert len(page.body_rows[0]) == 6  # one row per run
    assert "script" not in page.tags and EVIL in "".join(page.text)  # the name is text, not markup
    assert {"status-lost", "status-finished", "status-running"} <= set(page.classes)
    assert "<script>" not in ledger.runs()._repr_html_().replace("<style>", "")


def test_comparison_html_has_deltas_verdicts_and_a_curve_per_metric(ledger: Any) -> None:
    result = ledger.compare(["base", "b", ledger.runs(name="<script>*")[0], "d"], gates=["deploy", "floor"])
    page = Parsed(result._repr_html_())
    assert [len(rows) for rows in page.body_rows] == [4]
    assert page.body_rows[0][0].startswith("■ base")
    assert EVIL in page.body_rows[0][2] and "script" not in page.tags
    assert {"tier-PASS", "tier-FAIL", "delta", "better"} <= set(page.classes)
    assert page.tags.count("svg") == len(result.comparison.metrics) == 2
    # a line per run and metric with two finite points or more; d's val_acc has one (then NaN): a dot
    assert page.tags.count("polyline") == 6 and page.tags.count("circle") == 1


def test_run_html_and_verdict_html(ledger: Any, project: tuple[Path, dict[str, str]]) -> None:
    from gatebook import Ledger

    run = ledger.run("b")
    page = Parsed(run._repr_html_())
    assert page.tags.count("svg") == len(run.metrics) == 2
    assert "0.8" in page.text and "lr" in page.text
    verdict = Parsed(ledger.gate("base", gates=["floor"])._repr_html_())
    assert "tier-FAIL" in verdict.classes and "val_acc >= 0.75" in verdict.text
    series = Parsed(ledger.series("b", "val_acc")._repr_html_())
    assert series.tags.count("svg") == 1 and series.tags.count("polyline") == 1
    with Ledger(project_dir=project[0]) as other:  # once closed, the HTML has no curves, and no error
        shown = other.run("b")
    assert "svg" not in Parsed(shown._repr_html_()).tags


# -- opening ---------------------------------------------------------------------------------------


def test_a_ledger_opens_like_the_cli_and_closes(project: tuple[Path, dict[str, str]], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from gatebook import Ledger
    from gatebook.errors import StoreError
    from gatebook.store import open_store

    root = project[0]
    monkeypatch.chdir(root)
    with Ledger() as found:
        assert len(found.runs()) == 6 and found.project_config.metrics.primary == ["val_acc"]
    assert found.closed and "closed" in repr(found)
    with pytest.raises(StoreError, match="closed"):
        found.runs()
    url = f"sqlite:///{root}/.gatebook/ledger.db"
    with Ledger(url) as by_url:
        assert len(by_url.runs(last=1)) == 1
    store = open_store(url)
    Ledger(store).close()  # a store passed in open stays open
    assert store.count_runs() == 6
    store.close()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match="no gatebook ledger here"):
        Ledger()
    with pytest.raises(StoreError, match="no ledger at"):
        Ledger(str(tmp_path / "missing.db"))
    monkeypatch.setenv("GATEBOOK_STORE", url)
    with Ledger() as from_env:
        assert len(from_env.runs()) == 6
