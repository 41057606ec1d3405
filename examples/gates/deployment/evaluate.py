"""A stand-in for seed 002's retrieval evaluation (R@5, MRR@10, latency), stdlib only.

Nothing is searched: the three numbers are a deterministic function of two knobs, printed
as one metric line ``gatebook: {"r@5": ..., "mrr@10": ..., "latency_ms": ...}``.

* ``--quality`` (0..1): how good the model's vectors are.
* ``--rerank-depth`` (default 0): candidates re-scored by a reranker. Each one buys a
  little recall and costs 0.02 ms.

    python evaluate.py --quality 0.20                    # DIRECT:  r@5 0.30,  mrr@10 0.19,   0.90 ms
    python evaluate.py --quality 0.10 --rerank-depth 20  # P6b:     r@5 0.33,  mrr@10 0.215,  1.30 ms
    python evaluate.py --quality 0.45                    # P7:      r@5 0.425, mrr@10 0.2775, 0.90 ms
    python evaluate.py --quality 0.45 --rerank-depth 20  # P7+rr:   r@5 0.505, mrr@10 0.3375, 1.30 ms
"""

import argparse
import json


def retrieval_metrics(quality: float, rerank_depth: int) -> dict:
    return {
        "r@5": round(0.20 + 0.50 * quality + 0.004 * rerank_depth, 4),
        "mrr@10": round(0.12 + 0.35 * quality + 0.003 * rerank_depth, 4),
        "latency_ms": round(0.90 + 0.02 * rerank_depth, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", type=float, required=True)
    parser.add_argument("--rerank-depth", type=int, default=0)
    parser.add_argument("--queries", type=int, default=2000, help="only shown: nothing is searched")
    args = parser.parse_args()

    metrics = retrieval_metrics(args.quality, args.rerank_depth)
    print(f"evaluated {args.queries} queries: " + "  ".join(f"{k}={v:g}" for k, v in metrics.items()))
    print("gatebook: " + json.dumps(metrics), flush=True)


if __name__ == "__main__":
    main()
