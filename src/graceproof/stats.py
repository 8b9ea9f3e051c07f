"""How sure can a run be that a workload drops no requests? Pure Python, no scipy.

- 0 errors in n requests: the 95% upper bound of the error rate is about 3/n
  (the rule of three: -ln(0.05)/n, one-sided).
- k errors in n: the exact Clopper-Pearson interval, found by bisection on the
  binomial CDF, which is summed in log space so n up to 1e6 stays accurate.
- no-hook vs hook: Fisher's exact test, one-sided (does the hook variant fail less?).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DEFAULT_CONF = 0.95
# Below this n the rule of three overstates the bound noticeably; use the exact one.
RULE_OF_THREE_MIN_N = 30
_BISECTION_STEPS = 100
_NEGLIGIBLE = 1e-17


def rule_of_three(n: int) -> float:
    """95% upper bound of a rate when 0 events were seen in n trials (3/n)."""
    if n <= 0:
        raise ValueError(f"the rule of three needs n > 0 trials, not {n}")
    return min(1.0, 3.0 / n)


def _check_kn(k: int, n: int) -> None:
    if n <= 0:
        raise ValueError(f"n must be > 0, not {n}")
    if not 0 <= k <= n:
        raise ValueError(f"k must be in 0..n ({n}), not {k}")


def _log_pmf(i: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
    )


def _tail_from(i: int, n: int, p: float, step: int) -> float:
    """Sum of pmf(i), pmf(i + step), ... while the terms shrink (i is past the mode).

    Terms are taken relative to pmf(i), so nothing under- or overflows, and the sum
    stops once a term is negligible: O(sqrt(n)) terms even for n = 1e6.
    """
    total = 1.0
    term = 1.0
    j = i
    odds = p / (1.0 - p)
    while True:
        if step < 0:
            if j <= 0:
                break
            term *= j / ((n - j + 1) * odds)  # pmf(j-1) / pmf(j)
        else:
            if j >= n:
                break
            term *= (n - j) * odds / (j + 1)  # pmf(j+1) / pmf(j)
        j += step
        total += term
        if term < _NEGLIGIBLE * total:
            break
    return math.exp(_log_pmf(i, n, p) + math.log(total))


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    # Sum whichever tail lies beyond the mode, where terms fall monotonically.
    if k < (n + 1) * p:
        return min(1.0, _tail_from(k, n, p, -1))
    return max(0.0, 1.0 - _tail_from(k + 1, n, p, +1))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return 1.0 - binom_cdf(k - 1, n, p) if k > 0 else 1.0


def _bisect_increasing(f: Any, target: float) -> float:
    """The p in [0, 1] where the increasing function f crosses target."""
    lo, hi = 0.0, 1.0
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return (lo + hi) / 2


def clopper_pearson(k: int, n: int, conf: float = DEFAULT_CONF) -> tuple[float, float]:
    """Exact two-sided confidence interval of a binomial proportion k/n."""
    _check_kn(k, n)
    if not 0 < conf < 1:
        raise ValueError(f"conf must be in (0, 1), not {conf}")
    half = (1 - conf) / 2
    if k == 0:
        lo = 0.0
    elif k == n:
        lo = half ** (1 / n)
    else:
        # P(X >= k; p) rises with p; lo is where it reaches alpha/2.
        lo = _bisect_increasing(lambda p: binom_sf(k, n, p), half)
    if k == n:
        hi = 1.0
    elif k == 0:
        hi = -math.expm1(math.log(half) / n)  # 1 - (alpha/2)^(1/n), without cancellation
    else:
        # P(X <= k; p) falls with p; hi is where it drops to alpha/2.
        hi = _bisect_increasing(lambda p: -binom_cdf(k, n, p), -half)
    return lo, hi


@dataclass(frozen=True)
class RateBound:
    """An error rate k/n with its confidence bound(s)."""

    k: int
    n: int
    method: str  # "rule_of_three" (upper bound only), "clopper_pearson", "no-data"
    lo: float
    hi: float
    conf: float = DEFAULT_CONF

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else 0.0

    def describe(self) -> str:
        pct = round(self.conf * 100)
        if self.method == "no-data":
            return "no requests"
        if self.method == "rule_of_three":
            return f"< {_pct(self.hi)} ({pct}%, rule of three)"
        if self.k == 0:
            return f"< {_pct(self.hi)} ({pct}% exact)"
        return f"{_pct(self.rate)} [{_pct(self.lo)}, {_pct(self.hi)}] ({pct}% CI)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "n": self.n,
            "rate": self.rate,
            "method": self.method,
            "lo": self.lo,
            "hi": self.hi,
            "conf": self.conf,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RateBound:
        return cls(
            k=int(d["k"]),
            n=int(d["n"]),
            method=str(d["method"]),
            lo=float(d["lo"]),
            hi=float(d["hi"]),
            conf=float(d.get("conf", DEFAULT_CONF)),
        )


def _pct(x: float) -> str:
    value = x * 100
    if value == 0:
        return "0%"
    if value >= 1:
        return f"{value:.2f}%"
    return f"{value:.2g}%"


def error_rate_bound(k: int, n: int, conf: float = DEFAULT_CONF) -> RateBound:
    """The bound worth reporting: rule of three for 0 errors in a large n (at 95%),
    otherwise the exact Clopper-Pearson interval; "no-data" when n is 0."""
    if n == 0:
        return RateBound(k=0, n=0, method="no-data", lo=0.0, hi=1.0, conf=conf)
    _check_kn(k, n)
    if k == 0 and n >= RULE_OF_THREE_MIN_N and conf == DEFAULT_CONF:
        return RateBound(k=0, n=n, method="rule_of_three", lo=0.0, hi=rule_of_three(n), conf=conf)
    lo, hi = clopper_pearson(k, n, conf)
    return RateBound(k=k, n=n, method="clopper_pearson", lo=lo, hi=hi, conf=conf)


def fisher_exact_one_sided(a_fail: int, a_total: int, b_fail: int, b_total: int) -> float:
    """One-sided Fisher exact p-value that B (the hook variant) fails less often than A.

    With the margins fixed, B's failures follow a hypergeometric law when both
    variants fail equally often; p is the chance of B seeing `b_fail` failures or
    fewer under that null. A small p: the hook really reduces errors. The same as
    scipy.stats.fisher_exact([[b_fail, b_ok], [a_fail, a_ok]], alternative="less").
    """
    for fail, total, name in ((a_fail, a_total, "a"), (b_fail, b_total, "b")):
        if total < 0 or not 0 <= fail <= total:
            raise ValueError(f"{name}_fail must be in 0..{name}_total, got {fail}/{total}")
    population = a_total + b_total
    failures = a_fail + b_fail
    draws = b_total
    if failures == 0 or draws == 0 or draws == population:
        return 1.0
    x_min = max(0, draws - (population - failures))
    if b_fail < x_min:
        return 0.0

    def log_comb(n: int, r: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)

    base = log_comb(population, draws)
    logs = [
        log_comb(failures, x) + log_comb(population - failures, draws - x) - base
        for x in range(x_min, b_fail + 1)
    ]
    peak = max(logs)
    p = math.exp(peak + math.log(sum(math.exp(v - peak) for v in logs)))
    return min(1.0, p)
