"""The command line. ``main()`` is the one place errors become messages and exit codes.

Exit codes: 0 ok / PASS; 1 a failed verdict or check; 2 usage or input error (one line
on stderr, no traceback); 3 an internal error (a bug: ``--debug`` shows the traceback).
Command modules are imported only when their command runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from gatebook import __version__

# name -> (module:function, one-line help). Help text lives here so `--help` imports nothing.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("gatebook.cli.init:init_cmd", "Create the ledger (.gatebook/) in this directory."),
    "run": ("gatebook.cli.run:run_cmd", "Run a command and record it: output, metrics, provenance, exit."),
    "attach": ("gatebook.cli.attach:attach_cmd",
             "Record a process started without gatebook "
             "(--pid): files, gates, end."),
    "ls": ("gatebook.cli.read:ls_cmd", "List runs, newest first, with filters."),
    "show": ("gatebook.cli.read:show_cmd", "Show one run: provenance, params, metrics, notes, artifacts."),
    "tail": ("gatebook.cli.read:tail_cmd", "Print a run's output; -f follows it while it runs."),
    "artifacts": ("gatebook.cli.artifacts:artifacts_cmd", "List a run's artifacts and lineage; --path, --verify."),
    "log": ("gatebook.cli.write:log_cmd", "Log metric values to a run from the shell (key=value ...)."),
    "note": ("gatebook.cli.write:note_cmd", "Attach a note to a run."),
    "gate": ("gatebook.cli.gate:gate_cmd", "Judge a run with gates from gatebook.yaml: PASS / MARGINAL / FAIL."),
    "triage": ("gatebook.cli.gate:triage_cmd", "Why a run failed its gates and the next fix to try (--apply runs it)."),
    "stop": ("gatebook.cli.gate:stop_cmd", "Stop a running run from any shell (status stopped, with a reason)."),
    "compare": ("gatebook.cli.compare:compare_cmd",
              "Compare runs side by side: "
              "metrics, deltas vs a baseline, best marked."),
    "diff": ("gatebook.cli.diff:diff_cmd",
           "What differs between two runs: "
           "params, code, packages, metric keys and values."),
    "keys": ("gatebook.cli.keys:keys_cmd",
           "Check a run emits the required metric keys "
           "(or the same keys as another run)."),
    "changelog": ("gatebook.cli.changelog:changelog_cmd",
                "Write the Markdown change-log table of runs "
                "(changes, files, metrics, notes)."),
    "plot": ("gatebook.cli.report:plot_cmd", "Plot metric curves of runs on one chart, with gate thresholds."),
    "report": ("gatebook.cli.report:report_cmd", "Write a self-contained Markdown or HTML report of runs."),
    "preflight": ("gatebook.cli.preflight:preflight_cmd", "Run the project's preflight checks before a command."),
    "sweep": ("gatebook.cli.sweep:sweep_cmd",
            "Run a parameter grid as runs in parallel, "
            "pruned by gates; status and ranked table."),
    "migrate": ("gatebook.cli.init:migrate_cmd", "Upgrade the ledger's schema to this gatebook version."),
    "promote": ("gatebook.cli.registry:promote_cmd",
                "Move an alias (@champion) to a run only when it passes the gates against the holder."),
    "aliases": ("gatebook.cli.registry:aliases_cmd",
                "List aliases; `aliases log` the audit trail; `aliases rollback` the previous holder."),
    "import": ("gatebook.cli.importers:import_group",
               "Import history made before gatebook: TensorBoard, MLflow, history files."),
    "ui": ("gatebook.cli.ui:ui_cmd", "Serve the dashboard and its JSON API on this ledger (--get PATH: one answer)."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, _, attr = spec[0].partition(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f" (did you mean `gatebook {close[0]}`?)" if close else ""
            raise click.UsageError(f"no command {name!r}{hint}; see `gatebook --help`")
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="gatebook")
@click.option("--store", envvar="GATEBOOK_STORE", metavar="URL",
              help="Ledger to use: a path, sqlite:///PATH or postgresql://... [env: GATEBOOK_STORE]")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, store: str | None, debug: bool) -> None:
    """gatebook: the local-first experiment ledger with gates.

    Record every run with its provenance, then list, show and compare them.
    Every command takes --json. Exit codes: 0 ok, 1 a failed check, 2 bad input.
    """
    ctx.ensure_object(dict)
    ctx.obj["store"] = store or None
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gatebook`` console script."""
    from gatebook.errors import GatebookError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args[: args.index("--")] if "--" in args else "--debug" in args
    try:
        result = cli.main(args=args, prog_name="gatebook", standalone_mode=False)
        return int(result) if isinstance(result, int) else 0
    except GatebookError as exc:
        if debug:
            raise
        _error(str(exc))
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        _error("aborted")
        return 130
    except click.UsageError as exc:
        msg = exc.format_message()
        cmd = exc.ctx.command_path if exc.ctx is not None else "gatebook"
        _error(f"{msg} (see `{cmd} --help`)")
        return 2
    except click.ClickException as exc:
        _error(exc.format_message())
        return exc.exit_code if exc.exit_code else 2
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        # the reader of our output went away (e.g. `| head`): not an error
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:  # pragma: no cover
            pass
        return 0
    except Exception as exc:  # a bug: one line, the traceback behind --debug
        if debug:
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug and report it)")
        return 3


def _error(message: str) -> None:
    click.echo(f"gatebook: error: {message}", err=True)
