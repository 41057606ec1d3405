"""Writing a report to disk: ``.html`` (self-contained) or ``.md`` with its images in ``<stem>_files/``.

Paths are checked first (:func:`report_format`, :func:`ensure_parent`) so a bad ``--out``
is one line (exit 2); the file is written through a temporary file renamed over it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gatebook.errors import UsageError
from gatebook.files import write_atomic
from gatebook.report.blocks import Report

REPORT_FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}


def report_format(path: Path) -> str:
    fmt = REPORT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"--out {path}: a report is a .html or a .md file",
                         hint="HTML embeds its images; Markdown writes them to <name>_files/ next to it")
    return fmt


def ensure_parent(path: Path) -> None:
    """Create the directory ``path`` goes in (and its parents); a UsageError naming the
    path when that cannot be (a file in the way, no permission)."""
    for parent in (path.parent, *path.parent.parents):
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"cannot write {path}: {parent} is not a directory")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: cannot create {path.parent}: {exc.strerror or exc}") from None


def write_report(report: Report, out: Path) -> dict[str, Any]:
    """Write ``out`` (``.html`` or ``.md``, plus ``<stem>_files/*.png`` for Markdown).

    Returns ``{"file", "format", "images"}`` (absolute paths). An unwritable place is a
    UsageError naming the path.
    """
    from gatebook.report.html import render_html
    from gatebook.report.markdown import render_markdown

    fmt = report_format(out)
    out = out.expanduser()
    ensure_parent(out)
    try:
        images: list[str] = []
        if fmt == "html":
            text = render_html(report)
        else:
            image_dir = f"{out.stem}_files"
            if report.images:
                folder = out.parent / image_dir
                folder.mkdir(exist_ok=True)
                for img in report.images:
                    target = folder / img.name
                    target.write_bytes(img.png)
                    images.append(str(target.resolve()))
            text = render_markdown(report, image_dir)
        write_atomic(out, text)
    except OSError as exc:
        raise UsageError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    return {"file": str(out.resolve()), "format": fmt, "images": images}
