"""One config over several seeds: ``gatebook run --repeat N -- CMD --seed {seed}``.

The command runs once per seed, one after the other, each a recorded run (:func:`run_wrapped`)
with ``{seed}`` in its arguments replaced by the seed. The runs form a replicate set: they share
the name and carry the same ``replicate`` key, :func:`replicate_key` of the name, the command as
written (``{seed}`` unfilled), the config file and the directory: running the same command again
later adds runs to the same set. A gate or a comparison given the set judges it as a whole
(docs/statistics.md). Ctrl-C (a run ending ``interrupted``) stops the remaining seeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from gatebook.errors import UsageError

if TYPE_CHECKING:
    from gatebook.capture.supervise import SuperviseResult
    from gatebook.capture.wrapper import WrapOptions

SEED = "{seed}"


def replicate_key(name: str | None, argv: Sequence[str], config_file: str | None, cwd: str) -> str:
    """The key of the replicate set of this config: ``r-`` and 12 hex digits."""
    raw = json.dumps([name, list(argv), config_file, os.path.realpath(cwd)])
    return "r-" + hashlib.sha1(raw.encode()).hexdigest()[:12]


def seeds_from(repeat: int | None, seeds: str | None) -> list[int] | None:
    """The seeds ``--repeat N`` (0..N-1) or ``--seeds 0,1,7`` ask for; None when neither is given."""
    if repeat is not None and seeds is not None:
        raise UsageError("give --repeat N or --seeds LIST, not both")
    if seeds is not None:
        try:
            out = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise UsageError(f"--seeds {seeds!r}: give whole numbers separated by commas, e.g. 0,1,2") from None
        if not out or len(set(out)) != len(out):
            raise UsageError(f"--seeds {seeds!r}: give distinct seeds, e.g. 0,1,2")
        return out
    if repeat is not None:
        if repeat < 1:
            raise UsageError(f"--repeat {repeat}: give 1 or more")
        return list(range(repeat))
    return None


@dataclass
class RepeatResult:
    replicate: str
    runs: list[tuple[int, SuperviseResult]] = field(default_factory=list)

    @property
    def command_exit(self) -> int:
        """The first non-zero exit of the runs (0 when every run succeeded)."""
        return next((r.command_exit for _, r in self.runs if r.command_exit), 0)

    def to_dict(self) -> dict[str, Any]:
        """``gatebook run --repeat --json``: ``{"replicate", "seeds", "runs": [run document + "seed"]}``."""
        return {"replicate": self.replicate, "seeds": [s for s, _ in self.runs],
                "runs": [{**r.to_dict(), "seed": s} for s, r in self.runs]}


def run_repeated(opts: WrapOptions, seeds: Sequence[int]) -> RepeatResult:
    """Run ``opts.argv`` once per seed as runs of one replicate set (see the module)."""
    from gatebook.capture.wrapper import run_wrapped
    from gatebook.records import RunStatus

    if not any(SEED in arg for arg in opts.argv):
        raise UsageError("a repeated command needs {seed} where the seed goes",
                         hint="e.g. gatebook run --repeat 3 -- python train.py --seed {seed}")
    cwd = opts.cwd or os.getcwd()
    result = RepeatResult(replicate_key(opts.name, opts.argv, opts.config_file, cwd))
    for seed in seeds:
        one = dataclasses.replace(opts, argv=[a.replace(SEED, str(seed)) for a in opts.argv],
                                  replicate=result.replicate)
        run = run_wrapped(one)
        result.runs.append((seed, run))
        if run.status is RunStatus.INTERRUPTED:
            break  # Ctrl-C: not the next seed
    return result
