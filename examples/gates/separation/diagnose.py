"""Seed 000's cost-separation diagnostic (diagnose_rank_costs.py), on synthetic scores.

The real script scores every validation pair with the ranking model and turns the raw
score into a stitching cost with softplus; the gates then ask whether positives (true
matches) and negatives are separated. Here the raw scores are drawn, deterministically,
from ``random.Random(seed)``: positives around ``--pos-score``, negatives around
``--neg-score``. The statistics are real computations on those lists:

* median_ratio = median(negative costs) / median(positive costs)
* neg_below_3  = share of negative costs below 3.0 (cheap wrong links)
* pos_below_1  = share of positive costs below 1.0 (cheap right links)

They are printed as one metric line ``gatebook: {...}`` for ``gatebook run``.

    python diagnose.py                                   # a well-separated model: all gates pass
    python diagnose.py --pos-score 2.3 --neg-score 6.2   # like GateRank V2: see gatebook.yaml
"""

import argparse
import json
import math
import random
import statistics


def softplus(x: float) -> float:
    return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


def separation(pos_costs: list, neg_costs: list) -> dict:
    med_pos = statistics.median(pos_costs)
    med_neg = statistics.median(neg_costs)
    return {
        "median_pos": round(med_pos, 4),
        "median_neg": round(med_neg, 4),
        "median_ratio": round(med_neg / max(med_pos, 1e-12), 4),
        "neg_below_3": round(sum(c < 3.0 for c in neg_costs) / len(neg_costs), 4),
        "pos_below_1": round(sum(c < 1.0 for c in pos_costs) / len(pos_costs), 4),
        "pairs": len(pos_costs) + len(neg_costs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pos-score", type=float, default=-1.0, help="centre of the positives' raw scores")
    parser.add_argument("--neg-score", type=float, default=5.5, help="centre of the negatives' raw scores")
    parser.add_argument("--pos-spread", type=float, default=0.7, help="standard deviation of the positives' scores")
    parser.add_argument("--neg-spread", type=float, default=1.5, help="standard deviation of the negatives' scores")
    parser.add_argument("--pairs", type=int, default=4000, help="validation pairs (1 in 4 positive)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    n_pos = args.pairs // 4
    pos = [softplus(rng.gauss(args.pos_score, args.pos_spread)) for _ in range(n_pos)]
    neg = [softplus(rng.gauss(args.neg_score, args.neg_spread)) for _ in range(args.pairs - n_pos)]
    stats = separation(pos, neg)
    print(f"pairs={stats['pairs']} pos={len(pos)} neg={len(neg)}")
    print(f"softplus_pos median={stats['median_pos']:.3f}  softplus_neg median={stats['median_neg']:.3f}")
    print(f"gate_checks: median_neg/median_pos={stats['median_ratio']:.2f}  "
          f"neg<3.0={stats['neg_below_3']:.2%}  pos<1.0={stats['pos_below_1']:.2%}")
    print("gatebook: " + json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
