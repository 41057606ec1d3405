"""The local scheduler of a sweep: trials started in slots (``parallel``, GPUs), watched, pruned and interrupted.

:class:`SweepRunner` runs a :class:`~gatebook.sweep.plan.Plan`'s pending trials through a
launcher: :class:`LocalLauncher` starts each trial through the wrapper of ``gatebook run``
(:func:`gatebook.capture.wrapper.run_wrapped`, in a thread of this process: no interpreter
start-up per trial) in the sweep file's directory, at most ``parallel`` at a time (and at most
one per GPU when GPUs are given, each trial seeing its GPU through ``CUDA_VISIBLE_DEVICES``);
the Ray backend (:mod:`gatebook.sweep.ray_backend`) is another launcher. The runner reports
progress as data (:class:`Progress`, rendered by :mod:`gatebook.render.sweep`), optionally prunes
trials that are worse than the median of the others at the same step (``prune: {median: ...}``,
decided by :mod:`gatebook.sweep.prune`), and on SIGINT / SIGTERM interrupts every running trial as
a Ctrl-C would and waits for them. Each trial's command runs in its own process group under a
watchdog, so a sweep killed outright takes its running commands with it (SIGTERM, then SIGKILL
after the grace period) and their runs read as ``lost``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from gatebook.errors import GatebookError
from gatebook.sweep.plan import PARAM_SOURCE, SWEEP_TAG, Plan, TrialState, fingerprint_of, trial_tag
from gatebook.sweep.prune import median_decisions

if TYPE_CHECKING:
    from gatebook.store.base import Store

TICK = 0.1  # scheduler loop period (s)
MONITOR_EVERY = 0.5  # progress / pruner period (s)
PRUNER = "sweep median pruner"


@dataclass(frozen=True)
class Progress:
    """Where a running sweep stands: trials by status, the best so far, whether it is winding down."""

    sweep: str
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    objective: str | None = None
    best: tuple[str, float] | None = None  # (trial name, objective value)
    stopping: bool = False  # interrupted, with trials still running


def trial_options(plan: Plan, state: TrialState, gpus: Sequence[int] | None = None) -> Any:
    """The wrapper options of one trial: ``gatebook run --name SWEEP-TRIAL --group SWEEP --tag sweep
    --tag trial:FP [--parent BASELINE] [--gate G]... [--baseline BASELINE] -- ARGV``, quiet."""
    from gatebook.capture.wrapper import WrapOptions

    tags = [SWEEP_TAG, trial_tag(state.fingerprint), *[str(t) for t in plan.spec.tags or []]]
    baseline = plan.baseline.id if plan.baseline is not None else None
    uses_baseline = baseline is not None and any(g.uses_baseline for g in plan.gates)
    return WrapOptions(argv=trial_argv(plan, state), name=f"{plan.name}-{state.name}", group=plan.name, tags=tags,
                       parent=baseline, gates=[g.name for g in plan.gates],
                       baseline=baseline if uses_baseline else None, store=plan.store_url, echo=False,
                       cwd=str(plan.workdir), replicate=state.replicate,  # the ledger's replicate column
                       env={"CUDA_VISIBLE_DEVICES": ",".join(map(str, gpus))} if gpus is not None else {})


def wrapper_argv(opts: Any) -> list[str]:
    """The ``python -m gatebook run --quiet --json ...`` command line of wrapper options (for a
    backend that starts the wrapper as a process of its own); the store and ``opts.env`` go in
    the environment, ``opts.cwd`` is the directory to start it in."""
    cmd = [sys.executable, "-m", "gatebook", "run", "--quiet", "--json"]
    if opts.name:
        cmd += ["--name", opts.name]
    if opts.group:
        cmd += ["--group", opts.group]
    for tag in opts.tags:
        cmd += ["--tag", tag]
    if opts.parent:
        cmd += ["--parent", opts.parent]
    for gate in opts.gates:
        cmd += ["--gate", gate]
    if opts.baseline:
        cmd += ["--baseline", opts.baseline]
    if opts.replicate:
        cmd += ["--replicate", opts.replicate]
    return cmd + ["--", *opts.argv]


def trial_argv(plan: Plan, state: TrialState) -> list[str]:
    """The trial's command; writes its config copy first when the sweep has ``config:``
    (the argv already names the copy, ``.gatebook/sweeps/NAME/configs/TRIAL.yaml``)."""
    if getattr(plan.spec, "config", None):
        plan.spec.write_config(state.trial)
    return [str(a) for a in state.trial.argv]


class LocalLauncher:
    """Runs trials on this machine, each in a thread running the wrapper of ``gatebook run``.

    A launcher has three methods: ``start(state, opts)`` starts a trial with the wrapper
    options ``opts`` (:func:`trial_options`); ``poll(state)`` returns None while the trial runs,
    then the wrapper's result as ``gatebook run --json`` prints it (or ``{"error": LINE}`` when
    the wrapper could not record a run); ``interrupt(states)`` interrupts the running trials as
    a Ctrl-C would.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.ended = threading.Event()  # set when a trial ends: the scheduler starts the next at once

    def start(self, state: TrialState, opts: Any) -> None:
        from gatebook.capture.wrapper import WrapControl, run_wrapped

        control = WrapControl()
        opts.control = control
        box: dict[str, Any] = {}

        def trial() -> None:
            try:
                box["doc"] = run_wrapped(opts).to_dict()
            except GatebookError as exc:  # bad input the plan could not see (e.g. a command not found)
                box["doc"] = {"error": exc.message, "exit_code": exc.exit_code}
            except Exception as exc:  # noqa: BLE001 - reported as the trial's error, the sweep goes on
                box["doc"] = {"error": f"internal error: {type(exc).__name__}: {exc}", "exit_code": 1}
            finally:
                self.ended.set()

        thread = threading.Thread(target=trial, name=f"gatebook-trial-{state.name}", daemon=True)
        state.handle = (thread, control, box)
        thread.start()

    def poll(self, state: TrialState) -> dict[str, Any] | None:
        thread, control, box = state.handle
        if state.run_id is None and control.run_id is not None:
            state.run_id = control.run_id
        if "doc" in box:  # set before the thread ends (and before ``ended`` wakes the scheduler)
            return box["doc"]
        if thread.is_alive():
            return None
        return {"error": "the trial's wrapper ended without a result", "exit_code": 1}

    def interrupt(self, states: Sequence[TrialState]) -> None:
        for state in states:
            if state.handle is not None and state.handle[0].is_alive():
                state.handle[1].interrupt(signal.SIGINT)


