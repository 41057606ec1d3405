"""`gate` and `triage`: judge a run as it is now, gather its failed gates' playbook advice, launch the next fix.

Everything here reads the ledger and returns data; the command line renders it. Applying a
fix builds the new run's command (RUN's command, its redacted secrets filled back in from the
environment, the fix applied by :func:`gatebook.gates.playbook.apply_fix`) and runs it with
``gatebook run``'s wrapper in RUN's directory (passed as the wrapper's ``cwd``: nothing here
changes the current directory).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from gatebook.errors import UsageError
from gatebook.gates.evaluate import Series, Tier, Verdict
from gatebook.gates.playbook import Advice, AppliedFix, apply_fix, slug
from gatebook.gates.setup import Gating, advice_for, load_series, prepare_gates
from gatebook.gates.spec import Fix, Gate
from gatebook.records import RunRecord

if TYPE_CHECKING:
    from gatebook.project_config import ProjectConfig
    from gatebook.store.base import Store


@dataclass
class Judged:
    """A run as it is now, judged by gates, with the playbook advice that goes with the verdict."""

    run: RunRecord
    verdict: Verdict
    gating: Gating
    series: Series
    advice: list[Advice] = field(default_factory=list)

    @property
    def baseline_labels(self) -> dict[str, str | None]:
        """Gate name -> its baseline run's name (or id), for the verdict's titles."""
        return {name: (b.name or b.id) for name, b in self.gating.baseline_runs.items()}

    def to_dict(self) -> dict[str, Any]:
        """The ``gate --json`` document (docs/json.md): the verdict, the run, each gate's baseline
        run, the playbook advice (the read API's ``Ledger.gate`` returns the same)."""
        doc = self.verdict.to_dict()
        doc.update(run=self.run.ref(), baselines={n: {"id": b.id, "name": b.name}
                                                 for n, b in self.gating.baseline_runs.items()},
                   advice=[a.to_dict() for a in self.advice])
        return doc

    def triage_dict(self) -> dict[str, Any]:
        """The ``triage --json`` document (before ``applied``): the run, the verdict, the advice."""
        return {"run": self.run.ref(), "verdict": self.verdict.to_dict(), "advice": [a.to_dict() for a in self.advice]}


def judge_run(store: Store, pconf: ProjectConfig, run: RunRecord, gate_names: Sequence[str],
              baseline: str | None) -> Judged:
    """``run`` judged by the named gates (all when none) against their baselines."""
    gating = prepare_gates(store, pconf, gate_names, baseline)
    series = load_series(store, run.id)
    return Judged(run, gating.judge(series, finished=run.status.is_terminal), gating, series)


def gate_run(store: Store, pconf: ProjectConfig, ref: str, gate_names: Sequence[str], baseline: str | None) -> Judged:
    """`gatebook gate`: the run ``ref`` names, judged; advice for each FAILed gate that has a playbook."""
    from gatebook.liveness import resolve_current

    judged = judge_run(store, pconf, resolve_current(store, ref), gate_names, baseline)
    judged.advice = [advice_for(store, judged.run.id, g, judged.series, judged.gating)
                     for g, r in zip(judged.gating.gates, judged.verdict.gates, strict=False)
                     if r.tier is Tier.FAIL and (g.playbook.fixes or g.playbook.signatures)]
    return judged


@dataclass
class Triage:
    """What `gatebook triage` found: the verdict, the gates that failed (or stopped the run), their
    advice, and how the run was supervised (``gatebook run``'s gates, baseline, watched files)."""

    judged: Judged
    failing: list[Gate]
    supervised: dict[str, Any]

    @property
    def next_advice(self) -> Advice | None:
        """The first failed gate's advice that has a fix left to try."""
        return next((a for a in self.judged.advice if a.next_fix is not None), None)

    def pending(self) -> tuple[Advice, Fix]:
        """The advice and fix `--apply` runs; a UsageError when none is left."""
        nxt = self.next_advice
        if nxt is None or nxt.next_fix is None:
            ref = self.judged.run.name or self.judged.run.id
            raise UsageError(f"no fix left to apply for {ref}" if self.judged.advice
                             else f"{ref} failed no gate; nothing to apply",
                             hint="add fixes to the gate's playbook in gatebook.yaml" if self.judged.advice else None)
        return nxt, nxt.next_fix


def triage_run(store: Store, pconf: ProjectConfig, ref: str, gate_names: Sequence[str], baseline: str | None) -> Triage:
    """`gatebook triage`: judge the run ``ref`` names with the gates it was started with (or
    ``gate_names``), and advise on each gate that failed, errored or stopped it."""
    from gatebook.liveness import resolve_current

    record = resolve_current(store, ref)
    supervised = (record.provenance or {}).get("gatebook") or {}
    names = tuple(gate_names) or tuple(supervised.get("gates") or ())
    stop_gate = next((e.data.get("gate") for e in store.events(record.id, kinds=["stop"])
                      if e.data and e.data.get("gate")), None)
    judged = judge_run(store, pconf, record, names, baseline or supervised.get("baseline"))
    failing = [g for g, r in zip(judged.gating.gates, judged.verdict.gates, strict=False)
               if r.tier in (Tier.FAIL, Tier.ERROR) or g.name == stop_gate]
    judged.advice = [advice_for(store, record.id, g, judged.series, judged.gating) for g in failing]
    return Triage(judged, failing, supervised)


def rerunnable_argv(record: RunRecord, environ: Mapping[str, str] | None = None) -> list[str]:
    """RUN's command, ready to run again: its redacted secrets (``***``) filled in from the
    environment (gatebook.capture.redact.fill_secrets), else a UsageError naming the variables."""
    from gatebook.capture.redact import fill_secrets

    argv = list(record.command)
    if not argv:
        raise UsageError(f"run {record.label} has no recorded command to re-run")
    if shutil.which(argv[0]) is None and argv[0].endswith(".py"):
        argv = [sys.executable, *argv]  # recorded by the API: sys.argv of a script
    if not Path(record.cwd or ".").is_dir():
        raise UsageError(f"run {record.label} ran in {record.cwd}, which no longer exists")
    return fill_secrets(argv, os.environ if environ is None else environ, what=f"the command of run {record.label}")


@dataclass(frozen=True)
class FixLaunch:
    """The next fix, ready to run: the new run's name, its command (``shown``: with the filled-in
    secrets redacted again) and the wrapper's options (RUN's directory as ``cwd``)."""

    gate: str
    fix: Fix
    name: str
    applied: AppliedFix
    shown: list[str]
    options: Any  # gatebook.capture.wrapper.WrapOptions


def prepare_fix(triage: Triage, *, root: Path | None, store_flag: str | None, echo: bool) -> FixLaunch:
    """The pending fix applied to RUN's command, as a child run of RUN named after the fix, with
    the gates, baseline, watched files and tags RUN was run with. ``root``: the project's root
    (the config copy goes under its ``.gatebook/fixes/``; RUN's directory when None)."""
    from gatebook.capture.redact import redact_argv
    from gatebook.capture.wrapper import WrapOptions

    advice, fix = triage.pending()
    record, supervised = triage.judged.run, triage.supervised
    argv = rerunnable_argv(record)
    cwd = Path(record.cwd) if record.cwd else Path.cwd()
    name = f"{record.name or record.id}-{slug(fix.name)}"
    applied = apply_fix(argv, fix, cwd=cwd, out_dir=(root or cwd) / ".gatebook" / "fixes", tag=name)
    options = WrapOptions(argv=applied.argv, name=name, parent=record.id, store=store_flag,
                          config_file=supervised.get("config_file"), gates=tuple(supervised.get("gates") or ()),
                          watch=tuple(supervised.get("watch") or ()), baseline=supervised.get("baseline"),
                          echo=echo, tags=record.tags, cwd=str(cwd))
    return FixLaunch(advice.gate, fix, name, applied, redact_argv(applied.argv).argv, options)


def run_fix(launch: FixLaunch) -> Any:
    """Run a prepared fix under the wrapper (in RUN's directory); its ``WrapResult``."""
    from gatebook.capture.wrapper import run_wrapped

    return run_wrapped(launch.options)


def plan_all_fixes(store: Store, pconf: ProjectConfig, triage: Triage, *, store_url: str, root: Path | None,
                   parallel: int) -> Any:
    """Every untried fix of the first failed gate's playbook that has one left, as one sweep
    (:func:`gatebook.sweep.fixes.plan_fixes`) ranked against RUN."""
    from gatebook.sweep.fixes import plan_fixes

    first, _ = triage.pending()
    advice = next(a for a in triage.judged.advice if a.gate == first.gate)
    record, gating = triage.judged.run, triage.judged.gating
    untried = [fix for fix, tried in advice.fixes if not tried]
    argv = rerunnable_argv(record)
    wanted = set(triage.supervised.get("gates") or [advice.gate])
    gates = [g for g in gating.gates if g.name in wanted]
    return plan_fixes(store, pconf, record, untried, argv, gates=gates, store_url=store_url,
                      out_dir=(root or Path(record.cwd or ".")) / ".gatebook" / "fixes", parallel=parallel)
