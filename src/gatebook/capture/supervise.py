"""The one live loop: record a supervised process (a started command or an adopted pid) as a run while it runs.

``gatebook run`` and a sweep's trials supervise the command they start
(:class:`gatebook.capture.wrapper.ChildTarget`); ``gatebook attach`` supervises a process it
adopted (:class:`gatebook.capture.attach.AdoptedTarget`). Both hand :func:`supervise` a
:class:`Plan` and a :class:`Target`; it creates the run (unless it exists already), records
params and provenance, and every flush interval polls the followed files, flushes output and
points (with a heartbeat), and judges the live gates, stopping the target when they (or
``gatebook stop``) decide so. At the end it records the status, the final verdict and the
playbook's advice and returns a :class:`SuperviseResult`: one ``--json`` document and one
exit-code rule for both commands. The end lines are printed by :mod:`gatebook.render.run_end`.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

from gatebook.records import RunStatus

if TYPE_CHECKING:
    from gatebook.gates.evaluate import Series, Verdict
    from gatebook.gates.live import LiveGates
    from gatebook.gates.playbook import Advice
    from gatebook.gates.setup import Gating
    from gatebook.ingest.collector import Collector
    from gatebook.records import RunRecord
    from gatebook.settings import Settings
    from gatebook.store.base import Store


class Target(Protocol):
    """What the loop needs of the process it supervises: its ``pid``; ``exit_known`` (gatebook
    started it, so its exit code is read); ``allow_stop`` (a gate's FAIL may stop it; ``gatebook
    stop`` always may); ``what`` a stop signals ("its process group", "pid 42"); ``detached`` (the
    signal gatebook detached on, leaving it running; else None); ``errors`` (signalling it)."""

    errors: list[str]

    @property
    def pid(self) -> int: ...

    @property
    def exit_known(self) -> bool: ...

    @property
    def allow_stop(self) -> bool: ...

    @property
    def what(self) -> str: ...

    @property
    def detached(self) -> int | None: ...

    def exited(self) -> bool:
        """The process has ended."""

    def done(self) -> bool:
        """Nothing more to follow: the process ended and its output was read, or gatebook detached."""

    def pause(self, seconds: float) -> None:
        """Wait up to ``seconds`` (less when the process ends)."""

    def stop(self) -> None:
        """SIGTERM now, SIGKILL after the grace period if it still runs."""

    def interrupt(self, signum: int) -> bool:
        """Interrupt it as a Ctrl-C would; False when it cannot be (then it is stopped instead)."""

    def tick(self) -> None:
        """Called every poll (a pending SIGKILL)."""

    def finish(self, why: str | None) -> tuple[int, RunStatus, str | None]:
        """Wait for the end: exit code (0 when unknown), status, reason (``why``: an interrupt's)."""

    def abandon(self) -> None:
        """Recording failed: never leave the process running unsupervised if it is ours."""


@dataclass
class SuperviseResult:
    """How a supervised run ended: the ``gatebook run`` / ``gatebook attach`` ``--json``
    document (:meth:`to_dict`) and their exit code (:attr:`command_exit`)."""

    run_id: str
    status: RunStatus
    exit_code: int  # the command's; 0 when unknown (an adopted process: ``exit_known`` False)
    duration: float
    points: int  # metric points from output, the log and watched files
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    verdict: Verdict | None = None  # when gates were given
    advice: Advice | None = None
    stopped_by: str | None = None  # "gate NAME" or who ran `gatebook stop`
    name: str | None = None
    failed_stop_gates: list[str] = field(default_factory=list)  # on_fail: stop gates whose final verdict is FAIL
    pid: int | None = None
    exit_known: bool = True
    detached: int | None = None  # the signal `gatebook attach` detached on

    def to_dict(self) -> dict[str, Any]:
        """The ``gatebook run --json`` / ``gatebook attach --json`` document (docs/json.md)."""
        return {"id": self.run_id, "name": self.name, "pid": self.pid, "status": self.status.value,
                "exit_code": self.exit_code if self.exit_known else None, "duration": self.duration,
                "reason": self.reason, "metric_points": self.points, "detached": self.detached is not None,
                "warnings": self.warnings,
                "verdict": self.verdict.to_dict() if self.verdict is not None else None,
                "advice": self.advice.to_dict() if self.advice is not None else None,
                "stopped_by": self.stopped_by, "preflight": None,
                # aliases of metric_points kept for one release: run's and attach's old names
                "points_from_output": self.points, "points": self.points}

    @staticmethod
    def not_started(reason: str, **extra: Any) -> dict[str, Any]:
        """The document of a command that was never started (``status: not_started``)."""
        return {"id": None, "name": None, "pid": None, "status": "not_started", "exit_code": None,
                "duration": None, "reason": reason, "metric_points": 0, "detached": False, "warnings": [],
                "verdict": None, "advice": None, "stopped_by": None, "preflight": None,
                "points_from_output": 0, "points": 0, **extra}

    @property
    def failed_verdict(self) -> bool:
        """A clean exit that an ``on_fail: stop`` gate still failed (a gate stopped it, or the
        command ended before the gate could)."""
        return self.exit_code == 0 and ((self.stopped_by or "").startswith("gate ") or bool(self.failed_stop_gates))

    @property
    def command_exit(self) -> int:
        """What ``gatebook run`` / ``gatebook attach`` exit with: 128+N after detaching on
        signal N; 1 for a clean (or unknown) exit that an ``on_fail: stop`` gate failed; else the
        command's exit code (0 when unknown)."""
        if self.detached is not None:
            return 128 + self.detached
        return 1 if self.failed_verdict else self.exit_code


@dataclass(repr=False, eq=False)
class Plan:
    """Everything validated before the loop: the run to create and what to record into it."""

    store_url: str
    run_id: str
    collector: Collector
    settings: Settings  # flush_interval, heartbeat
    started: float  # the run's start (durations count from it)
    store: Store | None = None  # open already (a server ledger, a parent to resolve, attach); else opened here
    record: RunRecord | None = None  # the run to create; None when it exists already
    keep_id: bool = False  # the command already has ``run_id``: it cannot move to another one
    name: str | None = None
    gating: Gating | None = None
    followers: list[Any] = field(default_factory=list)  # watched files: poll() / close() -> points
    outputs: list[Any] = field(default_factory=list)  # pump(collector, final): text sources (attach's log)
    supervised: dict[str, Any] = field(default_factory=dict)  # the provenance's "gatebook" block
    params: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)  # the redacted command line (config file artifacts)
    cwd: str | None = None  # where it runs (config file artifacts, intended-config warnings)
    prov_cwd: str = "."
    prov_environ: dict[str, str] | None = None
    prov_command: list[str] | None = None
    secrets: Any = ()
    echo: bool = True
    grace: float = 10.0
    warnings: list[str] = field(default_factory=list)  # found while adopting
    greeting: Callable[[str], list[str]] | None = None  # lines said once the run exists (given its label)
    notify: list[Any] = field(default_factory=list)  # the project's alert targets (gatebook.notify)


