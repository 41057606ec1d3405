"""A sweep's plan: its trials (expansion, names) and, against the ledger, which of them are left to run.

:func:`plan_sweep` validates everything (the sweep file, its gates against gatebook.yaml, the
baseline, the pruner's metric) and works out which trials to run and which to skip (resume)
before anything starts; :mod:`gatebook.sweep.executor` then runs them.

Trials are found again in the ledger by their tags: every trial run is in the group named after
the sweep, tagged ``sweep`` and ``trial:<fingerprint>`` (a hash of the command and params), so a
second ``gatebook sweep run`` skips what already finished or was stopped, runs again what was
interrupted or lost, and runs failed trials again only with ``--retry-failed``. With ``repeat`` /
``seeds`` each (trial, seed) is a trial of its own (``<trial>-s<seed>``, its fingerprint covers the
seed) with the ledger's ``replicate`` key too; a ``search:`` sweep's trials come from
:mod:`gatebook.sweep.search`, which replays the ledger's finished trials.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, cast

from gatebook.errors import ConfigError, NotFoundError, UsageError
from gatebook.project_config import _short
from gatebook.records import RunRecord
from gatebook.sweep.prune import MedianPrune
from gatebook.sweep.space import MAX_TRIALS, SweepProblem, canonical, name_value

if TYPE_CHECKING:
    from gatebook.project_config import ProjectConfig
    from gatebook.store.base import Store

SWEEP_TAG = "sweep"
TRIAL_TAG_PREFIX = "trial:"
PARAM_SOURCE = "sweep"
"""The params source under which a search's or a replicate set's trial records its params."""
DONE = ("finished", "stopped")  # a trial in one of these states is not run again
FAILED = ("failed",)  # run again only with --retry-failed; interrupted and lost trials always are
_NAME_LIMIT = 80
_MISSING_TEXT = "\x00missing"


# -- trials ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One point of the sweep: what to run and under which name."""

    index: int
    name: str
    params: dict[str, Any]
    argv: list[str]
    config_overrides: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None
    """Where this trial's config copy goes (sweeps with a ``config`` file only)."""
    seed: int | None = None
    """With ``repeat`` / ``seeds``: the seed (also ``params["seed"]``) of this run of its set."""
    replicate: str | None = None
    """With ``repeat`` / ``seeds``: the name of the replicate set (the trial's name without ``-s<seed>``)."""


def expand_trials(sets: list[tuple[str | None, dict[str, Any]]], mode: str,
                  render: Callable[[dict[str, Any], str], list[str]],
                  overrides: Callable[[dict[str, Any]], dict[str, Any]]) -> list[Trial]:
    """The trials of the space's points ``sets`` (:func:`gatebook.sweep.space.param_sets`), named by
    :func:`trial_names`; ``render(params, name)`` is a trial's argv, ``overrides(params)`` the
    params its config copy gets. SweepProblem for too many trials or two with the same params."""
    if len(sets) > MAX_TRIALS:
        raise SweepProblem((mode,), f"{len(sets)} trials, more than {MAX_TRIALS}; shrink the space")
    seen: dict[str, int] = {}
    for i, (_, params) in enumerate(sets):
        key = canonical(params)
        if key in seen:
            raise SweepProblem(("list", i), f"same params as list item {seen[key]}: the trial would run twice; "
                                            "to repeat a trial, add a param such as seed")
        seen[key] = i
    names = trial_names(sets)
    return [Trial(i, names[i], dict(params), render(params, names[i]), overrides(params))
            for i, (_, params) in enumerate(sets)]


def trial_names(sets: list[tuple[str | None, dict[str, Any]]]) -> list[str]:
    """Given names, else ``key-value_key-value`` of the params that vary (all of them when
    none varies); compact numbers first, exact ones where compact ones collide, then an
    index suffix. Unique even on a case-insensitive file system."""
    keys: dict[str, None] = {}
    for _, params in sets:
        keys.update(dict.fromkeys(params))
    varying = [k for k in keys if len({canonical(p.get(k, _MISSING_TEXT)) for _, p in sets}) > 1] or list(keys)

    def build(params: dict[str, Any], exact: bool) -> str:
        text = "_".join(f"{k}-{name_value(params[k], exact)}" for k in varying if k in params)
        text = re.sub(r"[^A-Za-z0-9_.\-]+", "-", text).lstrip("_.-") or "trial"
        if len(text) > _NAME_LIMIT:
            text = text[: _NAME_LIMIT - 9].rstrip("_.-") + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]
        return text

    given = [n for n, _ in sets if n is not None]
    for n, _ in sets:
        if n is not None and [g.lower() for g in given].count(n.lower()) > 1:
            later = [j for j, (m, _) in enumerate(sets) if m is not None and m.lower() == n.lower()][1]
            raise SweepProblem(("list", later, "name"), f"two variants are named {n!r}; give each its own name")
    names = [n if n is not None else build(p, exact=False) for n, p in sets]
    lowered = [n.lower() for n in names]
    names = [n if sets[i][0] is not None or lowered.count(n.lower()) == 1 else build(sets[i][1], exact=True)
             for i, n in enumerate(names)]
    taken: set[str] = set()
    for i, n in enumerate(names):
        if sets[i][0] is not None:
            taken.add(n.lower())
    out = []
    for i, n in enumerate(names):
        if sets[i][0] is None and (n.lower() in taken or [m.lower() for m in names].count(n.lower()) > 1):
            suffix = i
            while f"{n}-{suffix}".lower() in taken:
                suffix += 1000
            n = f"{n}-{suffix}"
        taken.add(n.lower())
        out.append(n)
    return out


