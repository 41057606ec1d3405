"""14. TensorBoard import: 100,000 scalars, gatebook against tensorboard's own reader.

One run directory written by ``torch.utils.tensorboard.SummaryWriter`` (``add_scalar``: 4 tags x
25,000 steps = 100,000 scalars, one event file; writing it is untimed). Timed in this process,
interleaved, median of REPEATS after a warm-up round:

- ``import`` (the target line): ``gatebook.importers.tensorboard.import_tensorboard`` into a fresh
  SQLite ledger (opened untimed): every record's CRCs checked, every scalar decoded, and the run
  with its 100,000 points written to the ledger in one transaction;
- ``read``: gatebook's event-file reader alone (``gatebook.ingest.tensorboard.EventFile.read``:
  framing, CRCs, decoding; nothing written);
- ``accumulator`` (the peer): tensorboard's ``EventAccumulator(dir, size_guidance={SCALARS: 0})``
  (0: keep every scalar, no reservoir sampling), ``Reload()`` and ``Scalars(tag)`` of every tag:
  the points in memory, nothing written;
- ``cli``: ``gatebook import tensorboard DIR --json`` as a command (start-up included), fresh ledger.

Both readers must give the same 100,000 (step, value, wall time) points: checked once.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    GATEBOOK_EXE,
    child_env,
    log,
    parse_args,
    perf,
    round_robin,
    sqlite_url,
    summary_stats,
    time_command,
    write_result,
)

TAGS = ("train/loss", "train/acc", "lr", "val/loss")
STEPS = 25_000


def build(logdir: Path, steps: int) -> float:
    from torch.utils.tensorboard import SummaryWriter

    t0 = perf()
    writer = SummaryWriter(str(logdir))
    for step in range(steps):
        for i, tag in enumerate(TAGS):
            writer.add_scalar(tag, (i + 1) / (step + 1), step)
    writer.close()
    return perf() - t0


def accumulate(logdir: Path) -> dict[str, list[tuple[int, float, float]]]:
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(logdir), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    return {tag: [(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def read_gatebook(logdir: Path) -> dict[str, list[tuple[int, float, float]]]:
    from gatebook.ingest.tensorboard import EventFile, event_files

    out: dict[str, list[tuple[int, float, float]]] = {}
    for path in event_files(logdir):
        for tag, step, value, wall in EventFile(path).read():
            out.setdefault(tag, []).append((step, value, wall))
    return out


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 2 if args.quick else 5
    steps = STEPS
    logdir = args.workdir / "runs" / "exp"
    log(f"writing {steps * len(TAGS):,} scalars with SummaryWriter...")
    build_s = build(logdir, steps)
    size_mb = sum(p.stat().st_size for p in logdir.iterdir()) / 1e6

    ours, theirs = read_gatebook(logdir), accumulate(logdir)
    same = ours == theirs
    points = sum(len(v) for v in ours.values())
    log(f"{points:,} points, same as EventAccumulator: {same}")

    from gatebook.importers.tensorboard import import_tensorboard
    from gatebook.store import open_store

    counter = [0]

    def fresh_store() -> Any:
        counter[0] += 1
        return open_store(sqlite_url(args.workdir / f"ledger-{counter[0]}.db"))

    def timed_import() -> float:
        store = fresh_store()
        try:
            t0 = perf()
            result = import_tensorboard(store, logdir)
            took = perf() - t0
        finally:
            store.close()
        assert result.points == points, result.points
        return took

    def timed(fn: Any) -> Any:
        def run() -> float:
            t0 = perf()
            fn(logdir)
            return perf() - t0
        return run

    def timed_cli() -> float:
        counter[0] += 1
        env = child_env(GATEBOOK_STORE=sqlite_url(args.workdir / f"ledger-{counter[0]}.db"))
        wall, _cpu = time_command([GATEBOOK_EXE, "import", "tensorboard", str(logdir), "--json"], env=env,
                                  cwd=tempfile.gettempdir())
        return wall

    times = round_robin({"import": timed_import, "read": timed(read_gatebook), "accumulator": timed(accumulate),
                         "cli": timed_cli}, repeats, warmup=1)
    stats = {name: summary_stats(ts) for name, ts in times.items()}
    for name, st in stats.items():
        log(f"{name}: median {st['median']:.3f} s")
    values = {name: st["median"] for name, st in stats.items()}
    values.update(points=points, same_points=same, build_s=build_s, file_mb=size_mb, repeats=repeats,
                  speedup=stats["accumulator"]["median"] / stats["import"]["median"])
    write_result(args.out, values, stats, [f"written at {time.strftime('%Y-%m-%d %H:%M:%S')}"])


if __name__ == "__main__":
    main()
