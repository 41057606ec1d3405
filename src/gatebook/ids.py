"""Run ids: short, sortable by creation time, easy to type.

An id is 11 characters of lowercase Crockford base32 (no i, l, o, u): 8 for the
milliseconds since 2020-01-01 UTC (good until 2054) and 3 random ones, so ids sort
by creation time.

One process never hands out the same id twice (a sweep starts its trials in threads,
often within one millisecond). Two processes can still draw the same id in the same
millisecond (1 chance in 32,768): the store's ``create_run`` then stores the run under a
fresh id and returns it. ``gatebook run`` cannot take another id once its command has
started with one, so it either creates the run before starting the command (a server
ledger, already open) or claims the id with :func:`claim_run_id`, which no other process on
this machine draws for the same SQLite ledger.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections import OrderedDict

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


_RANDOM_SPACE = 32**RANDOM_CHARS
_MAX_MS = 32**TIME_CHARS - 1
# the random parts this process gave out, for its most recent milliseconds
_issued: OrderedDict[int, set[int]] = OrderedDict()
_ISSUED_MS_KEPT = 256
_issued_lock = threading.Lock()


def _random_part() -> int:
    """The random part of an id, as a number (tests replace it to force collisions)."""
    return secrets.randbelow(_RANDOM_SPACE)


def new_run_id(now: float | None = None) -> str:
    """A new id for a run created at ``now`` (seconds since the epoch), different from
    every id this process gave out for the same millisecond."""
    ms = int((time.time() if now is None else now) * 1000) - EPOCH_MS
    ms = max(0, min(ms, _MAX_MS))
    with _issued_lock:
        while True:
            used = _issued.get(ms)
            if used is not None:
                _issued.move_to_end(ms)
            else:
                used = _issued[ms] = set()
                while len(_issued) > _ISSUED_MS_KEPT:
                    _issued.popitem(last=False)
            if len(used) < _RANDOM_SPACE or ms == _MAX_MS:
                break
            ms = min(ms + 1, _MAX_MS)  # every id of this millisecond is taken: the next one
        for _ in range(64):
            rand = _random_part()
            if rand not in used:
                break
        else:  # a generator that keeps repeating itself (a test's): the first free value
            rand = next((r for r in range(_RANDOM_SPACE) if r not in used), rand)
        used.add(rand)
    return _encode(ms, TIME_CHARS) + _encode(rand, RANDOM_CHARS)


_CLAIMS_KEPT = 1024  # ids are time-ordered: only a burst in one millisecond can repeat one


def claim_run_id(ledger: str | os.PathLike[str], now: float | None = None, run_id: str | None = None) -> str:
    """Claim ``run_id`` (default: a new id) among this machine's processes for the SQLite ledger
    at ``ledger``, or a fresh id of the same millisecond when another process claimed it first.

    The most recent claims are kept, under an exclusive lock, in ``LEDGER.run-ids`` beside the
    ledger. ``gatebook run`` claims the id it hands to its command before it creates the run;
    every other creator of a run in that ledger claims its id too (the store's ``create_run``),
    so the two can never take the same id. When the file cannot be used the id is returned
    unclaimed (``create_run`` still refuses or replaces a taken one)."""
    rid = run_id or new_run_id(now)
    try:
        import fcntl

        fd = os.open(f"{os.fspath(ledger)}.run-ids", os.O_RDWR | os.O_CREAT, 0o644)
    except (ImportError, OSError):
        return rid
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        claimed = b"".join(chunks).decode("ascii", "replace").split()[-_CLAIMS_KEPT:]
        taken = set(claimed)
        while rid in taken:
            rid = new_run_id(now)
        claimed.append(rid)
        data = ("\n".join(claimed[-_CLAIMS_KEPT:]) + "\n").encode("ascii")
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, data)
    except OSError:
        pass
    finally:
        os.close(fd)  # releases the lock
    return rid


def looks_like_id_prefix(text: str) -> bool:
    """True when ``text`` could be (a prefix of) a run id."""
    return 0 < len(text) <= ID_LENGTH and all(c in ALPHABET for c in text)
