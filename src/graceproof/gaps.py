"""Where the timeline was blind: a source cut off from the API server for a while.

When the API server restarts or a connection drops, a watch (or an app log followed
through the API server) fails until the server answers again; the recorder
(graceproof.timeline) retries and resumes from where it was. What happened meanwhile
arrives when the source catches up, and the timeline stamps watch events with the
moment they were delivered: inside a gap, a pod's deletion, its endpoint's removal
or its exit carry the time of the catch-up, not the time they happened, so a
termination window built on them may start late, end late or be missing.

A gap is kept as a timeline event of kind `watch_gap` (detail: source, start, end,
error), so it travels with the measurement. A gap of a source that windows are built
from (JUDGED_SOURCES) that overlaps a termination window fails the verdict
(graceproof.verdict), and so does one that overlaps the disruption's own span: a pod
deleted and gone inside the gap leaves no window at all (after a 410 the watch lists
again, and a pod that is gone by then is simply not in the list), so the windows alone
cannot show that the gap hid one. Every other gap is only reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graceproof.model import TerminationWindow, TimelineEvent

__all__ = ["GAP_KIND", "JUDGED_SOURCES", "WatchGap", "describe_gaps", "gaps_of", "windows_across"]

GAP_KIND = "watch_gap"
# The sources whose delivery times make the windows: the pods watch (deletion, each
# container's end, the pod gone). An app log's lines carry the app's own times, and its
# replay after a cut reaches back to the cut; the endpointslices and events watches
# feed the propagation lag and the diagnostics, not the windows or the counts.
JUDGED_SOURCES = frozenset({"pods"})


@dataclass(frozen=True)
class WatchGap:
    """One source cut off: from the last moment it was known to be current to the
    moment a call of it went through again."""

    source: str  # pods, endpointslices, events, or "app log <pod>/<container>"
    start: float
    end: float
    error: str  # the failure that began it, e.g. "MaxRetryError: ... Connection refused"

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def judged(self) -> bool:
        """Whether a verdict may depend on what this source delivered inside it."""
        return self.source in JUDGED_SOURCES

    def overlaps(self, window: TerminationWindow) -> bool:
        return self.start <= window.end and self.end >= window.start

    def during(self, span: tuple[float, float] | None) -> bool:
        """Whether it overlaps `span` (the disruption, from its start to its end)."""
        return span is not None and self.start <= span[1] and self.end >= span[0]

    def event(self) -> TimelineEvent:
        """The timeline event that carries it, at its start."""
        return TimelineEvent(self.start, GAP_KIND, None, self.to_dict())

    def describe(self, t0: float) -> str:
        """`the pods watch was cut from +12.3 s to +19.8 s of the run (error)`."""
        what = self.source if self.source.startswith("app log") else f"{self.source} watch"
        return (
            f"the {what} was cut from +{self.start - t0:.1f} s to +{self.end - t0:.1f} s "
            f"of the run ({self.error})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "start": self.start, "end": self.end, "error": self.error}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WatchGap:
        return cls(
            source=str(d["source"]),
            start=float(d["start"]),
            end=float(d["end"]),
            error=str(d.get("error") or ""),
        )


def gaps_of(events: Iterable[TimelineEvent]) -> list[WatchGap]:
    """The gaps a timeline carries, in time order."""
    gaps = [WatchGap.from_dict(e.detail) for e in events if e.kind == GAP_KIND]
    return sorted(gaps, key=lambda g: (g.start, g.source))


def windows_across(gap: WatchGap, windows: Sequence[TerminationWindow]) -> list[TerminationWindow]:
    """The termination windows a gap overlaps: those it makes untrustworthy."""
    return [w for w in windows if gap.overlaps(w)]


def describe_gaps(
    gaps: Sequence[WatchGap],
    windows: Sequence[TerminationWindow],
    t0: float,
    span: tuple[float, float] | None = None,
) -> str:
    """Each gap, and the windows it overlaps (else the disruption's `span`, when it
    overlaps that), for a verdict: `...; ...`."""
    parts = []
    for gap in gaps:
        across = windows_across(gap, windows)
        text = gap.describe(t0)
        if across:
            text += ", across the termination window of " + ", ".join(
                f"pod {w.pod} (+{w.start - t0:.1f} s to +{w.end - t0:.1f} s)" for w in across
            )
        elif span is not None and gap.judged and gap.during(span):
            text += (
                f", while the disruption acted (+{span[0] - t0:.1f} s to +{span[1] - t0:.1f} s), "
                "where a pod deleted and gone inside the gap leaves no window"
            )
        parts.append(text)
    return "; ".join(parts)
