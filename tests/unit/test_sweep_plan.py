"""gatebook.sweep.plan and template: the command's placeholders, trial names, resume, the sweep's runs
in the ledger (lost ones marked), and the progress line the runner's data renders to."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from gatebook.errors import NotFoundError, UsageError
from gatebook.placeholders import Slot
from gatebook.placeholders import parse as parse_token
from gatebook.records import RunRecord, RunStatus
from gatebook.sweep.plan import (
    Trial,
    TrialState,
    _gpu_share,
    attempts_by_trial,
    expand_trials,
    fingerprint_of,
    latest_by_trial,
    resume,
    sweep_runs,
    sweep_trials,
    trial_names,
    trial_tag,
)
from gatebook.sweep.space import SweepProblem
from gatebook.sweep.template import fill, placeholders, split_command, token_doc

# -- the command template -------------------------------------------------------------------------


def test_tokens_keep_quoted_words_and_literal_braces() -> None:
    tokens = split_command('python t.py --lr={lr} "run {name}" {{x}}')
    assert tokens[2] == ["--lr=", Slot("lr")]
    assert tokens[3] == ["run ", Slot("name")]
    assert tokens[4] == ["{x}"]
    assert placeholders(tokens) == ["lr", "name"]
    assert fill(tokens, {"lr": "0.1", "name": "a"}) == ["python", "t.py", "--lr=0.1", "run a", "{x}"]


@pytest.mark.parametrize(("command", "loc", "message"), [
    ("python 'unclosed", ("command",), "cannot split"),
    ("   ", ("command",), "empty command"),
    (["python", "{bad key}"], ("command", 1), "bad placeholder"),
    ("python }", ("command",), "unmatched"),
])
def test_template_errors_name_the_word(command: Any, loc: tuple[Any, ...], message: str) -> None:
    with pytest.raises(SweepProblem, match=message) as info:
        split_command(command)
    assert info.value.loc == loc


def test_token_doc_is_the_data_a_fingerprint_hashes() -> None:
    """Resume finds earlier runs by fingerprint: the template's data must not change shape."""
    tokens = split_command('python t.py --lr={lr} "run {name}" {{x}} {a}{b} ""')
    assert token_doc(tokens) == [["python"], ["t.py"], ["--lr=", {"slot": "lr"}], ["run ", {"slot": "name"}], ["{x}"],
                                 [{"slot": "a"}, {"slot": "b"}], [""]]


def test_parse_token_without_slots() -> None:
    assert parse_token("") == [""]
    assert parse_token("plain") == ["plain"]


# -- trials and names -----------------------------------------------------------------------------


def test_names_use_the_params_that_vary() -> None:
    sets: list[tuple[str | None, dict[str, Any]]] = [(None, {"lr": 0.1, "bs": 8}), (None, {"lr": 0.2, "bs": 8})]
    assert trial_names(sets) == ["lr-0.1", "lr-0.2"]
    assert trial_names([(None, {"lr": 0.1, "bs": 8})]) == ["lr-0.1_bs-8"]  # nothing varies: all of them


def test_names_exact_where_compact_ones_collide_then_suffixed() -> None:
    assert trial_names([(None, {"lr": 0.123451}), (None, {"lr": 0.123452})]) == ["lr-0.123451", "lr-0.123452"]
    names = trial_names([("lr-1", {"lr": 2}), (None, {"lr": 1})])
    assert names == ["lr-1", "lr-1-1"]
    assert len({n.lower() for n in trial_names([(None, {"k": "A"}), (None, {"k": "a"})])}) == 2


def test_two_variants_with_one_name() -> None:
    with pytest.raises(SweepProblem, match="two variants are named 'x'") as info:
        trial_names([("x", {"a": 1}), ("X", {"a": 2})])
    assert info.value.loc == ("list", 1, "name")


def test_expand_trials() -> None:
    sets: list[tuple[str | None, dict[str, Any]]] = [(None, {"lr": 0.1}), (None, {"lr": 0.2})]
    trials = expand_trials(sets, "grid", lambda p, n: ["run", n], lambda p: {"opt.lr": p["lr"]})
    assert trials[1] == Trial(1, "lr-0.2", {"lr": 0.2}, ["run", "lr-0.2"], {"opt.lr": 0.2})
    with pytest.raises(SweepProblem, match="same params as list item 0") as info:
        expand_trials([(None, {"a": 1}), ("b", {"a": 1})], "list", lambda p, n: [], lambda p: {})
    assert info.value.loc == ("list", 1)


# -- resume ---------------------------------------------------------------------------------------


def run(id: str, status: str, created: float = 1.0, fp: str | None = "fp", **kw: Any) -> RunRecord:
    tags = ("sweep", trial_tag(fp)) if fp else ("sweep",)
    return RunRecord(id=id, name=id, status=RunStatus(status), created_at=created, tags=tags, **kw)


