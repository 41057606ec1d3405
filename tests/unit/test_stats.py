"""gatebook.stats against scipy.stats as the oracle, over seeded random cases.

- Student's t quantile (df 1..200, whole and fractional) to 1e-9 relative; the CDF to 1e-12;
- the Student, Welch and paired t intervals equal scipy's (``t.interval``,
  ``ttest_ind(equal_var=False)``, ``ttest_rel``) to 1e-9 of the data's scale;
- the bootstrap: with scipy given the same numpy generator it draws the same resamples, so
  percentile and BCa equal ``scipy.stats.bootstrap`` to rounding; with independent streams
  they agree within 10 % of the interval's width (n >= 10);
- coverage (seeded simulations cover the true mean ~95 % of the time, within a binomial
  tolerance), determinism, the exact n == 1 cases, the ``auto`` choice, errors, rendering;
- ``import gatebook.stats`` and a t interval import neither numpy nor scipy (a subprocess).
"""

from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

from gatebook.errors import GatebookError
from gatebook.stats import (
    Interval,
    StatsInputError,
    diff_interval,
    mean_interval,
    sd,
    t_cdf,
    t_quantile,
)

CONFIDENCES = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999)


def close(got: float, want: float, scale: float, rel: float = 1e-9) -> bool:
    return abs(got - want) <= rel * max(abs(want), scale)


def normal_sets(seed: int, count: int, sizes: tuple[int, int]) -> list[tuple[list[float], float]]:
    """``count`` (values, confidence) cases: normal data of random location, spread and size."""
    r = random.Random(seed)
    out = []
    for _ in range(count):
        mu, sigma = r.uniform(-5, 5), 10 ** r.uniform(-4, 1)
        out.append(([r.gauss(mu, sigma) for _ in range(r.randint(*sizes))], r.choice(CONFIDENCES)))
    return out


# -- Student's t distribution -----------------------------------------------------------------

def test_t_quantile_matches_scipy_over_df_1_to_200_whole_and_fractional() -> None:
    r = random.Random(14)
    ps = (0.5005, 0.6, 0.75, 0.9, 0.95, 0.975, 0.99, 0.995, 0.9995, 0.999999, 0.1, 0.025, 1e-6)
    cases = [(float(df), p) for df in range(1, 201) for p in (0.975, 0.995)]
    cases += [(r.uniform(1.0, 200.0), r.choice(ps)) for _ in range(600)]
    cases += [(r.uniform(1.0, 6.0), r.uniform(0.0005, 0.9995)) for _ in range(300)]
    worst = max((abs(t_quantile(p, df) - sps.t.ppf(p, df)) / abs(sps.t.ppf(p, df)), df, p) for df, p in cases)
    assert worst[0] <= 1e-9, worst


def test_t_quantile_symmetry_and_the_centre() -> None:
    assert t_quantile(0.5, 3.3) == 0.0
    for df in (1.0, 2.5, 17.0):
        assert math.isclose(t_quantile(0.1, df), -t_quantile(0.9, df), rel_tol=1e-13)
    for df in (300.0, 2999.0, 3000.0, 1e4, 1e6, 1e9, 1e15):  # large sets: Welch's df can pass 200
        for p in (0.6, 0.975, 1 - 1e-9):
            assert close(t_quantile(p, df), sps.t.ppf(p, df), 1.0), (p, df)


def test_t_cdf_matches_scipy() -> None:
    r = random.Random(7)
    for _ in range(500):
        df, t = r.uniform(0.5, 200.0), r.uniform(-30.0, 30.0)
        assert abs(t_cdf(t, df) - sps.t.cdf(t, df)) <= 1e-12, (t, df)


# -- t intervals --------------------------------------------------------------------------------

def test_student_t_interval_matches_scipy() -> None:
    for xs, c in normal_sets(1, 300, (2, 40)):
        iv = mean_interval(xs, c, method="t")
        n, m = len(xs), float(np.mean(xs))
        low, high = sps.t.interval(c, n - 1, loc=m, scale=sps.sem(xs))
        scale = abs(m) + float(np.std(xs))
        assert (iv.method, iv.n, iv.confidence) == ("t", (n,), c)
        assert close(iv.estimate, m, scale) and close(iv.low, low, scale) and close(iv.high, high, scale)


