"""`gatebook diff A B`: what differs between two runs; `gatebook diff RUN --intended`."""

from __future__ import annotations

import sys
from typing import Any

import click

from gatebook.cli.common import (
    console,
    emit_json,
    json_option,
    open_ledger,
    project_config,
    store_option,
)
from gatebook.errors import UsageError


@click.command("diff")
@click.argument("a", metavar="A")
@click.argument("b", metavar="[B]", required=False)
@click.option("--patch", is_flag=True, help="Print both runs' dirty-tree patches too.")
@click.option("--intended", is_flag=True,
              help="Check one run: where the config it reported (gb.init(config=...)) disagrees with "
                   "what its command line / --config file asked for. Exit 1 on a disagreement.")
@store_option
@json_option
def diff_cmd(a: str, b: str | None, patch: bool, intended: bool, as_json: bool) -> int:
    """What differs between runs A and B: params, code, environment, metric keys, metrics.

    Params added / removed / changed (merged, dotted keys); the commits between A's and
    B's commits (when the repository is still at the runs' git root) and the files they
    touch; each side's dirty files and patch; package and Python versions; metric keys
    only one run logged; the last value of each shared metric side by side (delta B - A,
    better / worse when gatebook.yaml says which way is better). Exit 0: a diff is
    information, not a check.

    With --intended, RUN alone is checked: exit 1 when the config the run reported
    disagrees with what it was asked for, 0 otherwise.
    """
    if intended:
        if b is not None:
            raise UsageError("--intended checks one run; give only RUN",
                             hint="use `gatebook diff A B` to compare two runs")
        if patch:
            raise UsageError("--patch is for comparing two runs; drop it with --intended")
        return _intended(a, as_json)
    if b is None:
        raise UsageError("give two runs to compare: gatebook diff A B",
                         hint="or `gatebook diff RUN --intended` to check one run")
    from gatebook.analysis.diff import diff_runs

    with open_ledger() as store:
        ra, rb = store.resolve_run(a), store.resolve_run(b)
        pconf = project_config()
        diff = diff_runs(store, ra, rb, pconf, with_patches=patch)
    if as_json:
        emit_json(diff.to_dict())
    else:
        _render(diff, ra, rb)
    return 0


def _intended(ref: str, as_json: bool) -> int:
    from gatebook.analysis.intended import REPORTED_SOURCE, compared_keys, find_mismatches, value_text

    with open_ledger() as store:
        run = store.resolve_run(ref)
        by_source = store.params(run.id)
    mismatches = find_mismatches(by_source, cwd=run.cwd)
    compared = compared_keys(by_source)
    reported = bool(by_source.get(REPORTED_SOURCE))
    if as_json:
        emit_json({"run": run.ref(),
                   "reported": reported, "compared": compared,
                   "intended_mismatches": [m.to_dict() for m in mismatches]})
        return 1 if mismatches else 0
    con = console()
    if not reported:
        con.print(f"{run.label}: the run reported no config (gb.init(config=...)); nothing to compare",
                  markup=False)
        return 0
    if not mismatches:
        con.print(f"{run.label}: what the run reported agrees with what it was asked for "
                  f"({len(compared)} key{'' if len(compared) == 1 else 's'} compared"
                  + (f": {', '.join(compared)}" if compared and len(compared) <= 8 else "") + ")", markup=False)
        return 0
    from rich.table import Table

    n = len(mismatches)
    con.print(f"{run.label}: {n} disagreement{'' if n == 1 else 's'} between what was asked for and what "
              f"the run reported", markup=False)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("key", "asked for", "by", "reported"):
        table.add_column(col)
    for m in mismatches:
        table.add_row(m.key, value_text(m.intended), "command" if m.source == "argv" else "config file",
                      value_text(m.reported))
    con.print(table, markup=False)
    return 1


# -- text rendering -----------------------------------------------------------------------------


def _side(ref: dict[str, Any]) -> str:
    name = f"{ref['name']} ({ref['id']})" if ref["name"] else ref["id"]
    return name + (f" @ {ref['commit'][:10]}" if ref.get("commit") else "")


