"""How artifacts read as text: sizes, lineage lines, `gatebook artifacts` and its `--verify` lines."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from gatebook.render.table import Piece, format_text, layout, paint
from gatebook.render.text import ago

CHECK_STYLE = {"ok": "green", "changed": "red", "vanished": "red", "unchecked": "dim"}
"""Rich style of a verify status (gatebook.artifacts.STATUSES)."""


def size_text(size: int | None) -> str:
    """``532 B``, ``1.2 KiB``, ``3.4 MiB``, ``1.0 GiB``; ``?`` when unknown."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - unreachable


def lineage_lines(derived_from: Sequence[Mapping[str, Any]]) -> list[str]:
    """One ``from PATH (run ID)`` line per file an artifact was made from."""
    lines = []
    for d in derived_from:
        if d.get("run_id"):
            where = f"run {d['run_id']}"
        elif d.get("sha256"):
            where = f"sha256 {str(d['sha256'])[:12]}, no run logged it"
        else:
            where = "not there when logged"
        lines.append(f"from {d.get('path')} ({where})")
    return lines


def format_listing(listing: Any, *, color: bool = False, now: float | None = None) -> str:
    """``gatebook artifacts``: a table (kind, path, size, sha256, when), each artifact's lineage
    lines under its row (:class:`gatebook.artifacts.ArtifactList`)."""
    rows: list[list[list[Piece]]] = []
    for a in listing.artifacts:
        where = " (in the ledger)" if a.stored else ""
        rows.append([[(a.kind, "")], [(a.path, ""), (where, "dim")], [(size_text(a.size), "")],
                     [((a.sha256 or "")[:12], "dim")], [(ago(a.ts, now), "")]])
    lines = format_text(layout(["kind", "path", "size", "sha256", "logged"],
                               ["left", "left", "right", "left", "left"], rows), color=color).splitlines()
    out = [lines[0]]
    indent = " " * (max(len("kind"), *(len(a.kind) for a in listing.artifacts)) + 2)
    for a, line in zip(listing.artifacts, lines[1:], strict=False):
        out.append(line)
        out.extend(paint(indent + text, "dim", color) for text in lineage_lines(a.derived_from))
    return "\n".join(out) + "\n"


def format_verification(verification: Any, *, color: bool = False) -> str:
    """``gatebook artifacts --verify``: one line per artifact (status, path, what differs), then
    the count (:class:`gatebook.artifacts.Verification`)."""
    checks = verification.checks
    width = max((len(c.status) for c in checks), default=0)
    out = []
    for c in checks:
        status = c.status.upper() if c.status in ("changed", "vanished") else c.status
        detail = f"  {c.detail}" if c.detail else ""
        out.append(paint(status.ljust(width), CHECK_STYLE.get(c.status, ""), color) + f"  {c.artifact.path}{detail}")
    counts = verification.counts()
    failed = counts["changed"] + counts["vanished"]
    label = verification.run.label
    if failed:
        summary = (f"{failed} of {len(checks)} artifacts of {label} changed or vanished since they were logged "
                   f"({counts['changed']} changed, {counts['vanished']} vanished)")
    else:
        summary = f"{counts['ok']} of {len(checks)} artifacts of {label} match what was logged"
        if counts["unchecked"]:
            summary += f" ({counts['unchecked']} unchecked)"
    out.append(paint(summary, "red" if failed else "green", color))
    return "\n".join(out) + "\n"
