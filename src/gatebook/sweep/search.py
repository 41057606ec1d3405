"""Adaptive search (``search: {optuna: {sampler, n, seed}, space: ...}``): an in-memory Optuna study
driven by ask-and-tell while the sweep runs (extra ``gatebook[optuna]``).

:class:`Search` is the study on a space of :class:`~gatebook.sweep.space.Dist` (no ledger, no
processes): :meth:`Search.ask` a point, :meth:`Search.tell` how it ended (a value, pruned, failed),
:meth:`Search.replay` a point that ended before. :class:`SearchDriver` ties it to a sweep: at plan
time it replays the ledger's trials of the sweep into a fresh study (the ledger is the source of
truth: finished runs with their objective, gate-stopped and pruned ones as pruned, failed ones as
failed; interrupted and lost ones are forgotten, failed ones asked again with ``--retry-failed``)
and leaves ``n`` minus those as placeholder trials; the scheduler (:mod:`gatebook.sweep.executor`,
local or Ray) calls :meth:`SearchDriver.fill` when a slot frees (the trial is asked then) and
:meth:`SearchDriver.tell` when its run ended (its objective: the run's last value of the sweep's
``objective``, optimised in its direction from ``metrics`` in gatebook.yaml).

New trials are named ``t<index>_<param-value...>``; a trial's params are recorded in the ledger
under the params source ``sweep`` (:data:`gatebook.sweep.plan.PARAM_SOURCE`), which a replay reads.
"""

from __future__ import annotations

import math
import random
import warnings
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from gatebook.errors import ConfigError, MissingExtraError
from gatebook.sweep.plan import DONE, PARAM_SOURCE, Trial, TrialState, fingerprint_of, latest_by_trial, trial_names
from gatebook.sweep.space import Dist, canonical

if TYPE_CHECKING:
    from gatebook.project_config import ProjectConfig
    from gatebook.records import RunRecord
    from gatebook.store.base import Store

_ROUND_DIGITS = 6
_MAX_REASKS = 50  # asks answered from known results before a duplicate point is run anyway
OUTCOMES = ("complete", "pruned", "fail")


def import_optuna() -> Any:
    """The ``optuna`` module, or MissingExtraError (exit 2) naming ``pip install 'gatebook[optuna]'``."""
    try:
        import optuna
    except ImportError:
        raise MissingExtraError("optuna", "optuna", "adaptive search (search: in a sweep file)") from None
    return optuna


def make_sampler(optuna: Any, name: str, seed: int | None, parallel: int = 1) -> Any:
    """The Optuna sampler ``tpe`` (a constant liar when trials run in parallel), ``gp``, ``cmaes``, ``random``."""
    samplers = optuna.samplers
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning (constant_liar, GP)
            if name == "tpe":
                return samplers.TPESampler(seed=seed, constant_liar=parallel > 1)
            if name == "random":
                return samplers.RandomSampler(seed=seed)
            if name == "gp":
                import scipy  # noqa: F401  (GPSampler needs torch and scipy: say so now, not at the 10th trial)
                import torch  # noqa: F401

                return samplers.GPSampler(seed=seed)
            if name == "cmaes":
                import cmaes  # noqa: F401

                return samplers.CmaEsSampler(seed=seed)
    except ImportError as exc:
        raise MissingExtraError(exc.name or "its dependencies", "optuna", f"the {name} sampler") from None
    raise ConfigError(f"unknown sampler {name!r}: use tpe, gp, cmaes or random")


