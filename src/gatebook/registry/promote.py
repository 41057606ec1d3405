"""Gated promotion: move an alias to a run only when the run passes its gates against the holder; rollback.

One judge: :func:`gatebook.gates.setup.prepare_gates` with the alias's current holder as the
``--baseline`` override of every gate, then :meth:`Gating.judge`. An empty alias judges its first
run with the absolute checks only; the checks that compare with a baseline are reported as
"no holder yet" and not counted. Moves are compare-and-set on the holder
(:meth:`Store.move_alias`): a holder that changed while the run was judged is judged against
again, up to :data:`MAX_ATTEMPTS` times. Every refused attempt is appended to the trail.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from gatebook.errors import AliasBusyError, UsageError
from gatebook.gates.evaluate import Series, Tier, Verdict
from gatebook.records import AliasEvent, RunRecord, RunStatus
from gatebook.registry.names import check_name

if TYPE_CHECKING:
    from gatebook.gates.playbook import Advice
    from gatebook.gates.setup import Gating
    from gatebook.project_config import ProjectConfig
    from gatebook.store.base import Store

MAX_ATTEMPTS = 5
"""How many times a promotion judges again when the holder changed while it judged."""

NO_HOLDER = "no holder yet"
"""Why a check that compares with a baseline is not judged when the alias is empty."""

MOVES = ("moved", "forced", "rollback")
"""The trail's actions that move an alias (``refused`` moves nothing)."""


def _ref(run: RunRecord | None) -> dict[str, Any] | None:
    return None if run is None else {"id": run.id, "name": run.name}


@dataclass
class Promotion:
    """The outcome of one ``promote`` or ``rollback``: what was judged, against whom, what moved.

    ``action`` is one of ``moved``, ``forced``, ``refused``, ``rollback`` (the trail's actions)
    or ``unchanged`` (the run already held the alias: nothing judged, nothing written).
    ``holder`` is the run the alias pointed at before (the baseline of every gate)."""

    alias: str
    action: str
    run: RunRecord
    holder: RunRecord | None
    by: str
    ts: float
    verdict: Verdict | None = None
    not_judged: dict[str, tuple[str, ...]] = field(default_factory=dict)  # gate -> checks ("no holder yet")
    forced: bool = False
    reason: str | None = None
    allow_marginal: bool = False
    attempts: int = 1
    advice: list[Advice] = field(default_factory=list)
    alert_failures: list[str] = field(default_factory=list)  # alerts (gatebook.notify) not delivered

    @property
    def moved(self) -> bool:
        return self.action in MOVES

    @property
    def tier(self) -> Tier | None:
        return self.verdict.tier if self.verdict is not None else None

    @property
    def exit_code(self) -> int:
        """0 when the alias moved (or already pointed at the run), 1 when the attempt was refused."""
        return 1 if self.action == "refused" else 0

    def gate_dicts(self) -> list[dict[str, Any]]:
        """Each gate's verdict and checks (observed, threshold), its baseline and its unjudged checks."""
        out = []
        for result in self.verdict.gates if self.verdict else ():
            doc = result.to_dict()
            doc["baseline"] = _ref(self.holder)
            doc["not_judged"] = [{"check": c, "reason": NO_HOLDER} for c in self.not_judged.get(result.name, ())]
            out.append(doc)
        return out

    def event(self) -> AliasEvent:
        """The trail entry of this attempt (its id is the store's to give)."""
        tier = self.tier.value if self.tier is not None else None
        shown = tier if self.action in ("moved", "refused") else None  # the tier that moved it, per AliasRecord
        data: dict[str, Any] = {"verdict": tier, "gates": self.gate_dicts(), "allow_marginal": self.allow_marginal,
                                "attempt": self.attempts}
        return AliasEvent(id=0, alias=self.alias, ts=self.ts, by=self.by, action=self.action,
                          from_run=self.holder.id if self.holder else None, to_run=self.run.id, verdict=shown,
                          forced=self.forced, reason=self.reason, data=data)

    def to_dict(self) -> dict[str, Any]:
        """The ``promote --json`` / ``aliases rollback --json`` document."""
        from gatebook.render.text import iso

        after = self.run if self.moved or self.action == "unchanged" else self.holder
        return {"alias": self.alias, "action": self.action, "moved": self.moved,
                "run": self.run.ref(),
                "from": _ref(self.holder), "holder": _ref(after),
                "verdict": self.tier.value if self.tier is not None else None, "gates": self.gate_dicts(),
                "forced": self.forced, "reason": self.reason, "allow_marginal": self.allow_marginal,
                "by": self.by, "time": iso(self.ts), "attempts": self.attempts,
                "advice": [a.to_dict() for a in self.advice]}


