"""`gatebook run`."""

from __future__ import annotations

import click

from gatebook.cli.common import emit_json, json_option, store_option, store_url_flag


def check_watch_option(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """``--watch`` values: an empty one, or a glob that cannot be followed, is bad input (exit 2)."""
    from gatebook.ingest.watch import check_watch

    for item in value:
        check_watch(item)
    return value


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    short_help="Run a command and record it.",
)
@click.option("--name", "-n", help="Name of the run (several runs may share one; the latest wins).")
@click.option("--parent", "-p", metavar="RUN", help="The run this one derives from (id, prefix or name).")
@click.option("--config", "-c", "config_file", metavar="FILE",
              help="Config file (YAML, JSON, TOML) recorded as params.")
@click.option("--tag", "-t", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--group", "-g", help="Group (e.g. a sweep or a study).")
@click.option("--prefix", default=None, help="Prefix of JSON metric lines in the output [default: gatebook:].")
@click.option("--kv", is_flag=True, help="Also parse key=value pairs on every output line as metrics.")
@click.option("--regex", "regexes", multiple=True, metavar="RX",
              help="A regex with named groups whose numbers become metrics (repeatable).")
@click.option("--gate", "gates", multiple=True, metavar="NAME",
              help="Judge this gate from gatebook.yaml live (repeatable); on_fail: stop gates stop the command.")
@click.option("--baseline", "-b", metavar="RUN", help="Baseline run for gates that compare with one.")
@click.option("--watch", "-w", "watch", multiple=True, metavar="FILE", callback=check_watch_option,
              help="Follow a file the command writes (JSON list, JSON lines, CSV, log, trainer_state.json) for "
                   "metrics (repeatable). A glob ('lightning_logs/version_*/metrics.csv', '**' allowed) "
                   "follows its newest match, relative to the command's directory.")
@click.option("--grace", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds between SIGTERM and SIGKILL when the command is stopped.")
@click.option("--quiet", "-q", is_flag=True, help="Do not echo the command's output (it is still recorded).")
@click.option("--preflight", is_flag=True,
              help="Run the preflight checks of gatebook.yaml first; do not start the command when one fails (exit 1).")
@click.option("--repeat", type=int, metavar="N",
              help="Run the command N times with {seed} replaced by 0..N-1: one replicate set (docs/statistics.md).")
@click.option("--seeds", metavar="LIST", help="As --repeat, with these seeds (comma-separated).")
@click.option("--replicate", "replicate_key", hidden=True, metavar="KEY",
              help="Join this replicate set (a sweep's backend starting a trial with repeat:).")
@store_option
@json_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def run_cmd(name: str | None, parent: str | None, config_file: str | None, tags: tuple[str, ...],
            group: str | None, prefix: str | None, kv: bool, regexes: tuple[str, ...], gates: tuple[str, ...],
            baseline: str | None, watch: tuple[str, ...], grace: float, quiet: bool, preflight: bool,
            repeat: int | None, seeds: str | None, replicate_key: str | None, as_json: bool,
            command: tuple[str, ...]) -> int:
    """Run COMMAND as a recorded run: gatebook run [OPTIONS] -- COMMAND [ARGS]...

    The command runs in its own process group with PYTHONUNBUFFERED=1; its output is
    shown live and stored; metric lines are parsed from it (JSON after `gatebook:`,
    key=value pairs with --kv, regexes from --regex or gatebook.yaml). Code using
    `gatebook.init()` attaches to this run. Ctrl-C and SIGTERM are forwarded.

    With --gate, the gates are judged as metrics arrive (from the API, output lines
    and --watch files); a FAIL of an `on_fail: stop` gate stops the command (SIGTERM
    to its group, SIGKILL after --grace seconds) and the run ends `stopped`.
    `gatebook stop RUN` does the same from any shell. Exits with the command's exit
    code (a stopped command's is usually 143); 1 when the command exited 0 but an
    `on_fail: stop` gate failed (it saved a checkpoint via should_stop() and exited, or
    it ended before it could be stopped).

    With --preflight, the `preflight:` checks of gatebook.yaml run first (as `gatebook
    preflight -- COMMAND`); when one fails the table goes to stderr, the command is not
    started, nothing is recorded and the exit code is 1.
    """
    from gatebook.capture.repeat import run_repeated, seeds_from
    from gatebook.capture.wrapper import WrapOptions, run_wrapped
    from gatebook.render.run_end import print_end

    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    seed_list = seeds_from(repeat, seeds)
    checked = None
    if preflight:  # before anything is recorded: a refused command leaves no run behind
        import sys

        from gatebook.cli.preflight import preflight_for_run

        report, checked = preflight_for_run(argv, config_file, as_json=as_json)
        if not report.ok:
            names = ", ".join(c.name for c in report.failed)
            if as_json:
                from gatebook.capture.supervise import SuperviseResult

                emit_json(SuperviseResult.not_started(f"preflight failed: {names}", preflight=checked))
            print(f"gatebook: preflight FAIL ({len(report.failed)} of {len(report.checks)} checks failed): "
                  "the command was not started", file=sys.stderr)
            return 1
    opts = WrapOptions(argv=argv, name=name, parent=parent, config_file=config_file, tags=tags, group=group,
                       store=store_url_flag(), prefix=prefix or "", kv=kv, regexes=regexes,
                       echo=not quiet and not as_json, gates=gates, baseline=baseline, watch=watch,
                       stop_grace=grace, replicate=replicate_key)
    if seed_list is not None:
        repeated = run_repeated(opts, seed_list)
        if as_json:
            emit_json({**repeated.to_dict(), "preflight": checked})
        else:
            for _seed, one in repeated.runs:
                print_end(one)
            import sys

            print(f"gatebook: replicate set {repeated.replicate}: {len(repeated.runs)} runs "
                  f"(seeds {', '.join(str(s) for s, _ in repeated.runs)})", file=sys.stderr)
        return repeated.command_exit
    result = run_wrapped(opts)
    if as_json:
        emit_json({**result.to_dict(), "preflight": checked})
    else:
        print_end(result)
    return result.command_exit  # 1 when an on_fail: stop gate failed a clean exit: never a success for scripts