class Search:
    """An in-memory Optuna study over ``space`` (``direction`` ``higher`` or ``lower``): ask and tell."""

    def __init__(self, space: Mapping[str, Dist], *, sampler: str = "tpe", seed: int | None = 0,
                 direction: str = "higher", parallel: int = 1) -> None:
        optuna = import_optuna()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.space = dict(space)
        self.dists = {k: self._distribution(d) for k, d in self.space.items() if d.kind != "fixed"}
        self.study = optuna.create_study(sampler=make_sampler(optuna, sampler, seed, parallel),
                                         direction="minimize" if direction == "lower" else "maximize")

    def _distribution(self, dist: Dist) -> Any:
        d = self.optuna.distributions
        if dist.kind == "choice":  # by index: a choice may be any value (a list, a mapping)
            return d.CategoricalDistribution(list(range(len(dist.args))))
        if dist.kind == "int":
            return d.IntDistribution(dist.args[0], dist.args[1])
        return d.FloatDistribution(dist.args[0], dist.args[1], log=dist.kind == "loguniform")

    def decode(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna's params as the sweep's: choices by value, floats to 6 significant digits."""
        out: dict[str, Any] = {}
        for key, dist in self.space.items():
            if dist.kind == "fixed":
                out[key] = dist.args[0]
            elif dist.kind == "choice":
                out[key] = dist.args[int(raw[key])]
            elif dist.kind == "int":
                out[key] = int(raw[key])
            else:
                lo, hi = dist.args
                out[key] = min(max(float(f"{float(raw[key]):.{_ROUND_DIGITS}g}"), lo), hi)
        return out

    def encode(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The sweep's params as Optuna's, or None when they are not a point of the space."""
        out: dict[str, Any] = {}
        for key, dist in self.space.items():
            if key not in params:
                return None
            value = params[key]
            if dist.kind == "fixed":
                if canonical(value) != canonical(dist.args[0]):
                    return None
            elif dist.kind == "choice":
                index = next((i for i, c in enumerate(dist.args) if canonical(c) == canonical(value)), None)
                if index is None:
                    return None
                out[key] = index
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not dist.args[0] <= value <= dist.args[1] or (dist.kind == "int" and value != int(value)):
                return None
            else:
                out[key] = int(value) if dist.kind == "int" else float(value)
        return out

    def ask(self) -> tuple[Any, dict[str, Any]]:
        """A new point: ``(optuna trial, params)``."""
        trial = self.study.ask(self.dists)
        return trial, self.decode(trial.params)

    def tell(self, trial: Any, value: float | None, outcome: str = "complete") -> None:
        """How the point ended: ``complete`` with its value (none or NaN: failed), ``pruned`` or ``fail``."""
        states = self.optuna.trial.TrialState
        if outcome == "complete" and value is not None and math.isfinite(value):
            self.study.tell(trial, float(value))
        else:
            self.study.tell(trial, state=states.PRUNED if outcome == "pruned" else states.FAIL)

    def replay(self, params: Mapping[str, Any], value: float | None, outcome: str = "complete") -> bool:
        """Add a point that ended before (False, and nothing added, when it is not in the space)."""
        raw = self.encode(params)
        if raw is None:
            return False
        states = self.optuna.trial.TrialState
        if outcome == "complete" and (value is None or not math.isfinite(value)):
            outcome = "fail"
        state = {"complete": states.COMPLETE, "pruned": states.PRUNED, "fail": states.FAIL}[outcome]
        self.study.add_trial(self.optuna.trial.create_trial(
            state=state, value=float(value) if state == states.COMPLETE and value is not None else None,
            params=raw, distributions=self.dists))
        return True

    def enqueue(self, params: Mapping[str, Any]) -> None:
        """Ask these params next (a failed trial retried)."""
        raw = self.encode(params)
        if raw is not None:
            self.study.enqueue_trial(raw)

    def best(self) -> tuple[dict[str, Any], float] | None:
        """The best point told so far and its value."""
        try:
            trial = self.study.best_trial
        except ValueError:
            return None
        return self.decode(trial.params), float(trial.value)


def outcome_of(status: str) -> str:
    """How a trial's run status is told: finished runs complete, stopped ones (gate or pruner) pruned."""
    return "complete" if status == "finished" else "pruned" if status == "stopped" else "fail"


class SearchDriver:
    """A search sweep's trials: replayed from the ledger at plan time, asked when a slot frees."""

    def __init__(self, spec: Any, direction: str, *, parallel: int = 1) -> None:
        assert spec.search is not None
        opts = spec.search.optuna
        self.spec = spec
        self.n = int(opts.n)
        self.search = Search(spec.search.space, sampler=opts.sampler, seed=opts.seed, direction=direction,
                             parallel=parallel)
        self.next_index = 0
        self.live: dict[str, Any] = {}  # trial name -> its Optuna trial, while it runs
        self.known: dict[str, tuple[float | None, str]] = {}  # canonical params -> (value, outcome)

    def example(self) -> Trial:
        """A trial of some point of the space (to check the command before anything runs)."""
        rng = random.Random(0)
        return self.spec.trial(0, "example", {k: d.sample(rng) for k, d in self.search.space.items()})

    def plan(self, store: Store, runs: Sequence[RunRecord], *, retry_failed: bool = False) -> list[TrialState]:
        """The trials: the ledger's (replayed, skipped) then placeholders up to ``n``, asked by :meth:`fill`."""
        latest = sorted(latest_by_trial(runs).values(), key=lambda r: r.created_at)
        self.next_index = len(latest)
        ids = [r.id for r in latest]
        params = store.params_many(ids) if ids else {}
        stats = store.metric_stats(ids) if ids else {}
        prefix = f"{self.spec.name}-"
        states: list[TrialState] = []
        for run in latest:
            status = run.status.value
            if status not in DONE and status not in ("failed", "running"):
                continue  # interrupted or lost: forgotten (a fresh point takes its place)
            by_source = params.get(run.id, {})
            merged = {**by_source.get("argv", {}), **by_source.get(PARAM_SOURCE, {})}
            point = {k: merged[k] for k in self.search.space if k in merged}
            s = stats.get(run.id, {}).get(self.spec.objective or "")
            value = None if s is None else s.last
            if status == "failed" and retry_failed:
                self.search.enqueue(point)
                continue
            if status != "running" and not self.search.replay(point, value, outcome_of(status)):
                continue  # not a point of this space (the file's space changed): not counted
            if status != "running":
                self.known[canonical(point)] = (value, outcome_of(status))
            name = (run.name or run.id)[len(prefix):] if (run.name or "").startswith(prefix) else run.name or run.id
            state = TrialState(trial=Trial(len(states), name, point, []), fingerprint=fingerprint_of(run) or "",
                               status=status, skipped=True, run_id=run.id, exit_code=run.exit_code,
                               objective=value, reason=run.reason)
            states.append(state)
        for i in range(len(states), self.n):
            states.append(TrialState(trial=Trial(i, f"t{i:03d}", {}, []), fingerprint=""))
        return states

    def fill(self, state: TrialState) -> None:
        """Ask the trial of a placeholder (a point already told is answered from what is known)."""
        if state.fingerprint:
            return
        for _ in range(_MAX_REASKS):
            trial, params = self.search.ask()
            known = self.known.get(canonical(params))
            if known is None:
                break
            self.search.tell(trial, known[0], known[1])
        index, self.next_index = self.next_index, self.next_index + 1
        name = f"t{index:03d}_{trial_names([(None, params)])[0]}"
        state.trial = self.spec.trial(index, name, params)
        state.fingerprint = self.spec.fingerprint(state.trial)
        self.live[name] = trial

    def tell(self, state: TrialState) -> None:
        """Tell the study how ``state``'s run ended (its objective when it finished)."""
        trial = self.live.pop(state.name, None)
        if trial is None:
            return
        outcome = outcome_of(state.status)
        self.search.tell(trial, state.objective, outcome)
        self.known[canonical(dict(state.trial.params))] = (state.objective, outcome)


def search_driver(spec: Any, pconf: ProjectConfig, *, parallel: int = 1) -> SearchDriver:
    """The driver of a ``search:`` sweep; ConfigError without an objective that has a direction."""
    from gatebook.config_io import yaml_line

    line = yaml_line(spec._node, ("search",)) if getattr(spec, "_node", None) is not None else None
    where = f"{spec.path}:{line or 1}"
    if not spec.objective:
        raise ConfigError(f"{where}: search: an adaptive search needs the sweep's objective",
                          hint="add 'objective: METRIC' (a metric with a direction in gatebook.yaml)")
    direction = pconf.metrics.direction(spec.objective)
    if direction is None:
        raise ConfigError(f"{where}: search: objective {spec.objective!r} has no direction in gatebook.yaml",
                          hint="list it under metrics.higher_is_better or metrics.lower_is_better")
    return SearchDriver(spec, direction, parallel=parallel)
