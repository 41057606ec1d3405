"""16. Evidence: a 10 vs 10 set judged with a 10,000-resample bootstrap (``gatebook.stats``).

Two sets of 10 runs (val AUPRC-like values: normal, mean 0.30 and 0.31, sd 0.01), the interval of
the difference of their means at 95 %:

- ``bca``: ``diff_interval(a, b, method="bootstrap-bca", resamples=10_000)`` (the target line:
  what a gate with ``confidence`` judges from n >= 10);
- ``percentile``: the same with ``method="bootstrap-percentile"``;
- ``scipy_bca`` / ``scipy_percentile``: the peer, ``scipy.stats.bootstrap((a, b), statistic,
  method="BCa"/"percentile", n_resamples=10_000, vectorized=True)`` on the same data;
- ``welch``: the small-n path, ``diff_interval`` of 3 vs 3 (Welch's t, the pure-Python quantile);
- ``t_quantile``: one ``t_quantile(0.975, df)`` at a fractional df;
- ``cold``: the first BCa call in a fresh process (its lazy ``import numpy`` included), timed
  inside that process.

Each timed call is one judgement (the numpy and scipy imports already done, but for ``cold``);
the variants interleaved, median of REPEATS after a warm-up round. scipy gets
``numpy.random.default_rng(0)`` and gatebook seed 0: the same generator draws the same
resamples in both, so the intervals must agree to rounding; how far gatebook's endpoints are
from scipy's (as a share of scipy's interval width) is recorded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import PYTHON, log, parse_args, perf, round_robin, summary_stats, write_result  # noqa: E402

RESAMPLES = 10_000
N = 10

COLD = """
import time
t0 = time.perf_counter()
from gatebook.stats import diff_interval
a = [0.30 + 0.01 * ((i * 7) % 10 - 4.5) / 3 for i in range(10)]
b = [0.31 + 0.01 * ((i * 3) % 10 - 4.5) / 3 for i in range(10)]
t1 = time.perf_counter()
diff_interval(a, b, method="bootstrap-bca", resamples=10_000)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def timed(fn: Any) -> float:
    t0 = perf()
    fn()
    return perf() - t0


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 15 if args.quick else 101
    import numpy as np
    from scipy import stats as sps

    from gatebook.stats import diff_interval, t_quantile

    rng = np.random.default_rng(14)
    a, b = list(rng.normal(0.30, 0.01, N)), list(rng.normal(0.31, 0.01, N))
    aa, ba = np.asarray(a), np.asarray(b)

    def stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return x.mean(axis=axis) - y.mean(axis=axis)

    def scipy_ci(method: str) -> Any:
        return sps.bootstrap((aa, ba), stat, method=method, n_resamples=RESAMPLES, vectorized=True,
                             rng=np.random.default_rng(0)).confidence_interval

    variants = {
        "bca": lambda: timed(lambda: diff_interval(a, b, method="bootstrap-bca", resamples=RESAMPLES)),
        "percentile": lambda: timed(lambda: diff_interval(a, b, method="bootstrap-percentile", resamples=RESAMPLES)),
        "scipy_bca": lambda: timed(lambda: scipy_ci("BCa")),
        "scipy_percentile": lambda: timed(lambda: scipy_ci("percentile")),
        "welch": lambda: timed(lambda: diff_interval(a[:3], b[:3], method="welch")),
        "t_quantile": lambda: timed(lambda: t_quantile(0.975, 7.31)),
    }
    times = round_robin(variants, repeats, warmup=1)
    stats = {name: summary_stats(ts) for name, ts in times.items()}
    values: dict[str, Any] = {f"{name}_median_s": s["median"] for name, s in stats.items()}
    values.update({f"{name}_min_s": s["min"] for name, s in stats.items()})
    values.update({"n": N, "resamples": RESAMPLES, "repeats": repeats, "cpus": os.cpu_count()})

    for ours, theirs in (("bootstrap-bca", "BCa"), ("bootstrap-percentile", "percentile")):
        iv, ci = diff_interval(a, b, method=ours, resamples=RESAMPLES), scipy_ci(theirs)
        width = float(ci.high - ci.low)
        key = "bca" if theirs == "BCa" else "percentile"
        values[f"{key}_interval"] = iv.text()
        values[f"{key}_scipy_interval"] = f"[{float(ci.low):+.4f}, {float(ci.high):+.4f}]"
        values[f"{key}_gap_of_width"] = max(abs(iv.low - float(ci.low)), abs(iv.high - float(ci.high))) / width
    values["welch_interval"] = diff_interval(a[:3], b[:3]).text()

    colds = []
    for _ in range(3 if args.quick else 7):
        out = subprocess.run([PYTHON, "-c", COLD], capture_output=True, text=True, check=True, timeout=120)
        imp, call = (float(x) for x in out.stdout.split())
        colds.append((imp, call))
    values["cold_import_stats_s"] = summary_stats([c[0] for c in colds])["median"]
    values["cold_first_call_s"] = summary_stats([c[1] for c in colds])["median"]
    log(f"bca {values['bca_median_s'] * 1e3:.2f} ms, percentile {values['percentile_median_s'] * 1e3:.2f} ms, "
        f"scipy BCa {values['scipy_bca_median_s'] * 1e3:.2f} ms, "
        f"cold first call {values['cold_first_call_s'] * 1e3:.1f} ms")
    write_result(args.out, values, {"times": stats, "cold": colds})


if __name__ == "__main__":
    main()
