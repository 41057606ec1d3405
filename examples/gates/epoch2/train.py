"""A stand-in for a contrastive training run (seed 004's Mamba-S + InfoNCE), stdlib only.

Nothing is trained: the per-epoch numbers are a deterministic function of the knobs the
epoch-2 triage playbook turns, so the example behaves the same on every machine:

* ``--temperature`` (tau, default 0.07): 0.05 is the sweet spot; further away is worse.
* ``--lambda-con`` / ``--lambda-ar`` (0.7 / 0.3): more contrastive weight helps.
* ``--batch-size`` (256): more in-batch negatives help a little.

Each epoch appends a row to ``history.json`` (the whole JSON list is rewritten, as
``json.dump(history, f)`` does in the real trainer) and prints a human line. The file
starts empty, so a previous run's history never mixes with this one's.

    python train.py --temperature 0.07     # val_cosine 0.465 at epoch 2 (the gate wants 0.50)
    python train.py --temperature 0.05     # val_cosine 0.540 at epoch 2
"""

import argparse
import json
import math
import os
import time


def plateau(temperature: float, lambda_con: float, batch_size: int) -> float:
    """Where val_cosine would level off with these knobs."""
    value = 0.72 - 5.0 * abs(temperature - 0.05) + 0.6 * (lambda_con - 0.7)
    value += 0.02 * math.log2(max(batch_size, 1) / 256)
    return max(0.05, min(0.95, value))


def epoch_metrics(epoch: int, top: float) -> dict:
    val_cosine = top * (1.0 - 0.5 ** epoch)  # 75% of the plateau at epoch 2
    contain50 = min(0.98, 1.3 * val_cosine)
    return {
        "epoch": epoch,
        "val_cosine": round(val_cosine, 4),
        "contain50": round(contain50, 4),
        "r5": round(0.75 * val_cosine, 4),
        "train_loss": round(2.2 * math.exp(-0.35 * epoch) + (1.0 - top), 4),
    }


def write_history(path: str, rows: list) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(rows, fh, indent=1)
    os.replace(tmp, path)  # readers never see a half-written file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--temperature", type=float, default=0.07)
    # both spellings: `gatebook triage --apply` adds a missing setting as --lambda_con
    parser.add_argument("--lambda-con", "--lambda_con", dest="lambda_con", type=float, default=0.7)
    parser.add_argument("--lambda-ar", "--lambda_ar", dest="lambda_ar", type=float, default=0.3)
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--epoch-seconds", type=float, default=0.2, help="simulated time per epoch")
    parser.add_argument("--history", default="history.json")
    args = parser.parse_args()

    top = plateau(args.temperature, args.lambda_con, args.batch_size)
    history: list = []
    write_history(args.history, history)
    print(f"training: tau={args.temperature} lambda_con={args.lambda_con} lambda_ar={args.lambda_ar} "
          f"batch={args.batch_size} epochs={args.epochs}", flush=True)
    for epoch in range(1, args.epochs + 1):
        time.sleep(args.epoch_seconds)
        row = epoch_metrics(epoch, top)
        history.append(row)
        write_history(args.history, history)
        print(f"epoch {epoch}/{args.epochs}  val_cosine={row['val_cosine']:.4f}  "
              f"contain50={row['contain50']:.4f}  r5={row['r5']:.4f}", flush=True)
    print("training done", flush=True)


if __name__ == "__main__":
    main()