class SweepRunner:
    """Runs a :class:`Plan`'s pending trials; ``run()`` returns when all have ended."""

    def __init__(self, plan: Plan, store: Store, *, say: Callable[[str], None] | None = None,
                 on_progress: Callable[[Progress], None] | None = None, launcher: Any = None) -> None:
        self.plan = plan
        self.launcher = launcher if launcher is not None else LocalLauncher(plan)
        self.store = store
        self.say = say or (lambda line: None)
        self.on_progress = on_progress  # called with the progress every MONITOR_EVERY and at the end
        self.interrupted = 0  # how many times SIGINT / SIGTERM arrived
        self._forwarded = 0
        self._series_cache: dict[str, dict[int, float]] = {}
        self._best: tuple[str, float] | None = None

    # -- signals
    def _on_signal(self, signum: int, frame: Any) -> None:
        self.interrupted += 1

    def _install(self) -> list[tuple[int, Any]]:
        old: list[tuple[int, Any]] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old.append((sig, signal.signal(sig, self._on_signal)))
            except ValueError:  # pragma: no cover - not the main thread
                pass
        return old

    # -- the loop
    @property
    def running(self) -> list[TrialState]:
        return [t for t in self.plan.trials if t.status == "running"]

    def run(self) -> list[TrialState]:
        old = self._install()
        try:
            pending = [t for t in self.plan.trials if not t.skipped]
            free_gpus = list(self.plan.gpus) if self.plan.gpus is not None else None
            last_monitor = 0.0
            while True:
                if self.interrupted > self._forwarded:
                    self._forward_sigint()
                # start what fits
                while pending and not self.interrupted and len(self.running) < self.plan.parallel:
                    gpus = None
                    if free_gpus is not None:
                        if len(free_gpus) < self.plan.gpus_per_trial:
                            break
                        gpus = free_gpus[:self.plan.gpus_per_trial]
                        del free_gpus[:self.plan.gpus_per_trial]
                    self._start(pending.pop(0), gpus)
                # reap what ended
                reaped = False
                for state in self.running:
                    ended = self.launcher.poll(state)
                    if ended is not None:
                        reaped = True
                        self._finish(state, ended)
                        if free_gpus is not None and state.gpus is not None and self.plan.gpus is not None:
                            back = set(free_gpus) | set(state.gpus)  # in the order --gpus gave them
                            free_gpus = [g for g in self.plan.gpus if g in back]
                now = time.monotonic()
                if now - last_monitor >= MONITOR_EVERY:
                    last_monitor = now
                    self._monitor()
                    if self.on_progress is not None:
                        self.on_progress(self.progress())
                if not self.running and (not pending or self.interrupted):
                    break
                if reaped and pending and not self.interrupted:
                    continue  # a slot is free: start the next trial now
                ended = getattr(self.launcher, "ended", None)  # a launcher that says when a trial ends
                if ended is not None:
                    ended.wait(TICK)
                    ended.clear()
                else:
                    time.sleep(TICK)
            if self.interrupted:
                for state in pending:
                    state.status = "not started"
            self._update_best()
            if self.on_progress is not None:
                self.on_progress(self.progress())
        finally:
            for sig, handler in old:
                signal.signal(sig, handler)
        return self.plan.trials

    def _start(self, state: TrialState, gpus: list[int] | None) -> None:
        if self.plan.search is not None:  # a search's trial is asked now, when its slot is free
            self.plan.search.fill(state)
        opts = trial_options(self.plan, state, gpus)
        state.gpus = gpus
        state.started_at = time.time()
        self.launcher.start(state, opts)
        state.status = "running"
        where = f" on GPU {','.join(map(str, gpus))}" if gpus is not None else ""
        self.say(f"{self._counts_prefix()}started {state.name}{where}")

    def _finish(self, state: TrialState, doc: dict[str, Any]) -> None:
        state.exit_code = doc.get("exit_code")
        state.run_id = doc.get("id") or state.run_id
        if doc.get("status"):
            state.status = str(doc["status"])
            state.reason = doc.get("reason")
        else:  # the wrapper did not get to record a run (bad command line, crash)
            state.status = "error"
            state.reason = str(doc.get("error") or "the trial's wrapper recorded no run")
        state.objective = self._objective_of(state.run_id)
        if self.plan.search is not None:
            self.plan.search.tell(state)
        if state.run_id and (self.plan.search is not None or state.replicate is not None):
            try:  # the params as the sweep gave them (a positional {seed} or {lr} is no --key value)
                self.store.log_params(state.run_id, PARAM_SOURCE, dict(state.trial.params))
            except Exception as exc:  # noqa: BLE001 - the run exists; the sweep goes on
                self.say(f"warning: cannot record {state.name}'s params: {type(exc).__name__}: {exc}")
        detail = f" ({state.reason})" if state.reason and state.status not in ("finished",) else ""
        obj = f", {self.plan.objective} {state.objective:g}" if state.objective is not None else ""
        self.say(f"{self._counts_prefix()}{state.name} {state.status}{obj}{detail}")

    def _forward_sigint(self) -> None:
        self._forwarded = self.interrupted
        self.launcher.interrupt(self.running)
        if self.running:
            self.say(f"interrupted: waiting for {len(self.running)} running trial(s) to stop")

    # -- monitoring: run ids, best so far, pruning
    def _monitor(self) -> None:
        try:
            self._find_run_ids()
            self._update_best()
            if self.plan.prune is not None and not self.interrupted:
                self._prune()
        except Exception as exc:  # the ledger is busy or went away: try again next time
            if os.environ.get("GATEBOOK_DEBUG_SWEEP"):
                raise
            self.say(f"warning: sweep monitor: {type(exc).__name__}: {exc}")

    def _find_run_ids(self) -> None:
        missing = [t for t in self.running if t.run_id is None]
        if not missing:
            return
        from gatebook.store.base import RunQuery

        runs = self.store.list_runs(RunQuery(group=self.plan.name, tags=(SWEEP_TAG,), statuses=("running",)))
        by_fp = {fingerprint_of(r): r for r in sorted(runs, key=lambda r: r.created_at)}
        for state in missing:
            run = by_fp.get(state.fingerprint)
            if run is not None and run.created_at >= state.started_at - 5:
                state.run_id = run.id

    def _objective_of(self, run_id: str | None) -> float | None:
        key = self.plan.objective
        if not key or not run_id:
            return None
        try:
            stats = self.store.metric_stats([run_id]).get(run_id, {})
        except Exception:  # pragma: no cover - ledger busy
            return None
        s = stats.get(key)
        return None if s is None else s.last

    def _update_best(self) -> None:
        key = self.plan.objective
        ids = [t.run_id for t in self.plan.trials if t.run_id]
        if not key or not ids:
            return
        stats = self.store.metric_stats(ids)
        direction = self.plan.direction(key)
        best: tuple[str, float] | None = None
        for state in self.plan.trials:
            s = stats.get(state.run_id or "", {}).get(key)
            if s is None or s.last is None or s.last != s.last:
                continue
            if state.status == "running" or not state.skipped:
                state.objective = s.last
            better = best is None or (s.last < best[1] if direction == "lower" else s.last > best[1])
            if better:
                best = (state.name, s.last)
        self._best = best

    def _series(self, state: TrialState) -> dict[int, float]:
        """``{step: value}`` of the pruner's metric for a trial (cached once it has ended)."""
        assert self.plan.prune is not None and state.run_id is not None
        if state.status != "running" and state.run_id in self._series_cache:
            return self._series_cache[state.run_id]
        points = self.store.metric_series(state.run_id, [self.plan.prune.metric]).get(self.plan.prune.metric, [])
        series: dict[int, float] = {}
        for step, value, _ts in points:
            if step is not None and value == value:
                series[int(step)] = float(value)
        if state.status != "running":
            self._series_cache[state.run_id] = series
        return series

    def _prune(self) -> None:
        """Stop the running trials the median rule prunes (:mod:`gatebook.sweep.prune` decides)."""
        from gatebook.gates.live import record_stop

        prune = self.plan.prune
        assert prune is not None
        series = {t.run_id: self._series(t) for t in self.plan.trials if t.run_id}
        by_id = {t.run_id: t for t in self.running if t.run_id is not None and not t.pruned}
        for decision in median_decisions(prune, list(by_id), series):
            state = by_id[decision.run_id]
            state.pruned = True
            reason = decision.reason(prune.metric)
            if record_stop(self.store, decision.run_id, reason, by=PRUNER, step=decision.step):
                self.say(f"{self._counts_prefix()}pruned {state.name}: {reason}")

    # -- progress
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.plan.trials:
            out[t.status] = out.get(t.status, 0) + 1
        return out

    def progress(self) -> Progress:
        """The sweep as it stands now (what the live view shows)."""
        return Progress(sweep=self.plan.name, total=len(self.plan.trials), counts=self.counts(),
                        objective=self.plan.objective, best=self._best,
                        stopping=bool(self.interrupted and self.running))

    def _counts_prefix(self) -> str:
        total = len(self.plan.trials)
        ended = sum(1 for t in self.plan.trials if t.status not in ("pending", "running"))
        return f"sweep {self.plan.name} [{ended}/{total}] "
