"""Confidence intervals over a set of runs: the mean of one set, or the difference of two (pure).

A gate that asks for evidence judges an :class:`Interval` rather than one number: PASS when
the whole interval clears the bar, FAIL when the whole of it misses, MARGINAL when it
straddles. This module computes the intervals; it does no I/O.

- :func:`mean_interval`: the mean of one set (Student t; a bootstrap from n >= 10);
- :func:`diff_interval`: ``mean(a) - mean(b)``, a candidate set against a baseline set
  (Welch's t, or the paired t on the per-seed differences when ``paired``; a bootstrap from
  n >= 10 on the smaller side);
- :func:`sd`: the sample standard deviation (n - 1), 0.0 below two values.

``method="auto"`` picks the t interval when the smallest n is below :data:`BOOTSTRAP_FROM`
and a seeded BCa bootstrap from there on; ``"t"``/``"welch"``, ``"paired-t"``,
``"bootstrap-percentile"`` and ``"bootstrap-bca"`` ask for one. One value on each side (or one
pair, or a one-value set) has no spread to measure: the interval is the exact ``[x, x]``
(method ``"exact"``), so single runs are judged exactly as a plain comparison would be. A
side of one value in a two-set t interval counts as a fixed value (no variance of its own).

The t quantile is pure Python (:func:`t_quantile`: the regularized incomplete beta function
by Lentz's continued fraction, inverted by a bracketed Newton iteration on the log tail; the
Cornish-Fisher expansion from df = 3000, where it is exact to rounding), so
no scipy is needed at run time; the bootstrap (:mod:`gatebook.stats_bootstrap`) uses numpy,
imported only when a bootstrap runs. Bad input (NaN or infinite values, an empty set, a
confidence outside (0, 1), an unknown method): :class:`StatsInputError`, a ``ValueError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Literal

from gatebook.errors import GatebookError

__all__ = ["BOOTSTRAP_FROM", "METHODS", "Interval", "StatsInputError", "diff_interval", "mean_interval", "sd",
           "t_cdf", "t_quantile", "t_sf"]

Method = Literal["auto", "t", "welch", "paired-t", "bootstrap-percentile", "bootstrap-bca"]
METHODS: tuple[str, ...] = ("auto", "t", "welch", "paired-t", "bootstrap-percentile", "bootstrap-bca")
"""What ``method=`` accepts (an :class:`Interval` also reports ``"exact"``)."""

BOOTSTRAP_FROM = 10
"""``method="auto"`` bootstraps when the smallest side has at least this many values."""

_T_FAMILY = ("t", "welch", "paired-t")


class StatsInputError(GatebookError, ValueError):
    """Values or options an interval cannot be computed from (a ``ValueError``; exit 2 in the CLI)."""


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided confidence interval ``[low, high]``.

    ``estimate`` is the mean (one set) or ``mean(a) - mean(b)`` (two sets); ``method`` is how
    the bounds were found (``"t"``, ``"welch"``, ``"paired-t"``, ``"bootstrap-percentile"``,
    ``"bootstrap-bca"``, or ``"exact"`` when there was no spread to measure); ``n`` is
    ``(n,)`` or ``(n_a, n_b)``.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    n: tuple[int, ...]

    def half_width(self) -> float:
        """Half the interval's width (0.0 for an exact interval)."""
        return (self.high - self.low) / 2.0

    def to_dict(self) -> dict:
        """``{"estimate", "low", "high", "confidence", "method", "n"}``, JSON-ready (``n`` a list)."""
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "confidence": self.confidence,
                "method": self.method, "n": list(self.n)}

    def text(self, fmt: str | None = None) -> str:
        """``+0.004 [-0.006, +0.014], n=3 vs 3`` (two sets) or ``0.304 [0.291, 0.317], n=5``.

        ``fmt`` is a format spec for the three numbers (``"+.3f"``); by default two significant
        digits of the half-width (of the estimate when the interval is exact), signed for a
        difference.
        """
        if fmt is None:
            fmt = ("+" if len(self.n) > 1 else "") + f".{_decimals(self.half_width() or abs(self.estimate))}f"
        sizes = " vs ".join(str(k) for k in self.n)
        return (f"{format(self.estimate, fmt)} [{format(self.low, fmt)}, {format(self.high, fmt)}], "
                f"n={sizes}")


