"""How long a traffic path keeps sending new requests to a pod that is going away, and
the preStop sleep that covers it.

For each terminated pod, the lag runs from the moment its endpoint turned not-ready
(the EndpointSlice says so: from then on, every path should stop choosing the pod)
to the start of the last request that reached it (answered by it, X-Pod-Name). With
one connection per request, each request start is a fresh routing decision, so
this is the path's own propagation time: kube-proxy's iptables sync, an ingress
controller's reload, a load balancer's health check.

A lag is only measurable while the pod still answers: if it got SIGTERM and stopped
before the path caught up, the last answer is a lower bound (`censored`). Run it with
a preStop sleep longer than any lag expected (10 s) to measure, not to guess.

The recommendation is the shortest whole-second preStop sleep at least twice the
largest lag seen over the terminations, and one second more than it: with n
samples the next lag exceeds their maximum with a chance near 1/(n+1), and a
sleep is cheap next to a lost request. Measure on the cluster and path that
production uses; it is that cluster's figure, not a universal one.
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


@dataclass(frozen=True)
class Lag:
    """One terminated pod: seconds from its endpoint turning not-ready to the start of
    the last request it answered (0 when none started after it)."""

    pod: str
    seconds: float
    censored: bool = False  # the pod stopped answering first: at least this long

    def to_dict(self) -> dict[str, Any]:
        return {"pod": self.pod, "seconds": self.seconds, "censored": self.censored}


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
        None without a lag, or when a lag is only a lower bound (the hook was too short
        to see the path catch up: measure again with a longer one)."""
        if not self.lags or self.censored:
            return None
        return math.ceil(2 * max(self.seconds) + 1.0)

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
                Lag(str(x["pod"]), float(x["seconds"]), bool(x.get("censored", False)))
                for x in d.get("lags") or []
            ]
        )


def _first(events: Sequence[TimelineEvent], kind: str, pod: str, after: float) -> float | None:
    times = [e.t for e in events if e.kind == kind and e.pod == pod and e.t >= after]
    return min(times) if times else None


def lags(records: Sequence[RequestRecord], timeline: Sequence[TimelineEvent]) -> list[Lag]:
    """The lag of each pod that was deleted during the run (see the module)."""
    deleted: dict[str, float] = {}
    for e in timeline:
        if e.kind == "pod_deleted" and e.pod and e.pod not in deleted:
            deleted[e.pod] = e.t
    out = []
    for pod, t_deleted in sorted(deleted.items(), key=lambda kv: kv[1]):
        # The endpoint's own not-ready edge; the deletion itself if the watch missed it.
        not_ready = _first(timeline, "endpoint_not_ready", pod, t_deleted) or t_deleted
        answered = [r.t for r in records if r.pod == pod and r.ok]
        last = max(answered, default=not_ready)
        sigterm = _first(timeline, "sigterm", pod, t_deleted)
        censored = sigterm is not None and last >= sigterm - _CENSOR_S
        out.append(Lag(pod, max(0.0, last - not_ready), censored))
    return out


def propagation(records: Sequence[RequestRecord], timeline: Sequence[TimelineEvent]) -> Propagation:
    return Propagation(lags(records, timeline))
