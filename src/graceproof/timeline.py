"""Record what happens to pods, endpoints and the app during a run, from watches.

Each source runs in its own thread and appends TimelineEvents stamped with the host
clock at the moment the watch delivered them: API timestamps have one-second
resolution, the watch is sub-second. Sources:

- pods: created, scheduled (the node it runs on), Ready, deletion requested
  (deletionTimestamp set), container terminated (reason, exit code), gone;
- EndpointSlices of the service: ready / serving / terminating per pod, removal;
- Events of the namespace (Killing, FailedPreStopHook, ...);
- the app's own log lines (JSON with "event" and "t"): SIGTERM, exit, hook start and
  end (the exec hook writes to the app's stdout), heartbeats while shutting down.

What each watch event means is decided by PodTracker, EndpointTracker and EventTracker:
no API calls, no threads, no clock (the watch time `now` is passed in), so they are
tested with recorded watch events. TimelineRecorder only runs the watches and records
what the trackers return.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from graceproof.kube import Kube
from graceproof.model import TimelineEvent
from graceproof.waiting import pod_is_ready

# App log events -> timeline kinds; other app events keep their name as app_<event>.
_APP_EVENTS = {
    "sigterm": "sigterm",
    "exit": "app_exit",
    "hook_start": "hook_start",
    "hook_end": "hook_end",
}
_WATCH_SECONDS = 2  # each watch call returns this often, so stop() is prompt


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
    terminated: set[tuple[str, int]] = field(default_factory=set)  # (container, restarts)
    started: set[tuple[str, int]] = field(default_factory=set)  # (container, restarts)


class PodTracker:
    """Turns pod watch events into pod_* and container_terminated TimelineEvents.

    A watch repeats unchanged states and may deliver them late, so each fact is reported
    once per pod: its creation, its node (pod_scheduled, detail node), the deletion
    request, each container termination (per restart count); pod_ready on each change
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
        for cs in pod.status.container_statuses or []:
            out.extend(_start(name, st, cs, now))
            out.extend(_terminations(name, st, cs, now))
        return out


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


def _start(pod: str, st: _PodState, cs: Any, now: float) -> list[TimelineEvent]:
    """container_started, once per container and restart count, at the API's start time
    (any app gives it; the sample app's own log line is finer)."""
    running = cs.state.running if cs.state else None
    key = (cs.name, cs.restart_count)
    if running is None or key in st.started:
        return []
    st.started.add(key)
    detail = {"container": cs.name, "restart_count": cs.restart_count}
    return [TimelineEvent(_ts(running.started_at) or now, "container_started", pod, detail)]


def _terminations(pod: str, st: _PodState, cs: Any, now: float) -> list[TimelineEvent]:
    """container_terminated events of one V1ContainerStatus not reported yet."""
    out: list[TimelineEvent] = []
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


