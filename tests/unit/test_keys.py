"""Metric-key contracts: the pure checking logic and the keys: config section."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatebook.analysis.keys import check_like, check_required, emitted_keys, is_glob, matches, run_keys
from gatebook.errors import ConfigError

KEYS = ["epoch", "loss", "rollout/len", "rollout/reward", "time/step", "val_acc"]


def test_exact_keys_and_globs() -> None:
    report = check_required(KEYS, ["loss", "rollout/*", "eval/*", "time/step", "val_f1"])
    assert report.mode == "required"
    assert [(r.pattern, r.glob, r.matched) for r in report.requirements] == [
        ("loss", False, ("loss",)),
        ("rollout/*", True, ("rollout/len", "rollout/reward")),
        ("eval/*", True, ()),
        ("time/step", False, ("time/step",)),
        ("val_f1", False, ()),
    ]
    assert report.missing == ("eval/*", "val_f1")
    assert not report.ok
    assert report.extra == ()


def test_all_present_is_ok_and_duplicates_are_checked_once() -> None:
    report = check_required(KEYS, ["val_*", "val_*", "?oss", "[lt]*"])
    assert report.ok and report.missing == ()
    assert [r.pattern for r in report.requirements] == ["val_*", "?oss", "[lt]*"]
    assert report.requirements[2].matched == ("loss", "time/step")


def test_globs_are_case_sensitive_and_star_crosses_slashes() -> None:
    assert matches("*", "a/b/c")
    assert matches("rollout/*", "rollout/a/b")
    assert not matches("Loss", "loss")
    assert not matches("LOSS*", "loss")
    assert not is_glob("r@5") and not is_glob("time/step")
    assert is_glob("r@[15]") and matches("r@[15]", "r@5")


def test_a_key_with_glob_characters_matches_itself() -> None:
    assert matches("acc[0]", "acc[0]")
    report = check_required(["acc[0]"], ["acc[0]"])
    assert report.ok


def test_no_keys_at_all() -> None:
    report = check_required([], ["loss", "*"])
    assert report.missing == ("loss", "*")
    assert check_required([], []).ok  # an empty contract is satisfied (the CLI refuses it before)


def test_like_reports_missing_and_extra() -> None:
    report = check_like(["epoch", "loss", "new_metric"], ["epoch", "loss", "val_acc", "rollout/len"])
    assert report.mode == "like"
    assert report.missing == ("rollout/len", "val_acc")  # sorted
    assert report.extra == ("new_metric",)
    assert not report.ok
    same = check_like(["b", "a", "extra"], ["a", "b"])
    assert same.ok and same.extra == ("extra",)


def test_like_is_exact_even_for_keys_that_look_like_globs() -> None:
    report = check_like(["acc0"], ["acc[0]"])
    assert report.missing == ("acc[0]",)


def test_to_dict_schema() -> None:
    doc = check_required(KEYS, ["loss", "eval/*"]).to_dict()
    assert set(doc) == {"mode", "ok", "keys", "required", "missing", "extra"}
    assert doc["required"] == [
        {"key": "loss", "glob": False, "present": True, "matched": ["loss"]},
        {"key": "eval/*", "glob": True, "present": False, "matched": []},
    ]
    assert doc["keys"] == KEYS and doc["missing"] == ["eval/*"] and doc["extra"] == []


def test_numeric_summary_values_count_as_keys() -> None:
    summary = {"best_acc": 0.9, "epochs": 3, "nan_value": float("nan"), "ok": True, "note": "x",
               "nested": {"a": 1}, "none": None}
    assert emitted_keys(["loss"], summary) == ["best_acc", "epochs", "loss", "nan_value"]


def test_run_keys_reads_metrics_and_summary(tmp_path: Path) -> None:
    import time

    from gatebook.records import RunRecord, RunStatus
    from gatebook.store import open_store

    with open_store(f"sqlite:///{tmp_path}/ledger.db") as store:
        run = RunRecord(id="6aaaaaaaaaa", name="r", status=RunStatus.FINISHED, created_at=time.time())
        store.create_run(run)
        store.log_metrics([(run.id, "loss", 1, 0.5, time.time()), (run.id, "rollout/len", None, 3.0, time.time())])
        store.set_summary(run.id, {"best": 0.7, "loss": 0.4, "label": "text"})
        assert run_keys(store, run.id) == ["best", "loss", "rollout/len"]


def test_keys_config_validation(tmp_path: Path) -> None:
    from gatebook.project_config import load_project_config

    (tmp_path / "gatebook.yaml").write_text('keys:\n  required: ["rollout/*", loss]\n')
    assert load_project_config(tmp_path).keys.required == ["rollout/*", "loss"]
    (tmp_path / "gatebook.yaml").write_text('keys:\n  required: [loss, " "]\n')
    with pytest.raises(ConfigError, match=r"gatebook.yaml:2: keys.required: entry 1 is empty"):
        load_project_config(tmp_path)
    (tmp_path / "gatebook.yaml").write_text('keys:\n  needed: [loss]\n')
    with pytest.raises(ConfigError, match="unknown field 'keys.needed'"):
        load_project_config(tmp_path)
