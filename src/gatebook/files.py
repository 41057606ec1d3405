"""Files written whole or not at all: a temporary file beside the target, renamed over it.

Readers (a browser on a report, ``git diff`` on a change log, a second process reading the
package cache) see the old file or the new one, never half of one. The temporary file gets
a unique name (two writers never share it), the target's permissions when it exists (else
the umask's), and is removed when writing fails.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8 with ``\\n`` line ends) to ``path`` atomically; returns ``path``.

    Raises ``OSError`` as the file system reports it (callers say what it means to the user).
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        try:
            mode = path.stat().st_mode & 0o7777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    return path
