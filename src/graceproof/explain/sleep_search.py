"""The shortest preStop sleep that holds: the last stage of an explanation.

From the removal lag that the runs as written measured (graceproof.propagation: from
each pod's deletion to the last request it was sent), a sleep is proposed; then whole
seconds between 0 and the workload's own sleep are searched, each candidate run K
times like every variant. A candidate holds when none of its requests inside the
termination windows failed. A longer sleep is taken never to lose more than a shorter
one, so each candidate splits what is left: the proposal first, then the middle.
Earlier runs decide the ends and are never run again: 0 s is the hook removed (the
ablation's runs), the workload's own sleep its runs as written. The search ends when
the shortest sleep that held and the longest that failed are 1 s apart, and
recommends the shortest that held plus 1 s: K runs cannot show a loss rarer than
about 1 in K x the requests of a window.

It runs only where it can tell something, and says why not otherwise: the hook was
removed in this explanation, its length is in its form (a sleep action, or an exec
command with one `sleep N`) and at least 2 s, the workload as written held, and without
the hook requests failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from graceproof.explain.plan import ExplainPlan, Variant, variant_of
from graceproof.explain.protections.prestop import PreStopHook, own_sleep, with_sleep
from graceproof.explain.table import ALPHA, Tally, compare
from graceproof.explain.variant import Ablated, ablated, manifests_of, resolved_again
from graceproof.propagation import Lag, Propagation
from graceproof.result import ScenarioResult
from graceproof.workloads.base import NOT_IN_ID
from graceproof.workloads.manifests import ManifestWorkload

__all__ = ["Shortened", "SleepFound", "next_sleep", "shortened", "sleep_found"]

# The variants of the search are keyed `("prestop-sleep=2",)` among the measured ones.
KEY = "prestop-sleep"
HOOK = PreStopHook.name


@dataclass(frozen=True)
class Shortened(Ablated):
    """The workload as written with its preStop sleep set to `sleep_s` seconds."""

    sleep_s: int = field(default=0, metadata=NOT_IN_ID)  # in the label already

    @property
    def label(self) -> str:
        return f"{super(Ablated, self).label}-prestop-sleep-{self.sleep_s}s"

    def parameters(self) -> dict[str, Any]:
        return {**super().parameters(), "sleep_s": self.sleep_s}


def shortened(workload: ManifestWorkload, seconds: int) -> Shortened:
    base = ablated(workload)
    docs, change = with_sleep(base.resolved, seconds)
    kept = {f.name: getattr(base, f.name) for f in fields(Ablated)}
    kept.update(
        resolved=resolved_again(base.resolved, docs),
        removed=(f"{KEY}={seconds}",),
        changes=(change,),
    )
    return Shortened(**kept, sleep_s=seconds)


@dataclass(frozen=True)
class SleepFound:
    """Where the search stands (or ended): the sleeps tried, what the lag proposed."""

    own_s: float
    tried: Mapping[float, Tally]  # seconds -> the tally of its runs (0: hook removed)
    lag: Propagation  # every run as written, pooled
    proposed_s: int | None  # from the lag: 2 x its largest + 1 s (graceproof.propagation)

    @property
    def holding_s(self) -> float:
        """The shortest sleep that held (the workload's own, at worst)."""
        return min(s for s, t in self.tried.items() if _holds(t))

    @property
    def failing_s(self) -> float:
        """The longest sleep shorter than `holding_s` that failed (0, at least)."""
        return max(s for s, t in self.tried.items() if s < self.holding_s and _fails(t))

    @property
    def blind(self) -> list[float]:
        """Sleeps tried whose runs had no request inside a termination window: they
        tell nothing, and the search stops at the first."""
        return sorted(s for s, t in self.tried.items() if t.in_windows == 0)

    @property
    def next_s(self) -> int | None:
        """The next whole second to try, None when the search is over (or stopped at
        a sleep that told nothing)."""
        if self.blind:
            return None
        lo, hi = self.failing_s, self.holding_s
        p = self.proposed_s
        if p is not None and lo < p < hi and p not in self.tried:
            return p
        # The middle, but at least the next whole second: below a fractional own
        # sleep (2.5 s) the last whole second (2 s) is tried too.
        mid = max(math.floor((lo + hi) / 2), math.floor(lo) + 1)
        return mid if mid < hi and mid not in self.tried else None

    @property
    def complete(self) -> bool:
        """Over: the shortest that held and the longest that failed are 1 s apart (or
        no whole second lies between them). Not when the time budget or a sleep whose
        runs told nothing stopped it."""
        return self.next_s is None and not self.blind

    @property
    def recommended_s(self) -> float:
        return min(self.holding_s + 1, self.own_s)

    def describe(self) -> str:
        h, f = self.holding_s, self.failing_s
        held, failed = self.tried[h], self.tried[f]
        stopped = ""
        if self.blind:
            stopped = (
                f"sleep search stopped: the runs of {self.blind[0]:g} s had no request inside "
                "a termination window; so far, "
            )
        elif not self.complete:
            stopped = (
                f"sleep search stopped before its end (the time budget): the shortest sleep "
                f"that holds is between {f:g} s and {h:g} s; so far, "
            )
        lag = self.lag
        lag_said = (
            f"the removal lag, from deletion to the last request a pod was sent: median "
            f"{_median(lag):.2f} s, max {_max(lag):.2f} s over {len(lag.lags)} terminations"
            if lag.lags
            else "no removal lag measured"
        )
        proposed = f"proposed from it: {self.proposed_s} s" if self.proposed_s else "no proposal"
        return (
            f"{stopped}shortest preStop sleep that held: {h:g} s ({held.describe()}); "
            f"{f:g} s {'(no hook) ' if f == 0 else ''}failed ({failed.describe()}); "
            f"{lag_said}; {proposed}; recommended: {self.recommended_s:g} s"
            + (" (1 s over the shortest that held)" if self.recommended_s > h else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "own_s": self.own_s,
            "complete": self.complete,
            "holding_s": self.holding_s,
            "failing_s": self.failing_s,
            "recommended_s": self.recommended_s,
            "proposed_s": self.proposed_s,
            "lag_median_s": _median(self.lag) if self.lag.lags else None,
            "lag_max_s": _max(self.lag) if self.lag.lags else None,
            "tried": [
                {"sleep_s": s, **t.to_dict(), "holds": _holds(t)}
                for s, t in sorted(self.tried.items())
            ],
            "text": self.describe(),
        }


def _holds(t: Tally) -> bool:
    return t.in_windows > 0 and t.failed_in_windows == 0


def _fails(t: Tally) -> bool:
    return t.failed_in_windows > 0


def _median(lag: Propagation) -> float:
    s = sorted(x.since_deletion for x in lag.lags)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def _max(lag: Propagation) -> float:
    return max(x.since_deletion for x in lag.lags)


Measured = Mapping[tuple[str, ...], Sequence[ScenarioResult]]


def sleep_found(plan: ExplainPlan, measured: Measured) -> SleepFound | str:
    """The search as the runs so far leave it, or why it does not run."""
    if (HOOK,) not in measured:
        return "no sleep search: the preStop hook was not taken away in this explanation"
    resolved = manifests_of(plan.scenario.workload).resolved
    if resolved.hooks > 1:
        return (
            f"no sleep search: {resolved.hooks} containers have a preStop hook, and the "
            "search sets one sleep"
        )
    own = own_sleep(resolved)
    if own is None:
        return (
            "no sleep search: the hook's length is not in its form (a sleep action, or an "
            "exec command with one `sleep N`, would say it)"
        )
    if own < 2:
        return f"no sleep search: the hook sleeps {own:g} s, no whole second below it to try"
    if own_sleep(resolved_again(resolved, with_sleep(resolved, 1)[0])) != 1:
        return "no sleep search: the hook's sleep could not be set to another length"
    original = Tally.of(measured[()])
    if not _holds(original):
        return "no sleep search: the workload as written did not hold, so no shorter sleep can"
    removed = Tally.of(measured[(HOOK,)])
    if compare(removed, original) >= ALPHA:
        return (
            f"no sleep search: removing the hook showed no measurable effect "
            f"({removed.failed_in_windows} of {removed.in_windows} failed inside windows)"
        )
    tried: dict[float, Tally] = {0.0: Tally.of(measured[(HOOK,)]), own: original}
    for key, results in measured.items():
        if len(key) == 1 and key[0].startswith(f"{KEY}="):
            tried[float(key[0].split("=", 1)[1])] = Tally.of(results)
    lags: list[Lag] = [lag for r in measured[()] if r.propagation for lag in r.propagation.lags]
    pooled = Propagation(lags)
    return SleepFound(own, tried, pooled, pooled.recommended_sleep_s)


def next_sleep(plan: ExplainPlan, measured: Measured) -> list[Variant]:
    """The stage: the next sleep to run, or none when the search is over (or does not
    run)."""
    found = sleep_found(plan, measured)
    if isinstance(found, str) or found.next_s is None:
        return []
    workload = shortened(manifests_of(plan.scenario.workload), found.next_s)
    title = f"preStop sleep of {found.next_s} s"
    return [variant_of(plan.scenario, workload, title, workload.changes[-1])]