def test_welch_interval_matches_scipy() -> None:
    r = random.Random(2)
    for (a, c), (b, _c) in zip(normal_sets(3, 300, (2, 30)), normal_sets(4, 300, (2, 30)), strict=True):
        b = [x * r.uniform(0.1, 10) for x in b]  # unequal spreads: fractional Welch degrees of freedom
        iv = diff_interval(a, b, c, method="welch")
        ci = sps.ttest_ind(a, b, equal_var=False).confidence_interval(confidence_level=c)
        scale = abs(iv.estimate) + float(np.std(a)) + float(np.std(b))
        assert (iv.method, iv.n) == ("welch", (len(a), len(b)))
        assert close(iv.estimate, float(np.mean(a) - np.mean(b)), scale)
        assert close(iv.low, ci.low, scale) and close(iv.high, ci.high, scale)


def test_paired_t_interval_matches_scipy() -> None:
    r = random.Random(5)
    for a, c in normal_sets(6, 300, (2, 30)):
        b = [x + r.gauss(0.01, 0.05) for x in a]  # the same seeds: strongly correlated pairs
        iv = diff_interval(a, b, c, paired=True)
        ci = sps.ttest_rel(a, b).confidence_interval(confidence_level=c)
        scale = abs(iv.estimate) + float(np.std(np.subtract(a, b)))
        assert (iv.method, iv.n) == ("paired-t" if len(a) < 10 else "bootstrap-bca", (len(a), len(a)))
        if iv.method == "paired-t":
            assert close(iv.low, ci.low, scale) and close(iv.high, ci.high, scale)
        assert diff_interval(a, b, c, paired=True, method="t") == diff_interval(a, b, c, paired=True,
                                                                                 method="paired-t")


# -- the bootstrap --------------------------------------------------------------------------------