def _decimals(scale: float) -> int:
    """Decimals that show two significant digits of ``scale`` (3 for 0, at most 12)."""
    if scale == 0.0 or not math.isfinite(scale):
        return 3
    return max(0, min(12, 1 - math.floor(math.log10(scale))))


# -- input ------------------------------------------------------------------------------------

def _values(xs: Iterable[float], name: str) -> list[float]:
    """``xs`` as floats: not empty, every value finite (NaN and infinities refused with their place)."""
    try:
        out = [float(x) for x in xs]
    except (TypeError, ValueError) as exc:
        raise StatsInputError(f"{name} must be numbers: {exc}") from None
    if not out:
        raise StatsInputError(f"{name} is empty: an interval needs at least one value")
    for i, x in enumerate(out):
        if not math.isfinite(x):
            raise StatsInputError(f"{name} holds {x} at position {i}: drop the runs without a finite value first")
    return out


def _confidence(confidence: float) -> float:
    try:
        c = float(confidence)
    except (TypeError, ValueError):
        c = math.nan
    if not 0.0 < c < 1.0:
        raise StatsInputError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")
    return c


def _method(method: str) -> str:
    if method not in METHODS:
        raise StatsInputError(f"unknown interval method {method!r}; choose one of: {', '.join(METHODS)}")
    return method


def _mean(xs: list[float]) -> float:
    """The mean, as the first value plus the mean offset from it (so equal values give that value)."""
    x0 = xs[0]
    return x0 + math.fsum(x - x0 for x in xs) / len(xs)


def sd(xs: Iterable[float]) -> float:
    """The sample standard deviation (divisor n - 1); 0.0 for fewer than two values."""
    vals = list(xs)
    if vals:
        vals = _values(vals, "values")
    if len(vals) < 2:
        return 0.0
    m = _mean(vals)
    return math.sqrt(math.fsum((x - m) ** 2 for x in vals) / (len(vals) - 1))


# -- the intervals ----------------------------------------------------------------------------

def mean_interval(xs: Iterable[float], confidence: float = 0.95, *, method: str = "auto", seed: int = 0,
                  resamples: int = 10_000) -> Interval:
    """A two-sided interval for the mean of ``xs``.

    Args:
        xs: the values (one per run); finite, at least one.
        confidence: the coverage, in (0, 1).
        method: ``"auto"`` (Student t below :data:`BOOTSTRAP_FROM` values, BCa bootstrap from
            there), ``"t"`` (``"welch"`` and ``"paired-t"`` mean the same here),
            ``"bootstrap-percentile"`` or ``"bootstrap-bca"``.
        seed, resamples: the bootstrap's random stream and size (the same seed, the same interval).

    Returns:
        The :class:`Interval`; ``method="exact"`` and ``low == high`` for one value.

    Raises:
        StatsInputError: (a ValueError) for NaN/infinite or no values, a bad confidence or method.
    """
    vals = _values(xs, "values")
    c, how = _confidence(confidence), _method(method)
    n = len(vals)
    m = _mean(vals)
    if n == 1:
        return Interval(m, m, m, c, "exact", (1,))
    if how == "auto":
        how = "t" if n < BOOTSTRAP_FROM else "bootstrap-bca"
    if how in _T_FAMILY:
        half = t_quantile(0.5 + c / 2.0, n - 1) * sd(vals) / math.sqrt(n)
        return Interval(m, m - half, m + half, c, "t", (n,))
    from gatebook.stats_bootstrap import bootstrap_interval

    low, high = bootstrap_interval([vals], m, c, bca=how == "bootstrap-bca", seed=seed, resamples=resamples)
    return Interval(m, low, high, c, how, (n,))


