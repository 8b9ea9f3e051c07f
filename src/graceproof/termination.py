"""Watch one pod die: deploy it, delete it, record every step of its termination.

    trace = observe_termination(kube, ns, render_pod("prestop-exec", name="p", image=img))
    trace.since_deletion("sigterm")   # seconds from the delete call to the app's SIGTERM

Times are relative to the moment graceproof asked the API server to delete the pod,
so the figures read as "what happened how long after `kubectl delete`".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graceproof.errors import TimelineError
from graceproof.kube import Kube
from graceproof.model import TimelineEvent
from graceproof.timeline import TimelineRecorder
from graceproof.waiting import pod_gone, pod_ready

# The steps of one termination, in the order the common description gives them.
ORDER = (
    "pod_deleted",
    "endpoint_not_ready",
    "hook_start",
    "hook_end",
    "sigterm",
    "app_exit",
    "container_terminated",
    "pod_gone",
)


@dataclass
class TerminationTrace:
    pod: str
    deleted_at: float  # when graceproof sent the delete
    events: list[TimelineEvent] = field(default_factory=list)

    def first(self, kind: str, after: float | None = None) -> TimelineEvent | None:
        for e in self.events:
            if e.kind == kind and e.pod == self.pod and (after is None or e.t >= after):
                return e
        return None

    def last(self, kind: str) -> TimelineEvent | None:
        found = [e for e in self.events if e.kind == kind and e.pod == self.pod]
        return found[-1] if found else None

    def since_deletion(self, kind: str) -> float | None:
        e = self.first(kind, after=self.deleted_at)
        return None if e is None else e.t - self.deleted_at

    def k8s_events(self, reason: str) -> list[TimelineEvent]:
        return [
            e
            for e in self.events
            if e.kind == "k8s_event" and e.pod == self.pod and e.detail.get("reason") == reason
        ]

    def figures(self) -> dict[str, float | None]:
        """Seconds from the delete call to each step of ORDER (None: not seen)."""
        return {k: self.since_deletion(k) for k in ORDER[1:]}


def observe_termination(
    kube: Kube,
    namespace: str,
    pod_manifest: Mapping[str, Any],
    *,
    service: Mapping[str, Any] | None = None,
    ready_timeout: float = 120,
    gone_timeout: float = 120,
    during: Callable[[TerminationTrace], None] | None = None,
    running_for: float = 0.0,
) -> TerminationTrace:
    """Create the pod (and a Service selecting it, for endpoint events), wait until it
    is Ready, delete it with its own grace period, and record until it is gone.

    `during` runs right after the delete call, while the pod terminates (e.g. an exec).
    `running_for` lets the pod serve that long after Ready before it is deleted.
    """
    name = str(pod_manifest["metadata"]["name"])
    docs = [pod_manifest] if service is None else [pod_manifest, service]
    svc_name = None if service is None else str(service["metadata"]["name"])
    with TimelineRecorder(kube, namespace, service=svc_name) as rec:
        kube.apply(docs, namespace)
        pod_ready(kube.core, namespace, name).wait(timeout=ready_timeout)
        if svc_name is not None:
            _wait_endpoint_ready(rec, name)
        time.sleep(running_for)  # part of the experiment: how long the pod has run
        deleted_at = time.time()
        rec.add("disruption", name, deleted_at, action="delete")
        kube.core.delete_namespaced_pod(name, namespace)
        trace = TerminationTrace(pod=name, deleted_at=deleted_at)
        if during is not None:
            during(trace)
        pod_gone(kube.core, namespace, name).wait(timeout=gone_timeout)
        # The poll saw the pod gone; the watch's own events of it (and of its endpoint)
        # come a moment later, and stop() ends the watch at once: wait for them.
        last = ["pod_gone", *(["endpoint_removed"] if svc_name is not None else [])]
        _wait_events(rec, name, last)
    if rec.errors:
        raise TimelineError(rec.errors)
    trace.events = rec.events()
    return trace


def _wait_events(rec: TimelineRecorder, pod: str, kinds: list[str], timeout: float = 15) -> None:
    from graceproof.waiting import wait_for

    wait_for(
        lambda: True if all(rec.of(k, pod) for k in kinds) else None,
        what=f"the timeline's {' and '.join(kinds)} of {pod}",
        timeout=timeout,
        interval=0.05,
    )


def _wait_endpoint_ready(rec: TimelineRecorder, pod: str, timeout: float = 30) -> None:
    from graceproof.waiting import wait_for

    wait_for(
        lambda: True if rec.of("endpoint_ready", pod) else None,
        what=f"the endpoint of {pod} to be ready",
        timeout=timeout,
        interval=0.1,
    )
