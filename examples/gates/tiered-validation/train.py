"""A stand-in for seed 002's P7 "directional ranker" training, stdlib only.

Nothing is trained: per-epoch numbers follow a deterministic curve to final values set
by two knobs, and each epoch prints one metric line ``gatebook: {"epoch": E, ...}`` that
``gatebook run`` parses (plus a human line).

* ``--quality`` (0..1, default 1.0): how well the ranking objective works. Final
  cos_next = 0.20 + 0.30 q, final margin (cos_next - cos_prev) = 0.375 q - 0.075.
* ``--anchor-weight`` (default 0.5): the semantic anchor. At 0 nothing holds the
  predictions near the input's meaning and cos_anchor drifts from 0.45 to 0.02: the
  "orthogonal escape" the seed warns about.

    python train.py --quality 1.0                     # margin 0.30, cos_next 0.50, cos_anchor 0.45
    python train.py --quality 0.6                     # margin 0.15, cos_next 0.38
    python train.py --quality 0.2                     # margin 0.00, cos_next 0.26
    python train.py --quality 1.0 --anchor-weight 0   # margin 0.30, cos_next 0.50, cos_anchor 0.02
"""

import argparse
import json
import math


def curve(epoch: int, epochs: int) -> float:
    """0 before training, 1 at the last epoch, fast at first (like a real training curve)."""
    return (1.0 - math.exp(-0.4 * epoch)) / (1.0 - math.exp(-0.4 * epochs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", type=float, default=1.0)
    parser.add_argument("--anchor-weight", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    q = args.quality
    final_next = 0.20 + 0.30 * q
    final_margin = 0.375 * q - 0.075
    anchor_start = 0.45
    final_anchor = 0.02 + 0.43 * min(1.0, max(0.0, args.anchor_weight) / 0.5)
    for epoch in range(1, args.epochs + 1):
        f = curve(epoch, args.epochs)
        cos_next = 0.05 + (final_next - 0.05) * f
        margin = final_margin * f
        row = {
            "epoch": epoch,
            "cos_next": round(cos_next, 4),
            "cos_prev": round(cos_next - margin, 4),
            "margin": round(margin, 4),
            "cos_anchor": round(anchor_start + (final_anchor - anchor_start) * f, 4),
            "loss": round(1.2 * math.exp(-0.25 * epoch) + 0.3 * (1.0 - q), 4),
        }
        print(f"epoch {epoch:2d}/{args.epochs}  margin={row['margin']:+.4f}  cos_next={row['cos_next']:.4f}  "
              f"cos_anchor={row['cos_anchor']:.4f}")
        print("gatebook: " + json.dumps(row), flush=True)
        if row["cos_anchor"] < 0.05:
            print(f"WARNING: orthogonal drift (cos_anchor {row['cos_anchor']:.4f} < 0.05)", flush=True)


if __name__ == "__main__":
    main()
