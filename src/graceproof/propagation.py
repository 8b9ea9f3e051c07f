"""How long a traffic path keeps sending new requests to a pod that is going away, and
the preStop sleep that covers it.

For each terminated pod, the lag runs from the moment its endpoint turned not-ready
(the EndpointSlice says so: from then on, every path should stop choosing the pod)
to the start of the last request that reached it (answered by it, X-Pod-Name). With
one connection per request, each request start is a fresh routing decision, so
this is the path's own propagation time: kube-proxy's iptables sync, an ingress
controller's reload, a load balancer's health check.

A lag is only measurable while the pod still answers: if it stopped serving (SIGTERM,
its app's exit or its container's end, whichever the timeline has) before the path
caught up, the last answer is a lower bound (`censored`). Run it with a preStop sleep
longer than any lag expected (10 s) to measure, not to guess. Only one connection per
request measures a path: with keep-alive, reused connections keep reaching the pod
whatever the path decides (the result then has no propagation).

The recommendation is a whole-second preStop sleep at least twice the largest time
from a deletion to the last request the pod got (the hook starts at the deletion,
and the endpoint may turn not-ready a moment later), and one second more, over 5
terminations at least: a heuristic margin, not a proven minimum: with n samples
the next lag exceeds their maximum with a chance near 1/(n+1), and the lags here
have a long tail (median 0.4 s, single ones of 1-1.8 s, on both kube-proxy and
Traefik: benchmarks/propagation.py), which the doubling covers. A sleep is cheap
next to a lost request. Measure on the cluster and path that production uses; it is
that cluster's figure, not a universal one.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graceproof.model import RequestRecord, TimelineEvent

__all__ = ["Lag", "Propagation", "lags", "propagation"]

# The last answer this close to SIGTERM may have been cut by it: a lower bound only.
_CENSOR_S = 0.1
# Fewer lags than this recommend nothing: the maximum of two says little of the tail.
MIN_SAMPLES = 5


@dataclass(frozen=True)
class Lag:
    """One terminated pod: seconds from its endpoint turning not-ready to the start of
    the last request it answered (0 when none started after it)."""

    pod: str
    seconds: float
    censored: bool = False  # the pod stopped answering first: at least this long
    # From the deletion (when the hook starts) to the last request: what a sleep covers.
    since_deletion: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "pod": self.pod,
            "seconds": self.seconds,
            "censored": self.censored,
            "since_deletion": self.since_deletion,
        }


@dataclass(frozen=True)
class Propagation:
    """The lags of one run and what they call for."""

    lags: list[Lag] = field(default_factory=list)

    @property
    def seconds(self) -> list[float]:
        return [lag.seconds for lag in self.lags]

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.seconds) if self.lags else None

    @property
    def max_s(self) -> float | None:
        return max(self.seconds) if self.lags else None

    @property
    def censored(self) -> int:
        return sum(lag.censored for lag in self.lags)

    @property
    def recommended_sleep_s(self) -> int | None:
        """The shortest safe preStop sleep (whole seconds): 2 x the largest lag + 1 s.
        None with fewer than MIN_SAMPLES lags, or when a lag is only a lower bound (the
        hook was too short to see the path catch up: measure with a longer one)."""
        if len(self.lags) < MIN_SAMPLES or self.censored:
            return None
        return math.ceil(2 * max(lag.since_deletion for lag in self.lags) + 1.0)

    def describe(self) -> str:
        if not self.lags:
            return "no terminated pod to measure"
        median, top = self.median_s or 0.0, self.max_s or 0.0
        text = (
            f"propagation lag over {len(self.lags)} terminations: median {median:.2f} s, "
            f"max {top:.2f} s"
        )
        if self.censored:
            return text + (
                f"; {self.censored} only a lower bound (the pod stopped answering first): "
                "measure with a longer preStop sleep"
            )
        if len(self.lags) < MIN_SAMPLES:
            return text + f"; {MIN_SAMPLES} terminations at least recommend a preStop sleep"
        return text + f"; shortest safe preStop sleep here: {self.recommended_sleep_s} s"

    def to_dict(self) -> dict[str, Any]:
        return {
            "lags": [lag.to_dict() for lag in self.lags],
            "median_s": self.median_s,
            "max_s": self.max_s,
            "recommended_sleep_s": self.recommended_sleep_s,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Propagation:
        return cls(
            [
                Lag(
                    str(x["pod"]),
                    float(x["seconds"]),
                    bool(x.get("censored", False)),
                    float(x.get("since_deletion", x["seconds"])),
                )
                for x in d.get("lags") or []
            ]
        )


# Slice and pod watches deliver their events apart: a not-ready edge may arrive a
# moment before the pod's deletion it follows from.
_SKEW_S = 0.5
# What ends a pod's serving, in the timeline; the sample app logs sigterm and app_exit,
# any workload gets container_terminated.
_STOPS = ("sigterm", "app_exit", "container_terminated", "pod_gone")


def _first(
    events: Sequence[TimelineEvent], kinds: Sequence[str], pod: str, after: float, before: float
) -> float | None:
    times = [e.t for e in events if e.kind in kinds and e.pod == pod and after <= e.t <= before]
    return min(times) if times else None


def _not_ready(events: Sequence[TimelineEvent], pod: str, lo: float, hi: float) -> float:
    """When the pod's endpoint turned terminating (not ready), else left its slices,
    else the deletion itself (`lo + _SKEW_S`) if the watch missed both."""
    terminating = [
        e.t
        for e in events
        if e.kind == "endpoint_not_ready"
        and e.pod == pod
        and e.detail.get("terminating", True)
        and lo <= e.t <= hi
    ]
    if terminating:
        return min(terminating)
    removed = _first(events, ("endpoint_removed",), pod, lo, hi)
    return removed if removed is not None else lo + _SKEW_S


def _lag(
    records: Sequence[RequestRecord], timeline: Sequence[TimelineEvent], pod: str, deleted: float
) -> Lag | None:
    # Up to the pod's end: a StatefulSet's replacement takes the same name after it.
    gone = _first(timeline, ("pod_gone",), pod, deleted, math.inf)
    end = gone if gone is not None else math.inf
    not_ready = _not_ready(timeline, pod, deleted - _SKEW_S, end)
    answered = [r.t for r in records if r.pod == pod and r.ok and r.t <= end]
    if not answered:
        return None  # it answered nothing: no measurement of the path
    last = max(answered)
    stopped = _first(timeline, _STOPS, pod, deleted, end)
    censored = stopped is not None and last >= stopped - _CENSOR_S
    return Lag(pod, max(0.0, last - not_ready), censored, max(0.0, last - deleted))


def lags(records: Sequence[RequestRecord], timeline: Sequence[TimelineEvent]) -> list[Lag]:
    """The lag of each pod deleted during the run that answered requests (see the module)."""
    deleted: dict[str, float] = {}
    for e in sorted(timeline, key=lambda e: e.t):
        if e.kind == "pod_deleted" and e.pod and e.pod not in deleted:
            deleted[e.pod] = e.t
    found = (
        _lag(records, timeline, pod, t) for pod, t in sorted(deleted.items(), key=lambda kv: kv[1])
    )
    return [lag for lag in found if lag is not None]


def propagation(records: Sequence[RequestRecord], timeline: Sequence[TimelineEvent]) -> Propagation:
    return Propagation(lags(records, timeline))
