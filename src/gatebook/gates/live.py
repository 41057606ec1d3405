"""Live gates: judge a running run as its points reach the ledger, and decide stops.

A supervisor (``gatebook run`` or ``gatebook attach``) calls :meth:`LiveGates.poll`
every flush interval. Each poll reads only the points stored since the last one (the
ledger's point cursor), re-judges the gates whose metrics moved, records every change
of a check's tier as a ``gate`` event (time, step, observed value, reason), and returns
a :class:`StopDecision` when

- a check of a gate with ``on_fail: stop`` turns FAIL (the decision is recorded first:
  a ``stop`` event and the run's status ``stopped`` with the reason), or
- somebody ran ``gatebook stop RUN`` (which records the same two things).

The supervisor then stops the process (SIGTERM to its group, a grace period, SIGKILL).
Points from the API, from stdout lines and from watched files all arrive through the
ledger, so one path judges them all.
"""

from __future__ import annotations

import getpass
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from gatebook.gates.buffer import SeriesBuffer, conditions_of, key_needs
from gatebook.gates.checks import metrics_of
from gatebook.gates.evaluate import GateResult, Tier, Verdict
from gatebook.gates.setup import Gating
from gatebook.gates.spec import Gate
from gatebook.records import RunStatus
from gatebook.store.base import EventRow, WriteBatch

if TYPE_CHECKING:
    from gatebook.store.base import Store

STOP_CHECK_INTERVAL = 0.5
"""Seconds between looks for a `gatebook stop` request (gates are judged at every poll)."""


@dataclass(frozen=True)
class StopDecision:
    reason: str
    by: str  # "gate NAME" or "user@host"
    gate: str | None = None
    interrupt: bool = False  # stop it as a Ctrl-C would: the run ends "interrupted", not "stopped"


def record_stop(store: Store, run_id: str, reason: str, by: str, step: int | None = None,
                gate: str | None = None, interrupt: bool = False) -> bool:
    """Record a stop decision: a ``stop`` event, then status ``stopped`` (if still running).

    With ``interrupt`` the event asks the run's wrapper to interrupt its command as a Ctrl-C
    would (a sweep interrupted on a Ray cluster); the wrapper then records ``interrupted``.
    """
    now = time.time()
    data: dict[str, Any] = {"reason": reason, "by": by}
    if gate:
        data["gate"] = gate
    if interrupt:
        data["interrupt"] = True
    store.write(WriteBatch(events=[EventRow(run_id, now, "stop", step, data)]))
    if interrupt:
        return True
    return store.set_status(run_id, RunStatus.STOPPED, reason=reason)


def who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # pragma: no cover - no user name
        user = "someone"
    return f"{user}@{socket.gethostname()}"


