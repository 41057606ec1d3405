"""Text rendering of promotions, the alias list and the alias audit trail (the JSON forms are ``to_dict``)."""

from __future__ import annotations

from typing import Any, Mapping

from gatebook.gates.evaluate import Tier
from gatebook.registry.promote import NO_HOLDER, Promotion
from gatebook.registry.trail import AliasList, Trail
from gatebook.render.gates import advice_lines, print_verdict
from gatebook.render.styles import tier_style
from gatebook.render.text import ago, iso
from gatebook.serialize import format_number


def _tier(value: Any) -> str:
    """A tier (or its value) in its colour (Rich markup); "-" when there is none."""
    if value is None:
        return "-"
    text = str(getattr(value, "value", value))
    return f"[{tier_style(text) or 'default'}]{text}[/]"


def _run(ref: Mapping[str, Any] | None) -> str:
    """``name (id)``, the id alone, or ``(empty)`` for no run."""
    if not ref:
        return "(empty)"
    return f"{ref['name']} ({ref['id']})" if ref.get("name") else str(ref["id"])


def promotion_summary(promo: Promotion) -> str:
    """The one line that says what happened to the alias."""
    doc = promo.to_dict()
    target, before = _run(doc["run"]), _run(doc["from"])
    alias = f"@{promo.alias}"
    verdict = doc["verdict"]
    if promo.action == "unchanged":
        return f"{alias} already points at {target}: nothing to do"
    if promo.action == "moved":
        was = f"was {before}" if promo.holder is not None else "its first holder"
        return f"{alias} -> {target} (verdict {verdict}; {was})"
    if promo.action == "forced":
        over = f" over verdict {verdict}" if verdict else " without a verdict"
        return f"{alias} -> {target} forced{over} (was {before}): {promo.reason}"
    if promo.action == "rollback":
        return f"{alias} rolled back to {target} (was {before}): {promo.reason}"
    why = f"verdict {verdict}"
    if promo.tier is Tier.MARGINAL:
        why += " (pass --allow-marginal to accept a MARGINAL verdict)"
    return f"refused: {alias} stays at {before}; {target} got {why}"


def print_promotion(con: Any, promo: Promotion) -> None:
    """The verdict tables (against the holder), the checks not judged, what moved, and the advice."""
    from rich.markup import escape

    if promo.verdict is not None:
        base = promo.holder.name or promo.holder.id if promo.holder is not None else None
        print_verdict(con, promo.verdict, promo.run.label, {g.name: base for g in promo.verdict.gates})
    for name, checks in promo.not_judged.items():
        for check in checks:
            con.print(f"gate {escape(name)}: {escape(check)}: not judged ({NO_HOLDER})")
    if promo.attempts > 1:
        con.print(f"judged {promo.attempts} times: the holder changed while the run was judged")
    if promo.action == "refused" and promo.verdict is not None:
        for gate in promo.verdict.gates:
            for c in gate.checks:
                if c.tier is not Tier.PASS:
                    con.print(f"failing: gate {escape(gate.name)}: {escape(c.check)}: {escape(c.reason)}")
    con.print(escape(promotion_summary(promo)))
    for advice in promo.advice:
        for line in advice_lines(advice, promo.run.name or promo.run.id):
            con.print(line, markup=False)


def print_aliases(con: Any, listing: AliasList) -> None:
    """`gatebook aliases`: alias, run, since, by, verdict."""
    from rich.markup import escape
    from rich.table import Table

    if not listing.rows:
        con.print("no aliases yet: gatebook promote RUN --to NAME creates one")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("alias", "run", "since", "by", "verdict"):
        table.add_column(col, overflow="fold")
    for row in listing.rows:
        a = row.alias
        verdict = "forced" if a.forced else ("rollback" if a.verdict is None else _tier(a.verdict))
        table.add_row(escape(f"@{a.name}"), escape(_run(row.run)), ago(a.since), escape(a.by), verdict)
    con.print(table)


def print_trail(con: Any, trail: Trail) -> None:
    """`gatebook aliases log`: each move and refused attempt, then its gates' checks."""
    from rich.markup import escape

    if not trail.entries:
        con.print("no alias events yet" if trail.alias is None else f"no events for @{escape(trail.alias)}")
        return
    for entry in trail.entries:
        doc = entry.to_dict()
        head = (f"{iso(entry.event.ts)}  @{doc['alias']}  {doc['action']}  {_run(doc['from'])} -> {_run(doc['to'])}"
                f"  by {doc['by']}")
        con.print(escape(head) + f"  {_tier(doc['verdict'])}")
        extra = []
        if doc["reason"]:
            extra.append(("forced: " if doc["forced"] else "reason: ") + doc["reason"])
        if doc["conflict"]:
            extra.append("the holder kept changing while the run was judged")
        for text in extra:
            con.print(f"    {escape(text)}")
        for gate in doc["gates"]:
            con.print(f"    gate {escape(gate['name'])}: {_tier(gate['verdict'])}")
            for c in gate["checks"]:
                observed = format_number(c["observed"]) if not isinstance(c["observed"], str) else c["observed"]
                con.print(f"      {escape(c['check'])}  observed {observed}  threshold "
                          f"{escape(c['threshold_text'] or '-')}  {_tier(c['tier'])}")
            for c in gate.get("not_judged", []):
                con.print(f"      {escape(c['check'])}  not judged ({escape(c['reason'])})")