def diff_interval(a: Iterable[float], b: Iterable[float], confidence: float = 0.95, *, paired: bool = False,
                  method: str = "auto", seed: int = 0, resamples: int = 10_000) -> Interval:
    """A two-sided interval for ``mean(a) - mean(b)`` (a candidate set against a baseline set).

    Args:
        a, b: the two sets' values; finite, at least one each (equally many when ``paired``).
        confidence: the coverage, in (0, 1).
        paired: ``a[i]`` and ``b[i]`` belong together (the same seed): the interval is that of
            the mean of the differences ``a[i] - b[i]``.
        method: ``"auto"`` (Welch's t, or the paired t, when the smaller side has fewer than
            :data:`BOOTSTRAP_FROM` values; a BCa bootstrap from there), ``"t"``/``"welch"``
            (the paired t when ``paired``), ``"paired-t"`` (needs ``paired``),
            ``"bootstrap-percentile"`` or ``"bootstrap-bca"`` (resampling the pairs when ``paired``).
        seed, resamples: the bootstrap's random stream and size.

    Returns:
        The :class:`Interval` with ``n=(len(a), len(b))``; exact (``low == high``) for one value
        on each side or one pair.

    Raises:
        StatsInputError: (a ValueError) for NaN/infinite or no values, sets of different sizes
        when ``paired``, ``"paired-t"`` without ``paired``, a bad confidence or method.
    """
    va, vb = _values(a, "the candidate set"), _values(b, "the baseline set")
    c, how = _confidence(confidence), _method(method)
    na, nb = len(va), len(vb)
    est = _mean(va) - _mean(vb)
    if paired:
        if na != nb:
            raise StatsInputError(f"a paired interval needs as many candidate as baseline values, got {na} and {nb}")
        return _paired(va, vb, c, how, seed, resamples)
    if how == "paired-t":
        raise StatsInputError("method 'paired-t' needs paired=True (values matched by seed)")
    if na == 1 and nb == 1:
        return Interval(est, est, est, c, "exact", (1, 1))
    if how == "auto":
        how = "welch" if min(na, nb) < BOOTSTRAP_FROM else "bootstrap-bca"
    if how in _T_FAMILY:
        low, high = _welch(va, vb, est, c)
        return Interval(est, low, high, c, "welch", (na, nb))
    from gatebook.stats_bootstrap import bootstrap_interval

    low, high = bootstrap_interval([va, vb], est, c, bca=how == "bootstrap-bca", seed=seed, resamples=resamples)
    return Interval(est, low, high, c, how, (na, nb))


def _paired(va: list[float], vb: list[float], c: float, how: str, seed: int, resamples: int) -> Interval:
    """The interval of the mean of the per-pair differences, reported as a two-set interval."""
    n = len(va)
    d = [x - y for x, y in zip(va, vb, strict=True)]
    one = mean_interval(d, c, method="t" if how in _T_FAMILY else how, seed=seed, resamples=resamples)
    est = _mean(va) - _mean(vb)
    shift = est - one.estimate  # 0 up to rounding: keep the estimate equal to mean(a) - mean(b)
    method = {"t": "paired-t"}.get(one.method, one.method)
    return Interval(est, one.low + shift, one.high + shift, c, method, (n, n))


def _welch(va: list[float], vb: list[float], est: float, c: float) -> tuple[float, float]:
    """Welch's interval; a one-value side counts as fixed (no variance, no degrees of freedom)."""
    terms = [(sd(v) ** 2 / len(v), len(v) - 1) for v in (va, vb)]
    se2 = sum(term for term, _df in terms)
    if se2 == 0.0:
        return est, est
    df = se2 ** 2 / math.fsum(term ** 2 / df for term, df in terms if df > 0 and term > 0)
    half = t_quantile(0.5 + c / 2.0, df) * math.sqrt(se2)
    return est - half, est + half