def gates_for(pconf: ProjectConfig, alias: str, gates: Sequence[str], *, force: bool = False) -> tuple[str, ...]:
    """The gates a promotion to ``alias`` is judged by: ``--gate``, else the alias's own in
    gatebook.yaml (``aliases: {NAME: {gates: [...]}}``). None at all is a usage error, except
    for a forced move (which then moves without a verdict)."""
    if gates:
        return tuple(gates)
    spec = (getattr(pconf, "aliases", None) or {}).get(alias)
    if spec is not None and spec.gates:
        return tuple(spec.gates)
    if force:
        return ()
    declare = f"aliases: {{{alias}: {{gates: [NAME]}}}}"
    raise UsageError(f"no gates to judge a promotion to @{alias}",
                     hint=f"pass --gate NAME, or declare them in gatebook.yaml: {declare}")


def promote(store: Store, pconf: ProjectConfig, run_ref: str, alias: str, *, gates: Sequence[str] = (),
            allow_marginal: bool = False, force: bool = False, reason: str | None = None,
            by: str | None = None) -> Promotion:
    """Judge the run ``run_ref`` names against ``alias``'s holder and move the alias when it passes.

    PASS moves; MARGINAL only with ``allow_marginal``; FAIL, ERROR and PENDING never (the attempt
    is appended as ``refused``, with the playbook's advice on the returned promotion). ``force``
    (with a ``reason``) moves whatever the verdict. Usage errors (a malformed name, ``force``
    without ``reason``, a run that is not finished, no gates) are raised before anything is written.
    """
    from gatebook.gates.live import who
    from gatebook.liveness import resolve_current

    name = check_name(alias)
    if force and not (reason or "").strip():
        raise UsageError("--force needs --reason", hint='say why the gates are overridden: --reason "..."')
    run = resolve_current(store, run_ref)
    if run.status is not RunStatus.FINISHED:
        raise UsageError(f"run {run.label} is {run.status.value}: only a finished run can be promoted")
    names = gates_for(pconf, name, gates, force=force)
    who_ = by or who()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        current = store.get_alias(name)
        holder = store.get_run(current.run_id) if current is not None else None
        if holder is not None and holder.id == run.id:
            return Promotion(name, "unchanged", run, holder, who_, time.time(), attempts=attempt)
        verdict, not_judged, gating, series = _judge(store, pconf, run, holder, names)
        tier = verdict.tier if verdict is not None else None
        passes = tier is Tier.PASS or (tier is Tier.MARGINAL and allow_marginal)
        action = "moved" if passes else ("forced" if force else "refused")
        promo = Promotion(name, action, run, holder, who_, time.time(), verdict, not_judged,
                          forced=action == "forced", reason=reason,
                          allow_marginal=allow_marginal, attempts=attempt)
        expected = holder.id if holder is not None else None
        if action == "refused":
            latest = store.get_alias(name)
            if (latest.run_id if latest is not None else None) != expected:
                continue  # judged against a holder that has gone: judge again
            if gating is not None and verdict is not None:
                promo.advice = _advice(store, run, gating, verdict, series)
            store.add_alias_event(promo.event())
            promo.alert_failures = _alert(store, pconf, promo)
            return promo
        if store.move_alias(name, run.id, expected=expected, event=promo.event()):
            promo.alert_failures = _alert(store, pconf, promo)
            return promo
    conflict = dataclasses.replace(promo, action="refused", forced=False, ts=time.time())
    event = conflict.event()
    store.add_alias_event(dataclasses.replace(event, data={**event.data, "conflict": True}))
    raise AliasBusyError(f"@{name} changed holder {MAX_ATTEMPTS} times while {run.label} was judged; nothing moved",
                         hint="run the promotion again")


