"""The local sweep runner: a sweep's trials as ordinary runs, several at once.

:func:`plan_sweep` validates everything (the sweep file, its gates against gatebook.yaml, the
baseline, the pruner's metric) and works out which trials to run and which to skip (resume)
before anything starts. :class:`SweepRunner` then starts each trial through the wrapper of
``gatebook run`` (:func:`gatebook.capture.wrapper.run_wrapped`, in a thread of this process: no
interpreter start-up per trial) in the sweep file's directory, at most ``parallel`` at a time
(and at most one per GPU when GPUs are given, each trial seeing its GPU through
``CUDA_VISIBLE_DEVICES``), shows live progress on stderr, optionally prunes trials that are worse
than the median of the others at the same step (``prune: {median: ...}``), and on SIGINT /
SIGTERM interrupts every running trial as a Ctrl-C would and waits for them. Each trial's command
runs in its own process group under a watchdog, so a sweep killed outright takes its running
commands with it (SIGTERM, then SIGKILL after the grace period) and their runs read as ``lost``.

Trials are found again in the ledger by their tags: every trial run is in the group named after
the sweep, tagged ``sweep`` and ``trial:<fingerprint>`` (a hash of the command and params), so a
second ``gatebook sweep run`` skips what already finished or was stopped, runs again what was
interrupted or lost, and runs failed trials again only with ``--retry-failed``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, cast

from gatebook.errors import ConfigError, GatebookError, NotFoundError, UsageError
from gatebook.records import RunRecord, RunStatus
from gatebook.sweep.prune import MedianPrune, median_decisions

SWEEP_TAG = "sweep"
TRIAL_TAG_PREFIX = "trial:"
DONE = ("finished", "stopped")  # a trial in one of these states is not run again
FAILED = ("failed",)  # run again only with --retry-failed; interrupted and lost trials always are
TICK = 0.1  # scheduler loop period (s)
MONITOR_EVERY = 0.5  # progress / pruner period (s)
PRUNER = "sweep median pruner"


# -- the plan --------------------------------------------------------------------------------------


@dataclass
class TrialState:
    trial: Any
    fingerprint: str
    status: str = "pending"  # pending | running | a RunStatus value | error
    skipped: bool = False
    run_id: str | None = None
    exit_code: int | None = None
    objective: float | None = None
    reason: str | None = None
    gpus: list[int] | None = None  # the GPUs of this machine the trial was given (--gpus)
    started_at: float = 0.0
    pruned: bool = False
    handle: Any = None  # the launcher's handle of the running trial (a thread, a Ray ObjectRef)

    @property
    def name(self) -> str:
        return str(self.trial.name)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.trial.index, "name": self.name, "params": dict(self.trial.params),
                "run_id": self.run_id, "status": self.status, "skipped": self.skipped,
                "exit_code": self.exit_code, "objective": self.objective}


@dataclass
class Plan:
    spec: Any
    spec_path: Path
    workdir: Path
    store_url: str
    pconf: Any
    gates: list[Any]
    baseline: RunRecord | None
    parallel: int
    gpus: list[int] | None
    trials: list[TrialState]
    prune: MedianPrune | None = None
    retry_failed: bool = False
    gpus_per_trial: int = 1  # how many of ``gpus`` each trial takes (resources.gpus, at least 1)

    @property
    def name(self) -> str:
        return str(self.spec.name or self.spec_path.stem)

    @property
    def objective(self) -> str | None:
        return self.spec.objective

    def direction(self, key: str | None) -> str | None:
        return self.pconf.metrics.direction(key) if key else None


def trial_tag(fingerprint: str) -> str:
    return f"{TRIAL_TAG_PREFIX}{fingerprint}"


def fingerprint_of(run: RunRecord) -> str | None:
    for tag in run.tags:
        if tag.startswith(TRIAL_TAG_PREFIX):
            return tag[len(TRIAL_TAG_PREFIX):]
    return None


def sweep_runs(store: Any, sweep: str, *, full: bool = False) -> list[RunRecord]:
    """The runs of sweep ``sweep`` (group ``sweep``, tag ``sweep``), oldest first, lost ones marked."""
    from gatebook.liveness import reconcile
    from gatebook.settings import load_settings
    from gatebook.store.base import RunQuery

    query = RunQuery(group=sweep, tags=(SWEEP_TAG,), sort="created")
    runs = store.list_runs(query, full=full) if full else store.list_runs(query)
    if any(r.status is RunStatus.RUNNING for r in runs):
        runs = reconcile(store, runs, lost_after=load_settings().lost_after)
    return runs


def latest_by_trial(runs: Sequence[RunRecord]) -> dict[str, RunRecord]:
    """The latest run of each trial fingerprint (earlier ones are retried attempts)."""
    out: dict[str, RunRecord] = {}
    for run in sorted(runs, key=lambda r: r.created_at):
        fp = fingerprint_of(run)
        if fp is not None:
            out[fp] = run
    return out


def _median_prune(spec: Any, pconf: Any) -> MedianPrune | None:
    prune = getattr(spec, "prune", None)  # a playbook sweep has none
    if prune is None:
        return None
    median = prune.median
    direction = pconf.metrics.direction(median.metric)
    if direction is None:
        raise ConfigError(f"prune.median metric {median.metric!r} has no direction in gatebook.yaml",
                          hint="list it under metrics.higher_is_better or metrics.lower_is_better")
    return MedianPrune(metric=median.metric, warmup=median.warmup, min_trials=median.min_trials, direction=direction)


def resume(state: TrialState, prior: RunRecord | None, *, retry_failed: bool) -> None:
    """Mark ``state`` skipped when its trial's latest run ``prior`` needs no new run: finished,
    stopped or still running, or failed (unless ``retry_failed``). Interrupted and lost ones run."""
    if prior is None:
        return
    status = prior.status.value
    if status in DONE or status == "running" or (status in FAILED and not retry_failed):
        state.skipped, state.status, state.run_id = True, status, prior.id
        state.exit_code, state.reason = prior.exit_code, prior.reason


def _check_commands(trials: Sequence[Any], workdir: Path, sweep_file: str) -> None:
    """A UsageError when a trial's program is neither on PATH nor an executable file (relative
    to the sweep's directory): every trial would fail the same way."""
    import shutil

    for exe in dict.fromkeys(str(t.argv[0]) for t in trials if t.argv):
        if shutil.which(exe) is not None:
            continue
        if os.sep in exe and os.access(workdir / exe, os.X_OK) and (workdir / exe).is_file():
            continue
        raise UsageError(f"{sweep_file}: command: {exe!r} is not found (not on PATH, not an executable file)",
                         hint="check the command's first word, or give its path")