class TimelineRecorder:
    """Watches one namespace (and optionally one Service's EndpointSlices).

    Use as a context manager; `events()` returns what was seen, sorted by time.
    """

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        *,
        service: str | None = None,
        pod_selector: str | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.service = service
        # Which pods to follow: e.g. not the in-cluster load's own, whose deletion at
        # the end is no termination of the workload.
        self.pod_selector = pod_selector
        self._events: list[TimelineEvent] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._log_streams: list[Any] = []
        self._followed: set[tuple[str, str, int]] = set()
        self.errors: list[str] = []  # watch failures, reported with the result

    # public ------------------------------------------------------------------------
    def add(self, kind: str, pod: str | None = None, t: float | None = None, **detail: Any) -> None:
        self._record([TimelineEvent(time.time() if t is None else t, kind, pod, detail)])

    def events(self) -> list[TimelineEvent]:
        with self._lock:
            return sorted(self._events, key=lambda e: e.t)

    def of(self, kind: str, pod: str | None = None) -> list[TimelineEvent]:
        return [e for e in self.events() if e.kind == kind and (pod is None or e.pod == pod)]

    def start(self) -> TimelineRecorder:
        sources: list[Callable[[], None]] = [self._watch_pods, self._watch_events]
        if self.service:
            sources.append(self._watch_slices)
        for fn in sources:
            t = threading.Thread(
                target=self._guard(fn), name=f"timeline-{fn.__name__}", daemon=True
            )
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for resp in list(self._log_streams):
            # shutdown() ends a read blocked in another thread; close() would wait
            # for that thread's lock and hang.
            with contextlib.suppress(Exception):
                resp.shutdown()
        for t in self._threads:
            t.join(timeout=_WATCH_SECONDS + 3)

    def __enter__(self) -> TimelineRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # sources ------------------------------------------------------------------------
    def _guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception as exc:  # a dead watch must show in the result, not vanish
                if not self._stop.is_set():
                    self.errors.append(f"{fn.__name__}: {type(exc).__name__}: {exc}")

        return run

    def _stream(self, list_fn: Callable[..., Any], **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Watch events until stop(), resuming from the last resourceVersion."""
        rv: str | None = None
        while not self._stop.is_set():
            w = watch.Watch()  # type: ignore[no-untyped-call]
            try:
                for item in w.stream(  # type: ignore[no-untyped-call]
                    list_fn,
                    self.namespace,
                    timeout_seconds=_WATCH_SECONDS,
                    resource_version=rv,
                    allow_watch_bookmarks=False,
                    **kwargs,
                ):
                    obj = item["object"]
                    rv = obj.metadata.resource_version or rv
                    yield item
                    if self._stop.is_set():
                        w.stop()  # type: ignore[no-untyped-call]
                        break
            except ApiException as exc:
                if exc.status == 410:  # too old: list again
                    rv = None
                    continue
                raise

    def _record(self, events: Iterable[TimelineEvent]) -> None:
        with self._lock:
            self._events.extend(events)

    def _watch_pods(self) -> None:
        tracker = PodTracker()
        selector = {"label_selector": self.pod_selector} if self.pod_selector else {}
        for item in self._stream(self.kube.core.list_namespaced_pod, **selector):
            self._record(tracker.apply(item["type"], item["object"], time.time()))
            for pod, container, restart in running_containers(item["type"], item["object"]):
                self._follow(pod, container, restart)

    def _watch_events(self) -> None:
        tracker = EventTracker(started=time.time())
        for item in self._stream(self.kube.core.list_namespaced_event):
            self._record(tracker.apply(item["type"], item["object"], time.time()))

    def _watch_slices(self) -> None:
        tracker = EndpointTracker()
        selector = f"kubernetes.io/service-name={self.service}"
        for item in self._stream(
            self.kube.discovery.list_namespaced_endpoint_slice, label_selector=selector
        ):
            self._record(tracker.apply(item["type"], item["object"], time.time()))

    # app logs -----------------------------------------------------------------------
    def _follow(self, pod: str, container: str, restart: int) -> None:
        key = (pod, container, restart)
        if key in self._followed:
            return
        self._followed.add(key)
        t = threading.Thread(
            target=self._guard(lambda: self._read_log(pod, container)),
            name=f"timeline-log-{pod}",
            daemon=True,
        )
        t.start()
        self._threads.append(t)

    def _read_log(self, pod: str, container: str) -> None:
        try:
            resp = self.kube.core.read_namespaced_pod_log(
                pod, self.namespace, container=container, follow=True, _preload_content=False
            )
        except ApiException as exc:
            if exc.status in (400, 404):  # the container is already gone
                return
            raise
        self._log_streams.append(resp)
        buf = b""
        try:
            for chunk in resp.stream(4096):
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    self._app_line(pod, line)
                if self._stop.is_set():
                    break
        except Exception:
            if not self._stop.is_set():
                raise
        finally:
            if buf:
                self._app_line(pod, buf)
            with contextlib.suppress(Exception):
                resp.release_conn()

    def _app_line(self, pod: str, raw: bytes) -> None:
        try:
            obj = json.loads(raw)
        except ValueError:
            return
        if not isinstance(obj, dict) or "event" not in obj or "t" not in obj:
            return
        try:
            t = float(obj["t"])
        except (TypeError, ValueError):
            return
        event = str(obj["event"])
        kind = _APP_EVENTS.get(event, f"app_{event}")
        detail = {k: v for k, v in obj.items() if k not in ("event", "t", "pod")}
        self.add(kind, obj.get("pod") or pod, t, **detail)