class LiveGates:
    """Follow one run's points and judge ``gates`` on them as they arrive."""

    @property
    def gates(self) -> list[Gate]:
        return self.gating.gates

    def __init__(self, store: Store, run_id: str, gating: Gating | None, *, allow_stop: bool = True,
                 say: Callable[[str], None] = lambda line: None, run_label: str | None = None,
                 on_stop: Callable[[StopDecision], None] | None = None, notify: Any = None) -> None:
        self.store = store
        self.notify = notify  # gatebook.notify.Notifier: a check turning FAIL or MARGINAL is an alert
        self.run_id = run_id
        self.run_label = run_label or run_id
        self.gating = gating if gating is not None else Gating([], {}, lambda key: None)
        self.allow_stop = allow_stop
        # attach without --allow-stop says it would stop; a supervisor may also turn allow_stop
        # off later (its command already ended), which needs no such line
        self._stop_needs_flag = not allow_stop
        self.say = say
        self.on_stop = on_stop  # called the moment a gate decides a stop, before the ledger writes
        keys: list[str] = ["epoch"]
        for gate in self.gates:
            for check in gate.checks:
                keys += metrics_of(check)
            for sig in gate.playbook.signatures:
                keys += metrics_of(sig.when)
        self.keys = list(dict.fromkeys(keys))
        conditions = [c for g in self.gates for node in (*g.checks, *(s.when for s in g.playbook.signatures))
                      for c in conditions_of(node)]
        self._needs = key_needs(conditions)
        self._full: set[str] = set()  # keys whose steps went backwards: kept whole
        self._buffers = {k: SeriesBuffer(self._needs.get(k, 0)) for k in self.keys}
        self.cursor = 0
        self.tiers: dict[tuple[str, int], Tier] = {}
        self.results: dict[str, GateResult] = {}
        self.decision: StopDecision | None = None
        self._new_decision: StopDecision | None = None  # made since the last poll returned
        self._stop_events_seen = 0
        self._next_stop_check = 0.0
        self._warned: set[tuple[str, int]] = set()

    @property
    def series(self) -> dict[str, list[tuple[int | None, float]]]:
        """What the judge sees of each key that has points (see :mod:`gatebook.gates.buffer`)."""
        return {k: b.view() for k, b in self._buffers.items() if b.points}

    def _add(self, points: list[tuple[str, int | None, float, float]]) -> set[str]:
        moved = set()
        for key, step, value, _ts in points:
            self._buffers[key].add(step, value)
            moved.add(key)
        backwards = {k for k in moved if self._buffers[k].needs_reload}
        if backwards:  # a compact buffer met a step going back: re-read, keep those keys whole
            self._full |= backwards
            self._buffers = {k: SeriesBuffer(None if k in self._full else self._needs.get(k, 0)) for k in self.keys}
            everything, self.cursor = self.store.metric_points_after(self.run_id, 0, keys=self.keys)
            for key, step, value, _ts in everything:
                self._buffers[key].add(step, value)
            moved = set(self.keys)
        return moved

    # -- polling -----------------------------------------------------------------------------------
    def poll(self) -> StopDecision | None:
        """Read new points, judge, record tier changes; a new stop decision or None."""
        if self.gates:
            points, self.cursor = self.store.metric_points_after(self.run_id, self.cursor, keys=self.keys)
            if points:
                self._judge(self._add(points), finished=False)
        now = time.monotonic()
        if self.decision is None and now >= self._next_stop_check:
            self._next_stop_check = now + STOP_CHECK_INTERVAL
            self._check_stop_events()
        decision, self._new_decision = self._new_decision, None
        return decision

    def _check_stop_events(self) -> None:
        events = self.store.events(self.run_id, kinds=["stop"])
        if len(events) > self._stop_events_seen and self.decision is None:
            ev = events[-1]
            data = dict(ev.data or {})
            self.decision = StopDecision(str(data.get("reason") or "stopped"), str(data.get("by") or "?"),
                                         data.get("gate"), interrupt=bool(data.get("interrupt")))
            self._new_decision = self.decision
        self._stop_events_seen = len(events)

    def _judge(self, moved: set[str], *, finished: bool) -> list[GateResult]:
        out = []
        for gate in self.gates:
            if (not finished and "epoch" not in moved
                    and not any(k in moved for c in gate.checks for k in metrics_of(c))):
                continue
            result = self.gating.judge_gate(gate, self.series, finished=finished)
            self.results[gate.name] = result
            self._record_changes(gate, result)
            out.append(result)
        return out

    def _record_changes(self, gate: Gate, result: GateResult) -> None:
        events = []
        now = time.time()
        for i, res in enumerate(result.checks):
            before = self.tiers.get((gate.name, i))
            if before == res.tier or (before is None and res.tier is Tier.PENDING):
                continue
            self.tiers[(gate.name, i)] = res.tier
            events.append(EventRow(self.run_id, now, "gate", res.step, {
                "gate": gate.name, "check": res.check, "metric": res.metric, "tier": res.tier.value,
                "previous": before.value if before else None, "observed": res.observed, "reason": res.reason,
            }))
            if res.tier is not Tier.PENDING:
                self.say(f"gate {gate.name} {res.tier.value}: {res.reason}")
            if self.notify and res.tier in (Tier.FAIL, Tier.MARGINAL):
                from gatebook.notify import event_document

                run = self.store.get_run(self.run_id)  # its name now (a script may have named it since)
                self.notify.send(event_document(
                    "gate_fail" if res.tier is Tier.FAIL else "gate_marginal", run,
                    f"gatebook: {run.label}: gate {gate.name} {res.tier.value}: {res.reason}",
                    {"gate": gate.name, "check": res.check, "metric": res.metric, "tier": res.tier.value,
                     "previous": before.value if before else None, "observed": res.observed, "step": res.step}))
            if res.tier is Tier.FAIL and gate.on_fail == "stop" and self.decision is None:
                if self.allow_stop:
                    reason = f"gate {gate.name}: {res.reason}"
                    self.decision = StopDecision(reason, f"gate {gate.name}", gate.name)
                    self._new_decision = self.decision
                    if self.on_stop is not None:
                        self.on_stop(self.decision)  # signal first: recording takes a write or two
                    self.store.write(WriteBatch(events=events))
                    events = []
                    record_stop(self.store, self.run_id, reason, f"gate {gate.name}", res.step, gate.name)
                    self._stop_events_seen += 1
                elif (gate.name, i) not in self._warned and self._stop_needs_flag:
                    self._warned.add((gate.name, i))
                    self.say(f"gate {gate.name} would stop {self.run_label}, but stopping needs --allow-stop")
        if events:
            self.store.write(WriteBatch(events=events))

    # -- the end -----------------------------------------------------------------------------------
    def final(self) -> Verdict | None:
        """Judge once more with everything stored, as a finished run; record the verdict."""
        if not self.gates:
            return None
        self.allow_stop = False  # the process has ended: a FAIL now is a verdict, not a stop
        points, self.cursor = self.store.metric_points_after(self.run_id, self.cursor, keys=self.keys)
        self._add(points)
        summary = self.store.summary(self.run_id)
        for key in self.keys:
            value = summary.get(key)
            if not self._buffers[key].points and isinstance(value, (int, float)) and not isinstance(value, bool):
                self._buffers[key].reload([(None, float(value))])
        results = self._judge(set(self.keys), finished=True)
        verdict = Verdict(Gating.worst_of(results), tuple(results))
        self.store.write(WriteBatch(events=[EventRow(self.run_id, time.time(), "verdict", None, {
            "verdict": verdict.tier.value, "gates": {r.name: r.tier.value for r in results}})]))
        return verdict
