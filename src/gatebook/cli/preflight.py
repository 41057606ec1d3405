"""`gatebook preflight` and `gatebook run --preflight`: parse the command line, render the report."""

from __future__ import annotations

import shlex
import sys
from typing import Any, Sequence

import click

from gatebook.cli.common import console, emit_json, json_option
from gatebook.preflight import PreflightReport, check_command_line, report_doc


def print_report(report: PreflightReport, argv: Sequence[str] | None, source: str | None, *,
                 stderr: bool = False) -> None:
    """The checks as a table (each one's PASS / FAIL and detail) and the verdict."""
    from rich.markup import escape
    from rich.table import Table

    from gatebook.render.styles import tier_style

    con = console(stderr=stderr)
    passed, failed_ = f"[{tier_style('PASS')}]PASS[/]", f"[{tier_style('FAIL')}]FAIL[/]"
    what = f"`{shlex.join(argv)}`" if argv else "(no command)"
    n = len(report.checks)
    con.print(f"[bold]preflight of {escape(what)}[/bold] ({n} check{'s' if n != 1 else ''} of "
              f"{escape(source or 'gatebook.yaml')})")
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("check", "result", "detail"):
        table.add_column(col, overflow="fold")
    for c in report.checks:
        table.add_row(escape(c.name), passed if c.passed else failed_, escape(c.detail))
    con.print(table)
    if report.ok:
        con.print(f"verdict: {passed}")
    else:
        failed = report.failed
        con.print(f"verdict: {failed_} ({len(failed)} of {n} failed: "
                  + escape(", ".join(c.name for c in failed)) + ")")


def preflight_for_run(argv: Sequence[str], config_file: str | None, *,
                      as_json: bool) -> tuple[PreflightReport, dict[str, Any]]:
    """For `gatebook run --preflight`: run the checks; on FAIL print the table to stderr
    (not with --json); on PASS say so in one line. Returns (report, JSON document)."""
    report, source = check_command_line(argv, config_file)
    if not as_json:
        if report.ok:
            n = len(report.checks)
            print(f"gatebook: preflight PASS ({n} check{'s' if n != 1 else ''})", file=sys.stderr, flush=True)
        else:
            print_report(report, argv, source, stderr=True)
    return report, report_doc(report, argv, source)


@click.command(
    "preflight",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    short_help="Run the project's preflight checks before a command.",
)
@click.option("--config", "-c", "config_file", metavar="FILE",
              help="The command's config file: its values fill {param} placeholders too (as with gatebook run -c).")
@json_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def preflight_cmd(config_file: str | None, as_json: bool, command: tuple[str, ...]) -> int:
    """Run the `preflight:` checks of gatebook.yaml: gatebook preflight [--json] [-- COMMAND ARGS...]

    Checks: path_exists (with {param} placeholders filled from COMMAND's --key value
    arguments), free_disk_gb, gpu, git_clean, command (run without a shell, with a
    timeout). Relative paths are relative to the current directory. Every check runs; a
    table gives each one's PASS / FAIL and why.

    Exit 0 when every check passes, 1 when one fails, 2 when there is no preflight
    section or the config is malformed. `gatebook run --preflight` runs the same checks
    and does not start its command when one fails.
    """
    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    report, source = check_command_line(argv or None, config_file)
    if as_json:
        emit_json(report_doc(report, argv or None, source))
    else:
        print_report(report, argv or None, source)
    return 0 if report.ok else 1
