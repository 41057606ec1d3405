"""The code's version: commit, branch, remote, dirty files and the working-tree patch, from git."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Sequence

from gatebook.capture.redact import strip_credentials

#: Untracked files larger than this are left out of the patch (they stay in ``dirty_files``).
MAX_UNTRACKED_BYTES = 256 * 1024

#: At most this many untracked files are read for the patch (an un-ignored virtualenv or
#: data directory must not make collection slow); the rest go to ``patch_skipped``.
MAX_UNTRACKED_FILES = 500

#: Total size of the untracked files put in the patch; files past the budget are skipped.
MAX_UNTRACKED_TOTAL_BYTES = 4 * 1024 * 1024

_BINARY_SNIFF_BYTES = 8000  # like git: a NUL in the first 8000 bytes means binary

_GIT_TIMEOUT = 10.0


def _git(args: Sequence[str], cwd: str | Path, *, stdin: bytes | None = None,
         timeout: float = _GIT_TIMEOUT) -> bytes | None:
    """The stdout of ``git ARGS`` run in ``cwd``, or None if git is missing, fails or times out.

    Output is made independent of the user's git configuration where it matters
    (quoting, prefixes, colours), and git takes no optional locks, so a concurrent
    ``git`` command of the user never meets a held ``index.lock``.
    """
    cmd = [
        "git",
        "-c", "core.quotepath=on",
        "-c", "diff.noprefix=false",
        "-c", "diff.mnemonicPrefix=false",
        "-c", "diff.relative=false",
        "-c", "diff.suppressBlankEmpty=false",
        "-c", "color.ui=never",
        *args,
    ]
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout


def _git_line(args: Sequence[str], cwd: str | Path) -> str | None:
    """The first line of ``git ARGS``'s output, stripped; None when empty or failed."""
    out = _git(args, cwd)
    if not out:
        return None
    line = out.decode("utf-8", "replace").strip().splitlines()
    return line[0] if line else None


def _split_z(out: bytes | None) -> list[bytes]:
    """NUL-separated git output as raw path entries (empty entries dropped)."""
    if not out:
        return []
    return [part for part in out.split(b"\0") if part]


def _empty_git_info() -> dict[str, Any]:
    return {
        "commit": None,
        "branch": None,
        "remote": None,
        "dirty": False,
        "root": None,
        "dirty_files": [],
        "patch": None,
        "patch_skipped": [],
    }


def _remote_url(root: str) -> str | None:
    """URL of the ``origin`` remote, else of the first configured remote, credentials stripped."""
    out = _git(["config", "--get-regexp", r"^remote\..*\.url$"], root)
    if not out:
        return None
    urls: list[tuple[str, str]] = []
    for line in out.decode("utf-8", "replace").splitlines():
        key, _, url = line.partition(" ")
        name = key[len("remote."):-len(".url")] if key.endswith(".url") else key
        if url:
            urls.append((name, url.strip()))
    if not urls:
        return None
    chosen = next((url for name, url in urls if name == "origin"), urls[0][1])
    return strip_credentials(chosen)


def _base_revision(root: str, commit: str | None) -> str | None:
    """What the working tree is compared with: HEAD, or the empty tree before the first commit."""
    if commit is not None:
        return "HEAD"
    out = _git(["hash-object", "-t", "tree", "--stdin"], root, stdin=b"")
    return out.decode("ascii", "replace").strip() if out else None


def git_info(cwd: str | Path) -> dict[str, Any]:
    """The git state of the repository holding ``cwd``.

    Returns a dict with:

    - ``commit``: full sha of HEAD, or None (not a repository, no commit yet, no git).
    - ``branch``: current branch name, or None (detached HEAD, not a repository).
    - ``remote``: URL of ``origin`` (else of the first remote) without credentials, or None.
    - ``dirty``: True when tracked files differ from HEAD or untracked (non-ignored) files exist.
    - ``root``: the repository's top-level directory, or None.
    - ``dirty_files``: sorted repo-relative paths changed vs HEAD plus untracked files.
    - ``patch``: when dirty, ``git diff HEAD`` (text) followed by "new file" hunks for each
      untracked UTF-8 text file of at most :data:`MAX_UNTRACKED_BYTES`, so that
      ``git apply`` of it on ``commit`` restores those files exactly; otherwise None.
      Changes to tracked *binary* files appear only as "Binary files differ".
    - ``patch_skipped``: sorted untracked paths left out of the patch (too large, binary,
      not UTF-8, unreadable, nested repositories).

    Never raises for environment reasons.
    """
    info = _empty_git_info()
    try:
        path = Path(cwd)
        if not path.is_dir():
            return info
        if shutil.which("git") is None:
            return info
        root = _git_line(["rev-parse", "--show-toplevel"], path)
        if root is None:
            return info
        info["root"] = root
        info["commit"] = _git_line(["rev-parse", "--verify", "-q", "HEAD^{commit}"], root)
        info["branch"] = _git_line(["symbolic-ref", "-q", "--short", "HEAD"], root)
        info["remote"] = _remote_url(root)
        _fill_working_tree(info, root)
    except Exception:  # noqa: BLE001 - provenance is best effort by contract
        pass
    return info


