"""The one supervision loop (capture/supervise.py) over a fake target: no process, no subprocess."""

from __future__ import annotations

import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest

from gatebook.capture.recorder import make_record
from gatebook.capture.supervise import Plan, SuperviseResult, supervise
from gatebook.errors import StoreError
from gatebook.gates.grammar import parse_check
from gatebook.gates.setup import Gating
from gatebook.gates.spec import Gate
from gatebook.ingest.collector import Collector
from gatebook.ingest.stdout import LineParser
from gatebook.records import RunStatus
from gatebook.render.run_end import end_lines
from gatebook.store import open_store
from gatebook.store.base import WriteBatch

SETTINGS = SimpleNamespace(flush_interval=0.0, heartbeat=60.0)


class FakeTarget:
    """A process that lives for ``polls`` pauses; ``on_poll(target, i)`` runs at each (it plays the
    command writing output or somebody running `gatebook stop`)."""

    def __init__(self, *, polls: int = 3, exit_code: int = 0, exit_known: bool = True, allow_stop: bool = True,
                 on_poll: Callable[[FakeTarget, int], None] | None = None) -> None:
        self.pid = 4242
        self.exit_known = exit_known
        self.allow_stop = allow_stop
        self.what = "its fake group"
        self.detached: int | None = None
        self.errors: list[str] = []
        self.left = polls
        self.exit_code = exit_code
        self.on_poll = on_poll
        self.polls = 0
        self.stopped = False
        self.interrupted: list[int] = []
        self.abandoned = False
        self.ticks = 0

    def exited(self) -> bool:
        return self.left <= 0

    def done(self) -> bool:
        return self.detached is not None or self.exited()

    def pause(self, seconds: float) -> None:
        if self.on_poll is not None:
            self.on_poll(self, self.polls)
        self.polls += 1
        self.left -= 1

    def stop(self) -> None:
        self.stopped = True
        self.left = 0

    def interrupt(self, signum: int) -> bool:
        self.interrupted.append(signum)
        self.left = 0
        return True

    def tick(self) -> None:
        self.ticks += 1

    def finish(self, why: str | None) -> tuple[int, RunStatus, str | None]:
        if self.interrupted:
            return self.exit_code, RunStatus.INTERRUPTED, why or "Ctrl-C forwarded to the command"
        if self.detached is not None:
            return 0, RunStatus.INTERRUPTED, "detached"
        if self.exit_code == 0:
            return 0, RunStatus.FINISHED, None
        return self.exit_code, RunStatus.FAILED, f"exit code {self.exit_code}"

    def abandon(self) -> None:
        self.abandoned = True


class Follower:
    """A watched file whose last points come only when it is closed (after the process ended)."""

    def __init__(self, at_close: list[tuple[str, int | None, float]]) -> None:
        self.at_close = at_close
        self.errors: list[str] = []

    def poll(self) -> list[Any]:
        return []

    def close(self) -> list[Any]:
        return self.at_close


@pytest.fixture(autouse=True)
def _no_provenance(monkeypatch: pytest.MonkeyPatch) -> None:
    """Provenance (git, packages, GPUs) is the recorder's business: not collected here."""
    monkeypatch.setattr("gatebook.capture.recorder.provenance_batch", lambda *a, **k: WriteBatch())


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


def _plan(url: str, *, gates: list[Gate] = (), source: str = "wrapper", **kwargs: Any) -> Plan:  # type: ignore[assignment]
    record = make_record(run_id="run1", name="fake", parent_id=None, tags=(), group=None, command=["train"],
                         cwd=".", source=source, created_at=100.0)
    parsers = {s: LineParser(prefix="gatebook:") for s in ("stdout", "stderr")}
    gating = Gating(list(gates), {g.name: None for g in gates}, lambda key: None) if gates else None
    kwargs.setdefault("store", open_store(url))
    return Plan(store_url=url, run_id="run1", collector=Collector("run1", parsers, output_limit=0),
                settings=SETTINGS, started=100.0, record=record, keep_id=True, name="fake", gating=gating,
                echo=False, **kwargs)


def _say(collector: Collector, *lines: str) -> Callable[[FakeTarget, int], None]:
    def on_poll(target: FakeTarget, i: int) -> None:
        if i < len(lines):
            collector.on_output("stdout", lines[i] + "\n")

    return on_poll


def _stored(url: str) -> Any:
    store = open_store(url)
    try:
        return (store.get_run("run1"), store.metric_stats(["run1"]).get("run1", {}), store.events("run1"),
                "".join(c[3] for c in store.output("run1")))
    finally:
        store.close()


STOP_GATE = Gate("early", (parse_check("x < 5"),), on_fail="stop")


def test_a_clean_exit_records_points_output_and_status(url: str) -> None:
    plan = _plan(url)
    target = FakeTarget(on_poll=_say(plan.collector, 'gatebook: {"step": 1, "x": 1}', "plain line",
                                     'gatebook: {"step": 2, "x": 2}'))
    result = supervise(plan, target)
    assert (result.status, result.exit_code, result.points, result.command_exit) == (RunStatus.FINISHED, 0, 2, 0)
    assert result.pid == 4242 and result.name == "fake" and result.detached is None
    record, stats, _, output = _stored(url)
    assert record.status is RunStatus.FINISHED and record.exit_code == 0
    assert stats["x"].last == 2 and stats["x"].count == 2
    assert "plain line\n" in output
    assert target.polls == 3 and target.ticks == 3 and not target.stopped and not target.abandoned


