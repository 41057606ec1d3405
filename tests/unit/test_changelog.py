"""The change log's pure parts: param diffs, value and number formats, best-so-far marks,
status notes, cell escaping and the exact Markdown / JSON of a small ledger."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gatebook.analysis.changelog import (
    Change,
    ParentData,
    RunData,
    build,
    choose_metrics,
    compact_float,
    diff_params,
    format_param,
    status_notes,
)
from gatebook.records import MetricStats, RunRecord, RunStatus
from gatebook.render.changelog import number_formatter, render_markdown
from gatebook.render.markdown import cell, code
from gatebook.store.base import EventRow

T0 = 1_790_000_000.0  # 2026-09-21 (UTC)
DAY = 86400.0


def direction(key: str) -> str | None:
    if "loss" in key:
        return "lower"
    if key.startswith("val_"):
        return "higher"
    return None


def stats(last: float, lo: float | None = None, hi: float | None = None) -> MetricStats:
    return MetricStats(last=last, min=lo if lo is not None else last, max=hi if hi is not None else last,
                       last_step=3, count=3)


def rec(run_id: str, name: str | None, t: float, *, parent: str | None = None,
        status: RunStatus = RunStatus.FINISHED, reason: str | None = None, git: dict[str, Any] | None = None,
        gates: list[str] | None = None) -> RunRecord:
    prov: dict[str, Any] = {}
    if git is not None:
        prov["git"] = git
    if gates:
        prov["gatebook"] = {"gates": gates}
    return RunRecord(id=run_id, name=name, status=status, created_at=t, parent_id=parent, reason=reason,
                     provenance=prov)


# -- params ------------------------------------------------------------------------------------------


def test_diff_params_changed_added_removed_in_key_order() -> None:
    old = {"lr": 1e-3, "opt": "adam", "dropout": 0.1, "flag": 1, "same": [1, 2]}
    new = {"lr": 5e-4, "opt": "adam", "warmup": 100, "flag": True, "same": [1, 2]}
    changes = diff_params(old, new)
    assert [(c.kind, c.key) for c in changes] == [
        ("removed", "dropout"), ("changed", "flag"), ("changed", "lr"), ("added", "warmup")]
    assert [c.text for c in changes] == ["-dropout", "flag 1 → true", "lr 0.001 → 0.0005", "+warmup=100"]
    assert diff_params({"x": math.nan, "n": 2}, {"x": math.nan, "n": 2.0}) == []


@pytest.mark.parametrize("value, text", [
    (0.0005, "0.0005"), (1e-5, "1e-5"), (3e-4, "0.0003"), (1.23456789e8, "1.23457e8"), (2.0, "2"),
    (0.1 + 0.2, "0.3"), (True, "true"), (False, "false"), (None, "null"), (7, "7"), ("adam", "adam"),
    ("", '""'), ([1, 2], "[1,2]"), ({"b": 1, "a": [0.5]}, '{"a":[0.5],"b":1}'),
    (math.nan, "NaN"), (math.inf, "inf"), ("x" * 60, "x" * 39 + "…"),
])
def test_format_param(value: Any, text: str) -> None:
    assert format_param(value) == text


def test_change_json_keeps_full_values() -> None:
    change = Change("changed", "path", "a" * 50, "b")
    assert change.text.endswith("… → b") and "…" not in change.to_dict()["text"]
    assert change.to_dict() == {"kind": "changed", "key": "path", "from": "a" * 50, "to": "b",
                                "text": "path " + "a" * 50 + " → b"}
    assert compact_float(-2.5e-7) == "-2.5e-7"


# -- numbers ------------------------------------------------------------------------------------------


def test_number_formatter_one_format_per_column() -> None:
    fmt = number_formatter([0.243, 0.3, 0.30812, None])
    assert [fmt(v) for v in (0.243, 0.3, 0.30812)] == ["0.2430", "0.3000", "0.3081"]
    fmt = number_formatter([0.2, 1.5, 1.8])  # no more decimals than needed
    assert [fmt(v) for v in (0.2, 1.5, 1.8)] == ["0.2", "1.5", "1.8"]
    fmt = number_formatter([2.345678, 0.0123])  # 4 significant digits for the smallest value
    assert [fmt(v) for v in (2.345678, 0.0123)] == ["2.34568", "0.01230"]
    fmt = number_formatter([3.0, 12.0, math.nan])
    assert [fmt(v) for v in (3.0, 12.0, math.nan, math.inf)] == ["3", "12", "NaN", "inf"]
    fmt = number_formatter([1.5e7, 2.25e-3])
    assert [fmt(v) for v in (1.5e7, 2.25e-3)] == ["1.5e7", "0.00225"]
    fmt = number_formatter([1e-9, 0.5])
    assert fmt(1e-9) == "1e-9"
    assert number_formatter([0.5, -0.00001, 0.25])(-0.0) == "0"
    fmt = number_formatter([0.5, -0.001])
    assert (fmt(-0.001), fmt(-1e-9)) == ("-0.001", "0.000")
    assert number_formatter([math.nan])(math.nan) == "NaN"
    assert number_formatter([0.0, 0.0])(0.0) == "0"


# -- cells ---------------------------------------------------------------------------------------------


def test_cells_escape_pipes_and_line_breaks() -> None:
    assert cell("a | b\nc\r\nd  ") == "a \\| b<br>c<br>d"
    assert code("train.py") == "`train.py`"
    assert code("we`ird|name") == "``we`ird\\|name``"
    assert code("`x") == "`` `x ``"


# -- status notes --------------------------------------------------------------------------------------


def test_status_notes() -> None:
    stop = EventRow("r", T0, "stop", 2, {"reason": "gate epoch2: val_cosine 0.22 < 0.50 at epoch 2",
                                          "by": "gate epoch2", "gate": "epoch2"})
    verdict = EventRow("r", T0, "verdict", None, {"verdict": "FAIL", "gates": {"epoch2": "FAIL", "val": "PASS"}})
    stopped = rec("r", "x", T0, status=RunStatus.STOPPED, reason=stop.data["reason"])  # type: ignore[index]
    assert status_notes(stopped, [stop, verdict]) == [
        "stopped by gate epoch2: val_cosine 0.22 < 0.50 at epoch 2", "gates: epoch2 FAIL, val PASS"]
    by_user = EventRow("r", T0, "stop", None, {"reason": "loss exploded", "by": "me@gpu-3"})
    assert status_notes(stopped, [by_user]) == ["stopped by me@gpu-3: loss exploded"]
    default = EventRow("r", T0, "stop", None, {"reason": "stopped by me@gpu-3", "by": "me@gpu-3"})
    assert status_notes(stopped, [default]) == ["stopped by me@gpu-3"]
    assert status_notes(rec("r", "x", T0, status=RunStatus.STOPPED, reason="why"), []) == ["stopped: why"]
    assert status_notes(rec("r", "x", T0, status=RunStatus.FAILED, reason="exit code 1"), []) == [
        "failed: exit code 1"]
    assert status_notes(rec("r", "x", T0, status=RunStatus.RUNNING), []) == ["running"]
    assert status_notes(rec("r", "x", T0), [verdict]) == ["gates: epoch2 FAIL, val PASS"]
    assert status_notes(rec("r", "x", T0), []) == []


def test_choose_metrics_most_common_known_direction_first() -> None:
    per_run = [{"epoch": 1, "loss": 1, "val_acc": 1, "lr": 1, "aux": 1},
               {"epoch": 1, "loss": 1, "val_acc": 1, "lr": 1},
               {"epoch": 1, "zeta": 1, "lr": 1}]
    assert choose_metrics(per_run, direction) == ["lr", "loss", "val_acc"]
    assert choose_metrics(per_run, direction, count=5) == ["lr", "loss", "val_acc", "aux", "zeta"]


# -- a whole change log ------------------------------------------------------------------------------


def small_log(**kwargs: Any) -> Any:
    clean = {"commit": "c1", "dirty": False, "dirty_files": [], "files_changed": []}
    runs = [
        # given out of order: rows come oldest first
        RunData(rec("r3", "dropout", T0 + 2 * DAY, parent="r2", status=RunStatus.FAILED, reason="exit code 1",
                    git={"commit": "c2", "dirty_files": ["model.py"], "files_changed": ["model.py", "train.py"]}),
                params_by_source={"argv": {"lr": 5e-4, "dropout": 0.2}},
                stats={"val_acc": stats(math.nan), "loss": stats(0.5)}),
        RunData(rec("r1", "base", T0, git=clean), params_by_source={"argv": {"lr": 1e-3}, "api": {"epochs": 3}},
                notes=["first try"], stats={"val_acc": stats(0.30812, 0.1, 0.31), "loss": stats(0.9)}),
        RunData(rec("r2", "lr | half", T0 + DAY, parent="r1",
                    git={"commit": "c2", "dirty_files": [], "files_changed": ["train.py"]}),
                params_by_source={"argv": {"lr": 5e-4}, "api": {"epochs": 3}},
                notes=["loss spikes\nat epoch 3"], stats={"val_acc": stats(0.243), "loss": stats(0.4)}),
        RunData(rec("r4", None, T0 + 3 * DAY, parent="r1", status=RunStatus.STOPPED,
                    reason="gate epoch2: val_acc 0.2 < 0.50 at epoch 2", gates=["epoch2"]),
                params_by_source={"argv": {"lr": 1e-3}, "api": {"epochs": 3}},
                events=[EventRow("r4", T0, "stop", 2, {"reason": "gate epoch2: val_acc 0.2 < 0.50 at epoch 2",
                                                        "by": "gate epoch2", "gate": "epoch2"}),
                        EventRow("r4", T0, "verdict", None, {"verdict": "FAIL", "gates": {"epoch2": "FAIL"}})],
                stats={"val_acc": stats(0.3), "loss": stats(0.4)}),
        RunData(rec("r5", "orphan", T0 + 4 * DAY, parent="gone"), stats={"loss": stats(0.45)}),
        RunData(rec("r6", "outsider", T0 + 5 * DAY, parent="p0"), params_by_source={"config": {"lr": 0.1}},
                summary={"val_acc": 0.5}),
    ]
    parents = {"p0": ParentData("p0", "old", {"config": {"lr": 0.2, "bs": 8}})}
    return build(runs, metrics=["val_acc", "loss", "epoch"], direction_of=direction, parents=parents, **kwargs)


EXPECTED = """\
| Date & Run | Key changes | Files touched | val_acc ↑ | loss ↓ | epoch | Notes |
| --- | --- | --- | ---: | ---: | ---: | --- |
| 2026-09-21 – base (r1) | no parent: lr=0.001<br>first try | – | **0.3081** | **0.90** | – |  |
| 2026-09-22 – lr \\| half (r2) | lr 0.001 → 0.0005<br>loss spikes<br>at epoch 3 | `train.py` | 0.2430 | **0.40** | – |  |
| 2026-09-23 – dropout (r3) | +dropout=0.2 | `model.py`\\*, `train.py` | NaN | 0.50 | – | failed: exit code 1 |
| 2026-09-24 – r4 | vs base (r1): same params | – | 0.3000 | **0.40** | – | stopped by gate epoch2: val_acc 0.2 < 0.50 at epoch 2; gates: epoch2 FAIL |
| 2026-09-25 – orphan (r5) | parent gone not found | – | – | 0.45 | – |  |
| 2026-09-26 – outsider (r6) | vs old (p0): -bs, lr 0.2 → 0.1 | – | **0.5000** | – | – |  |

