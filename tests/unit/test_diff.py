"""`diff_runs` on a real SQLite ledger (and a real git repository for the commits)."""

from __future__ import annotations

import math
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from gatebook.analysis.diff import compare_metric, diff_packages, diff_params, diff_runs
from gatebook.capture.recorder import make_record
from gatebook.project_config import ProjectConfig
from gatebook.store.base import ArtifactRow, WriteBatch


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    from gatebook.store import open_store

    st = open_store(f"sqlite:///{tmp_path}/ledger.db")
    yield st
    st.close()


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@x.invalid",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@x.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def _run(store: Any, name: str, *, params: dict[str, dict[str, Any]] | None = None,
         metrics: dict[str, list[float]] | None = None, provenance: dict[str, Any] | None = None,
         patch: bytes | None = None) -> Any:
    rec = make_record(name=name, parent_id=None, tags=(), group=None, command=["python", "x.py"], cwd="/tmp",
                      source="wrapper", created_at=time.time())
    store.create_run(rec)
    batch = WriteBatch()
    for source, values in (params or {}).items():
        batch.params.append((rec.id, source, values))
    for key, values in (metrics or {}).items():
        batch.metrics.extend((rec.id, key, i, v, time.time()) for i, v in enumerate(values, 1))
    if patch is not None:
        batch.artifacts.append(ArtifactRow(rec.id, "git.patch", "patch", len(patch), str(hash(patch)), time.time(),
                                           patch))
    store.write(batch)
    if provenance:
        store.update_run(rec.id, provenance=provenance)
    return store.get_run(rec.id)


def test_diff_params_added_removed_changed() -> None:
    got = diff_params({"lr": 0.1, "epochs": 3, "opt.name": "adam", "flag": True},
                      {"lr": 0.2, "epochs": 3.0, "opt.name": "adam", "seed": 7, "flag": 1})
    assert got == {"added": {"seed": 7}, "removed": {}, "changed": {"lr": {"a": 0.1, "b": 0.2},
                                                                    "flag": {"a": True, "b": 1}}}


def test_diff_packages() -> None:
    got = diff_packages({"numpy": "1.26.4", "torch": "2.3.0", "jax": "0.4"},
                        {"numpy": "2.0.0", "torch": "2.3.0", "scipy": "1.14"})
    assert got == {"added": {"scipy": "1.14"}, "removed": {"jax": "0.4"},
                   "changed": {"numpy": {"a": "1.26.4", "b": "2.0.0"}}}


def test_compare_metric_directions() -> None:
    assert compare_metric("acc", 0.5, 0.7, "higher")["change"] == "better"
    assert compare_metric("loss", 0.5, 0.7, "lower")["change"] == "worse"
    assert compare_metric("x", 0.5, 0.7, None)["change"] is None
    assert compare_metric("x", 0.5, 0.5, None)["change"] == "same"
    row = compare_metric("loss", 1.0, math.nan, "lower")
    assert row["change"] is None and math.isnan(row["delta"])
    assert compare_metric("loss", 2.0, 1.5, "lower") == {"key": "loss", "a": 2.0, "b": 1.5, "delta": -0.5,
                                                         "direction": "lower", "change": "better"}


