"""Which requests fell into the termination of a pod, and how many of them failed.

The termination window of a pod is where the race between endpoint removal and
process shutdown can hurt a client:

  start: the pod's `pod_deleted` event (deletionTimestamp set; endpoint removal and
         the preStop hook / SIGTERM begin together from here), or its `pod_disrupted`
         (a DisruptionTarget condition) when that came first, or graceproof's own
         `shutdown_announced` for it (a disruption event): a pod the kubelet ends at its
         node's graceful shutdown is never deleted, and the kubelet tells the API
         nothing (condition, phase, readiness) until the pod has ended (measured on kind
         1.34), so the announcement is its only true start;
  end:   the first sign, after the deletion, that the pod's process is gone:
         `app_exit` (the app's own log), `container_terminated` or `pod_gone`;
         plus `tail_s` (default 3 s). The tail is there because the typical
         negative-control failure happens *after* the process exited: kube-proxy
         still routes new connections to the dead pod for ~1-3 s, and those are
         refused. Without the tail those errors would fall outside every window.

A pod that was deleted but has no end event in the timeline keeps its window open
until `until` (the end of the load), or its last event.

A request is inside a window when its span [t, t + duration] overlaps it, so a
request cut mid-flight by the exit counts even though it started earlier.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from graceproof.model import RequestRecord, TerminationWindow, TimelineEvent

__all__ = [
    "DEFAULT_TAIL_S",
    "END_KINDS",
    "START_ACTIONS",
    "START_KINDS",
    "in_any_window",
    "termination_windows",
]

START_KINDS = ("pod_deleted", "pod_disrupted")
# Disruption actions that start a pod's termination without a deletion (detail action).
START_ACTIONS = ("shutdown_announced",)
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
    deleted: dict[str, float] = {}
    ended: dict[str, float] = {}
    last_seen: dict[str, float] = {}
    for event in ordered:
        if event.pod is None:
            continue
        last_seen[event.pod] = event.t
        starts = event.kind in START_KINDS or (
            event.kind == "disruption" and event.detail.get("action") in START_ACTIONS
        )
        if starts and event.pod not in deleted:
            deleted[event.pod] = event.t
        elif (
            event.kind in END_KINDS
            and event.pod in deleted
            and event.pod not in ended
            and event.t >= deleted[event.pod]
        ):
            ended[event.pod] = event.t
    windows = []
    for pod, start in deleted.items():
        if pod in ended:
            end = ended[pod] + tail_s
        else:
            end = max(start, until if until is not None else last_seen[pod])
        windows.append(TerminationWindow(pod=pod, start=start, end=end))
    return sorted(windows, key=lambda w: (w.start, w.pod))


def in_any_window(record: RequestRecord, windows: Sequence[TerminationWindow]) -> bool:
    end = record.t + max(record.duration, 0.0)
    return any(record.t <= w.end and end >= w.start for w in windows)
