"""`gatebook attach`."""

from __future__ import annotations

import click

from gatebook.cli.common import emit_json, json_option, store_option, store_url_flag
from gatebook.cli.run import check_watch_option


@click.command("attach", short_help="Record a process started without gatebook.")
@click.option("--pid", "pid", required=True, metavar="PID",
              help="The process to adopt (e.g. a training already running).")
@click.option("--watch", "-w", "watch", multiple=True, metavar="FILE", callback=check_watch_option,
              help="Follow a file the process writes (JSON list, JSON lines, CSV, log, trainer_state.json) for "
                   "metrics (repeatable). A relative path is taken from the process's cwd. A glob "
                   "('out/checkpoint-*/trainer_state.json', '**' allowed) follows its newest match, "
                   "relative to the process's cwd.")
@click.option("--log", "log", metavar="FILE",
              help="The process's text log (its redirected output): its lines are stored as the run's output "
                   "and parsed for metric lines like `gatebook run` parses output. A relative path is taken "
                   "from the process's cwd.")
@click.option("--gate", "gates", multiple=True, metavar="NAME",
              help="Judge this gate from gatebook.yaml live (repeatable).")
@click.option("--baseline", "-b", metavar="RUN", help="Baseline run for gates that compare with one.")
@click.option("--allow-stop", is_flag=True,
              help="Let a FAIL of an `on_fail: stop` gate stop the process (without it: a warning).")
@click.option("--grace", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds between SIGTERM and SIGKILL when the process is stopped.")
@click.option("--name", "-n", help="Name of the run.")
@click.option("--tag", "-t", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--group", "-g", help="Group (e.g. a sweep or a study).")
@store_option
@json_option
def attach_cmd(pid: str, watch: tuple[str, ...], log: str | None, gates: tuple[str, ...], baseline: str | None,
               allow_stop: bool, grace: float, name: str | None, tags: tuple[str, ...], group: str | None,
               as_json: bool) -> int:
    """Record process PID, started without gatebook, as a run until it ends.

    The run gets what can be read of the process (command line, cwd, start time,
    environment for provenance; what access is denied to is left out, with a warning),
    params from its `--key value` arguments, and the provenance of its cwd. It is
    recorded in the ledger of the project found from gatebook's cwd. --watch files and
    the --log file are followed; the log's lines become the run's output (`gatebook
    tail`) and its metric lines (gatebook.yaml's ingest settings) metric points.

    With --gate, the gates are judged as the points arrive. A FAIL of an `on_fail:
    stop` gate stops the process only with --allow-stop: SIGTERM to its process group
    when it leads one (else to PID alone), SIGKILL after --grace seconds if the same
    process (pid and start time) still runs. `gatebook stop RUN` from any shell stops it
    the same way, with or without --allow-stop.

    The end: the exit code of a process gatebook did not start cannot be read, so when
    it ends the run is `finished` with the reason "process ended (exit code unknown: not
    started by gatebook)", or stays `stopped` after a stop. Ctrl-C or SIGTERM to this
    command detaches: the run is `interrupted` ("gatebook attach was interrupted; the
    process PID keeps running") and the process is not signalled. Exits 0, 1 when a gate
    stopped the process, 128+N after detaching on signal N (130 for Ctrl-C).
    """
    from gatebook.capture.attach import AttachOptions, attach
    from gatebook.render.run_end import print_end

    opts = AttachOptions(pid=pid, watch=watch, log=log, gates=gates, baseline=baseline, allow_stop=allow_stop,
                         stop_grace=grace, name=name, tags=tags, group=group, store=store_url_flag(),
                         echo=not as_json)
    result = attach(opts)
    if as_json:
        emit_json(result.to_dict())
    else:
        print_end(result)
    return result.command_exit
