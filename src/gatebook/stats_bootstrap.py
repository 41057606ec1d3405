"""The seeded bootstrap behind :mod:`gatebook.stats`: percentile and BCa intervals of a mean or
a difference of means (pure; numpy, imported when a bootstrap runs).

Each set is resampled with replacement on its own (``numpy.random.default_rng(seed)``, one
``(resamples, n)`` index draw per set, the first set first), the statistic is the mean (one
set) or ``mean(first) - mean(second)`` (two sets; a paired interval is the one-set interval of
the per-pair differences), and the interval is read off the resampled statistics with
numpy's linear quantile, as ``scipy.stats.bootstrap`` does:

- percentile: the ``alpha`` and ``1 - alpha`` quantiles, ``alpha = (1 - confidence) / 2``;
- BCa (Efron and Tibshirani, eq. 14.10 and 15.36): the quantiles shifted by the bias
  correction ``z0`` (the share of resampled statistics below the estimate, ties within
  rounding counted half)
  and the acceleration ``a`` from each set's jackknife, which for a mean is exact:
  ``U_i = +-(x_i - mean)``, ``a = sum_j sum_i U^3 / n_j^3 / (6 (sum_j sum_i U^2 / n_j^2)^1.5)``.

A set of one value is a constant (it is never resampled, has no jackknife). Resampled
statistics with no spread give the exact interval ``[estimate, estimate]``. The same seed
gives the same interval; a 10 vs 10 difference with 10,000 resamples takes about a
millisecond or two (``benchmarks/bench_stats.py``).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Sequence

from gatebook.errors import MissingExtraError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["bootstrap_interval"]

_NORMAL = NormalDist()


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is installed wherever the tests run
        raise MissingExtraError("numpy", "stats", "a bootstrap interval (n >= 10, or asked for)") from None
    return numpy


def bootstrap_interval(samples: Sequence[Sequence[float]], estimate: float, confidence: float, *, bca: bool,
                       seed: int, resamples: int) -> tuple[float, float]:
    """``(low, high)`` of a bootstrap interval for the mean of ``samples[0]`` (one set) or
    ``mean(samples[0]) - mean(samples[1])`` (two sets).

    Args:
        samples: one or two lists of finite floats, none empty (checked by the caller).
        estimate: the statistic on the data (what BCa's bias correction compares with).
        confidence: the coverage, in (0, 1).
        bca: BCa when true, else the percentile interval.
        seed: the random stream (a non-negative int): the same seed, the same interval.
        resamples: how many bootstrap resamples (a positive int).

    Raises:
        StatsInputError: a bad seed or resample count.
        MissingExtraError: numpy is not installed.
    """
    from gatebook.stats import StatsInputError

    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise StatsInputError(f"resamples must be a positive whole number, got {resamples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise StatsInputError(f"seed must be a non-negative whole number, got {seed!r}")
    np = _numpy()
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(s, dtype=np.float64) for s in samples]
    signs = (1.0, -1.0)[: len(arrays)]
    theta = np.zeros(resamples, dtype=np.float64)
    for sign, x in zip(signs, arrays, strict=True):
        if x.size == 1:
            theta += sign * x[0]
        else:
            theta += sign * x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    scale = max(float(np.max(np.abs(x))) for x in arrays)
    tiny = 1e-12 * max(scale, 1e-300)
    if float(np.ptp(theta)) <= tiny:
        return estimate, estimate
    alpha = (1.0 - confidence) / 2.0
    probs = [alpha, 1.0 - alpha]
    if bca:
        probs = _bca_probabilities(np, theta, estimate, alpha, arrays, signs, tiny)
    low, high = np.quantile(theta, probs)
    return float(low), float(high)


def _bca_probabilities(np: Any, theta: "np.ndarray", estimate: float, alpha: float, arrays: "list[np.ndarray]",
                       signs: Sequence[float], tiny: float) -> list[float]:
    """The two quantile levels of the BCa interval."""
    b = theta.size
    # Ties (a resample that is a permutation of the data) count half, whichever way rounding put them.
    below = int(np.count_nonzero(theta < estimate - tiny)) + int(np.count_nonzero(theta <= estimate + tiny))
    share = min(max(below / (2.0 * b), 0.5 / b), 1.0 - 0.5 / b)  # never 0 or 1 (an infinite z0)
    z0 = _NORMAL.inv_cdf(share)
    num = den = 0.0
    for sign, x in zip(signs, arrays, strict=True):
        n = x.size
        if n < 2:
            continue
        u = sign * (x - x.mean())  # the jackknife's (n - 1)(mean of leave-one-out - leave-one-out), exactly
        num += float(np.sum(u ** 3)) / n ** 3
        den += float(np.sum(u ** 2)) / n ** 2
    accel = num / (6.0 * den ** 1.5) if den > tiny * tiny else 0.0
    out = []
    for z_alpha in (_NORMAL.inv_cdf(alpha), -_NORMAL.inv_cdf(alpha)):
        shifted = z0 + z_alpha
        denom = 1.0 - accel * shifted
        level = _NORMAL.cdf(z0 + shifted / denom) if denom > 0 else (0.0 if shifted < 0 else 1.0)
        out.append(min(max(level, 0.0), 1.0) if math.isfinite(level) else 0.5)
    return out