def _fill_working_tree(info: dict[str, Any], root: str) -> None:
    """Set ``dirty``, ``dirty_files``, ``patch`` and ``patch_skipped`` of ``info``."""
    base = _base_revision(root, info["commit"])
    tracked: list[bytes] = []
    if base:
        tracked = _split_z(_git(["diff", "--name-only", "-z", "--no-renames", base, "--"], root))
    untracked = _split_z(_git(["ls-files", "--others", "--exclude-standard", "-z"], root))
    names = {raw.decode("utf-8", "replace") for raw in tracked + untracked}
    info["dirty_files"] = sorted(names)
    info["dirty"] = bool(names)
    if not names:
        return
    parts: list[str] = []
    if tracked and base:
        diff = _git(
            ["diff", "--no-color", "--no-ext-diff", "--no-textconv",
             "--src-prefix=a/", "--dst-prefix=b/", base, "--"],
            root,
        )
        if diff:
            parts.append(diff.decode("utf-8", "replace"))
    hunks, skipped = _untracked_hunks(root, sorted(untracked))
    parts.extend(hunks)
    info["patch_skipped"] = sorted(skipped)
    info["patch"] = "".join(parts) or None


def _untracked_hunks(root: str, untracked: list[bytes]) -> tuple[list[str], list[str]]:
    """"New file" diffs for the untracked paths that fit the budgets, and the skipped paths."""
    hunks: list[str] = []
    skipped: list[str] = []
    budget = MAX_UNTRACKED_TOTAL_BYTES
    for n, raw in enumerate(untracked):
        hunk = _untracked_hunk(root, raw, budget) if n < MAX_UNTRACKED_FILES else None
        if hunk is None:
            skipped.append(raw.decode("utf-8", "replace"))
        else:
            hunks.append(hunk)
            budget -= len(hunk)
    return hunks, skipped


def _untracked_hunk(root: str, raw: bytes, budget: int) -> str | None:
    """A "new file" diff for the untracked path ``raw``, or None when it must be skipped.

    Skipped: directories (nested repositories), files over :data:`MAX_UNTRACKED_BYTES` or
    ``budget``, binary files (a NUL byte), non-UTF-8 files and unreadable files.
    """
    if raw.endswith(b"/"):  # a nested repository, listed as a directory
        return None
    rel = os.fsdecode(raw)
    full = os.path.join(root, rel)
    limit = max(0, min(MAX_UNTRACKED_BYTES, budget))
    try:
        if os.path.islink(full):
            return _new_file_diff(rel, os.readlink(full), "120000")
        st = os.stat(full)
        if not os.path.isfile(full) or st.st_size > limit:
            return None
        with open(full, "rb") as fh:
            head = fh.read(_BINARY_SNIFF_BYTES)
            if b"\0" in head:
                return None
            data = head + fh.read(limit + 1 - len(head))
        if len(data) > limit or b"\0" in data:
            return None
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    mode = "100755" if st.st_mode & 0o100 else "100644"
    return _new_file_diff(rel, text, mode)


def _new_file_diff(rel: str, text: str, mode: str) -> str:
    """The ``git diff`` text creating ``rel`` with content ``text`` and file ``mode``."""
    a_name = _quote_path("a/" + rel)
    b_name = _quote_path("b/" + rel)
    header = f"diff --git {a_name} {b_name}\nnew file mode {mode}\n"
    if not text:
        return header
    lines = text.split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    count = len(lines)
    span = "1" if count == 1 else f"1,{count}"
    body = "".join(f"+{line}\n" for line in lines)
    if not ends_with_newline:
        body += "\\ No newline at end of file\n"
    return f"{header}--- /dev/null\n+++ {b_name}\n@@ -0,0 +{span} @@\n{body}"


_C_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r",
              34: '\\"', 92: "\\\\"}


def _quote_path(path: str) -> str:
    """``path`` as git writes it in diff headers: C-quoted when it holds special bytes."""
    raw = path.encode("utf-8", "surrogateescape")
    if not any(b < 0x20 or b >= 0x7F or b in (34, 92) for b in raw):
        return path
    out = []
    for b in raw:
        if b in _C_ESCAPES:
            out.append(_C_ESCAPES[b])
        elif b < 0x20 or b >= 0x7F:
            out.append(f"\\{b:03o}")
        else:
            out.append(chr(b))
    return '"' + "".join(out) + '"'


def files_changed_between(cwd: str | Path, base_commit: str | None,
                          head_commit: str | None) -> list[str]:
    """Sorted repo-relative paths that differ between two commits (renames count twice).

    Returns ``[]`` when either commit is None, looks like an option, or git fails.
    """
    if not base_commit or not head_commit:
        return []
    if base_commit.startswith("-") or head_commit.startswith("-"):
        return []
    try:
        if not Path(cwd).is_dir():
            return []
        out = _git(["diff", "--name-only", "-z", "--no-renames", base_commit, head_commit, "--"],
                   cwd)
    except Exception:  # noqa: BLE001
        return []
    return sorted({raw.decode("utf-8", "replace") for raw in _split_z(out)})
