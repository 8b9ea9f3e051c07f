"""What a run's records mean: the third value of the pipeline

    Scenario -> Subject + Measurement -> Analysis -> Verdict -> ScenarioResult

Each part is computed in a module of its own, from the Measurement alone (and the
Subject's traffic kind, parameters and retry rule): the termination windows
(graceproof.windows), the counts (graceproof.counts), the error-rate bounds
(graceproof.stats), the series of the picture (graceproof.series), the measures
(graceproof.measures), the propagation of endpoint removal (graceproof.propagation),
what the traffic kind adds (graceproof.traffic) and where the timeline was blind
(graceproof.gaps). No part is judged here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graceproof.counts import Counts, summarize
from graceproof.failures import FailureContext
from graceproof.gaps import WatchGap, gaps_of
from graceproof.measurement import Measurement
from graceproof.measures import Measures, measure
from graceproof.model import TerminationWindow, TimelineEvent
from graceproof.propagation import Propagation, propagation
from graceproof.series import DEFAULT_BIN_S, Series, per_second
from graceproof.stats import DEFAULT_CONF, RateBound, error_rate_bound
from graceproof.subject import Subject
from graceproof.traffic import traffic as traffic_kind
from graceproof.windows import termination_windows

__all__ = ["Analysis", "bounds"]


@dataclass(frozen=True)
class Analysis:
    timeline: Sequence[TimelineEvent]  # the measurement's, in time order
    windows: Sequence[TerminationWindow]
    counts: Counts
    bounds: dict[str, RateBound]  # "overall" and "in_windows"
    series: Series
    measures: Measures  # latency, unavailability, throughput dip
    # Only where each request is a routing decision of the path (Traffic docs).
    propagation: Propagation | None
    # What the traffic kind says beyond the counts (gRPC status codes; streams cut,
    # closed and reconnected): graceproof.traffic.Traffic.summarize.
    traffic: dict[str, Any] | None
    # Where a source of the timeline was cut off from the API server (graceproof.gaps).
    gaps: Sequence[WatchGap] = ()

    @classmethod
    def of(cls, subject: Subject, measurement: Measurement) -> Analysis:
        """Analyse a measurement. Retryable failures count unless the subject says they
        do not; then the counts and the bounds take them as answered, and say how many."""
        kind = traffic_kind(subject.connection)
        records = measurement.records
        events = sorted(measurement.timeline, key=lambda e: e.t)
        # A window still open at the end lasts until the last answer, or the run's end.
        last = max((r.t + r.duration for r in records), default=measurement.finished)
        windows = termination_windows(events, until=max(last, measurement.finished))
        context = FailureContext.of(subject.parameters)
        counts = summarize(records, windows, context, retried=not subject.count_retryable)
        t0 = min((r.t for r in records), default=measurement.started)
        return cls(
            timeline=events,
            windows=windows,
            counts=counts,
            bounds=bounds(counts),
            series=per_second(records, t0=t0, bin_s=DEFAULT_BIN_S),
            measures=measure(records, windows),
            propagation=propagation(records, events) if kind.routes_each_request else None,
            traffic=kind.summarize(records),
            gaps=gaps_of(events),
        )


def bounds(counts: Counts, conf: float = DEFAULT_CONF) -> dict[str, RateBound]:
    """The error-rate bound overall and inside the termination windows."""
    return {
        "overall": error_rate_bound(counts.failed, counts.total, conf),
        "in_windows": error_rate_bound(counts.failed_in_windows, counts.in_windows, conf),
    }
