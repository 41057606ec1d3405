"""`gatebook sweep`: run a parameter grid as runs (gatebook.sweep), status, ranked table (gatebook.render.sweep)."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gatebook.cli.common import console, emit_json, json_option, open_ledger, store_option, store_url_flag

if TYPE_CHECKING:
    from gatebook.store.base import Store


@click.group("sweep")
def sweep_cmd() -> None:
    """Run a parameter grid as runs in parallel, pruned by gates.

    `sweep run SWEEP.yaml` records each trial as a run, as `gatebook run` would (group = the
    sweep's name, tags `sweep` and `trial:<fingerprint>`), resumes where a previous run of the
    sweep left off, and ends with the ranked table. `sweep status` and `sweep show` (a sweep's
    name or file) read the ledger. Every subcommand takes --json.
    """


def _gpus(value: str | None) -> list[int] | None:
    if value is None:
        return None
    from gatebook.errors import UsageError
    from gatebook.sweep.plan import parse_gpus

    try:
        return parse_gpus(value)
    except ValueError as exc:
        raise UsageError(f"--gpus {value!r}: {exc}") from None


def _print_table(comparison: Any) -> None:
    from gatebook.render.sweep import ranked_table

    sys.stdout.write(ranked_table(comparison, color=console().color_system is not None))


@sweep_cmd.command("run")
@click.argument("sweep_file", metavar="SWEEP.yaml", type=click.Path(dir_okay=False))
@click.option("--parallel", "-j", type=int, metavar="N", help="Trials at once (default: the file's parallel:, else 1).")
@click.option("--gpus", metavar="LIST",
              help="GPU indices (0,1,2,3): each trial gets resources.gpus of them (default 1) in "
                   "CUDA_VISIBLE_DEVICES.")
@click.option("--retry-failed", is_flag=True,
              help="Also rerun trials whose run failed (interrupted and lost ones always are).")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where trials run: on this machine, or as Ray tasks (needs the ray extra).")
@click.option("--address", metavar="ADDRESS",
              help="With --backend ray: the cluster (host:port, auto, ray://...); default RAY_ADDRESS, "
                   "else a local Ray started in-process.")
@store_option
@json_option
def run_cmd(sweep_file: str, parallel: int | None, gpus: str | None, retry_failed: bool, backend: str,
            address: str | None, as_json: bool) -> int:
    """Run the trials of SWEEP.yaml as runs, up to --parallel at once.

    Each trial is recorded like `gatebook run --group NAME --tag sweep --tag trial:<fingerprint>`
    of the trial's command in the sweep file's directory, with the sweep's gates live. Trials
    already finished or stopped (same fingerprint in the group) are skipped, interrupted or lost
    ones run again; --retry-failed reruns failed ones. Ctrl-C stops the running trials (interrupted) and exits 130.
    Everything is checked before anything starts. Exit 0 when the sweep ran, 2 on bad input.
    --backend ray runs each trial as a Ray task on a cluster (see docs/sweeps.md).
    """
    from gatebook.sweep.plan import plan_sweep

    if address is not None and backend != "ray":
        from gatebook.errors import UsageError

        raise UsageError("--address needs --backend ray")
    if backend == "ray":
        from gatebook.sweep.ray_backend import import_ray

        import_ray()  # exit 2 (MissingExtraError) before anything is touched
    plan, store = plan_sweep(sweep_file, store_flag=store_url_flag(), parallel=parallel, gpus=_gpus(gpus),
                             retry_failed=retry_failed, check_commands=backend == "local")
    return execute_plan(plan, store, as_json=as_json, backend=backend, address=address)


def execute_plan(plan: Any, store: Store, *, as_json: bool, backend: str = "local", address: str | None = None) -> int:
    """Run a planned sweep with live progress on stderr, then print the ranked table (or the
    JSON document); 130 after Ctrl-C. Also runs playbook sweeps (`triage --apply --all`)."""
    from gatebook.render.sweep import progress_text, run_summary
    from gatebook.sweep.executor import SweepRunner
    from gatebook.sweep.rank import ranking, result_document, trial_runs

    with store:
        err = console(stderr=True)
        live = sys.stderr.isatty()

        def say(line: str) -> None:
            if not live:
                click.echo(f"gatebook: {line}", err=True)
            else:
                err.print(line)

        skipped = [t for t in plan.trials if t.skipped]
        todo = len(plan.trials) - len(skipped)
        launcher = None
        if backend == "ray":
            from gatebook.sweep.ray_backend import RayLauncher

            launcher = RayLauncher(plan, store, address=address, say=say)
        runner = SweepRunner(plan, store, say=say, launcher=launcher)
        try:
            if launcher is not None and todo:
                launcher.connect()  # a cluster that cannot be reached or run a trial: one line, exit 2
            say(f"sweep {plan.name}: {len(plan.trials)} trials, {todo} to run, {len(skipped)} skipped "
                f"(already {', '.join(sorted({t.status for t in skipped}))})" if skipped else
                f"sweep {plan.name}: {len(plan.trials)} trials, parallel {plan.parallel}")
            view: Any = nullcontext()
            if live:
                from rich.live import Live

                view = Live(progress_text(runner.progress()), console=err, refresh_per_second=4, transient=False)
            with view:
                if live:
                    runner.on_progress = lambda progress: view.update(progress_text(progress))
                trials = runner.run()
        finally:
            if launcher is not None:
                launcher.close()
        comparison = ranking(store, trial_runs(store, trials), objective=plan.objective, gates=plan.gates,
                             baseline=plan.baseline, pconf=plan.pconf)
        if as_json:
            emit_json(result_document(plan, trials, comparison))
        else:
            if comparison is not None:
                _print_table(comparison)
            else:
                click.echo("no trial recorded a run")
            click.echo(run_summary(plan.name, runner.counts(), interrupted=bool(runner.interrupted)), err=True)
    return 130 if runner.interrupted else 0


def _sweep_ref(arg: str) -> tuple[str, Any]:
    """``(name, spec)`` of a sweep given by name, or by its file (then ``spec`` is the loaded
    file, whose objective and gates ``show`` uses); ``spec`` is None for a name."""
    path = Path(arg)
    if path.suffix.lower() in (".yaml", ".yml", ".json") and path.is_file():
        from gatebook.sweep.spec import load_sweep

        spec = load_sweep(path)
        return str(spec.name or path.stem), spec
    return arg, None


@sweep_cmd.command("status")
@click.argument("sweep")
@store_option
@json_option
def status_cmd(sweep: str, as_json: bool) -> int:
    """Counts by status and each trial's latest run, from the ledger (runs of group SWEEP tagged sweep).

    SWEEP is the sweep's name or its file."""
    from gatebook.render.sweep import status_summary, status_table
    from gatebook.sweep.plan import sweep_trials
    from gatebook.sweep.rank import status_counts, status_document

    sweep, _spec = _sweep_ref(sweep)
    with open_ledger() as store:
        trials, attempts = sweep_trials(store, sweep)
    if as_json:
        emit_json(status_document(sweep, trials, attempts))
        return 0
    out = console()
    out.print(status_table(trials))
    out.print(status_summary(sweep, trials, status_counts(trials)))
    return 0


@sweep_cmd.command("show")
@click.argument("sweep")
@click.option("--gate", "gates", multiple=True, metavar="NAME",
              help="A verdict column for this gate (repeatable; default: the gates the trials ran with).")
@click.option("--metric", "-m", "metrics", multiple=True, metavar="M", help="A metric column (repeatable).")
@click.option("--sort", metavar="M", help="Rank by metric M (default: the first metric column).")
@click.option("--baseline", "-b", metavar="RUN", help="Deltas against this run (default: the trials' baseline).")
@store_option
@json_option
def show_cmd(sweep: str, gates: tuple[str, ...], metrics: tuple[str, ...], sort: str | None, baseline: str | None,
             as_json: bool) -> int:
    """The sweep's ranked table: each trial's latest run, best first, with gate verdicts.

    SWEEP is the sweep's name or its file; with the file, its objective ranks the table and its
    gates are the verdict columns (else the gates the trials ran with and metrics.primary)."""
    from gatebook import project
    from gatebook.project_config import load_project_config
    from gatebook.sweep.rank import show_document

    sweep, spec = _sweep_ref(sweep)
    proj = project.locate(store_url_flag(), create=False)
    pconf = load_project_config(proj.root)
    with open_ledger() as store:
        doc, comparison = show_document(store, pconf, sweep, spec=spec, gates=gates, metrics=metrics, sort=sort,
                                        baseline=baseline)
    if as_json:
        emit_json(doc)
    elif comparison is None:
        click.echo(f"sweep {sweep}: no trial to rank yet", err=True)
    else:
        _print_table(comparison)
    return 0