def _alert_end(notifier: Any, run: RunRecord) -> list[str]:
    """Send ``stopped`` / ``failed`` for the run's end, wait (bounded) for every alert queued
    during the run, and say the deliveries that failed."""
    from gatebook.notify import event_document

    if run.status in (RunStatus.STOPPED, RunStatus.FAILED):
        why = f": {run.reason}" if run.reason else (f" (exit {run.exit_code})" if run.exit_code is not None else "")
        notifier.send(event_document(run.status.value, run, f"gatebook: {run.label} {run.status.value}{why}",
                                     {"reason": run.reason, "exit_code": run.exit_code}))
    if not notifier.close():
        return ["alerts: still sending after 10 s; the rest were dropped"]
    return [f"alert not delivered: {line}" for line in notifier.failures]


def sayer(echo: bool) -> Callable[[str], None]:
    def say(line: str) -> None:
        if echo:
            print(f"gatebook: {line}", file=sys.stderr, flush=True)

    return say


def judge_live(live: LiveGates, act: Callable[[Any], None], warnings: dict[str, str]) -> None:
    """One poll of the live gates; a stop decision goes to ``act``. A ledger hiccup only
    skips this poll (noted once in ``warnings``)."""
    try:
        decision = live.poll()
    except Exception as exc:
        warnings.setdefault("live", f"live gates skipped a poll: {exc}")
        return
    if decision is not None:
        act(decision)


def supervise(plan: Plan, target: Target) -> SuperviseResult:
    """Record ``target`` as run ``plan.run_id`` until it ends (or gatebook detaches); the
    store is closed on return."""
    store = plan.store
    try:
        if store is None:
            from gatebook.store import open_store

            store = open_store(plan.store_url)
        return _supervise(plan, target, store)
    except BaseException:
        target.abandon()  # recording failed (the ledger went away...)
        raise
    finally:
        if store is not None:
            store.close()


