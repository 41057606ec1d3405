"""`gatebook preflight` (and what `gatebook run --preflight` uses)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

import click

from gatebook.cli.common import console, emit_json, json_option
from gatebook.errors import ConfigError


def load_checks() -> tuple[list[Any], str | None]:
    """The project's ``preflight:`` checks and the file they come from.

    The project is found as for every command (``GATEBOOK_DIR``, else walking up from the
    cwd to a ``.gatebook/`` or ``gatebook.yaml``); no ledger is needed. Raises ConfigError
    (exit 2) when there is no check to run or the config is malformed.
    """
    from gatebook import project
    from gatebook.project_config import load_project_config
    from gatebook.settings import GATEBOOK_DIR

    start = Path(GATEBOOK_DIR.get()) if GATEBOOK_DIR.get() else None
    root = project.find_root(start)
    pconf = load_project_config(root)
    if not pconf.preflight:
        where = f"{pconf.source} has no preflight: section" if pconf.source else \
            "no gatebook.yaml here or in any parent directory"
        raise ConfigError(f"no preflight checks to run: {where}",
                          hint='add e.g. `preflight: [{git_clean: true}, {free_disk_gb: 20}]` to gatebook.yaml')
    return list(pconf.preflight), pconf.source


def check_command_line(argv: Sequence[str] | None, config_file: str | None = None) -> tuple[Any, str | None]:
    """Run the project's checks for ``argv`` in the cwd: (PreflightReport, source)."""
    from gatebook.preflight import run_preflight

    checks, source = load_checks()
    return run_preflight(checks, argv=list(argv) if argv else None, config_file=config_file), source


def print_report(report: Any, argv: Sequence[str] | None, source: str | None, *, stderr: bool = False) -> None:
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


def report_doc(report: Any, argv: Sequence[str] | None, source: str | None) -> dict[str, Any]:
    doc = report.to_dict()
    doc.update(command=list(argv) if argv else None, cwd=os.getcwd(), source=source)
    return doc


def preflight_for_run(argv: Sequence[str], config_file: str | None, *, as_json: bool) -> tuple[Any, dict[str, Any]]:
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