def plan_sweep(path: str | Path, *, store_flag: str | None = None, parallel: int | None = None,
               gpus: Sequence[int] | None = None, retry_failed: bool = False,
               check_commands: bool = True) -> tuple[Plan, Any]:
    """Validate the sweep and decide what to run; returns the plan and the open store.

    Raises a GatebookError (exit 2, one line) on any input problem; nothing is started.
    ``check_commands`` false skips checking that the trials' program exists here (a Ray
    cluster's nodes may have programs this machine has not).
    """
    from gatebook import project
    from gatebook.gates.spec import select_gates
    from gatebook.project_config import load_project_config
    from gatebook.store import open_store
    from gatebook.sweep.spec import load_sweep, validate_gates

    spec_path = Path(path)
    if not spec_path.is_file():
        raise UsageError(f"no sweep file {str(path)!r}")
    spec_path = spec_path.resolve()
    spec = load_sweep(spec_path)
    workdir = spec_path.parent
    # the trials' wrappers run in the sweep file's directory: find the project from there
    proj = project.locate(store_flag, create=True, start=workdir)
    pconf = load_project_config(proj.root if proj.root is not None else workdir)
    gate_names = list(spec.gates or [])
    validate_gates(spec, set(pconf.gates))
    gates = select_gates(pconf.gates, gate_names, pconf.source) if gate_names else []
    prune = _median_prune(spec, pconf)

    n_parallel = int(parallel if parallel is not None else (spec.parallel or 1))
    if n_parallel < 1:
        raise UsageError(f"--parallel must be at least 1, not {n_parallel}")
    gpu_list = list(gpus) if gpus is not None else (list(spec.gpus) if spec.gpus else None)
    if gpu_list is not None:  # checked by parse_gpus (the file's gpus:, --gpus)
        asked = float(spec.resources.gpus)
        if asked != int(asked):
            raise UsageError(f"{spec_path.name}: resources.gpus {asked:g}: the local runner gives each trial whole "
                             "GPUs of --gpus", hint="use a whole number, or --backend ray, which shares GPUs")
        per_trial = max(1, int(asked))
        if per_trial > len(gpu_list):
            raise UsageError(f"{spec_path.name}: resources.gpus {per_trial} but --gpus gives {len(gpu_list)}",
                             hint="list more GPUs or ask for fewer per trial")
        n_parallel = min(n_parallel, len(gpu_list) // per_trial)
    else:
        per_trial = 1

    trials = list(spec.trials())
    if not trials:
        raise ConfigError(f"{spec_path.name}: the sweep has no trials")
    if check_commands:
        _check_commands(trials, workdir, spec_path.name)
    store = open_store(proj.store_url)
    try:
        baseline = None
        if spec.baseline:
            try:
                baseline = store.resolve_run(spec.baseline)
            except NotFoundError as exc:
                raise NotFoundError(f"{spec_path.name}: baseline: {exc.message}", hint=exc.hint) from None
        existing = latest_by_trial(sweep_runs(store, cast(str, spec.name)))  # set by load_spec
        states = []
        for trial in trials:
            state = TrialState(trial=trial, fingerprint=spec.fingerprint(trial))
            resume(state, existing.get(state.fingerprint), retry_failed=retry_failed)
            states.append(state)
    except BaseException:
        store.close()
        raise
    plan = Plan(spec=spec, spec_path=spec_path, workdir=workdir, store_url=proj.store_url, pconf=pconf,
                gates=gates, baseline=baseline, parallel=n_parallel, gpus=gpu_list, trials=states, prune=prune,
                retry_failed=retry_failed, gpus_per_trial=per_trial)
    return plan, store


# -- running ---------------------------------------------------------------------------------------


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
                       cwd=str(plan.workdir),
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

    def __init__(self, plan: Plan, store: Any, *, say: Callable[[str], None] | None = None,
                 live: bool = False, console: Any = None, launcher: Any = None) -> None:
        self.plan = plan
        self.launcher = launcher if launcher is not None else LocalLauncher(plan)
        self.store = store
        self.say = say or (lambda line: None)
        self.live = live
        self.console = console
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
        live_ctx = None
        try:
            if self.live and self.console is not None:
                from rich.live import Live

                live_ctx = Live(self._status_text(), console=self.console, refresh_per_second=4, transient=False)
                live_ctx.__enter__()
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
                    if live_ctx is not None:
                        live_ctx.update(self._status_text())
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
            if live_ctx is not None:
                live_ctx.update(self._status_text())
        finally:
            if live_ctx is not None:
                live_ctx.__exit__(None, None, None)
            for sig, handler in old:
                signal.signal(sig, handler)
        return self.plan.trials

    def _start(self, state: TrialState, gpus: list[int] | None) -> None:
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

    def _counts_prefix(self) -> str:
        total = len(self.plan.trials)
        ended = sum(1 for t in self.plan.trials if t.status not in ("pending", "running"))
        return f"sweep {self.plan.name} [{ended}/{total}] "

    def _status_text(self) -> Any:
        """The live view: the counts on one line, the best trial so far on the next."""
        from rich.text import Text

        c = self.counts()
        failed = sum(c.get(s, 0) for s in ("failed", "lost", "error"))
        text = Text()
        text.append(f"sweep {self.plan.name}: ", style="bold")
        text.append(f"{c.get('finished', 0)} done", style="green")
        text.append(f" / {c.get('running', 0)} running / ")
        text.append(f"{c.get('stopped', 0)} stopped", style="yellow")
        text.append(" / ")
        text.append(f"{failed} failed", style="red" if failed else "")
        if c.get("interrupted"):
            text.append(" / ")
            text.append(f"{c['interrupted']} interrupted", style="red")
        text.append(f" / {c.get('pending', 0)} pending (of {len(self.plan.trials)})")
        if self._best is not None and self.plan.objective:
            text.append(f"\nbest {self.plan.objective} {self._best[1]:g} ({self._best[0]})", style="bold")
        if self.interrupted and self.running:
            text.append("\ninterrupted: waiting for the running trials to stop", style="red")
        return text


# -- the result ------------------------------------------------------------------------------------


def sweep_metrics(objective: str | None, gates: Sequence[Any]) -> list[str]:
    from gatebook.gates.checks import metrics_of

    keys = [objective] if objective else []
    for gate in gates:
        for check in gate.checks:
            for key in metrics_of(check):
                if key not in keys:
                    keys.append(key)
    return keys


def ranking(store: Any, runs: Sequence[RunRecord], *, objective: str | None, gates: Sequence[Any],
            baseline: RunRecord | None, pconf: Any, metrics: Sequence[str] | None = None,
            sort: str | None = None) -> Any:
    """The sweep's ranked comparison (``gatebook compare``'s model), or None without runs."""
    from gatebook.analysis.compare import build_comparison

    if not runs:
        return None
    stats = store.metric_stats([r.id for r in ([baseline] if baseline else []) + list(runs)])
    have = {k for per in stats.values() for k in per}
    if metrics:
        keys: list[str] | None = list(metrics)
    else:
        keys = [k for k in sweep_metrics(objective, gates) if k in have] or None
    sort_key = sort or (objective if objective in have else None)
    try:
        comp = build_comparison(store, runs, metrics=keys, baseline=baseline, pconf=pconf,
                                gates=tuple(g.name for g in gates), sort=sort_key, first_as_baseline=False)
    except UsageError:
        if metrics or sort:
            raise
        # no trial logged a metric yet: the table still lists the trials and their status
        comp = build_comparison(store, runs, metrics=None, baseline=baseline, pconf=pconf,
                                gates=tuple(g.name for g in gates), sort=None, first_as_baseline=False)
    if comp.sort is None:  # no objective: rank by the first column that has a direction
        from gatebook.analysis.compare import sort_rows

        ranked = next((m for m in comp.metrics if m.direction), None)
        if ranked is not None:
            comp.rows = sort_rows(comp.rows, ranked.key, ranked.direction)
            comp.sort = ranked.key
    return comp


def result_document(plan: Plan, trials: Sequence[TrialState], comparison: Any) -> dict[str, Any]:
    counts: dict[str, int] = {"total": len(trials), "skipped": sum(1 for t in trials if t.skipped)}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    return {"sweep": plan.name, "trials": [t.to_dict() for t in trials], "counts": counts,
            "ranking": comparison.to_dict() if comparison is not None else None}