# -- the plan -------------------------------------------------------------------------------------


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
    replicate: str | None = None  # the replicate set's key (repeat / seeds), the fingerprint without the seed

    @property
    def name(self) -> str:
        return str(self.trial.name)

    def to_dict(self) -> dict[str, Any]:
        doc = {"index": self.trial.index, "name": self.name, "params": dict(self.trial.params),
               "run_id": self.run_id, "status": self.status, "skipped": self.skipped,
               "exit_code": self.exit_code, "objective": self.objective}
        if self.replicate is not None:
            doc.update(replicate=self.replicate, seed=self.trial.seed, set=self.trial.replicate)
        return doc


@dataclass
class Plan:
    spec: Any
    spec_path: Path
    workdir: Path
    store_url: str
    pconf: ProjectConfig
    gates: list[Any]
    baseline: RunRecord | None
    parallel: int
    gpus: list[int] | None
    trials: list[TrialState]
    prune: MedianPrune | None = None
    retry_failed: bool = False
    gpus_per_trial: int = 1  # how many of ``gpus`` each trial takes (resources.gpus, at least 1)
    search: Any = None  # a search sweep's driver (gatebook.sweep.search.SearchDriver): fills and is told trials

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


def replicate_of(run: RunRecord) -> str | None:
    """The run's replicate set key (the ledger's ``replicate`` column)."""
    return run.replicate


def replicate_key(spec: Any, trial: Trial) -> str | None:
    """The key of ``trial``'s replicate set: the fingerprint of its params without the seed."""
    if trial.seed is None:
        return None
    return str(spec.fingerprint(replace(trial, params={k: v for k, v in trial.params.items() if k != "seed"})))


def fingerprint_of(run: RunRecord) -> str | None:
    for tag in run.tags:
        if tag.startswith(TRIAL_TAG_PREFIX):
            return tag[len(TRIAL_TAG_PREFIX):]
    return None


def sweep_runs(store: Store, sweep: str, *, full: bool = False) -> list[RunRecord]:
    """The runs of sweep ``sweep`` (group ``sweep``, tag ``sweep``), oldest first, lost ones marked."""
    from gatebook.liveness import current
    from gatebook.store.base import RunQuery

    query = RunQuery(group=sweep, tags=(SWEEP_TAG,), sort="created")
    runs = store.list_runs(query, full=full) if full else store.list_runs(query)
    return current(store, runs)


def latest_by_trial(runs: Sequence[RunRecord]) -> dict[str, RunRecord]:
    """The latest run of each trial fingerprint (earlier ones are retried attempts)."""
    out: dict[str, RunRecord] = {}
    for run in sorted(runs, key=lambda r: r.created_at):
        fp = fingerprint_of(run)
        if fp is not None:
            out[fp] = run
    return out


def attempts_by_trial(runs: Sequence[RunRecord]) -> dict[str, int]:
    """How many runs each trial fingerprint has (``""`` for runs without one)."""
    attempts: dict[str, int] = {}
    for r in runs:
        fp = fingerprint_of(r) or ""
        attempts[fp] = attempts.get(fp, 0) + 1
    return attempts


def sweep_trials(store: Store, sweep: str, *, full: bool = False) -> tuple[list[RunRecord], dict[str, int]]:
    """``(latest run of each trial oldest first, attempts by fingerprint)`` of sweep ``sweep``;
    NotFoundError when the ledger has no run of it."""
    runs = sweep_runs(store, sweep, full=full)
    if not runs:
        raise NotFoundError(f"no sweep {sweep!r} in the ledger (no run of group {sweep!r} tagged sweep)",
                            hint="start it with `gatebook sweep run SWEEP.yaml`")
    trials = sorted(latest_by_trial(runs).values(), key=lambda r: r.created_at)
    return trials, attempts_by_trial(runs)


