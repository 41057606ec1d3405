"""How tiers, run statuses and changes look: one colour per meaning, for the terminal and HTML.

Rich style names (the terminal) and CSS classes (reports, the dashboard) are both read from
here, so a FAIL is the same red in `gate`, `compare`, `sweep show` and a report.
"""

from __future__ import annotations

TIER_STYLE: dict[str, str] = {"PASS": "green", "MARGINAL": "yellow", "PENDING": "cyan", "FAIL": "red",
                              "ERROR": "bold red"}
"""Rich style of a verdict tier, by its value (``Tier.PASS.value`` is ``"PASS"``)."""

STATUS_STYLE: dict[str, str] = {"running": "cyan", "finished": "green", "failed": "red", "interrupted": "yellow",
                                "stopped": "magenta", "lost": "bright_black"}
"""Rich style of a run status, by its value."""

CHANGE_STYLE: dict[str, str] = {"better": "green", "worse": "red"}
"""Rich style of a metric's change against a baseline (``better`` / ``worse``; else dim)."""


def tier_style(tier: object) -> str:
    """The style of a tier given as a ``Tier`` or its value; "" for anything else."""
    return TIER_STYLE.get(str(getattr(tier, "value", tier)), "")


def status_style(status: object) -> str:
    """The style of a run status given as a ``RunStatus`` or its value; "" for anything else."""
    return STATUS_STYLE.get(str(getattr(status, "value", status)), "")
