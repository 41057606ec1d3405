"""Re-export of :mod:`gatebook.render.gates` for importers not yet moved (capture/wrapper.py, report/build.py)."""

from __future__ import annotations

from gatebook.render.gates import advice_lines, print_verdict

__all__ = ["advice_lines", "print_verdict"]