def mean_stat(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return samples[0].mean(axis=axis) - (samples[1].mean(axis=axis) if len(samples) > 1 else 0.0)


@pytest.mark.parametrize("method,scipy_method", [("bootstrap-percentile", "percentile"), ("bootstrap-bca", "BCa")])
def test_bootstrap_equals_scipy_on_the_same_resamples(method: str, scipy_method: str) -> None:
    """scipy draws its resamples with ``rng.integers(0, n, (resamples, n))`` per sample, as we do.

    A resample that is a permutation of the data has the estimate as its mean: BCa counts it
    half here, while in scipy rounding decides (below or above); such cases are left out.
    """
    rng = np.random.default_rng(0)
    compared = 0
    for seed in range(12):
        a, b = rng.lognormal(0, 1, rng.integers(2, 25)), rng.normal(0.3, 0.5, rng.integers(2, 25))
        c = float(rng.choice(CONFIDENCES[1:]))
        for data, kw in (((a,), {}), ((a, b), {}), ((a, a[::-1] * 0.5 + 1.0), {"paired": True})):
            if len(data) == 1:
                iv = mean_interval(a, c, method=method, seed=seed, resamples=2000)
            else:
                iv = diff_interval(*data, c, method=method, seed=seed, resamples=2000, **kw)
            ci = sps.bootstrap(data, mean_stat, method=scipy_method, n_resamples=2000, confidence_level=c,
                               rng=np.random.default_rng(seed), **kw)
            assert iv.method == method
            if method == "bootstrap-bca" and np.any(np.abs(ci.bootstrap_distribution - iv.estimate) < 1e-9):
                continue
            compared += 1
            low, high = ci.confidence_interval
            assert close(iv.low, low, 1.0, 1e-12) and close(iv.high, high, 1.0, 1e-12), (seed, kw, iv, low, high)
    assert compared >= 25  # of 36


@pytest.mark.parametrize("method,scipy_method", [("bootstrap-percentile", "percentile"), ("bootstrap-bca", "BCa")])
def test_bootstrap_within_a_tenth_of_the_width_of_scipy_on_its_own_stream(method: str, scipy_method: str) -> None:
    rng = np.random.default_rng(1)
    for seed in range(8):
        a, b = rng.normal(0.30, 0.01, rng.integers(10, 30)), rng.gamma(2.0, 0.01, rng.integers(10, 30))
        for data, kw in (((a,), {}), ((a, b), {})):
            iv = (mean_interval(a, method=method, seed=seed) if len(data) == 1 else
                  diff_interval(a, b, method=method, seed=seed, **kw))
            ci = sps.bootstrap(data, mean_stat, method=scipy_method, n_resamples=10_000,
                               rng=np.random.default_rng(1000 + seed)).confidence_interval
            tol = 0.1 * (ci.high - ci.low)
            assert abs(iv.low - ci.low) <= tol and abs(iv.high - ci.high) <= tol, (iv, ci)


def test_same_seed_same_interval_and_the_seed_matters() -> None:
    rng = np.random.default_rng(3)
    a, b = list(rng.normal(0, 1, 12)), list(rng.normal(0.5, 1, 12))
    for method in ("bootstrap-percentile", "bootstrap-bca"):
        first = diff_interval(a, b, method=method, seed=11)
        assert diff_interval(a, b, method=method, seed=11) == first
        assert diff_interval(a, b, method=method, seed=12) != first
    assert mean_interval(a) == mean_interval(a)


# -- coverage -------------------------------------------------------------------------------------

def coverage(trials: int, draw, interval) -> float:
    hits = 0
    for _ in range(trials):
        iv = interval(*draw())
        hits += iv.low <= 0.0 <= iv.high
    return hits / trials


def test_t_intervals_cover_the_true_mean_95_percent_of_the_time() -> None:
    r = random.Random(2024)
    trials = 2000
    tol = 4 * math.sqrt(0.95 * 0.05 / trials)  # four binomial standard deviations
    one = coverage(trials, lambda: ([r.gauss(0.0, 0.02) for _ in range(5)],), mean_interval)
    welch = coverage(trials, lambda: ([r.gauss(0.3, 0.01) for _ in range(4)], [r.gauss(0.3, 0.05) for _ in range(7)]),
                     diff_interval)
    assert abs(one - 0.95) <= tol and abs(welch - 0.95) <= tol, (one, welch)


def test_bootstrap_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(99)
    got = coverage(300, lambda: (rng.normal(0.3, 0.02, 20), rng.normal(0.3, 0.02, 20)),
                   lambda a, b: diff_interval(a, b, resamples=2000))
    assert 0.88 <= got <= 0.99, got  # BCa at n = 20 slightly under-covers; 300 trials: +-0.025 (2 sd)


# -- the exact cases, the auto choice, zero spread ----------------------------------------------

def test_one_value_is_exact() -> None:
    assert mean_interval([0.31]) == Interval(0.31, 0.31, 0.31, 0.95, "exact", (1,))
    one = diff_interval([0.31], [0.30], 0.9)
    assert (one.low, one.high, one.method, one.n) == (one.estimate, one.estimate, "exact", (1, 1))
    assert math.isclose(one.estimate, 0.01) and one.half_width() == 0.0
    assert diff_interval([0.31], [0.30], paired=True).method == "exact"
    for method in ("t", "bootstrap-bca", "bootstrap-percentile"):
        assert mean_interval([2.0], method=method).method == "exact"
        assert diff_interval([2.0], [1.0], method=method) == Interval(1.0, 1.0, 1.0, 0.95, "exact", (1, 1))


def test_a_one_value_side_counts_as_fixed() -> None:
    b = [0.29, 0.30, 0.32, 0.28]
    iv = diff_interval([0.31], b)
    shifted = mean_interval([0.31 - x for x in b])  # the t interval of the other side, shifted
    assert iv.method == "welch" and iv.n == (1, 4)
    assert math.isclose(iv.low, shifted.low) and math.isclose(iv.high, shifted.high)
    boot = diff_interval([0.31], b * 3, method="bootstrap-bca")
    assert boot.low < boot.estimate < boot.high


def test_auto_uses_t_below_ten_and_bca_from_ten_on_the_smaller_side() -> None:
    nine, ten = [float(i % 4) for i in range(9)], [float(i % 5) for i in range(10)]
    assert mean_interval(nine).method == "t" and mean_interval(ten).method == "bootstrap-bca"
    assert diff_interval(ten, nine).method == "welch" and diff_interval(ten, ten + [1.0]).method == "bootstrap-bca"
    assert diff_interval(nine, nine, paired=True).method == "paired-t"
    assert diff_interval(ten, ten[::-1], paired=True).method == "bootstrap-bca"
    assert diff_interval(ten, ten, method="t").method == "welch"
    assert mean_interval(ten, method="welch").method == "t"


def test_no_spread_gives_a_point() -> None:
    assert mean_interval([0.3] * 4) == Interval(0.3, 0.3, 0.3, 0.95, "t", (4,))
    iv = diff_interval([0.5] * 3, [0.25] * 5)
    assert (iv.low, iv.high) == (0.25, 0.25)
    for method in ("bootstrap-bca", "bootstrap-percentile"):
        assert mean_interval([0.1] * 12, method=method) == Interval(0.1, 0.1, 0.1, 0.95, method, (12,))


def test_sd_is_the_sample_standard_deviation() -> None:
    xs = [0.29, 0.31, 0.313, 0.28]
    assert math.isclose(sd(xs), statistics.stdev(xs), rel_tol=1e-12)
    assert sd([0.3]) == 0.0 and sd([]) == 0.0 and sd(iter([1.0, 3.0])) == math.sqrt(2.0)


# -- errors and rendering -------------------------------------------------------------------------

@pytest.mark.parametrize("call,words", [
    (lambda: mean_interval([0.3, float("nan")]), "nan at position 1"),
    (lambda: diff_interval([0.3], [float("inf")]), "baseline set holds inf"),
    (lambda: mean_interval([]), "empty"),
    (lambda: mean_interval([1.0, 2.0], 1.0), "confidence must be between 0 and 1"),
    (lambda: diff_interval([1.0], [2.0], 0.0), "confidence must be between 0 and 1"),
    (lambda: mean_interval([1.0], "high"), "(exclusive), got 'high'"),
    (lambda: mean_interval([1.0, 2.0], method="bayes"), "choose one of: auto, t, welch"),
    (lambda: diff_interval([1.0, 2.0], [1.0], paired=True), "as many candidate as baseline values"),
    (lambda: diff_interval([1.0, 2.0], [1.0, 3.0], method="paired-t"), "needs paired=True"),
    (lambda: mean_interval([1.0, 2.0], method="bootstrap-bca", resamples=0), "resamples must be"),
    (lambda: mean_interval([1.0, 2.0], method="bootstrap-bca", seed=-1), "seed must be"),
    (lambda: mean_interval(["x"]), "must be numbers"),
    (lambda: sd([1.0, float("nan")]), "nan"),
    (lambda: t_quantile(1.0, 3.0), "0 < p < 1"),
    (lambda: t_quantile(0.9, 0.0), "degrees of freedom"),
])
def test_bad_input_is_a_one_line_value_error(call, words: str) -> None:
    with pytest.raises(StatsInputError) as info:
        call()
    assert isinstance(info.value, ValueError) and isinstance(info.value, GatebookError)
    assert info.value.exit_code == 2 and "\n" not in str(info.value) and words in str(info.value)


def test_text_and_dict() -> None:
    iv = Interval(0.004, -0.006, 0.014, 0.95, "welch", (3, 3))
    assert iv.text() == "+0.004 [-0.006, +0.014], n=3 vs 3"
    assert iv.text("+.2f") == "+0.00 [-0.01, +0.01], n=3 vs 3"
    assert Interval(0.304, 0.291, 0.317, 0.95, "t", (5,)).text() == "0.304 [0.291, 0.317], n=5"
    assert Interval(1234.0, 1184.0, 1284.0, 0.9, "t", (4,)).text() == "1234 [1184, 1284], n=4"
    assert Interval(0.01, 0.01, 0.01, 0.95, "exact", (1, 1)).text() == "+0.010 [+0.010, +0.010], n=1 vs 1"
    d = iv.to_dict()
    assert d == {"estimate": 0.004, "low": -0.006, "high": 0.014, "confidence": 0.95, "method": "welch", "n": [3, 3]}
    assert json.loads(json.dumps(d)) == d and math.isclose(iv.half_width(), 0.01)


def test_importing_and_t_intervals_need_neither_numpy_nor_scipy() -> None:
    code = ("import sys, gatebook.stats as s; s.diff_interval([1.0, 2.0, 3.5], [1.0, 1.5]); "
            "s.mean_interval([1.0, 2.0]); print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
