"""Text rendering of verdicts and playbook advice (the JSON forms are ``to_dict``)."""

from __future__ import annotations

from typing import Any

from gatebook.gates.evaluate import Tier, Verdict
from gatebook.gates.playbook import Advice
from gatebook.serialize import format_number

TIER_STYLE = {Tier.PASS: "green", Tier.MARGINAL: "yellow", Tier.PENDING: "blue", Tier.FAIL: "red",
              Tier.ERROR: "magenta"}


def print_verdict(con: Any, verdict: Verdict, run_label: str, baselines: dict[str, str | None]) -> None:
    from rich.markup import escape
    from rich.table import Table

    for gate in verdict.gates:
        base = baselines.get(gate.name)
        title = f"gate {gate.name} on {run_label}" + (f" vs baseline {base}" if base else "")
        con.print(f"[bold]{escape(title)}[/bold]: [{TIER_STYLE[gate.tier]}]{gate.tier.value}[/]")
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col in ("check", "observed", "threshold", "tier", "why"):
            table.add_column(col, overflow="fold")
        for c in gate.checks:
            table.add_row(escape(c.check), format_number(c.observed), escape(c.threshold_text),
                          f"[{TIER_STYLE[c.tier]}]{c.tier.value}[/]", escape(c.reason))
        con.print(table)
    con.print(f"verdict: [{TIER_STYLE[verdict.tier]}]{verdict.tier.value}[/]")


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