def test_a_failed_exit_is_the_commands_exit_code(url: str) -> None:
    result = supervise(_plan(url), FakeTarget(exit_code=7))
    assert result.status is RunStatus.FAILED and result.reason == "exit code 7"
    assert result.command_exit == 7
    assert _stored(url)[0].exit_code == 7


def test_a_stop_gate_stops_the_target_and_a_clean_exit_then_exits_1(url: str) -> None:
    plan = _plan(url, gates=[STOP_GATE])
    target = FakeTarget(polls=10, on_poll=_say(plan.collector, 'gatebook: {"step": 1, "x": 9}'))
    result = supervise(plan, target)
    assert target.stopped and target.polls < 10
    assert result.status is RunStatus.STOPPED and result.stopped_by == "gate early"
    assert result.verdict is not None and result.verdict.tier.value == "FAIL"
    assert result.command_exit == 1  # exited 0 (a checkpoint saved), but a stop gate failed
    assert "stop" in [e.kind for e in _stored(url)[2]]


def test_a_stopped_command_exits_with_its_own_code(url: str) -> None:
    plan = _plan(url, gates=[STOP_GATE])
    target = FakeTarget(polls=10, exit_code=143, on_poll=_say(plan.collector, 'gatebook: {"step": 1, "x": 9}'))
    assert supervise(plan, target).command_exit == 143


def test_a_stop_gate_failing_after_the_end_fails_a_clean_exit(url: str) -> None:
    plan = _plan(url, gates=[STOP_GATE], followers=[Follower([("x", 3, 9.0)])])
    result = supervise(plan, FakeTarget())
    assert result.status is RunStatus.FINISHED and result.stopped_by is None
    assert result.failed_stop_gates == ["early"] and result.command_exit == 1
    assert any("could stop it" in line for line in end_lines(result))


def test_an_interrupt_request_interrupts_as_a_ctrl_c(url: str) -> None:
    from gatebook.gates.live import record_stop

    store = open_store(url)
    plan = _plan(url, store=store)
    store.create_run(plan.record)
    plan.record = None  # exists already (a server ledger's run is created before the command starts)
    record_stop(store, "run1", "the sweep was interrupted", "me@here", interrupt=True)
    target = FakeTarget(polls=10, exit_code=130)
    result = supervise(plan, target)
    assert target.interrupted == [signal.SIGINT] and not target.stopped
    assert result.status is RunStatus.INTERRUPTED and result.reason == "the sweep was interrupted"
    assert result.command_exit == 130


def test_an_adopted_target_detached_exits_128_plus_the_signal(url: str) -> None:
    def detach(target: FakeTarget, i: int) -> None:
        if i == 1:
            target.detached = signal.SIGINT

    result = supervise(_plan(url, source="attach"), FakeTarget(polls=10, exit_known=False, on_poll=detach))
    assert result.status is RunStatus.INTERRUPTED and result.command_exit == 130
    doc = result.to_dict()
    assert doc["exit_code"] is None and doc["detached"] is True and doc["pid"] == 4242
    assert _stored(url)[0].exit_code is None
    assert "detached from pid 4242, which keeps running" in end_lines(result)[0]


def test_an_adopted_target_stopped_by_a_gate_exits_1_and_a_mere_fail_0(url: str) -> None:
    plan = _plan(url, gates=[STOP_GATE], source="attach")
    target = FakeTarget(polls=10, exit_known=False, on_poll=_say(plan.collector, 'gatebook: {"step": 1, "x": 9}'))
    stopped = supervise(plan, target)
    assert target.stopped and stopped.status is RunStatus.STOPPED and stopped.command_exit == 1

    other = f"{url[:-3]}-2.db"
    plan = _plan(other, gates=[STOP_GATE], source="attach")
    target = FakeTarget(polls=3, exit_known=False, allow_stop=False,
                        on_poll=_say(plan.collector, 'gatebook: {"step": 1, "x": 9}'))
    failed = supervise(plan, target)
    assert not target.stopped and failed.status is RunStatus.FINISHED
    assert failed.verdict.tier.value == "FAIL" and failed.failed_stop_gates == [] and failed.command_exit == 0
    assert "pid 4242 ended, exit code unknown" in end_lines(failed)[0]


def test_a_recording_failure_abandons_the_target(url: str) -> None:
    store = open_store(url)
    plan = _plan(url, store=store)
    store.create_run(plan.record)  # the id is taken: keep_id refuses to move to another one
    target = FakeTarget()
    with pytest.raises(StoreError):
        supervise(plan, target)
    assert target.abandoned


def test_one_document_with_the_old_names_as_aliases() -> None:
    result = SuperviseResult(run_id="r", status=RunStatus.FINISHED, exit_code=0, duration=1.0, points=5)
    doc = result.to_dict()
    assert doc["metric_points"] == doc["points_from_output"] == doc["points"] == 5
    assert set(doc) == set(SuperviseResult.not_started("preflight failed: disk"))
    adopted = SuperviseResult(run_id="r", status=RunStatus.FINISHED, exit_code=0, duration=1.0, points=5,
                              exit_known=False)
    assert set(adopted.to_dict()) == set(doc) and adopted.to_dict()["exit_code"] is None