@pytest.mark.parametrize(("status", "retry", "skipped"), [
    ("finished", False, True), ("stopped", False, True), ("running", False, True),
    ("failed", False, True), ("failed", True, False), ("interrupted", False, False), ("lost", False, False),
])
def test_resume(status: str, retry: bool, skipped: bool) -> None:
    state = TrialState(trial=Trial(0, "t", {}, ["x"]), fingerprint="fp")
    resume(state, run("r1", status, exit_code=3, reason="why"), retry_failed=retry)
    assert state.skipped is skipped
    assert (state.status, state.run_id) == ((status, "r1") if skipped else ("pending", None))
    resume(state, None, retry_failed=retry)  # no earlier run: nothing changes
    assert state.skipped is skipped


def test_latest_run_and_attempts_by_fingerprint() -> None:
    runs = [run("b", "failed", 2.0), run("a", "interrupted", 1.0), run("c", "finished", 3.0, fp="other"),
            run("d", "finished", 4.0, fp=None)]
    assert fingerprint_of(runs[0]) == "fp" and fingerprint_of(runs[3]) is None
    assert {fp: r.id for fp, r in latest_by_trial(runs).items()} == {"fp": "b", "other": "c"}
    assert attempts_by_trial(runs) == {"fp": 2, "other": 1, "": 1}


class FakeStore:
    def __init__(self, runs: list[RunRecord]) -> None:
        self.runs = runs
        self.lost: list[str] = []

    def list_runs(self, query: Any, full: bool = False) -> list[RunRecord]:
        assert (query.group, tuple(query.tags)) == ("lr", ("sweep",))
        return list(self.runs)

    def set_status(self, run_id: str, status: RunStatus, **kw: Any) -> bool:
        self.lost.append(run_id)
        return True


def test_sweep_runs_marks_lost_runs() -> None:
    import socket

    gone = run("r1", "running", time.time(), host=socket.gethostname(), pid=2 ** 22 + 12345, pid_start=1.0)
    store = FakeStore([gone, run("r2", "finished", fp="other")])
    runs = sweep_runs(store, "lr")
    assert [r.status.value for r in runs] == ["lost", "finished"]
    assert store.lost == ["r1"]
    trials, attempts = sweep_trials(store, "lr")
    assert [r.id for r in trials] == ["r2", "r1"] and attempts == {"fp": 1, "other": 1}


def test_sweep_trials_of_an_unknown_sweep() -> None:
    with pytest.raises(NotFoundError, match="no sweep 'lr' in the ledger"):
        sweep_trials(FakeStore([]), "lr")


# -- GPUs -----------------------------------------------------------------------------------------


class _Spec:
    def __init__(self, gpus: list[int] | None, per_trial: float) -> None:
        self.gpus = gpus
        self.resources = type("R", (), {"gpus": per_trial})()


def test_gpu_share() -> None:
    path = Path("sweep.yaml")
    assert _gpu_share(_Spec(None, 0), path, None, 3) == (None, 1, 3)
    assert _gpu_share(_Spec([0, 1, 2, 3], 2), path, None, 4) == ([0, 1, 2, 3], 2, 2)
    assert _gpu_share(_Spec([0, 1], 0), path, [3], 4) == ([3], 1, 1)  # --gpus wins over the file
    with pytest.raises(UsageError, match="whole"):
        _gpu_share(_Spec([0, 1], 0.5), path, None, 2)
    with pytest.raises(UsageError, match="resources.gpus 3 but --gpus gives 2"):
        _gpu_share(_Spec([0, 1], 3), path, None, 2)


# -- the progress line ----------------------------------------------------------------------------


def test_progress_renders_with_the_palette() -> None:
    from gatebook.render.styles import status_style
    from gatebook.render.sweep import progress_text
    from gatebook.sweep.executor import Progress

    text = progress_text(Progress(sweep="tty", total=4, counts={"finished": 3, "stopped": 1}, objective="acc",
                                  best=("lr-0.1", 0.9)))
    assert text.plain == ("sweep tty: 3 done / 0 running / 1 stopped / 0 failed / 0 pending (of 4)\n"
                          "best acc 0.9 (lr-0.1)")
    styles = {text.plain[s.start:s.end]: str(s.style) for s in text.spans}
    assert styles["3 done"] == status_style("finished")
    assert styles["1 stopped"] == status_style("stopped")


def test_sweep_show_of_runs_without_trials_says_so_and_never_crashes(tmp_path: Path) -> None:
    """A group tagged sweep whose runs carry no trial tag (made by hand): `sweep show` has nothing
    to rank; --json says ranking null and the text says so, both exit 0 (it was an internal error)."""
    from gatebook.ids import new_run_id
    from gatebook.store import open_store
    from tests.helpers import invoke, invoke_json

    (tmp_path / ".gatebook").mkdir()
    with open_store(f"sqlite:///{tmp_path}/.gatebook/ledger.db") as store:
        now = time.time()
        store.create_run(RunRecord(id=new_run_id(now), name="by-hand", status=RunStatus.FINISHED, created_at=now,
                                   group="hand", tags=("sweep",)))
    assert invoke_json("sweep", "show", "hand", cwd=tmp_path) == {"sweep": "hand", "ranking": None}
    text = invoke("sweep", "show", "hand", cwd=tmp_path)
    assert text.returncode == 0 and "no trial to rank yet" in text.stderr