def _supervise(plan: Plan, target: Target, store: Store) -> SuperviseResult:
    from gatebook.capture.argv import config_file_artifacts
    from gatebook.capture.recorder import provenance_batch
    from gatebook.gates.live import LiveGates
    from gatebook.store.base import WriteBatch

    run_id = plan.run_id
    if plan.record is not None:  # an adopted process's run may get another id; a command's keeps its own
        run_id = plan.collector.run_id = store.create_run(plan.record, keep_id=plan.keep_id)
    gating, collector, followers = plan.gating, plan.collector, plan.followers
    store.update_run(run_id, provenance={"gatebook": plan.supervised})
    first = WriteBatch(params=[(run_id, source, values) for source, values in plan.params if values])
    if plan.cwd:
        first.artifacts.extend(config_file_artifacts(run_id, plan.argv, plan.cwd))  # `train.py config/small.py`
    if first:
        store.write(first)
    label = plan.name or run_id
    say = sayer(plan.echo)
    for line in plan.greeting(label) if plan.greeting else []:
        say(line)
    prov_result: list[Any] = []

    def capture() -> None:
        try:
            prov_result.append(provenance_batch(store, run_id, plan.prov_cwd, environ=plan.prov_environ,
                                                command=plan.prov_command, secrets=plan.secrets))
        except Exception as exc:  # best effort; never fatal
            prov_result.append(exc)

    prov_thread = threading.Thread(target=capture, name="gatebook-provenance", daemon=True)
    prov_thread.start()
    stopped: list[Any] = []
    interrupt_reason: list[str] = []

    def act(decision: Any) -> None:
        if stopped or interrupt_reason:
            return
        # a sweep on a cluster interrupting its trials: as a Ctrl-C here
        if decision.interrupt and target.interrupt(signal.SIGINT):
            interrupt_reason.append(decision.reason)
            say(f"interrupting {label}: {decision.reason} (by {decision.by})")
            return
        stopped.append(decision)
        target.stop()
        say(f"stopping {label}: {decision.reason} (SIGTERM to {target.what}, SIGKILL after {plan.grace:g} s)")

    from gatebook.notify import Notifier

    notifier = Notifier(plan.notify, store, cwd=plan.cwd)
    live = LiveGates(store, run_id, gating, allow_stop=target.allow_stop, say=say, run_label=label, on_stop=act,
                     notify=notifier)

    def gather(final: bool) -> None:
        for follower in followers:
            collector.add_points(follower.close() if final else follower.poll())
        for source in plan.outputs:
            source.pump(collector, final)

    warn_once: dict[str, str] = {}
    next_beat = 0.0
    while not target.done():
        now = time.time()
        beat = now >= next_beat
        if beat:
            next_beat = now + plan.settings.heartbeat
        gather(final=False)
        collector.flush(store, beat=beat)
        live.allow_stop = target.allow_stop and not target.exited()  # an ended process is not "stopped"
        judge_live(live, act, warn_once)
        target.tick()
        target.pause(plan.settings.flush_interval)
    exit_code, status, reason = target.finish(interrupt_reason[0] if interrupt_reason else None)
    gather(final=target.detached is None)  # detached: a partial last line is still being written
    collector.close()
    collector.flush(store, beat=False)
    prov_thread.join(timeout=30)
    warnings = list(plan.warnings)
    for item in prov_result:
        if isinstance(item, Exception):
            warnings.append(f"provenance not fully captured: {item}")
        else:
            store.write(item)
    for parser in collector.parsers.values():
        warnings.extend(f"metric line skipped: {e}" for e in parser.errors)
    for follower in followers:
        warnings.extend(f"watched file: {e}" for e in follower.errors)
    warnings.extend(target.errors)
    warnings.extend(warn_once.values())

    ended = time.time()
    code = {"exit_code": exit_code} if target.exit_known else {}
    # a reader may have marked the run lost in the moment between the process's end and now
    if not store.set_status(run_id, status, reason=reason, ended_at=ended, only_if=(RunStatus.RUNNING, RunStatus.LOST),
                            **code):
        store.update_run(run_id, ended_at=ended, **code)  # stopped: keep its reason
    verdict = live.final()
    failed = _failed_stop_gates(gating, verdict) if target.exit_known else []
    advice = _advice(store, run_id, gating, verdict, stopped[0].gate if stopped else None, live.series,
                     failed_too=target.exit_known)
    if plan.cwd and target.exit_known:
        from gatebook.analysis.intended import run_warnings

        warnings[:0] = run_warnings(store, run_id, plan.cwd)  # the code ignored an argument: say it first
    final = store.get_run(run_id)
    if notifier:
        warnings.extend(_alert_end(notifier, final))
    return SuperviseResult(run_id=run_id, status=final.status, exit_code=exit_code, duration=ended - plan.started,
                           points=collector.total_points, reason=final.reason, warnings=warnings, verdict=verdict,
                           advice=advice, stopped_by=stopped[0].by if stopped else None, name=final.name,
                           failed_stop_gates=failed, pid=target.pid, exit_known=target.exit_known,
                           detached=target.detached)


def _advice(store: Store, run_id: str, gating: Gating | None, verdict: Verdict | None, stop_gate: str | None,
            series: Series, *, failed_too: bool) -> Advice | None:
    """The playbook's advice for the gate that stopped the run, else (``failed_too``: the
    command's end is known) the first failed gate that has a playbook (a warn gate's too)."""
    if gating is None:
        return None
    from gatebook.gates.setup import advice_for

    failed = {r.name for r in verdict.gates if r.tier.value == "FAIL"} if verdict is not None and failed_too else set()
    for gate in gating.gates:
        if gate.name == stop_gate or (stop_gate is None and gate.name in failed and
                                      (gate.playbook.fixes or gate.playbook.signatures)):
            return advice_for(store, run_id, gate, series, gating)
    return None


def _failed_stop_gates(gating: Gating | None, verdict: Verdict | None) -> list[str]:
    if gating is None or verdict is None:
        return []
    stop = {g.name for g in gating.gates if g.on_fail == "stop"}
    return [r.name for r in verdict.gates if r.name in stop and r.tier.value == "FAIL"]
