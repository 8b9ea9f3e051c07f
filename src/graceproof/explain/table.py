"""The table of an explanation: for each protection, what removing it did.

    protection | removed -> failures in windows (95 % interval) | p | verdict

Failures are summed over the K runs of a variant: those inside termination windows,
with their exact (Clopper-Pearson) 95 % interval. p is the one-sided Fisher exact
test that the workload as written fails less often than the variant, on all requests
of the runs, as the summary's "p vs no-hook" (a hook lengthens the windows, so their
totals do not compare like with like). A protection "keeps requests" when p < ALPHA.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graceproof.result import ScenarioResult
from graceproof.stats import DEFAULT_CONF, RateBound, clopper_pearson, fisher_exact_one_sided

__all__ = [
    "ALPHA",
    "COVER",
    "KEEPS",
    "MISSING",
    "NOT_APPLICABLE",
    "NOT_RUN",
    "NO_EFFECT",
    "Row",
    "Tally",
    "compare",
]

# The one-sided Fisher p below which a removal counts as losing requests: the usual
# 5 %. With five protections tested at once, one of them may pass it by chance about
# once in four explanations; the p is in the table to weigh.
ALPHA = 0.05

KEEPS = "keeps requests"
NO_EFFECT = "no measurable effect at this load"
NOT_APPLICABLE = "not applicable to this disruption"
MISSING = "missing"
COVER = "they cover each other"
NOT_RUN = "not run"


@dataclass(frozen=True)
class Tally:
    """The requests of one variant over its runs."""

    runs: int
    total: int
    failed: int
    in_windows: int
    failed_in_windows: int

    @classmethod
    def of(cls, results: Sequence[ScenarioResult]) -> Tally:
        return cls(
            runs=len(results),
            total=sum(r.counts.total for r in results),
            failed=sum(r.counts.failed for r in results),
            in_windows=sum(r.counts.in_windows for r in results),
            failed_in_windows=sum(r.counts.failed_in_windows for r in results),
        )

    @property
    def bound(self) -> RateBound:
        """Failures inside the windows with their exact 95 % interval (always exact: the
        rule of three is an approximation)."""
        k, n = self.failed_in_windows, self.in_windows
        if n == 0:
            return RateBound(k=0, n=0, method="no-data", lo=0.0, hi=1.0)
        lo, hi = clopper_pearson(k, n, DEFAULT_CONF)
        return RateBound(k=k, n=n, method="clopper_pearson", lo=lo, hi=hi)

    def describe(self) -> str:
        """`212 of 5,430 in windows, 3.90% [3.40%, 4.45%] (95% CI), 3 runs`."""
        b = self.bound
        runs = f"{self.runs} run{'s' if self.runs != 1 else ''}"
        if b.method == "no-data":
            return f"no request inside a termination window, {runs}"
        return f"{b.k:,} of {b.n:,} in windows, {b.describe()}, {runs}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "total": self.total,
            "failed": self.failed,
            "in_windows": self.in_windows,
            "failed_in_windows": self.failed_in_windows,
            "interval": self.bound.to_dict(),
            "text": self.describe(),
        }


def compare(removed: Tally, original: Tally) -> float:
    """One-sided Fisher p that the original fails less often than the variant."""
    return fisher_exact_one_sided(removed.failed, removed.total, original.failed, original.total)


@dataclass(frozen=True)
class Row:
    """One protection (or a pair, `a+b`) and what removing it did."""

    protection: str  # its name, or "a+b" for a pair removed together
    title: str
    verdict: str  # KEEPS, NO_EFFECT, NOT_APPLICABLE, MISSING, COVER, NOT_RUN
    change: str = ""  # what was removed: "nginx: sleep 5 s", "30 s -> 5 s"
    note: str = ""  # beside the verdict: what a missing one risks, what would exercise it
    removed: Tally | None = None
    p: float | None = None

    @classmethod
    def measured(
        cls, protection: str, title: str, change: str, removed: Tally, original: Tally
    ) -> Row:
        p = compare(removed, original)
        verdict = KEEPS if p < ALPHA else NO_EFFECT
        return cls(protection, title, verdict, change, removed=removed, p=p)

    def cells(self) -> list[str]:
        name = f"{self.title} ({self.change})" if self.change else self.title
        figures = self.removed.describe() if self.removed is not None else "-"
        p = "-" if self.p is None else _p(self.p)
        verdict = f"{self.verdict}: {self.note}" if self.note else self.verdict
        return [name, figures, p, verdict]

    def to_dict(self) -> dict[str, Any]:
        return {
            "protection": self.protection,
            "title": self.title,
            "verdict": self.verdict,
            "change": self.change,
            "note": self.note,
            "removed": None if self.removed is None else self.removed.to_dict(),
            "p": self.p,
        }


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"
