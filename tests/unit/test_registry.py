"""Aliases and gated promotion (gatebook.registry) on a real SQLite ledger: the name rule, the
promotion rules (PASS moves, MARGINAL needs the flag, FAIL never moves and is in the trail, the
first holder, forced, no-op, rollback, unfinished runs), a stale holder judged again, and the
``aliases:`` section of gatebook.yaml."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from gatebook.errors import ConfigError, NotFoundError, UsageError
from gatebook.gates.spec import GateSpec, MetricsConfig
from gatebook.ids import new_run_id
from gatebook.project_config import AliasConfig, ProjectConfig, load_project_config
from gatebook.records import RunRecord, RunStatus
from gatebook.registry.names import MAX_LENGTH, check_name, name_problem
from gatebook.registry.promote import NO_HOLDER, Promotion, promote, rollback
from gatebook.registry.trail import alias_log, list_aliases
from gatebook.store import open_store
from gatebook.store.base import Store

BY = "tester@host"
PROMOTION: dict[str, Any] = {"checks": ["acc >= 0.5", "acc >= baseline, marginal >= baseline - 0.05"],
             "playbook": {"fixes": [{"name": "lower lr", "set": {"lr": 0.01}}]}}


def pconf(aliases: dict[str, Any] | None = None) -> ProjectConfig:
    return ProjectConfig(metrics=MetricsConfig(higher_is_better=["acc"]),
                         gates={"promotion": GateSpec(**PROMOTION), "smoke": GateSpec(checks=["acc >= 0.1"])},
                         aliases={k: AliasConfig(**v) for k, v in (aliases or {}).items()})


CONF = pconf({"champion": {"gates": ["promotion"]}})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path}/ledger.db") as s:
        yield s


def make_run(store: Store, name: str, acc: float | None, status: RunStatus = RunStatus.FINISHED) -> str:
    now = time.time()
    run_id = store.create_run(RunRecord(id=new_run_id(now), name=name, status=status, created_at=now,
                                        ended_at=None if status is RunStatus.RUNNING else now))
    if acc is not None:
        store.set_summary(run_id, {"acc": acc})
    return run_id


def holder(store: Store, alias: str = "champion") -> str | None:
    found = store.get_alias(alias)
    return found.run_id if found else None


def up(store: Store, ref: str, **kw: Any) -> Promotion:
    return promote(store, kw.pop("conf", CONF), ref, kw.pop("alias", "champion"), by=BY, **kw)


# -- names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["champion", "ranker/prod", "v1.2_rc-3", "A", "0", "a/b/c", "x" * MAX_LENGTH])
def test_good_alias_names(name: str) -> None:
    assert name_problem(name) is None
    assert check_name("@" + name) == name  # a leading @ is the ref form, not part of the name


@pytest.mark.parametrize("name", ["", "/x", "x/", "a//b", "a b", "-x", ".x", "a/./b", "a/../b", "ü", "x@y",
                                  "x" * (MAX_LENGTH + 1), "@@x", "a:b"])
def test_bad_alias_names_state_the_allowed_form(name: str) -> None:
    with pytest.raises(UsageError) as err:
        check_name(name)
    assert "letters, digits" in str(err.value) and "'/'" in str(err.value)
    assert "\n" not in str(err.value)


def test_names_are_case_sensitive(store: Store) -> None:
    a, b = make_run(store, "a", 0.6), make_run(store, "b", 0.7)
    up(store, a, gates=["smoke"], alias="Champion")
    up(store, b, gates=["smoke"], alias="champion")
    assert (holder(store, "Champion"), holder(store, "champion")) == (a, b)


# -- the promotion rules -----------------------------------------------------------------------------


def test_an_empty_alias_takes_its_first_run_on_the_absolute_checks(store: Store) -> None:
    first = make_run(store, "first", 0.6)
    promo = up(store, "first")
    assert (promo.action, promo.moved, promo.exit_code, promo.holder) == ("moved", True, 0, None)
    assert holder(store) == first
    gate = promo.to_dict()["gates"][0]
    assert [c["check"] for c in gate["checks"]] == ["acc >= 0.5"]  # counted
    assert gate["not_judged"] == [{"check": "acc >= baseline, marginal >= baseline - 0.05", "reason": NO_HOLDER}]
    assert gate["baseline"] is None
    (event,) = store.alias_events("champion")
    assert (event.action, event.from_run, event.to_run, event.verdict, event.by) == ("moved", None, first, "PASS", BY)
    record = store.get_alias("champion")
    assert record is not None and (record.verdict, record.forced, record.by) == ("PASS", False, BY)


def test_the_first_holder_still_needs_the_absolute_checks(store: Store) -> None:
    make_run(store, "weak", 0.4)
    promo = up(store, "weak")
    assert (promo.action, promo.exit_code, promo.tier and promo.tier.value) == ("refused", 1, "FAIL")
    assert holder(store) is None
    (event,) = store.alias_events("champion")
    assert (event.action, event.from_run, event.verdict) == ("refused", None, "FAIL")


def test_pass_moves_against_the_holder_as_baseline(store: Store) -> None:
    a, b = make_run(store, "a", 0.6), make_run(store, "b", 0.7)
    up(store, "a")
    promo = up(store, "b")
    assert promo.action == "moved" and promo.holder is not None and promo.holder.id == a
    assert holder(store) == b
    doc = promo.to_dict()
    assert doc["from"] == {"id": a, "name": "a"} and doc["holder"] == {"id": b, "name": "b"}
    gate = doc["gates"][0]
    assert gate["baseline"] == {"id": a, "name": "a"} and gate["not_judged"] == []
    versus = next(c for c in gate["checks"] if "baseline" in c["check"])
    assert (versus["observed"], versus["threshold"], versus["tier"]) == (0.7, 0.6, "PASS")


def test_a_gates_own_baseline_is_overridden_by_the_holder(store: Store) -> None:
    make_run(store, "elsewhere", 0.95)  # would fail b if the gate's own baseline were used
    a, b = make_run(store, "a", 0.6), make_run(store, "b", 0.7)
    conf = ProjectConfig(metrics=MetricsConfig(higher_is_better=["acc"]),
                         gates={"promotion": GateSpec(checks=["acc >= baseline"], baseline="elsewhere")})
    up(store, a, conf=conf, gates=["promotion"])
    assert up(store, b, conf=conf, gates=["promotion"]).action == "moved"


def test_marginal_moves_only_with_allow_marginal(store: Store) -> None:
    make_run(store, "a", 0.6)
    close = make_run(store, "close", 0.57)
    up(store, "a")
    refused = up(store, "close")
    assert (refused.action, refused.tier and refused.tier.value, refused.exit_code) == ("refused", "MARGINAL", 1)
    moved = up(store, "close", allow_marginal=True)
    assert (moved.action, moved.tier and moved.tier.value) == ("moved", "MARGINAL")
    assert holder(store) == close
    record = store.get_alias("champion")
    assert record is not None and record.verdict == "MARGINAL"
    assert store.alias_events("champion")[-1].data["allow_marginal"] is True


def test_fail_never_moves_is_in_the_trail_with_observed_and_threshold_and_advice(store: Store) -> None:
    a = make_run(store, "a", 0.6)
    make_run(store, "doomed", 0.3)
    up(store, "a")
    promo = up(store, "doomed")
    assert (promo.action, promo.exit_code) == ("refused", 1)
    assert holder(store) == a
    assert [x.next_fix.name for x in promo.advice if x.next_fix] == ["lower lr"]
    event = store.alias_events("champion")[-1]
    assert (event.action, event.from_run, event.verdict, event.forced) == ("refused", a, "FAIL", False)
    checks = {c["check"]: c for c in event.data["gates"][0]["checks"]}
    assert checks["acc >= 0.5"]["observed"] == 0.3 and checks["acc >= 0.5"]["threshold"] == 0.5
    assert checks["acc >= 0.5"]["tier"] == "FAIL"
    # a metric the run never logged is an ERROR: never a move either
    make_run(store, "silent", None)
    silent = up(store, "silent")
    assert (silent.action, silent.tier and silent.tier.value) == ("refused", "ERROR")
    assert holder(store) == a


def test_force_needs_a_reason_and_then_moves_whatever_the_verdict(store: Store) -> None:
    make_run(store, "a", 0.6)
    doomed = make_run(store, "doomed", 0.3)
    up(store, "a")
    before = store.alias_events("champion")
    for reason in (None, "  "):
        with pytest.raises(UsageError, match="--force needs --reason"):
            up(store, "doomed", force=True, reason=reason)
    assert store.alias_events("champion") == before  # nothing written
    promo = up(store, "doomed", force=True, reason="hotfix for the demo")
    assert (promo.action, promo.forced, promo.exit_code) == ("forced", True, 0)
    assert holder(store) == doomed
    record = store.get_alias("champion")
    assert record is not None and (record.forced, record.reason, record.verdict) == (True, "hotfix for the demo", None)
    event = store.alias_events("champion")[-1]
    assert (event.action, event.forced, event.data["verdict"]) == ("forced", True, "FAIL")
    assert alias_log(store, "champion").to_dict()["events"][-1]["verdict"] == "FAIL"


def test_promoting_the_holder_is_a_no_op(store: Store) -> None:
    make_run(store, "a", 0.6)
    up(store, "a")
    promo = up(store, "a")
    assert (promo.action, promo.moved, promo.exit_code) == ("unchanged", False, 0)
    assert len(store.alias_events("champion")) == 1


@pytest.mark.parametrize("status", [RunStatus.FAILED, RunStatus.STOPPED, RunStatus.INTERRUPTED])
def test_only_a_finished_run_is_promoted(store: Store, status: RunStatus) -> None:
    make_run(store, "broken", 0.9, status=status)
    with pytest.raises(UsageError, match=f"is {status.value}: only a finished run"):
        up(store, "broken", force=True, reason="even forced")
    assert store.alias_events() == [] and holder(store) is None


def test_gates_come_from_the_flag_else_the_alias_else_it_is_an_error(store: Store) -> None:
    make_run(store, "a", 0.2)
    assert up(store, "a", gates=["smoke"], alias="staging").action == "moved"  # --gate given
    with pytest.raises(UsageError, match="no gates to judge a promotion to @other"):
        up(store, "a", alias="other")
    with pytest.raises(UsageError, match="unknown gate"):
        up(store, "a", gates=["nope"])
    with pytest.raises(UsageError, match="malformed alias name"):
        up(store, "a", alias="bad//name")
    assert up(store, "a").action == "refused"  # champion's own gate: promotion (acc >= 0.5)


def test_rollback_moves_back_and_a_second_rollback_undoes_it(store: Store) -> None:
    a, b = make_run(store, "a", 0.6), make_run(store, "b", 0.7)
    up(store, "a")
    with pytest.raises(UsageError, match="no previous holder"):
        rollback(store, "champion", reason="oops", by=BY)
    up(store, "b")
    with pytest.raises(UsageError, match="needs --reason"):
        rollback(store, "champion", reason=None, by=BY)
    back = rollback(store, "@champion", reason="b regressed in prod", by=BY)
    assert (back.action, back.run.id, back.holder and back.holder.id) == ("rollback", a, b)
    assert holder(store) == a
    event = store.alias_events("champion")[-1]
    assert (event.action, event.from_run, event.to_run, event.reason) == ("rollback", b, a, "b regressed in prod")
    rollback(store, "champion", reason="undo", by=BY)
    assert holder(store) == b
    with pytest.raises(NotFoundError, match="no alias @nope") as err:
        rollback(store, "nope", reason="x", by=BY)
    assert "@champion" in str(err.value)


def test_the_list_and_the_trail(store: Store) -> None:
    a = make_run(store, "a", 0.6)
    make_run(store, "doomed", 0.3)
    up(store, "a")
    up(store, "doomed")
    rows = list_aliases(store).to_dict()["aliases"]
    assert [(r["alias"], r["run"], r["by"], r["verdict"]) for r in rows] == [("champion", {"id": a, "name": "a"},
                                                                             BY, "PASS")]
    events = alias_log(store, "champion").to_dict()["events"]
    assert [(e["action"], e["verdict"]) for e in events] == [("moved", "PASS"), ("refused", "FAIL")]
    assert events[1]["from"] == {"id": a, "name": "a"} and events[1]["to"]["name"] == "doomed"
    assert alias_log(store).to_dict()["alias"] is None
    with pytest.raises(NotFoundError, match="no alias @missing"):
        alias_log(store, "missing")


# -- concurrency: the holder changes while a run is judged ----------------------------------------------


class Racing:
    """The real store, with another writer moving the alias just before the first move is tried."""

    def __init__(self, store: Store, race: Callable[[Store], Any]) -> None:
        self.store, self.race = store, race
        self.moves = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def move_alias(self, *args: Any, **kwargs: Any) -> bool:
        self.moves += 1
        if self.moves == 1:
            self.race(self.store)
        return self.store.move_alias(*args, **kwargs)


@pytest.mark.parametrize(("rival_acc", "outcome"), [(0.65, "moved"), (0.9, "refused")])
def test_a_stale_holder_is_judged_again(store: Store, rival_acc: float, outcome: str) -> None:
    a = make_run(store, "a", 0.6)
    rival = make_run(store, "rival", rival_acc)
    c = make_run(store, "c", 0.7)
    up(store, "a")
    racing = Racing(store, lambda s: up(s, "rival"))  # another writer: rival passes against a
    promo = promote(racing, CONF, "c", "champion", by=BY)  # type: ignore[arg-type]
    assert promo.attempts == 2 and promo.action == outcome
    assert promo.holder is not None and promo.holder.id == rival  # judged against the new holder
    assert holder(store) == (c if outcome == "moved" else rival)
    trail = [(e.action, e.from_run, e.to_run) for e in store.alias_events("champion")]
    assert trail == [("moved", None, a), ("moved", a, rival), (outcome, rival, c)]


# -- the aliases: section of gatebook.yaml ---------------------------------------------------------------


def test_alias_config_names_and_gates_are_checked(tmp_path: Path) -> None:
    gates = "gates:\n  promotion:\n    checks: ['acc >= 0.5']\n"
    (tmp_path / "gatebook.yaml").write_text(gates + "aliases:\n  champion: {gates: [promotion]}\n  ranker/prod: {}\n")
    conf = load_project_config(tmp_path)
    assert conf.aliases["champion"].gates == ["promotion"] and conf.aliases["ranker/prod"].gates == []
    for bad, said in (("  champion: {gates: [promo]}\n", "unknown gate 'promo'"),
                      ("  bad//name: {gates: [promotion]}\n", "malformed alias name"),
                      ("  champion: {gate: [promotion]}\n", "unknown field")):
        (tmp_path / "gatebook.yaml").write_text(gates + "aliases:\n" + bad)
        with pytest.raises(ConfigError) as err:
            load_project_config(tmp_path)
        text = str(err.value)
        assert "gatebook.yaml" in text and said in text and "\n" not in text, text
