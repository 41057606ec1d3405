"""The layering, pinned by reading every module's imports (an AST scan, nothing imported).

- Nothing outside ``cli/`` imports ``gatebook.cli`` (but ``__main__``, which starts it): the
  library returns data and formats it through ``gatebook.render``.
- The judge (``gates/checks.py``, ``gates/grammar.py``, ``gates/evaluate.py``) and the sweep's
  pruner do no I/O: no store, no files, no processes.
- Only ``cli/`` and ``render/`` import Rich or Click: ``analysis/``, ``report/``, ``gates/``,
  ``capture/``, ``sweep/`` and the rest return data, and ``render/`` turns it into text.
- The store (``store/``) sits below everything but the plain data it stores: from gatebook it
  imports only records, errors, ids, serialize and its own modules (store URLs included).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "gatebook"
IO_MODULES = ("os", "subprocess", "socket", "shutil", "pathlib", "sqlalchemy", "psycopg", "gatebook.store",
              "gatebook.project", "gatebook.capture", "gatebook.cli", "gatebook.api", "click", "rich")
STORE_MAY_IMPORT = ("gatebook.records", "gatebook.errors", "gatebook.ids", "gatebook.serialize", "gatebook.store")
PURE = ["gates/checks.py", "gates/grammar.py", "gates/check_lexer.py", "gates/check_parser.py", "gates/evaluate.py",
        "sweep/prune.py", "sweep/space.py", "sweep/template.py", "placeholders.py", "buckets.py", "records.py"]
TERMINAL = ("rich", "click")
"""Libraries that draw on or parse a terminal: only ``cli/`` and ``render/`` import them."""


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (lazy imports inside functions included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_the_scan_sees_the_package() -> None:
    found = {p.relative_to(SRC).as_posix() for p in modules()}
    assert {"cli/__init__.py", "capture/wrapper.py", "render/text.py", *PURE} <= found
    assert "gatebook.render.text" in imports_of(SRC / "cli" / "read.py")  # lazy and top-level imports


def test_nothing_outside_the_cli_imports_the_cli() -> None:
    offenders = [f"{p.relative_to(SRC)} imports {name}" for p in modules()
                 if p.relative_to(SRC).parts[0] != "cli" and p.name != "__main__.py"
                 for name in sorted(imports_of(p)) if _under(name, "gatebook.cli")]
    assert offenders == []


@pytest.mark.parametrize("module", PURE)
def test_the_judge_and_the_pruner_do_no_io(module: str) -> None:
    names = imports_of(SRC / module)
    assert [n for n in sorted(names) if any(_under(n, io) for io in IO_MODULES)] == []


def gatebook_imports(path: Path) -> set[str]:
    """The gatebook modules ``path`` imports, ``from gatebook import serialize`` as ``gatebook.serialize``."""
    out = {name for name in imports_of(path) if _under(name, "gatebook") and name != "gatebook"}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "gatebook" and node.level == 0:
            out.update(f"gatebook.{alias.name}" for alias in node.names)
    return out


def test_the_store_imports_only_plain_data_from_gatebook() -> None:
    store = sorted((SRC / "store").rglob("*.py"))
    assert SRC / "store" / "dialects.py" in store
    assert "gatebook.serialize" in gatebook_imports(SRC / "store" / "sql_writes.py")
    offenders = [f"{p.relative_to(SRC)} imports {name}" for p in store for name in sorted(gatebook_imports(p))
                 if not any(_under(name, ok) for ok in STORE_MAY_IMPORT)]
    assert offenders == []


def test_only_the_cli_and_the_render_layer_draw_on_a_terminal() -> None:
    offenders = [f"{p.relative_to(SRC)} imports {name}" for p in modules()
                 if p.relative_to(SRC).parts[0] not in ("cli", "render")
                 for name in sorted(imports_of(p)) if any(_under(name, lib) for lib in TERMINAL)]
    assert offenders == []


MAX_LINES = 450
"""Modules hold one concept each (100-400 lines is the aim); past this, split along the seams."""


def test_every_module_says_its_one_job_and_stays_small() -> None:
    undocumented, large = [], []
    for p in modules():
        if "migrations" in p.parts:
            continue
        text = p.read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(text, str(p)))
        if not doc or not doc.strip().splitlines()[0].strip():
            undocumented.append(str(p.relative_to(SRC)))
        if len(text.splitlines()) > MAX_LINES:
            large.append(f"{p.relative_to(SRC)}: {len(text.splitlines())} lines")
    assert undocumented == []
    assert large == []