def _median_prune(spec: Any, pconf: ProjectConfig) -> MedianPrune | None:
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


def check_repeat(spec: Any, data: Mapping[str, Any], slots: list[str]) -> tuple[str, ...]:
    """``repeat`` / ``seeds``: one of them, distinct seeds, ``{seed}`` in the command; ``("seed",)``
    (a placeholder the sweep fills) when repeating."""
    given = [k for k in ("repeat", "seeds") if data.get(k) is not None]
    if not given:
        return ()
    if len(given) == 2:
        raise SweepProblem(("seeds",), "give repeat (seeds 0..N-1) or seeds (a list), not both")
    if spec.seeds is not None and (not spec.seeds or len(set(spec.seeds)) != len(spec.seeds)):
        raise SweepProblem(("seeds",), f"give a non-empty list of distinct integer seeds, got {_short(spec.seeds)}")
    if "seed" not in slots:
        raise SweepProblem((given[0],), "the command has no {seed}: a repeated trial runs once per seed "
                                        "with {seed} filled in", hint="add --seed {seed} (or similar) to the command")
    if spec.search is not None:
        raise SweepProblem((given[0],), "repeat with search is not supported yet: search one seed, then "
                                        "repeat the best trials in a grid or list sweep")
    return ("seed",)


def parse_gpus(value: Any) -> list[int]:
    """GPU indexes from ``"0,1"``, ``[0, 1]`` or ``0`` (a sweep file's ``gpus:``, ``--gpus``);
    ValueError saying what is wrong: not integers >= 0, a GPU twice, an empty list."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not all(p.isdigit() for p in parts):
            raise ValueError(f"give GPU indexes such as [0, 1] or \"0,1\", got {value!r}")
        value = [int(p) for p in parts]
    elif isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value):
        raise ValueError(f"GPU indexes are integers >= 0, got {_short(value)}")
    if len(set(value)) != len(value):
        raise ValueError(f"a GPU is listed twice: {_short(value)}")
    if not value:
        raise ValueError("empty list: give GPU indexes or leave gpus out")
    return value


def _gpu_share(spec: Any, spec_path: Path, gpus: Sequence[int] | None, n_parallel: int) -> tuple[list[int] | None,
                                                                                                 int, int]:
    """``(gpus, per trial, parallel)``: the GPUs to share out (--gpus, else the file's), whole ones per trial."""
    gpu_list = list(gpus) if gpus is not None else (list(spec.gpus) if spec.gpus else None)
    if gpu_list is None:
        return None, 1, n_parallel
    # checked by parse_gpus (the file's gpus:, --gpus)
    asked = float(spec.resources.gpus)
    if asked != int(asked):
        raise UsageError(f"{spec_path.name}: resources.gpus {asked:g}: the local runner gives each trial whole "
                         "GPUs of --gpus", hint="use a whole number, or --backend ray, which shares GPUs")
    per_trial = max(1, int(asked))
    if per_trial > len(gpu_list):
        raise UsageError(f"{spec_path.name}: resources.gpus {per_trial} but --gpus gives {len(gpu_list)}",
                         hint="list more GPUs or ask for fewer per trial")
    return gpu_list, per_trial, min(n_parallel, len(gpu_list) // per_trial)


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
    gpu_list, per_trial, n_parallel = _gpu_share(spec, spec_path, gpus, n_parallel)

    search = None
    if spec.search is not None:
        from gatebook.sweep.search import search_driver

        search = search_driver(spec, pconf, parallel=n_parallel)  # a missing optuna: exit 2 here
    trials = list(spec.trials()) if search is None else [search.example()]
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
        runs = sweep_runs(store, cast(str, spec.name))  # the name is set by load_spec
        if search is not None:
            states = search.plan(store, runs, retry_failed=retry_failed)
        else:
            existing = latest_by_trial(runs)
            states = []
            for trial in trials:
                state = TrialState(trial=trial, fingerprint=spec.fingerprint(trial),
                                   replicate=replicate_key(spec, trial))
                resume(state, existing.get(state.fingerprint), retry_failed=retry_failed)
                states.append(state)
    except BaseException:
        store.close()
        raise
    plan = Plan(spec=spec, spec_path=spec_path, workdir=workdir, store_url=proj.store_url, pconf=pconf,
                gates=gates, baseline=baseline, parallel=n_parallel, gpus=gpu_list, trials=states, prune=prune,
                retry_failed=retry_failed, gpus_per_trial=per_trial, search=search)
    return plan, store
