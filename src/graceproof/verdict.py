"""Pass or fail: the fourth value of the pipeline

    Scenario -> Subject + Measurement -> Analysis -> Verdict -> ScenarioResult

`judge` holds a run's counts (and measures, against a budget) to what the subject
expects: no errors, errors (the negative control), or nothing (informative). A
timeline with a gap inside a termination window (graceproof.gaps) never passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from graceproof.budget import Budget
from graceproof.counts import Counts
from graceproof.errors import ResultSchemaError
from graceproof.gaps import WatchGap, describe_gaps, windows_across
from graceproof.measures import Measures
from graceproof.model import EXPECTATIONS, Expected, TerminationWindow

__all__ = ["Verdict", "judge"]


@dataclass(frozen=True)
class Verdict:
    expected: Expected
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"expected": self.expected, "passed": self.passed, "message": self.message}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verdict:
        expected = str(d["expected"])
        if expected not in EXPECTATIONS:
            raise ResultSchemaError(f"verdict.expected must be one of {EXPECTATIONS}")
        return cls(expected=expected, passed=bool(d["passed"]), message=str(d["message"]))


def judge(
    expected: Expected,
    counts: Counts,
    *,
    require_coverage: bool = True,
    budget: Budget | None = None,
    measures: Measures | None = None,
    gaps: Sequence[WatchGap] = (),
    windows: Sequence[TerminationWindow] = (),
    t0: float = 0.0,
    disruption: tuple[float, float] | None = None,
) -> Verdict:
    """Pass or fail a scenario.

    no-errors: no request failed at all (or, with an error-rate budget, no more than
      it allows), every other budget is met, and (with require_coverage) some requests
      fell inside a termination window: a clean run that never overlapped a
      termination proves nothing.
    errors (the negative control): some request failed inside a termination window;
      if none did, this cluster cannot tell a hook from no hook. Budgets do not apply.
    informative: kept to show something, held to nothing: it always passes, and its
      message says what it saw and that it was not judged.

    Retryable failures (graceproof.failures) are failures unless the counts took them
    as answered (`Counts.retried`); either way the message names them.

    A gap of the timeline (`gaps`) that overlaps one of the termination `windows`, or
    the `disruption`'s span (its start to its end), fails an errors or no-errors
    verdict, naming the gap and the window (times relative to `t0`, the run's start);
    other gaps are named and do not count.
    """
    verdict = _with_retryable(_judge(expected, counts, require_coverage, budget, measures), counts)
    return _with_gaps(verdict, gaps, windows, t0, disruption)


def _with_retryable(verdict: Verdict, counts: Counts) -> Verdict:
    expected = verdict.expected
    if counts.retried:
        note = (
            f"not counted: {counts.retried} retryable failures ({counts.retried_in_windows} "
            f"inside termination windows), {_RETRYABLE}"
        )
    elif counts.retryable and expected != "informative":
        note = (
            f"of the failures, {counts.retryable} retryable ({_RETRYABLE}; "
            "--retryable-count no leaves them out)"
        )
    else:
        return verdict
    return replace(verdict, message=f"{verdict.message}; {note}")


def _with_gaps(
    verdict: Verdict,
    gaps: Sequence[WatchGap],
    windows: Sequence[TerminationWindow],
    t0: float,
    span: tuple[float, float] | None,
) -> Verdict:
    inside = [g for g in gaps if g.judged and (windows_across(g, windows) or g.during(span))]
    outside = [g for g in gaps if g not in inside]
    message = verdict.message
    if outside:
        message += (
            f"; the timeline has {_gaps(len(outside))} that no termination window depends "
            f"on (reported, not judged): {describe_gaps(outside, windows, t0, span)}"
        )
    if not inside:
        return replace(verdict, message=message)
    in_windows = sum(1 for g in inside if windows_across(g, windows))
    if in_windows == len(inside):
        where, what = "inside termination windows", "those windows"
    elif in_windows == 0:
        where, what = "during the disruption", "the windows (and whether one is missing)"
    else:
        where = "inside termination windows or during the disruption"
        what = "those windows (and whether one is missing)"
    why = (
        f"the timeline has {_gaps(len(inside))} {where}: "
        f"{describe_gaps(inside, windows, t0, span)}; what happened inside a gap carries the "
        f"time the watch caught up, not the time it happened, so {what} and the "
        "requests counted inside them cannot be trusted"
    )
    if verdict.expected == "informative":
        return replace(verdict, message=f"{message}; {why}")
    without = "would pass" if verdict.passed else "fails as well"
    return replace(verdict, passed=False, message=f"{why}. Without the gap it {without}: {message}")


def _gaps(n: int) -> str:
    return "a gap" if n == 1 else f"{n} gaps"


# What a retryable failure is, where a verdict names them (graceproof.failures).
_RETRYABLE = (
    "closed before any byte of the answer on a reused connection, which a client that "
    "retries idempotent requests sends again"
)


def _judge(
    expected: Expected,
    counts: Counts,
    require_coverage: bool,
    budget: Budget | None,
    measures: Measures | None,
) -> Verdict:
    if expected == "no-errors":
        return _judge_clean(counts, require_coverage, budget, measures)
    if expected == "errors":
        return _judge_control(counts)
    if expected == "informative":
        return Verdict(
            "informative",
            True,
            f"informative, not judged: {counts.failed} of {counts.total} requests failed, "
            f"{counts.failed_in_windows} of {counts.in_windows} inside termination windows"
            + (f" ({counts.describe_failures()})" if counts.failed else "")
            + _late(counts),
        )
    raise ValueError(f"expected must be one of {EXPECTATIONS}, not {expected!r}")


def _judge_clean(
    counts: Counts, require_coverage: bool, budget: Budget | None, measures: Measures | None
) -> Verdict:
    strict = budget is None or budget.max_error_rate is None
    if strict and counts.failed:
        return Verdict(
            "no-errors",
            False,
            f"{counts.failed} of {counts.total} requests failed "
            f"({counts.failed_in_windows} inside termination windows; {counts.describe_failures()})"
            + _late(counts),
        )
    breaches = budget.breaches(counts, measures) if budget is not None else []
    if breaches:
        return Verdict("no-errors", False, "budget exceeded: " + "; ".join(breaches))
    if require_coverage and counts.in_windows == 0:
        return Verdict(
            "no-errors",
            False,
            f"no failures, but none of the {counts.total} requests fell inside a "
            "termination window: the load did not cover the disruption",
        )
    if require_coverage and counts.windows_covered < counts.windows:
        return Verdict(
            "no-errors",
            False,
            f"{counts.windows - counts.windows_covered} of {counts.windows} termination "
            "windows had no request inside: the load did not cover every termination",
        )
    message = (
        f"{counts.failed} of {counts.total} requests failed ({counts.in_windows} inside "
        "termination windows)"
    )
    if budget is not None:
        message += f", within budget ({budget.describe()})"
    return Verdict("no-errors", True, message + _late(counts))


def _late(counts: Counts) -> str:
    """Arrivals never sent, said beside the verdict: the bound covers sent requests only."""
    if not counts.late:
        return ""
    return (
        f"; {counts.late} open-loop arrivals ({counts.late_in_windows} inside windows) were "
        "not sent on time (a saturated generator) and are not counted as requests"
    )


def _judge_control(counts: Counts) -> Verdict:
    if counts.failed_in_windows:
        return Verdict(
            "errors",
            True,
            f"negative control reproduced: {counts.failed_in_windows} of {counts.in_windows} "
            f"requests inside termination windows failed ({counts.describe_failures()})"
            + _late(counts),
        )
    return Verdict(
        "errors",
        False,
        f"negative control did not fail: 0 of {counts.in_windows} requests inside "
        "termination windows failed, so this setup cannot show what a hook changes",
    )