def test_diff_runs_params_env_metrics(store: Any) -> None:
    prov_a = {"python": {"version": "3.11.7"}, "packages": {"numpy": "1.26.4", "jax": "0.4"}}
    prov_b = {"python": {"version": "3.12.1"}, "packages": {"numpy": "2.0.0", "torch": "2.3.0"}}
    a = _run(store, "a", params={"argv": {"lr": 0.1, "dropout": 0.1}, "api": {"model.depth": 4}},
             metrics={"val_acc": [0.5, 0.6], "loss": [1.0, 0.8], "old_key": [1.0]}, provenance=prov_a)
    b = _run(store, "b", params={"argv": {"lr": 0.2}, "api": {"model.depth": 4, "warmup": 100}},
             metrics={"val_acc": [0.7], "loss": [0.7], "new_key": [2.0]}, provenance=prov_b)
    pconf = ProjectConfig.model_validate({"metrics": {"higher_is_better": ["val_*"], "lower_is_better": ["loss"],
                                                      "primary": ["val_acc"]}})
    diff = diff_runs(store, a, b, pconf)
    doc = diff.to_dict()
    assert doc["a"]["name"] == "a" and doc["b"]["id"] == b.id
    assert doc["params"] == {"added": {"warmup": 100}, "removed": {"dropout": 0.1},
                             "changed": {"lr": {"a": 0.1, "b": 0.2}}}
    assert doc["env"]["python"] == {"a": "3.11.7", "b": "3.12.1", "changed": True}
    assert doc["env"]["packages"]["changed"] == {"numpy": {"a": "1.26.4", "b": "2.0.0"}}
    assert doc["env"]["packages"]["added"] == {"torch": "2.3.0"}
    assert doc["env"]["packages"]["removed"] == {"jax": "0.4"}
    assert doc["metric_keys"] == {"only_a": ["old_key"], "only_b": ["new_key"]}
    assert [m["key"] for m in doc["metrics"]] == ["val_acc", "loss"]  # primary first
    acc, loss = doc["metrics"]
    assert acc["a"] == 0.6 and acc["b"] == 0.7 and acc["change"] == "better" and acc["primary"] is True
    assert loss["change"] == "better" and loss["direction"] == "lower"
    assert doc["code"]["a_commit"] is None and doc["code"]["repo_available"] is False
    assert not diff.code_differs
    assert doc["summary"] == ("params 1 changed, 1 added, 1 removed; python 3.11.7 -> 3.12.1; 3 packages differ; "
                              "metric keys: 1 only in A, 1 only in B; "
                              "2 shared metrics (2 differ: 2 better, 0 worse in B)")


def test_identical_runs(store: Any) -> None:
    a = _run(store, "a", params={"argv": {"lr": 0.1}}, metrics={"acc": [0.5]})
    b = _run(store, "b", params={"argv": {"lr": 0.1}}, metrics={"acc": [0.5]})
    diff = diff_runs(store, a, b, None)
    assert not (diff.params_differ or diff.code_differs or diff.env_differs or diff.metric_keys_differ)
    assert diff.summary == "1 shared metric, all equal"
    assert diff.metrics[0]["direction"] is None and diff.metrics[0]["change"] == "same"
    c = _run(store, "c")
    d = _run(store, "d")
    assert diff_runs(store, c, d).summary == "no differences in params, code, environment or metrics"


def test_diff_runs_commits_files_and_patches(store: Any, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print(1)\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "first")
    c1 = _git(repo, "rev-parse", "HEAD")
    (repo / "model.py").write_text("x = 1\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "add the model")
    (repo / "train.py").write_text("print(2)\n")
    _git(repo, "commit", "-qam", "train prints 2")
    c3 = _git(repo, "rev-parse", "HEAD")
    git_a = {"commit": c1, "root": str(repo), "dirty": False, "dirty_files": []}
    git_b = {"commit": c3, "root": str(repo), "dirty": True, "dirty_files": ["notes.txt"]}
    a = _run(store, "a", provenance={"git": git_a})
    b = _run(store, "b", provenance={"git": git_b}, patch=b"diff --git a/notes.txt b/notes.txt\n")
    diff = diff_runs(store, a, b, None, with_patches=True)
    code = diff.to_dict()["code"]
    assert code["repo_available"] is True and code["repo"] == str(repo)
    assert code["only_in_b"]["count"] == 2 and code["only_in_a"]["count"] == 0
    assert [e["subject"] for e in code["only_in_b"]["log"]] == ["train prints 2", "add the model"]
    assert code["files_changed"] == ["model.py", "train.py"]
    assert code["b_dirty_files"] == ["notes.txt"] and code["b_patch"] is True and code["a_patch"] is False
    assert code["patches"] == {"a": None, "b": "diff --git a/notes.txt b/notes.txt\n"}
    assert "2 commits in B (2 files); dirty: B" in diff.summary
    # the other way round: B is behind
    back = diff_runs(store, b, a, None).to_dict()["code"]
    assert back["only_in_a"]["count"] == 2 and back["only_in_b"]["count"] == 0
    assert "patches" not in back


def test_diff_runs_without_the_repository(store: Any, tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    a = _run(store, "a", provenance={"git": {"commit": "a" * 40, "root": str(gone)}})
    b = _run(store, "b", provenance={"git": {"commit": "b" * 40, "root": str(gone)}})
    diff = diff_runs(store, a, b, None)
    code = diff.code
    assert code["repo_available"] is False and code["only_in_b"]["count"] is None and code["files_changed"] is None
    assert diff.code_differs and "different commits" in diff.summary
