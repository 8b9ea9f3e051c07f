"""Record what happens to pods, endpoints and the app during a run, from watches.

Each source runs in its own thread and appends TimelineEvents stamped with the host
clock at the moment the watch delivered them: API timestamps have one-second
resolution, the watch is sub-second. Sources:

- pods: created, Ready, deletion requested (deletionTimestamp set), container
  terminated (reason, exit code), gone;
- EndpointSlices of the service: ready / serving / terminating per pod, removal;
- Events of the namespace (Killing, FailedPreStopHook, ...);
- the app's own log lines (JSON with "event" and "t"): SIGTERM, exit, hook start and
  end (the exec hook writes to the app's stdout), heartbeats while shutting down.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from graceproof.kube import Kube
from graceproof.model import TimelineEvent

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
        follow_logs: bool = True,
        on_event: Callable[[TimelineEvent], None] | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.service = service
        self.follow_logs = follow_logs
        self.on_event = on_event
        self._events: list[TimelineEvent] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._log_streams: list[Any] = []
        self._followed: set[tuple[str, str, int]] = set()
        self._pods: dict[str, dict[str, Any]] = {}
        self._slices: dict[str, dict[str, dict[str, Any]]] = {}
        self._endpoints: dict[str, dict[str, Any]] = {}
        self._seen_events: set[tuple[str, int]] = set()
        self.errors: list[str] = []  # watch failures, reported with the result

    # public ------------------------------------------------------------------------
    def add(self, kind: str, pod: str | None = None, t: float | None = None, **detail: Any) -> None:
        ev = TimelineEvent(t=time.time() if t is None else t, kind=kind, pod=pod, detail=detail)
        with self._lock:
            self._events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)

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

    def _watch_pods(self) -> None:
        for item in self._stream(self.kube.core.list_namespaced_pod):
            pod = item["object"]
            name = pod.metadata.name
            now = time.time()
            st = self._pods.setdefault(
                name, {"ready": False, "deleted": False, "terminated": set()}
            )
            if item["type"] == "DELETED":
                self.add("pod_gone", name, now)
                continue
            if not st.get("created"):
                st["created"] = True
                self.add("pod_created", name, _ts(pod.metadata.creation_timestamp) or now)
            ready = any(
                c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [])
            )
            if ready and not st["ready"]:
                self.add("pod_ready", name, now)
            st["ready"] = ready
            if pod.metadata.deletion_timestamp is not None and not st["deleted"]:
                st["deleted"] = True
                self.add(
                    "pod_deleted",
                    name,
                    now,
                    grace_seconds=pod.metadata.deletion_grace_period_seconds,
                    deletion_timestamp=str(pod.metadata.deletion_timestamp),
                )
            for cs in pod.status.container_statuses or []:
                term = cs.state.terminated if cs.state else None
                key = (cs.name, cs.restart_count)
                if term is not None and key not in st["terminated"]:
                    st["terminated"].add(key)
                    self.add(
                        "container_terminated",
                        name,
                        now,
                        container=cs.name,
                        reason=term.reason,
                        exit_code=term.exit_code,
                        started_at=_ts(term.started_at),
                        finished_at=_ts(term.finished_at),
                    )
                # Containers restarted in place also report the last termination.
                last = cs.last_state.terminated if cs.last_state else None
                lkey = (cs.name, cs.restart_count - 1)
                if last is not None and cs.restart_count > 0 and lkey not in st["terminated"]:
                    st["terminated"].add(lkey)
                    self.add(
                        "container_terminated",
                        name,
                        _ts(last.finished_at) or now,
                        container=cs.name,
                        reason=last.reason,
                        exit_code=last.exit_code,
                        restart_count=cs.restart_count,
                    )
                if self.follow_logs and cs.state and cs.state.running:
                    self._follow(name, cs.name, cs.restart_count)

    def _watch_events(self) -> None:
        started = time.time()
        for item in self._stream(self.kube.core.list_namespaced_event):
            ev = item["object"]
            if item["type"] == "DELETED":
                continue
            key = (ev.metadata.uid, ev.count or 1)
            if key in self._seen_events:
                continue
            self._seen_events.add(key)
            api_t = _ts(ev.event_time) or _ts(ev.last_timestamp) or _ts(ev.first_timestamp)
            now = time.time()
            # Events older than the recorder keep their (coarse) API time.
            t = now if (api_t is None or api_t >= started - 1) else api_t
            involved = ev.involved_object
            self.add(
                "k8s_event",
                involved.name if involved and involved.kind == "Pod" else None,
                t,
                reason=ev.reason,
                message=ev.message,
                type=ev.type,
                count=ev.count,
                object=f"{involved.kind}/{involved.name}" if involved else None,
            )

    def _watch_slices(self) -> None:
        selector = f"kubernetes.io/service-name={self.service}"
        for item in self._stream(
            self.kube.discovery.list_namespaced_endpoint_slice, label_selector=selector
        ):
            sl = item["object"]
            now = time.time()
            if item["type"] == "DELETED":
                self._slices.pop(sl.metadata.name, None)
            else:
                entries: dict[str, dict[str, Any]] = {}
                for ep in sl.endpoints or []:
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
                self._slices[sl.metadata.name] = entries
            union: dict[str, dict[str, Any]] = {}
            for entries in self._slices.values():
                union.update(entries)
            for pod, cond in union.items():
                before = self._endpoints.get(pod)
                if cond["ready"] and (before is None or not before["ready"]):
                    self.add("endpoint_ready", pod, now, **cond)
                elif not cond["ready"] and (before is None or before["ready"]):
                    self.add("endpoint_not_ready", pod, now, **cond)
            for pod in set(self._endpoints) - set(union):
                self.add("endpoint_removed", pod, now)
            self._endpoints = union

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
