"""`gatebook log` and `gatebook note`: write to a run from the shell."""

from __future__ import annotations

import time

import click

from gatebook.cli.common import emit_json, json_option, open_ledger, store_option
from gatebook.errors import UsageError


def parse_pairs(pairs: tuple[str, ...]) -> dict[str, float]:
    """``key=value`` arguments as metrics; values must be numbers (NaN / inf allowed)."""
    out: dict[str, float] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{pair!r} is not key=value", hint="e.g. gatebook log RUN val_acc=0.91 loss=0.3")
        try:
            out[key] = float(raw.strip().rstrip("%"))
        except ValueError:
            raise UsageError(f"value of {key!r} is not a number: {raw!r}", hint="metrics are numbers") from None
    return out


@click.command("log")
@click.argument("run")
@click.argument("pairs", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option("--step", type=int, default=None, help="Step of these values.")
@store_option
@json_option
def log_cmd(run: str, pairs: tuple[str, ...], step: int | None, as_json: bool) -> int:
    """Log metric values to RUN, e.g. `gatebook log RUN val_acc=0.91 --step 3`."""
    values = parse_pairs(pairs)
    store = open_ledger()
    rec = store.resolve_run(run)
    now = time.time()
    store.log_metrics([(rec.id, k, step, v, now) for k, v in values.items()])
    if as_json:
        emit_json({"id": rec.id, "step": step, "logged": values})
    else:
        click.echo(f"gatebook: logged {len(values)} value(s) to {rec.label}")
    return 0


@click.command("note")
@click.argument("run")
@click.argument("text", nargs=-1, required=True)
@store_option
@json_option
def note_cmd(run: str, text: tuple[str, ...], as_json: bool) -> int:
    """Attach a note to RUN: `gatebook note RUN "retune limited to sep_weight"`."""
    body = " ".join(text).strip()
    if not body:
        raise UsageError("the note is empty", hint='give the text: gatebook note RUN "..."')
    from gatebook.views import add_note

    rec, doc = add_note(open_ledger(), run, body)
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"gatebook: note added to {rec.label}")
    return 0