# -- Student's t distribution (pure Python) ---------------------------------------------------

def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz), converging for
    ``x < (a + 1) / (a + b + 2)``."""
    tiny, eps = 1e-300, 1e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    cc, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            cc = 1.0 + num / cc
            cc = cc if abs(cc) > tiny else tiny
            h *= d * cc
        if abs(d * cc - 1.0) < eps:
            return h
    return h  # pragma: no cover - converges in O(sqrt(max(a, b))) steps


def _betainc(a: float, b: float, x: float, y: float) -> float:
    """The regularized incomplete beta function I_x(a, b), given ``x`` and ``y = 1 - x``
    separately (so neither loses digits to a subtraction)."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    front = math.exp(a * math.log(x) + b * math.log(y) + math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, y) / b


def _check_df(df: float) -> float:
    df = float(df)
    if not df > 0.0:
        raise StatsInputError(f"degrees of freedom must be positive, got {df!r}")
    return df


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` (> 0, not necessarily whole) degrees of freedom."""
    df = _check_df(df)
    if math.isinf(df):
        return 0.5 * math.erfc(t / math.sqrt(2.0))
    if abs(t) > 1e150:  # t * t would overflow: x = df / t^2, 1 - x = 1 to double precision
        upper = 0.5 * _betainc(df / 2.0, 0.5, df / t / t, 1.0)
    else:
        t2 = t * t
        upper = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))
    return upper if t >= 0 else 1.0 - upper


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    return t_sf(-t, df)


def _log_pdf(t: float, df: float) -> float:
    return (math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
            - (df + 1.0) / 2.0 * math.log1p(t * t / df))


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` (> 0, not necessarily whole) degrees of freedom.

    The upper tail ``q = min(p, 1 - p)`` is matched by Newton's method on ``log P(T > t)``
    (well-behaved in the heavy tails of small ``df``), inside a bracket that bisection keeps.
    """
    df = _check_df(df)
    if not 0.0 < p < 1.0:
        raise StatsInputError(f"a quantile needs 0 < p < 1, got {p!r}")
    if p == 0.5:
        return 0.0
    from statistics import NormalDist

    q = min(p, 1.0 - p)
    sign = 1.0 if p > 0.5 else -1.0
    z = -NormalDist().inv_cdf(q)
    # The Cornish-Fisher expansion (A&S 26.7.5): exact to rounding from df = 3000 (where the
    # log-gamma differences of the beta function start to lose digits), the start below that.
    t = z + ((z ** 3 + z) / 4 + ((5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96 + (
        (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384
        + (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160 / df) / df) / df) / df
    if df >= 3000.0:
        return sign * t
    if df == 1.0:
        return sign / math.tan(math.pi * q)  # the Cauchy quantile, exact
    # Newton on log P(T > t) = log q inside a bracket [lo, hi] that bisection keeps.
    lo, hi = 0.0, max(t, z, 1e-3)
    while t_sf(hi, df) > q:
        lo, hi = hi, hi * 2.0
    t = min(max(t, lo), hi)
    log_q = math.log(q)
    for _ in range(200):
        sf = t_sf(t, df)
        if sf > q:
            lo = t
        else:
            hi = t
        if sf <= 0.0:  # underflow far out in the tail: bisect
            nxt = (lo + hi) / 2.0
        else:
            log_sf = math.log(sf)
            nxt = t + (log_sf - log_q) * math.exp(log_sf - _log_pdf(t, df))
        if not lo < nxt < hi:
            nxt = (lo + hi) / 2.0
        if abs(nxt - t) <= 1e-15 * abs(nxt) or hi - lo <= 1e-15 * hi:
            return sign * nxt
        t = nxt
    return sign * t  # pragma: no cover - Newton converges in a handful of steps
