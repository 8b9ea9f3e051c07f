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

What each watch event means is decided by the trackers (graceproof.timeline_trackers);
TimelineRecorder only runs the watches and records what the trackers return.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from graceproof.kube import Kube
from graceproof.model import TimelineEvent
from graceproof.timeline_trackers import (
    EndpointTracker,
    EventTracker,
    PodTracker,
    running_containers,
)

__all__ = ["TimelineRecorder"]

# App log events -> timeline kinds; other app events keep their name as app_<event>.
_APP_EVENTS = {
    "sigterm": "sigterm",
    "exit": "app_exit",
    "hook_start": "hook_start",
    "hook_end": "hook_end",
}
_WATCH_SECONDS = 2  # each watch call returns this often, so stop() is prompt


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
