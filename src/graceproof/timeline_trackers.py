"""What each watch event of a run means, as TimelineEvents: PodTracker (pods),
EndpointTracker (a Service's EndpointSlices) and EventTracker (the namespace's Events).

No API calls, no threads, no clock (the watch time `now` is passed in), so they are
tested with recorded watch events; graceproof.timeline.TimelineRecorder runs the
watches and records what they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graceproof.model import TimelineEvent
from graceproof.waiting import pod_is_ready

__all__ = ["EndpointTracker", "EventTracker", "PodTracker", "running_containers"]


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class _PodState:
    created: bool = False
    node: str | None = None  # spec.nodeName once scheduled
    ready: bool = False
    deleted: bool = False
    disrupted: bool = False  # a DisruptionTarget condition seen
    terminated: set[tuple[str, int]] = field(default_factory=set)  # (container, restarts)
    started: set[tuple[str, int]] = field(default_factory=set)  # (container, restarts)


class PodTracker:
    """Turns pod watch events into pod_* and container_terminated TimelineEvents.

    A watch repeats unchanged states and may deliver them late, so each fact is reported
    once per pod: its creation, its node (pod_scheduled, detail node), the deletion
    request, its DisruptionTarget condition (pod_disrupted: how a pod that no one deletes,
    such as one the kubelet ends at a node's shutdown, starts terminating), each
    container termination (per restart count); pod_ready on each change
    of Ready to True; pod_gone on each DELETED, after a pod_deleted when no earlier
    event showed the deletion of a pod removed with grace 0 (a force delete).
    """

    def __init__(self) -> None:
        self._pods: dict[str, _PodState] = {}

    def apply(self, watch_type: str, pod: Any, now: float) -> list[TimelineEvent]:
        """Events for one watch event (`pod` is a V1Pod) delivered at `now`."""
        name = pod.metadata.name
        st = self._pods.setdefault(name, _PodState())
        if watch_type == "DELETED":
            return [*_forced(name, st, pod, now), TimelineEvent(now, "pod_gone", name)]
        out: list[TimelineEvent] = []
        if not st.created:
            st.created = True
            created = _ts(pod.metadata.creation_timestamp) or now
            out.append(TimelineEvent(created, "pod_created", name))
        node = pod.spec.node_name if pod.spec is not None else None
        if node and node != st.node:
            # The node a pod runs on never changes; a replacement is a new pod, so this
            # is reported once per pod, at the watch time it was first seen bound.
            st.node = node
            out.append(TimelineEvent(now, "pod_scheduled", name, {"node": node}))
        ready = pod_is_ready(pod)
        if ready and not st.ready:
            out.append(TimelineEvent(now, "pod_ready", name))
        st.ready = ready
        if pod.metadata.deletion_timestamp is not None and not st.deleted:
            st.deleted = True
            detail = {
                "grace_seconds": pod.metadata.deletion_grace_period_seconds,
                "deletion_timestamp": str(pod.metadata.deletion_timestamp),
            }
            out.append(TimelineEvent(now, "pod_deleted", name, detail))
        if not st.disrupted:
            out.extend(_disrupted(name, st, pod, now))
        for cs in pod.status.container_statuses or []:
            out.extend(_start(name, st, cs, now))
            out.extend(_terminations(name, st, cs, now))
        for cs in _sidecar_statuses(pod):
            out.extend(_start(name, st, cs, now, sidecar=True))
            out.extend(_terminations(name, st, cs, now, sidecar=True))
        return out


def _disrupted(name: str, st: _PodState, pod: Any, now: float) -> list[TimelineEvent]:
    """pod_disrupted when the pod's DisruptionTarget condition turns True: who is taking
    it down and why (reason TerminationByKubelet and the message "Pod was terminated in
    response to imminent node shutdown." for a graceful node shutdown, which deletes no
    pod; EvictionByEvictionAPI, PreemptionByScheduler, DeletionByTaintManager...)."""
    for c in pod.status.conditions or []:
        if c.type == "DisruptionTarget" and c.status == "True":
            st.disrupted = True
            detail = {"reason": c.reason, "message": c.message, "pod_reason": pod.status.reason}
            return [TimelineEvent(now, "pod_disrupted", name, detail)]
    return []


def _sidecar_statuses(pod: Any) -> list[Any]:
    """The statuses of the pod's native sidecars (init containers with `restartPolicy:
    Always`), which run beside the app and end after it. Other init containers ended
    before the pod ever served: their ends are no part of a termination."""
    inits = (pod.spec.init_containers if pod.spec is not None else None) or []
    sidecars = {c.name for c in inits if c.restart_policy == "Always"}
    return [cs for cs in pod.status.init_container_statuses or [] if cs.name in sidecars]


def _forced(pod: str, st: _PodState, obj: Any, now: float) -> list[TimelineEvent]:
    """pod_deleted for a pod removed with grace period 0 whose deletion no earlier watch
    event showed (a force delete may remove it at once): without it the pod would have
    no termination window. The kubelet also removes a gracefully ended pod with grace
    0, but by then its deletion was seen and reported.

    A pod never scheduled ran nothing, and a pod that had Succeeded or Failed had
    stopped serving already: neither had requests to lose, so a window would be false."""
    if st.deleted or obj.metadata.deletion_grace_period_seconds != 0:
        return []
    node = (obj.spec.node_name if obj.spec is not None else None) or st.node
    phase = obj.status.phase if obj.status is not None else None
    if not node or phase in ("Succeeded", "Failed"):
        return []
    st.deleted = True
    detail = {
        "grace_seconds": 0,
        "deletion_timestamp": str(obj.metadata.deletion_timestamp),
        "seen_at_removal": True,
    }
    return [TimelineEvent(now, "pod_deleted", pod, detail)]


def _start(
    pod: str, st: _PodState, cs: Any, now: float, *, sidecar: bool = False
) -> list[TimelineEvent]:
    """container_started, once per container and restart count, at the API's start time
    (any app gives it; the sample app's own log line is finer). A native sidecar's
    detail says `sidecar`."""
    running = cs.state.running if cs.state else None
    key = (cs.name, cs.restart_count)
    if running is None or key in st.started:
        return []
    st.started.add(key)
    detail: dict[str, Any] = {"container": cs.name, "restart_count": cs.restart_count}
    if sidecar:
        detail["sidecar"] = True
    return [TimelineEvent(_ts(running.started_at) or now, "container_started", pod, detail)]


def _terminations(
    pod: str, st: _PodState, cs: Any, now: float, *, sidecar: bool = False
) -> list[TimelineEvent]:
    """container_terminated events of one V1ContainerStatus not reported yet (a native
    sidecar's detail says `sidecar`)."""
    out: list[TimelineEvent] = []
    mark = {"sidecar": True} if sidecar else {}
    term = cs.state.terminated if cs.state else None
    key = (cs.name, cs.restart_count)
    if term is not None and key not in st.terminated:
        st.terminated.add(key)
        detail = {
            "container": cs.name,
            "reason": term.reason,
            "exit_code": term.exit_code,
            "started_at": _ts(term.started_at),
            "finished_at": _ts(term.finished_at),
            **mark,
        }
        out.append(TimelineEvent(now, "container_terminated", pod, detail))
    # Containers restarted in place also report the last termination.
    last = cs.last_state.terminated if cs.last_state else None
    lkey = (cs.name, cs.restart_count - 1)
    if last is not None and cs.restart_count > 0 and lkey not in st.terminated:
        st.terminated.add(lkey)
        detail = {
            "container": cs.name,
            "reason": last.reason,
            "exit_code": last.exit_code,
            "restart_count": cs.restart_count,
            **mark,
        }
        t = _ts(last.finished_at) or now
        out.append(TimelineEvent(t, "container_terminated", pod, detail))
    return out


def running_containers(watch_type: str, pod: Any) -> list[tuple[str, str, int]]:
    """(pod, container, restart count) of each running container of a V1Pod: the logs
    to follow. A DELETED event follows nothing.
    """
    if watch_type == "DELETED":
        return []
    return [
        (pod.metadata.name, cs.name, cs.restart_count)
        for cs in pod.status.container_statuses or []
        if cs.state and cs.state.running
    ]


class EndpointTracker:
    """Turns EndpointSlice watch events of one Service into endpoint_* TimelineEvents.

    A pod's endpoint is the union over all slices of the Service (a later slice wins),
    so a pod moving between slices is not reported as removed. endpoint_ready and
    endpoint_not_ready are reported when readiness changes (or the endpoint appears),
    endpoint_removed when the pod is in no slice any more.
    """

    def __init__(self) -> None:
        self._slices: dict[str, dict[str, dict[str, Any]]] = {}
        self._endpoints: dict[str, dict[str, Any]] = {}

    def apply(self, watch_type: str, endpoint_slice: Any, now: float) -> list[TimelineEvent]:
        """Events for one watch event (`endpoint_slice` is a V1EndpointSlice) at `now`."""
        name = endpoint_slice.metadata.name
        if watch_type == "DELETED":
            self._slices.pop(name, None)
        else:
            self._slices[name] = _slice_entries(endpoint_slice)
        union: dict[str, dict[str, Any]] = {}
        for entries in self._slices.values():
            union.update(entries)
        out: list[TimelineEvent] = []
        for pod, cond in union.items():
            before = self._endpoints.get(pod)
            if cond["ready"] and (before is None or not before["ready"]):
                out.append(TimelineEvent(now, "endpoint_ready", pod, dict(cond)))
            elif not cond["ready"] and (before is None or before["ready"]):
                out.append(TimelineEvent(now, "endpoint_not_ready", pod, dict(cond)))
        gone = [pod for pod in self._endpoints if pod not in union]
        out.extend(TimelineEvent(now, "endpoint_removed", pod) for pod in gone)
        self._endpoints = union
        return out


def _slice_entries(endpoint_slice: Any) -> dict[str, dict[str, Any]]:
    """Conditions and addresses per pod of one V1EndpointSlice (other targets ignored)."""
    entries: dict[str, dict[str, Any]] = {}
    for ep in endpoint_slice.endpoints or []:
        ref = ep.target_ref
        if ref is None or ref.kind != "Pod":
            continue
        c = ep.conditions
        entries[ref.name] = {
            "ready": bool(c and c.ready),
            "serving": bool(c and c.serving),
            "terminating": bool(c and c.terminating),
            "addresses": list(ep.addresses or []),
        }
    return entries


class EventTracker:
    """Turns Event watch events into k8s_event TimelineEvents.

    An Event is reported once per (uid, count): a watch repeats it, and a repeated
    occurrence raises its count. Events from before `started` (the recorder's start,
    less one second for the API's resolution) keep their coarse API time; newer ones
    get the watch time.
    """

    def __init__(self, started: float) -> None:
        self.started = started
        self._seen: set[tuple[str, int]] = set()

    def apply(self, watch_type: str, ev: Any, now: float) -> list[TimelineEvent]:
        """Events for one watch event (`ev` is a CoreV1Event) delivered at `now`."""
        if watch_type == "DELETED":
            return []
        key = (ev.metadata.uid, ev.count or 1)
        if key in self._seen:
            return []
        self._seen.add(key)
        api_t = _ts(ev.event_time) or _ts(ev.last_timestamp) or _ts(ev.first_timestamp)
        t = now if (api_t is None or api_t >= self.started - 1) else api_t
        involved = ev.involved_object
        detail = {
            "reason": ev.reason,
            "message": ev.message,
            "type": ev.type,
            "count": ev.count,
            "object": f"{involved.kind}/{involved.name}" if involved else None,
        }
        pod = involved.name if involved and involved.kind == "Pod" else None
        return [TimelineEvent(t, "k8s_event", pod, detail)]
