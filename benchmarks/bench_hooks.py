"""13. The per-call cost of each framework hook's log path against ``gb.log`` with the same dict.

In one process, against one run: ``gb.log(d, step=i)``; Lightning's
``GatebookLogger.log_metrics(d, step=i)`` (the method Lightning's logger connector calls, with its
``rank_zero_only`` wrapper); the Hugging Face ``GatebookCallback.on_log(args, state, control, logs=d)``
with a real ``TrainerState`` / ``TrainerControl`` (``args`` is not read on that path: None, since
``TrainingArguments`` needs accelerate); Keras's ``GatebookCallback.on_epoch_end(i, logs=d)``. ``d``
holds 5 floats, as in benchmark 1.

Calls are timed in batches of BATCH, the variants interleaved (A B C D A B C D ...) so drifts of a
shared machine hit each alike; before each batch the writer is flushed (untimed), so every batch
starts from a quiet writer. The headline per variant is the median per-call cost over its batches,
and the ratio to ``gb.log``'s (target: within 2x). A framework that is not installed is left out.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import log, parse_args, perf, round_robin, sqlite_url, summary_stats, write_result  # noqa: E402

BATCH = 1000
KEYS = ("loss", "acc", "lr", "grad_norm", "throughput")


def _variants() -> tuple[dict[str, Callable[[dict[str, float], int], Any]], list[str]]:
    """name -> a function logging one dict at one step through that path; notes on what is left out."""
    import gatebook as gb

    out: dict[str, Callable[[dict[str, float], int], Any]] = {"gb.log": lambda d, i: gb.log(d, step=i)}
    notes: list[str] = []
    try:
        from gatebook.integrations.lightning import GatebookLogger

        logger = GatebookLogger()
        out["lightning: GatebookLogger.log_metrics"] = lambda d, i: logger.log_metrics(d, step=i)
    except Exception as exc:  # noqa: BLE001 - a missing framework leaves its row out
        notes.append(f"Lightning left out: {exc}")
    try:
        from transformers import TrainerControl, TrainerState

        from gatebook.integrations.transformers import GatebookCallback as HFCallback

        hf, state, control = HFCallback(), TrainerState(), TrainerControl()

        def on_log(d: dict[str, float], i: int) -> None:
            state.global_step = i
            hf.on_log(None, state, control, logs=d)

        out["transformers: GatebookCallback.on_log"] = on_log
    except Exception as exc:  # noqa: BLE001
        notes.append(f"transformers left out: {exc}")
    try:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        from gatebook.integrations.keras import GatebookCallback as KerasCallback

        kc = KerasCallback()
        out["keras: GatebookCallback.on_epoch_end"] = lambda d, i: kc.on_epoch_end(i, logs=d)
    except Exception as exc:  # noqa: BLE001
        notes.append(f"Keras left out: {exc}")
    return out, notes


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 20 if args.quick else 100
    os.environ["GATEBOOK_STORE"] = sqlite_url(args.workdir / "ledger.db")
    os.chdir(args.workdir)

    import gatebook as gb

    run = gb.init(name="bench-hooks")
    run.flush()
    variants, notes = _variants()
    counters = {name: 0 for name in variants}

    def timed(name: str, fn: Callable[[dict[str, float], int], Any]) -> Callable[[], float]:
        def batch() -> float:
            run.flush()
            i = counters[name]
            end = i + BATCH
            t0 = perf()
            while i < end:
                v = i * 0.001
                fn({"loss": v, "acc": v, "lr": v, "grad_norm": v, "throughput": v}, i)
                i += 1
            dt = perf() - t0
            counters[name] = end
            return dt / BATCH
        return batch

    log(f"timing {repeats} x {BATCH} calls of each of {len(variants)} paths, interleaved")
    times = round_robin({name: timed(name, fn) for name, fn in variants.items()}, repeats, warmup=2)
    gb.finish()
    stats = {name: summary_stats(ts) for name, ts in times.items()}
    base = stats["gb.log"]["median"]
    values: dict[str, Any] = {"batch": BATCH, "repeats": repeats, "gb_log_median_s": base}
    for name, st in stats.items():
        if name == "gb.log":
            continue
        key = name.split(":")[0]
        values[f"{key}_median_s"] = st["median"]
        values[f"{key}_ratio"] = st["median"] / base if base else None
        values[f"{key}_path"] = name.split(": ", 1)[1]
    write_result(args.out, values, details={"per_call_s": stats}, notes=notes)


if __name__ == "__main__":
    main()
