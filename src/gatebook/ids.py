"""Run ids: short, sortable by creation time, easy to type.

An id is 11 characters of lowercase Crockford base32 (no i, l, o, u): 8 for the
milliseconds since 2020-01-01 UTC (good until 2054) and 3 random ones, so ids sort
by creation time and two runs started in the same millisecond still differ.
"""

from __future__ import annotations

import re
import secrets
import time

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
TIME_CHARS = 8
RANDOM_CHARS = 3
ID_LENGTH = TIME_CHARS + RANDOM_CHARS
ID_RE = re.compile(rf"^[{ALPHABET}]{{{ID_LENGTH}}}$")


def _encode(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 32)
        chars.append(ALPHABET[rem])
    return "".join(reversed(chars))


def new_run_id(now: float | None = None) -> str:
    """A new id for a run created at ``now`` (seconds since the epoch)."""
    ms = int((time.time() if now is None else now) * 1000) - EPOCH_MS
    ms = max(0, min(ms, 32**TIME_CHARS - 1))
    return _encode(ms, TIME_CHARS) + _encode(secrets.randbelow(32**RANDOM_CHARS), RANDOM_CHARS)


def looks_like_id_prefix(text: str) -> bool:
    """True when ``text`` could be (a prefix of) a run id."""
    return 0 < len(text) <= ID_LENGTH and all(c in ALPHABET for c in text)
