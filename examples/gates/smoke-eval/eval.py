"""A stand-in for seed 004's 1k-query smoke eval (tools/eval_checkpoint_unified.py).

No model, no FAISS index: the four numbers the smoke gates read are a deterministic
function of two knobs, and they reach the ledger through gatebook's Python API
(``gb.init()`` attaches to the run ``gatebook run`` created; alone, it records its own run).

* ``--quality`` (0..1, default 0.8): how good the checkpoint is. It moves the retrieval
  (contain@50) and, more, the ranking (eff@5, hence r@5).
* ``--nprobe`` (default 64): IVF lists searched per query. More finds more (contain@50)
  and costs latency (p95_ms).

    python eval.py --quality 0.8               # contain@50 0.75, eff@5 0.72, r@5 0.54, p95 1.15 ms
    python eval.py --quality 0.55              # contain@50 0.625, eff@5 0.5575, r@5 0.3484: a ranking issue
    python eval.py --quality 0.8 --nprobe 128  # contain@50 0.85 ... but p95 1.95 ms
"""

import argparse
import math

import gatebook as gb


def smoke_metrics(quality: float, nprobe: int) -> dict:
    contain50 = min(0.99, 0.35 + 0.5 * quality + 0.1 * math.log2(nprobe / 64))
    eff5 = min(1.0, 0.2 + 0.65 * quality)  # of the queries whose answer is in the top 50, the share ranked top 5
    return {
        "contain@50": round(contain50, 4),
        "eff@5": round(eff5, 4),
        "r@5": round(contain50 * eff5, 4),
        "p95_ms": round(0.35 + 0.0125 * nprobe, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", type=float, default=0.8)
    parser.add_argument("--nprobe", type=int, default=64)
    parser.add_argument("--limit", type=int, default=1000, help="queries (only shown: nothing is searched)")
    args = parser.parse_args()

    gb.init(config=vars(args))
    metrics = smoke_metrics(args.quality, args.nprobe)
    gb.log(metrics)
    gb.finish()
    print(f"[EVAL] {args.limit} queries, nprobe={args.nprobe}: "
          + "  ".join(f"{k}={v:g}" for k, v in metrics.items()), flush=True)


if __name__ == "__main__":
    main()
