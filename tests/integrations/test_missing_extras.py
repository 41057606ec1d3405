"""The hooks import their framework only when a class is used, and a missing one names its extra.

"Missing" is real here: a child Python started with ``-S`` (no site-packages), gatebook from src/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def _python(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *flags, "-c", f"import sys; sys.path.insert(0, {str(SRC)!r})\n{code}"],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("module", "name", "extra"), [
    ("lightning", "GatebookLogger", "lightning"),
    ("lightning", "GatebookStop", "lightning"),
    ("transformers", "GatebookCallback", "transformers"),
    ("keras", "GatebookCallback", "keras"),
])
def test_a_missing_framework_names_the_pip_install_line(module: str, name: str, extra: str) -> None:
    proc = _python(f"""
from gatebook.errors import MissingExtraError
import gatebook.integrations.{module} as hooks   # importing the module needs no framework
try:
    getattr(hooks, {name!r})
except MissingExtraError as exc:
    print(exc.exit_code, exc)
""", "-S")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (f"2 gatebook.integrations.{module} needs the '{extra}' package; "
                                   f"install it with: pip install 'gatebook[{extra}]'")


def test_importing_the_hook_modules_imports_no_framework() -> None:
    proc = _python("""
import gatebook.integrations.lightning, gatebook.integrations.transformers, gatebook.integrations.keras
heavy = {"torch", "lightning", "pytorch_lightning", "transformers", "keras"} & set(sys.modules)
print(sorted(heavy))
""")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