def _value(value: Any, width: int = 60) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def _render(diff: Any, ra: Any, rb: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    from gatebook.serialize import format_number

    con = console()
    out = lambda text="": con.print(text, markup=False)  # noqa: E731
    out(f"A: {_side(diff.a)}")
    out(f"B: {_side(diff.b)}")

    def section(title: str) -> None:
        out()
        con.print(f"[bold]{escape(title)}[/]")

    if diff.params_differ:
        section("params")
        rows = ([("changed", k, f"{_value(ch['a'])} -> {_value(ch['b'])}") for k, ch in diff.params["changed"].items()]
                + [("added", k, _value(v)) for k, v in diff.params["added"].items()]
                + [("removed", k, _value(v)) for k, v in diff.params["removed"].items()])
        width = max(len(k) for _, k, _ in rows)
        for what, key, text in rows:
            out(f"  {what:<8} {key:<{width}}  {text}")

    c = diff.code
    if diff.code_differs:
        section("code")
        if c["a_commit"] != c["b_commit"]:
            _render_commits(out, c)
        for side in ("a", "b"):
            files = c[f"{side}_dirty_files"]
            if files or c[f"{side}_patch"]:
                shown = ", ".join(files[:12]) + (" ..." if len(files) > 12 else "")
                out(f"  {side.upper()} dirty: {shown or '(patch only)'}"
                    + ("" if c[f"{side}_patch"] else "  (no patch stored)"))
            else:
                out(f"  {side.upper()} clean")
        if c["a_patch"] and c["b_patch"] and c["same_patch"]:
            out("  both ran with the same patch")
        if (c["a_patch"] or c["b_patch"]) and diff.patches is None:
            out(f"  the patches: gatebook diff {ra.id} {rb.id} --patch")

    e = diff.env
    if diff.env_differs:
        section("environment")
        if e["python"]["changed"]:
            out(f"  python {e['python']['a']} -> {e['python']['b']}")
        pk = e["packages"]
        for name, ch in pk["changed"].items():
            out(f"  {name} {ch['a']} -> {ch['b']}")
        for name, version in pk["added"].items():
            out(f"  + {name} {version} (B only)")
        for name, version in pk["removed"].items():
            out(f"  - {name} {version} (A only)")

    k = diff.metric_keys
    if diff.metric_keys_differ:
        section("metric keys")
        if k["only_a"]:
            out("  only in A: " + ", ".join(k["only_a"]))
        if k["only_b"]:
            out("  only in B: " + ", ".join(k["only_b"]))

    if diff.metrics:
        section("metrics (last values)")
        t = Table(box=None, pad_edge=False, header_style="bold")
        for col in ("key", "A", "B", "delta", "B vs A"):
            t.add_column(col, justify="left" if col in ("key", "B vs A") else "right")
        for m in diff.metrics:
            delta = m["delta"]
            dtext = format_number(delta)
            if isinstance(delta, float) and delta > 0:
                dtext = "+" + dtext
            verdict = m["change"] or ""
            if m["change"] in ("better", "worse"):
                verdict += f" ({m['direction']} is better)"
            t.add_row(m["key"], format_number(m["a"]), format_number(m["b"]), dtext, verdict)
        con.print(t, markup=False)

    if diff.patches is not None:
        for side, run in (("a", ra), ("b", rb)):
            text = diff.patches.get(side)
            section(f"patch of {side.upper()}: {run.label}")
            if text:
                sys.stdout.flush()
                con.file.flush()
                sys.stdout.write(text if text.endswith("\n") else text + "\n")
                sys.stdout.flush()
            else:
                out("  (none: its git tree was clean or not a git repository)")
    out()
    out(f"summary: {diff.summary}")


def _render_commits(out: Any, c: dict[str, Any]) -> None:
    ahead, behind = c["only_in_b"]["count"], c["only_in_a"]["count"]
    a_short, b_short = (c["a_commit"] or "?")[:10], (c["b_commit"] or "?")[:10]
    if not c["a_commit"] or not c["b_commit"]:
        out(f"  commits: A {a_short if c['a_commit'] else '(none)'}, B {b_short if c['b_commit'] else '(none)'}")
        return
    if ahead is None:
        where = f" at {c['repo']}" if c["repo"] else ""
        out(f"  commits {a_short} -> {b_short} (the repository{where} does not have both: no log)")
        return
    if ahead and not behind:
        out(f"  B is {ahead} commit{'' if ahead == 1 else 's'} ahead of A:")
    elif behind and not ahead:
        out(f"  B is {behind} commit{'' if behind == 1 else 's'} behind A (A has commits B lacks):")
    else:
        out(f"  A and B have diverged: {ahead} commit{'' if ahead == 1 else 's'} only in B, {behind} only in A")
    for label, block in (("", c["only_in_b"]), ("A only: ", c["only_in_a"])):
        for entry in block["log"]:
            out(f"    {label}{entry['commit']} {entry['subject']}")
        more = (block["count"] or 0) - len(block["log"])
        if more > 0:
            out(f"    {label}... and {more} more")
    files = c["files_changed"] or []
    if files:
        out(f"  files changed between the commits ({len(files)}): " + ", ".join(files[:20])
            + (" ..." if len(files) > 20 else ""))
