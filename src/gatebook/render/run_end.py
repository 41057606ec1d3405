"""The lines `gatebook run` and `gatebook attach` print when their run ends (a SuperviseResult in, lines out)."""

from __future__ import annotations

import sys
from typing import Any

from gatebook.records import RunStatus
from gatebook.render.text import duration


def _points(n: int) -> str:
    return f"{n} metric point{'' if n == 1 else 's'}"


def _first_line(result: Any) -> str:
    """How the run ended: a started command's exit code, or what became of an adopted process."""
    if result.exit_known:
        line = (f"gatebook: run {result.run_id} {result.status.value} in {duration(result.duration)} "
                f"(exit {result.exit_code}, {_points(result.points)} from output and watched files)")
        if result.reason and result.status is not RunStatus.FINISHED:
            line += f": {result.reason}"
        return line
    how = (f"detached from pid {result.pid}, which keeps running" if result.detached is not None
           else f"pid {result.pid} ended, exit code unknown")
    line = (f"gatebook: run {result.run_id} {result.status.value} after {duration(result.duration)} "
            f"({how}; {_points(result.points)} from the log and watched files)")
    if result.reason and result.status is RunStatus.STOPPED:
        line += f": {result.reason}"
    return line


def end_lines(result: Any) -> list[str]:
    """The end of a supervised run (:class:`gatebook.capture.supervise.SuperviseResult`): how it
    ended, the gates' final tiers, the playbook's advice, warnings, where to look next."""
    lines = [_first_line(result)]
    if result.verdict is not None:
        gates = ", ".join(f"{g.name} {g.tier.value}" for g in result.verdict.gates)
        lines.append(f"gatebook: gates: {gates}")
    if result.advice is not None:
        from gatebook.render.gates import advice_lines

        lines.extend(f"gatebook: {line}" for line in advice_lines(result.advice, result.name or result.run_id))
    if result.failed_stop_gates and not result.stopped_by:
        lines.append(f"gatebook: the command ended before gate {', '.join(result.failed_stop_gates)} could stop it; "
                     f"its final verdict is FAIL")
    lines.extend(f"gatebook: warning: {w}" for w in result.warnings[:5])
    lines.append(f"gatebook: see `gatebook show {result.run_id}`")
    return lines


def print_end(result: Any, *, stream: Any = None) -> None:
    """Print :func:`end_lines` (to stderr by default)."""
    stream = stream or sys.stderr
    for line in end_lines(result):
        print(line, file=stream)
    stream.flush()