def _alert(store: Store, pconf: ProjectConfig, promo: Promotion) -> list[str]:
    """``promoted`` (moved or forced) or ``promotion_refused`` to the project's alert targets
    (gatebook.notify), waiting a few seconds at most; the deliveries that failed."""
    if not pconf.notify:
        return []
    from gatebook.notify import event_document, send_now

    event = "promotion_refused" if promo.action == "refused" else "promoted"
    verdict = promo.verdict.tier.value if promo.verdict is not None else None
    text = (f"gatebook: @{promo.alias} " + ("refused " if event == "promotion_refused" else "moved to ")
            + f"{promo.run.label}" + (f" ({verdict})" if verdict else "")
            + (f": {promo.reason}" if promo.reason else ""))
    data = {"alias": promo.alias, "action": promo.action, "verdict": verdict,
            "from": promo.holder.ref() if promo.holder is not None else None, "reason": promo.reason}
    return send_now(pconf.notify, store, [event_document(event, promo.run, text, data)], timeout=5.0)


def _judge(store: Store, pconf: ProjectConfig, run: RunRecord, holder: RunRecord | None, names: Sequence[str]
           ) -> tuple[Verdict | None, dict[str, tuple[str, ...]], Gating | None, Series]:
    """The verdict of ``names`` on ``run`` with ``holder`` as every gate's baseline; with no holder,
    the absolute checks only (and, per gate, the baseline checks left out)."""
    from gatebook.gates.setup import Gating, load_series, prepare_gates
    from gatebook.gates.spec import select_gates

    if not names:
        return None, {}, None, {}
    not_judged: dict[str, tuple[str, ...]] = {}
    if holder is not None:
        gating = prepare_gates(store, pconf, names, holder.id, exclude=run.id)
    else:
        gates = []
        for gate in select_gates(pconf.gates, list(names), pconf.source):
            left_out = tuple(str(c) for c in gate.checks if c.uses_baseline)
            if left_out:
                not_judged[gate.name] = left_out
            gates.append(dataclasses.replace(gate, baseline=None,
                                             checks=tuple(c for c in gate.checks if not c.uses_baseline)))
        gating = Gating(gates, {g.name: None for g in gates}, pconf.metrics.direction)
    series = load_series(store, run.id)
    return gating.judge(series, finished=True), not_judged, gating, series


def _advice(store: Store, run: RunRecord, gating: Gating, verdict: Verdict, series: Series) -> list[Advice]:
    """The playbook's diagnoses and next fix for each gate the run failed (as `gatebook gate` gives)."""
    from gatebook.gates.setup import advice_for

    return [advice_for(store, run.id, g, series, gating)
            for g, r in zip(gating.gates, verdict.gates, strict=False)
            if r.tier in (Tier.FAIL, Tier.ERROR) and (g.playbook.fixes or g.playbook.signatures)]


def previous_holder(store: Store, alias: str, holder_id: str) -> str | None:
    """The run that held ``alias`` before ``holder_id`` took it (from the trail), or None."""
    for event in reversed(store.alias_events(alias)):
        if event.action in MOVES and event.to_run == holder_id:
            return event.from_run
    return None


def rollback(store: Store, alias: str, *, reason: str | None, by: str | None = None) -> Promotion:
    """Move ``alias`` back to the run that held it before its current holder, recorded as
    ``rollback`` with ``reason`` (required). A second rollback undoes the first."""
    from gatebook.gates.live import who
    from gatebook.registry.trail import require_alias

    name = check_name(alias)
    if not (reason or "").strip():
        raise UsageError("a rollback needs --reason", hint='say why: --reason "..."')
    current = require_alias(store, name)
    previous = previous_holder(store, name, current.run_id)
    holder = store.get_run(current.run_id)
    if previous is None:
        raise UsageError(f"@{name} has no previous holder to roll back to (it holds {holder.label}, its first)")
    promo = Promotion(name, "rollback", store.get_run(previous), holder, by or who(), time.time(), reason=reason)
    if not store.move_alias(name, previous, expected=current.run_id, event=promo.event()):
        raise AliasBusyError(f"@{name} moved while it was rolled back; nothing changed",
                             hint=f"see `gatebook aliases log {name}` and roll back again")
    return promo
