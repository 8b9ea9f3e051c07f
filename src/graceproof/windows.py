"""Which requests fell into the termination of a pod, and how many of them failed.

The termination window of a pod is where the race between endpoint removal and
process shutdown can hurt a client:

  start: the pod's `pod_deleted` event (deletionTimestamp set; endpoint removal and
         the preStop hook / SIGTERM begin together from here), or its `pod_disrupted`
         (a DisruptionTarget condition) when that came first, or a disruption event
         whose detail says STARTS_TERMINATION (node-shutdown's `shutdown_announced`):
         a pod the kubelet ends at its node's graceful shutdown is never deleted, and
         the kubelet tells the API nothing (condition, phase, readiness) until the pod
         has ended (measured on kind 1.34), so the announcement is its only true start;
  end:   the first sign, after the deletion, that the pod's process is gone:
         `app_exit` (the app's own log), `container_terminated` or `pod_gone`;
         plus `tail_s` (default 3 s). The tail is there because the typical
         negative-control failure happens *after* the process exited: kube-proxy
         still routes new connections to the dead pod for ~1-3 s, and those are
         refused. Without the tail those errors would fall outside every window.
         A pod never deleted begins to leave its endpoints only once it has ended, so
         its end is the later of that sign and its endpoint's first change
         (`endpoint_not_ready` or `endpoint_removed`), plus `tail_s`.

A pod that was deleted but has no end event in the timeline keeps its window open
until `until` (the end of the load), or its last event.

A request is inside a window when its span [t, t + duration] overlaps it, so a
request cut mid-flight by the exit counts even though it started earlier.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from graceproof.action_log import STARTS_TERMINATION
from graceproof.model import RequestRecord, TerminationWindow, TimelineEvent

__all__ = [
    "DEFAULT_TAIL_S",
    "END_KINDS",
    "STARTS_TERMINATION",
    "START_KINDS",
    "in_any_window",
    "termination_windows",
]

START_KINDS = ("pod_deleted", "pod_disrupted")
ENDPOINT_LEFT = ("endpoint_not_ready", "endpoint_removed")
END_KINDS = ("app_exit", "container_terminated", "pod_gone")
DEFAULT_TAIL_S = 3.0


def termination_windows(
    events: Iterable[TimelineEvent],
    *,
    tail_s: float = DEFAULT_TAIL_S,
    until: float | None = None,
) -> list[TerminationWindow]:
    """One window per deleted (or disrupted) pod, from its deletion to its process exit
    plus tail_s."""
    ordered = sorted(events, key=lambda e: e.t)
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    left: dict[str, float] = {}  # the endpoint's first change after the start
    deleted: set[str] = set()
    last_seen: dict[str, float] = {}
    for event in ordered:
        if event.pod is None:
            continue
        pod = event.pod
        last_seen[pod] = event.t
        if event.kind == "pod_deleted":
            deleted.add(pod)
        starts = event.kind in START_KINDS or (
            event.kind == "disruption" and bool(event.detail.get(STARTS_TERMINATION))
        )
        if starts and pod not in started:
            started[pod] = event.t
        elif pod in started and event.t >= started[pod]:
            if event.kind in END_KINDS and pod not in ended:
                ended[pod] = event.t
            elif event.kind in ENDPOINT_LEFT and pod not in left:
                left[pod] = event.t
    windows = []
    for pod, start in started.items():
        if pod in ended:
            end = ended[pod]
            if pod not in deleted and pod in left:
                end = max(end, left[pod])
            end += tail_s
        else:
            end = max(start, until if until is not None else last_seen[pod])
        windows.append(TerminationWindow(pod=pod, start=start, end=end))
    return sorted(windows, key=lambda w: (w.start, w.pod))


def in_any_window(record: RequestRecord, windows: Sequence[TerminationWindow]) -> bool:
    end = record.t + max(record.duration, 0.0)
    return any(record.t <= w.end and end >= w.start for w in windows)