**bold**: best so far (↑ higher, ↓ lower is better) · metric values: last value of each run · `file`\\*: uncommitted changes
"""  # noqa: E501 (the expected Markdown table, verbatim)


def test_markdown_of_a_small_ledger_is_exact() -> None:
    log = small_log()
    assert render_markdown(log) == EXPECTED
    assert render_markdown(small_log()) == render_markdown(log)  # deterministic


def test_json_document() -> None:
    doc = small_log().to_dict()
    assert doc["metrics"] == ["val_acc", "loss", "epoch"]
    assert doc["directions"] == {"val_acc": "higher", "loss": "lower", "epoch": None}
    assert doc["stat"] == "last"
    assert [r["id"] for r in doc["runs"]] == ["r1", "r2", "r3", "r4", "r5", "r6"]
    first, second, third = doc["runs"][:3]
    assert set(first) == {"id", "name", "date", "created_at", "status", "parent", "changes", "run_notes", "files",
                          "metrics", "notes"}
    assert first["date"] == "2026-09-21" and first["created_at"].endswith("Z")
    assert first["parent"] is None
    assert first["changes"] == [{"kind": "param", "key": "lr", "from": None, "to": 0.001, "text": "lr=0.001"}]
    assert first["run_notes"] == ["first try"]
    assert first["metrics"]["val_acc"] == {"value": 0.30812, "best_so_far": True}
    assert first["metrics"]["epoch"] == {"value": None, "best_so_far": False}
    assert second["parent"] == {"id": "r1", "name": "base"}
    assert second["metrics"]["val_acc"]["best_so_far"] is False
    assert third["files"] == [{"path": "model.py", "dirty": True}, {"path": "train.py", "dirty": False}]
    assert math.isnan(third["metrics"]["val_acc"]["value"]) and not third["metrics"]["val_acc"]["best_so_far"]
    assert third["notes"] == ["failed: exit code 1"]
    assert doc["runs"][4]["parent"] == {"id": "gone", "name": None}


def test_best_stat_and_ties() -> None:
    log = small_log(stat="best")
    first = log.rows[0]
    assert first.metrics["val_acc"].value == 0.31  # the max: higher is better
    assert log.rows[1].metrics["loss"].value == 0.4
    assert log.rows[3].metrics["loss"].best_so_far  # a tie with the best so far is bold
    assert "best value of each run" in render_markdown(log)
    with pytest.raises(ValueError):
        small_log(stat="median")


def test_long_cells_are_capped() -> None:
    many = {f"k{i:02d}": i for i in range(20)}
    runs = [
        RunData(rec("a", "a", T0), params_by_source={"config": many},
                stats={"x": stats(1.0)}),
        RunData(rec("b", "b", T0 + 1, parent="a", git={"commit": "c", "dirty_files": [],
                                                      "files_changed": [f"f{i:02d}.py" for i in range(13)]}),
                params_by_source={"config": {k: v + 1 for k, v in many.items()}}),
    ]
    md = render_markdown(build(runs, metrics=[], direction_of=direction))
    row_a, row_b = md.splitlines()[2:4]
    assert "no parent: k00=0, k01=1" in row_a and "k07=7, … +12 more" in row_a and "k08" not in row_a
    assert "k11 11 → 12, … +8 more" in row_b and "k12" not in row_b
    assert "`f09.py`, … +3 more" in row_b
    assert md.splitlines()[0] == "| Date & Run | Key changes | Files touched | Notes |"
    assert "**bold**" not in md  # no metric column, no bold legend


# -- reading a real store ------------------------------------------------------------------------------


def _fill(store: Any) -> dict[str, str]:
    from gatebook.store.base import WriteBatch

    ids = {}
    for i, name in enumerate(["old", "base", "child", "other"]):
        ids[name] = f"run{i:08d}"
    specs = [("old", None, {"lr": 0.5}), ("base", None, {"lr": 0.1}), ("child", "base", {"lr": 0.2}),
             ("other", "old", {"lr": 0.3})]
    for i, (name, parent, params) in enumerate(specs):
        store.create_run(RunRecord(id=ids[name], name=name, status=RunStatus.FINISHED, created_at=T0 + i,
                                   parent_id=ids[parent] if parent else None,
                                   provenance={"git": {"commit": "c", "dirty_files": [], "files_changed": []}}))
        batch = WriteBatch(params=[(ids[name], "argv", params)],
                           metrics=[(ids[name], "val_acc", 1, 0.1 * (i + 1), T0 + i)])
        if name == "child":
            batch.notes.append((ids[name], T0 + 5, "looks good"))
            batch.summary.append((ids[name], {"test_acc": 0.9}))
        store.write(batch)
    return ids


def test_load_from_a_real_store(tmp_path: Any) -> None:
    from gatebook.analysis.changelog import load
    from gatebook.errors import UsageError
    from gatebook.store import open_store

    with open_store(f"sqlite:///{tmp_path}/ledger.db") as store:
        ids = _fill(store)
        runs = [store.get_run(ids[n]) for n in ("other", "child", "base")]  # "old" is outside
        log = load(store, runs, metrics=["val_acc", "test_acc"], primary=[], direction_of=direction)
        assert [r.name for r in log.rows] == ["base", "child", "other"]
        base, child, other = log.rows
        assert [c.text for c in child.changes] == ["lr 0.1 → 0.2"] and child.parent_above
        assert child.run_notes == ["looks good"]
        assert child.metrics["test_acc"].value == 0.9  # from the summary: no such metric
        assert other.parent_name == "old" and [c.text for c in other.changes] == ["lr 0.5 → 0.3"]
        assert "vs old (run00000000): lr 0.5 → 0.3" in render_markdown(log)
        assert load(store, runs, metrics=[], primary=["test_acc"], direction_of=direction).metrics == ["test_acc"]
        assert load(store, runs, metrics=[], primary=[], direction_of=direction).metrics == ["val_acc"]
        with pytest.raises(UsageError, match="val_ac.*did you mean val_acc"):
            load(store, runs, metrics=["val_ac"], primary=[], direction_of=direction)


def test_params_are_compared_over_the_sources_both_runs_recorded() -> None:
    # the parent reported its whole config through the API; the child only printed metric
    # lines, so it has command-line params alone: its parent's API params are not "removed"
    parent = RunData(rec("p", "base", T0), params_by_source={"argv": {"lr": 0.1, "log": "api"},
                                                             "api": {"lr": 0.1, "hidden": 64, "epochs": 8}})
    child = RunData(rec("c", "stdout", T0 + 1, parent="p"), params_by_source={"argv": {"lr": 0.5, "log": "stdout"}})
    log = build([parent, child], metrics=[], direction_of=direction)
    assert [c.text for c in log.rows[1].changes] == ["log api → stdout", "lr 0.1 → 0.5"]
