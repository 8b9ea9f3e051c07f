"""Error-rate bounds and the no-hook vs hook test, against published reference values.

References: Clopper-Pearson intervals as given by R's binom.test / scipy's
binomtest(...).proportion_ci(method="exact"), cross-checked with mpmath's regularized
incomplete beta function at 40 digits; Fisher's exact test as given by
scipy.stats.fisher_exact (the tea-tasting and dieting examples).
"""

from __future__ import annotations

import math
import time

import pytest

from graceproof.stats import (
    RateBound,
    binom_cdf,
    clopper_pearson,
    error_rate_bound,
    fisher_exact_one_sided,
    rule_of_three,
)


def test_rule_of_three_is_three_over_n() -> None:
    assert rule_of_three(300) == pytest.approx(0.01)
    assert rule_of_three(1) == 1.0  # capped: a rate is at most 1
    with pytest.raises(ValueError, match="n > 0"):
        rule_of_three(0)


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [
        (0, 10, 0.0, 0.3084971),
        (5, 10, 0.1870860, 0.8129140),
        (1, 10, 0.0025286, 0.4450161),
        (10, 10, 0.6915029, 1.0),
        (3, 1000, 0.0006191, 0.0087420),
        (25, 1500, 0.0108141, 0.0245055),
    ],
)
def test_clopper_pearson_matches_reference_values(k: int, n: int, lo: float, hi: float) -> None:
    got_lo, got_hi = clopper_pearson(k, n)
    assert got_lo == pytest.approx(lo, abs=1e-6)
    assert got_hi == pytest.approx(hi, abs=1e-6)


def test_clopper_pearson_stays_accurate_and_fast_for_a_million_requests() -> None:
    began = time.monotonic()
    lo, hi = clopper_pearson(10, 1_000_000)
    # Binomial with tiny p is Poisson: the exact Poisson 95% limits of 10 are 4.795, 18.39.
    assert lo == pytest.approx(4.7954e-6, rel=1e-3)
    assert hi == pytest.approx(1.8390e-5, rel=1e-3)
    zero_hi = clopper_pearson(0, 1_000_000)[1]
    assert zero_hi == pytest.approx(-math.log(0.025) / 1e6, rel=1e-5)
    mid_lo, mid_hi = clopper_pearson(500_000, 1_000_000)
    assert mid_lo == pytest.approx(0.49902, abs=2e-5)
    assert mid_hi == pytest.approx(0.50098, abs=2e-5)
    assert time.monotonic() - began < 5


def test_the_interval_holds_at_its_bounds_by_definition() -> None:
    # At the upper bound P(X <= k) is alpha/2; at the lower bound P(X >= k) is alpha/2.
    k, n = 7, 250
    lo, hi = clopper_pearson(k, n)
    assert binom_cdf(k, n, hi) == pytest.approx(0.025, rel=1e-6)
    assert 1 - binom_cdf(k - 1, n, lo) == pytest.approx(0.025, rel=1e-6)


def test_binom_cdf_agrees_with_direct_summation() -> None:
    n, p = 40, 0.3
    for k in (0, 5, 12, 25, 39):
        direct = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
        assert binom_cdf(k, n, p) == pytest.approx(direct, rel=1e-10)


@pytest.mark.parametrize(("k", "n"), [(-1, 10), (11, 10), (0, 0)])
def test_clopper_pearson_refuses_impossible_counts(k: int, n: int) -> None:
    with pytest.raises(ValueError):
        clopper_pearson(k, n)


def test_error_rate_bound_uses_the_rule_of_three_for_zero_errors_in_many_requests() -> None:
    bound = error_rate_bound(0, 6000)
    assert bound.method == "rule_of_three"
    assert bound.hi == pytest.approx(0.0005)
    assert bound.describe() == "< 0.05% (95%, rule of three)"


def test_error_rate_bound_is_exact_for_few_requests_or_some_errors() -> None:
    small = error_rate_bound(0, 10)
    assert small.method == "clopper_pearson"
    assert small.hi == pytest.approx(0.3084971, abs=1e-6)
    some = error_rate_bound(25, 1500)
    assert some.method == "clopper_pearson"
    assert some.rate == pytest.approx(25 / 1500)
    assert some.describe() == "1.67% [1.08%, 2.45%] (95% CI)"


def test_error_rate_bound_without_requests_says_so() -> None:
    bound = error_rate_bound(0, 0)
    assert (bound.method, bound.lo, bound.hi) == ("no-data", 0.0, 1.0)
    assert bound.describe() == "no requests"


def test_rate_bound_round_trips_through_a_dict() -> None:
    bound = error_rate_bound(3, 1000)
    assert RateBound.from_dict(bound.to_dict()) == bound


def test_fisher_matches_the_tea_tasting_example() -> None:
    # scipy.stats.fisher_exact([[1, 3], [3, 1]], alternative="less") == 17/70
    assert fisher_exact_one_sided(3, 4, 1, 4) == pytest.approx(17 / 70)


def test_fisher_matches_the_dieting_example() -> None:
    # scipy.stats.fisher_exact([[1, 9], [11, 3]], alternative="less") == 0.0013797...
    assert fisher_exact_one_sided(11, 14, 1, 10) == pytest.approx(0.00137973, rel=1e-4)


def test_fisher_agrees_with_brute_force_enumeration() -> None:
    a_fail, a_total, b_fail, b_total = 6, 20, 2, 25
    population, failures = a_total + b_total, a_fail + b_fail

    def pmf(x: int) -> float:
        return (
            math.comb(failures, x)
            * math.comb(population - failures, b_total - x)
            / math.comb(population, b_total)
        )

    expected = sum(pmf(x) for x in range(b_fail + 1))
    assert fisher_exact_one_sided(a_fail, a_total, b_fail, b_total) == pytest.approx(expected)


def test_a_hook_without_errors_against_a_failing_control_is_significant() -> None:
    # The k6 report of prior-art: 25 errors in 3000 requests without a hook, 0 with.
    assert fisher_exact_one_sided(25, 3000, 0, 3000) < 1e-6
    # The same counts either way carry no evidence.
    assert fisher_exact_one_sided(5, 3000, 5, 3000) > 0.5
    # No errors anywhere: nothing to compare.
    assert fisher_exact_one_sided(0, 3000, 0, 3000) == 1.0


def test_fisher_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="a_fail"):
        fisher_exact_one_sided(5, 4, 0, 4)
