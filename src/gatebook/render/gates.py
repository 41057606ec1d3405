"""Text rendering of verdicts, playbook advice and triage fix lists (the JSON forms are ``to_dict``)."""

from __future__ import annotations

from typing import Any

from gatebook.gates.evaluate import Verdict
from gatebook.gates.playbook import Advice
from gatebook.render.styles import tier_style
from gatebook.serialize import format_number


def _tier(tier: Any) -> str:
    """A tier's value in its colour (Rich markup)."""
    return f"[{tier_style(tier) or 'default'}]{tier.value}[/]"


def print_verdict(con: Any, verdict: Verdict, run_label: str, baselines: dict[str, str | None]) -> None:
    """Each gate's title and its table of checks, then the overall verdict, on the Rich console ``con``."""
    from rich.markup import escape
    from rich.table import Table

    for gate in verdict.gates:
        base = baselines.get(gate.name)
        title = f"gate {gate.name} on {run_label}" + (f" vs baseline {base}" if base else "")
        con.print(f"[bold]{escape(title)}[/bold]: {_tier(gate.tier)}")
        if not gate.checks:  # nothing judged (a first holder's baseline checks): no empty table
            continue
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col in ("check", "observed", "threshold", "tier", "why"):
            table.add_column(col, overflow="fold")
        for c in gate.checks:
            table.add_row(escape(c.check), format_number(c.observed), escape(c.threshold_text), _tier(c.tier),
                          escape(c.reason))
        con.print(table)
    con.print(f"verdict: {_tier(verdict.tier)}")


def advice_lines(advice: Advice, run_ref: str, *, hint: bool = True) -> list[str]:
    """``diagnosis: ...`` lines and the next fix (with the command that applies it)."""
    lines = [f"diagnosis ({sig.text}): {sig.diagnosis}" for sig in advice.diagnoses]
    fix = advice.next_fix
    if fix is not None:
        why = f" ({fix.why})" if fix.why else ""
        lines.append(f'next fix: "{fix.name}"{why}' + (f" -> gatebook triage {run_ref} --apply" if hint else ""))
    elif advice.fixes:
        lines.append(f"every fix of gate {advice.gate}'s playbook has been tried")
    return lines


def fix_lines(advice: Advice) -> list[str]:
    """The playbook's fixes in order, each marked ``tried``, ``next`` or not yet: triage's list."""
    out = []
    for fix, tried in advice.fixes:
        mark = "tried" if tried else ("next " if advice.next_fix is fix else "     ")
        out.append(f"  [{mark}] {fix.name}: " + ", ".join(f"{k}={v}" for k, v in fix.set.items())
                   + (f"  ({fix.why})" if fix.why else ""))
    return out
