"""Playbook sweeps: every untried fix of a failed gate's playbook, run as one sweep.

``gatebook triage RUN --apply --all`` builds a :class:`~gatebook.sweep.plan.Plan` whose
trials are RUN's command with one fix applied each (into a copy of its config file, or
as ``--key value`` arguments: :func:`gatebook.gates.playbook.apply_fix`), run by the
sweep runner: in RUN's directory, RUN as every trial's parent (so a fix counts as tried
afterwards), the gates RUN ran with judged live, ranked against RUN. The sweep is named
``<RUN>-fixes``; running it again skips fixes already tried.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from gatebook.records import RunRecord

if TYPE_CHECKING:
    from gatebook.gates.spec import Gate
    from gatebook.project_config import ProjectConfig
    from gatebook.store.base import Store


@dataclass
class FixSweep:
    """The few fields of a sweep spec the runner reads, for a sweep built in memory."""

    name: str
    objective: str | None = None
    tags: list[str] = field(default_factory=list)
    config: str | None = None
    parallel: int = 1

    def fingerprint(self, trial: Any) -> str:
        """A hash of the trial's command (its secrets redacted: a hash of a weak password can be
        guessed, and the trial is the same whichever value a rerun gets) and params."""
        from gatebook.capture.redact import redact_argv

        argv = redact_argv(trial.argv).argv
        doc = json.dumps({"argv": argv, "params": trial.params}, sort_keys=True, default=str)
        return hashlib.sha256(doc.encode()).hexdigest()[:16]


def plan_fixes(store: Store, pconf: ProjectConfig, run: RunRecord, fixes: Sequence[Any], argv: Sequence[str], *,
               gates: Sequence[Gate], store_url: str, out_dir: Path, parallel: int = 1) -> Any:
    """The sweep that runs ``fixes`` (untried ones of a playbook) on ``run``'s command."""
    from gatebook.gates.playbook import apply_fix, slug
    from gatebook.sweep.plan import Plan, Trial, TrialState, latest_by_trial, resume, sweep_runs
    from gatebook.sweep.rank import sweep_metrics

    cwd = Path(run.cwd or ".")
    name = f"{slug(run.name or run.id)}-fixes"
    # ranked by the first metric the gates check
    objective = next(iter(sweep_metrics(None, gates)), None)
    spec = FixSweep(name=name, objective=objective, tags=["triage"], parallel=parallel)
    existing = latest_by_trial(sweep_runs(store, name))
    states = []
    for index, fix in enumerate(fixes):
        applied = apply_fix(list(argv), fix, cwd=cwd, out_dir=out_dir, tag=f"{name}-{slug(fix.name)}")
        trial = Trial(index=index, name=slug(fix.name), params=dict(fix.set), argv=list(applied.argv))
        state = TrialState(trial=trial, fingerprint=spec.fingerprint(trial))
        # a fix that failed, was interrupted or lost is tried again
        resume(state, existing.get(state.fingerprint), retry_failed=True)
        states.append(state)
    return Plan(spec=spec, spec_path=cwd / f"{name}.yaml", workdir=cwd, store_url=store_url, pconf=pconf,
                gates=list(gates), baseline=run, parallel=max(1, min(parallel, len(states) or 1)), gpus=None,
                trials=states)

