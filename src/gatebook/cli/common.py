"""Helpers shared by command modules: options, opening the store, output."""

from __future__ import annotations

import functools
import json
import sys
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from gatebook.render.text import ago, duration, iso  # noqa: F401 - the CLI's names for them

if TYPE_CHECKING:
    from gatebook.store.base import Store

F = TypeVar("F", bound=Callable[..., Any])


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (stable schema) instead of text.")(fn)


def store_option(fn: F) -> F:
    """``--store`` on a command too (the group's option is the default)."""

    @click.option("--store", "store_flag", metavar="URL", default=None,
                  help="Ledger to use (overrides GATEBOOK_STORE and the project's .gatebook/).")
    @functools.wraps(fn)
    def wrapper(*args: Any, store_flag: str | None = None, **kwargs: Any) -> Any:
        if store_flag:
            ctx = click.get_current_context()
            ctx.find_root().ensure_object(dict)["store"] = store_flag
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def selection_options(fn: F) -> F:
    """``--tag`` / ``--group`` / ``--last`` of the commands that read many runs
    (:func:`gatebook.selection.select_runs`)."""
    fn = click.option("--last", "-n", type=int, metavar="N",
                      help="Only the N newest of the selection (or of the ledger).")(fn)
    fn = click.option("--group", "-g", help="Also every run of this group.")(fn)
    return click.option("--tag", "-t", "tags", multiple=True,
                        help="Also every run with this tag (repeatable: all of them).")(fn)


def store_url_flag() -> str | None:
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    obj = ctx.find_root().obj or {}
    return obj.get("store")


def project_config() -> Any:
    """The config (gatebook.yaml or ``[tool.gatebook]``) of the project this command runs in,
    found from the cwd or ``--store``."""
    from gatebook import project
    from gatebook.project_config import load_project_config

    return load_project_config(project.locate(store_url_flag(), create=False).root)


def open_ledger(*, create: bool = False) -> Store:
    """Open the store chosen by --store / GATEBOOK_STORE / the project (reads: must exist).

    The store is closed when the command ends (also when it is used as a context manager
    earlier), so commands run in-process (tests, the dashboard) leave no engine behind."""
    from gatebook import project
    from gatebook.store import open_store

    proj = project.locate(store_url_flag(), create=True) if create else project.locate_for_reading(store_url_flag())
    store = open_store(proj.store_url)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(store.close)
    return store


def emit_json(data: Any) -> None:
    """Strict JSON on stdout: NaN and infinities become the strings "NaN", "Infinity"."""
    from gatebook.serialize import json_safe_numbers

    # Indented for a person at a terminal; compact (and several times faster to write, via
    # the C encoder) when a script or an agent reads it. The document is the same.
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(json_safe_numbers(data), indent=indent, ensure_ascii=False, allow_nan=False) + "\n")




def console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # piped output (scripts, grep, agents) is not folded to 80 columns
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)
