"""Record what happens to pods, endpoints and the app during a run, from watches.

Each source runs in its own thread and appends TimelineEvents stamped with the host
clock at the moment the watch delivered them: API timestamps have one-second
resolution, the watch is sub-second. Sources:

- pods: created, scheduled (the node it runs on), Ready, deletion requested
  (deletionTimestamp set), container terminated (reason, exit code), gone;
- EndpointSlices of the service: ready / serving / terminating per pod, removal;
- Events of the namespace (Killing, FailedPreStopHook, ...);
- the app's own log lines (JSON with "event" and "t"): SIGTERM, exit, hook start and
  end (the exec hook writes to the app's stdout), heartbeats while shutting down, its
  outbound calls (one line each, when it makes them).

What each watch event means is decided by the trackers (graceproof.timeline_trackers);
TimelineRecorder only runs the watches and records what the trackers return.

A source that loses the API server (a restart, a connection reset) retries with a
short backoff and resumes from where it was, for up to _OUTAGE_BOUND_S; the time it
was cut off is recorded as a gap (graceproof.gaps), because what it delivers on
catching up carries the time of the catch-up. Longer, or an answer that waiting will
not change (a 403, a 404), and the source is dead: its error goes to `errors`.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from graceproof.errors import WatchOutageError
from graceproof.gaps import WatchGap
from graceproof.kube import Kube
from graceproof.log_signals import signal_line
from graceproof.model import TimelineEvent
from graceproof.timeline_trackers import (
    EndpointTracker,
    EventTracker,
    PodTracker,
    running_containers,
)
from graceproof.waiting import DEFAULT_TRANSIENT, is_transient

__all__ = ["TimelineRecorder"]

# App log events -> timeline kinds; other app events keep their name as app_<event>.
_APP_EVENTS = {
    "sigterm": "sigterm",
    "exit": "app_exit",
    "hook_start": "hook_start",
    "hook_end": "hook_end",
    "outbound": "outbound_call",
}
_WATCH_SECONDS = 2  # each watch call returns this often, so stop() is prompt
# A watch call that connects but then hears nothing (not even its end after
# _WATCH_SECONDS) is on a dead connection: give up on it after this, and reconnect.
_REQUEST_TIMEOUT = (5.0, _WATCH_SECONDS + 5.0)
# Retrying a source that lost the API server: 0.2 s, doubling up to 2 s, for at most
# _OUTAGE_BOUND_S from the last moment it was current; a restarting API server
# answers again within seconds, one that does not is an error of the run.
_BACKOFF_FIRST_S = 0.2
_BACKOFF_MAX_S = 2.0
_OUTAGE_BOUND_S = 60.0
# A followed log resumes with the lines of this many seconds more than it missed
# (sinceSeconds is whole seconds, and the kubelet stamps lines itself); the lines
# already seen are skipped.
_LOG_REPLAY_MARGIN_S = 2
# A followed log that ends cleanly ended with its container when the API server says
# so within this long (the kubelet's status update trails the stream's end by about a
# second: its pod lifecycle events); asked every _LOG_END_POLL_S.
_LOG_END_SETTLE_S = 10.0
_LOG_END_POLL_S = 0.25


@dataclass
class _Cut:
    """A source's outage in progress: since when it saw nothing, and why."""

    source: str
    start: float
    error: str
    attempts: int = 0

    def next_delay(self) -> float:
        self.attempts += 1
        return float(min(_BACKOFF_FIRST_S * 2 ** (self.attempts - 1), _BACKOFF_MAX_S))


def _brief(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reconnectable(exc: BaseException, cut: bool) -> bool:
    """Whether waiting may fix `exc`: a connection that failed, a 5xx or a 429. While
    a source is already cut off, also a 401 or 403: an API server that has just
    started may refuse before its authenticators and RBAC caches are ready."""
    if isinstance(exc, ApiException) and exc.status in (401, 403):
        return cut
    return is_transient(exc, DEFAULT_TRANSIENT)


class _StreamEnded(ConnectionError):
    """A followed log that ended while its container still ran."""

    def __init__(self, pod: str, container: str) -> None:
        super().__init__(f"the log stream of {pod}/{container} ended while the container ran")


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
        self._watches: set[watch.Watch] = set()  # the calls in flight, ended by stop()
        self._followed: set[tuple[str, str, int]] = set()
        self._app_lines: set[tuple[str, bytes]] = set()  # (pod, line): a replay skips them
        self.errors: list[str] = []  # watch failures, reported with the result
        # Each time a source was cut off and came back (also in the timeline).
        self.gaps: list[WatchGap] = []

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
                target=self._guard(fn, fn.__name__), name=f"timeline-{fn.__name__}", daemon=True
            )
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        # A watch call waits for its next event or its end (_WATCH_SECONDS); ending
        # each call now (the client shuts its socket down) returns at once instead of
        # up to 2 s later, which every proof paid after its measurement.
        with self._lock:
            calls = list(self._watches)
        for w in calls:
            with contextlib.suppress(Exception):
                w.stop()  # type: ignore[no-untyped-call]
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
    def _guard(self, fn: Callable[[], None], name: str) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception as exc:  # a dead watch must show in the result, not vanish
                if not self._stop.is_set():
                    self.errors.append(f"{name}: {type(exc).__name__}: {exc}")

        return run

    def _retry(self, cut: _Cut | None, source: str, exc: Exception, last_ok: float) -> _Cut:
        """After a failed call of `source`: wait before the next one, and return the
        outage it belongs to (begun at `last_ok` when new). Raises `exc` when waiting
        will not help, WatchOutageError when the outage has lasted too long."""
        if not _reconnectable(exc, cut is not None):
            raise exc
        if cut is None:
            cut = _Cut(source, last_ok, _brief(exc))
        lasted = time.time() - cut.start
        if lasted > _OUTAGE_BOUND_S:
            raise WatchOutageError(source, lasted, cut.attempts, _brief(exc)) from exc
        self._stop.wait(cut.next_delay())
        return cut

    def _close(self, cut: _Cut, end: float) -> None:
        gap = WatchGap(cut.source, cut.start, end, cut.error)
        with self._lock:
            self.gaps.append(gap)
        self._record([gap.event()])

    def _stream(
        self, source: str, list_fn: Callable[..., Any], **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Watch events until stop(), resuming from the last resourceVersion, also
        after a lost connection (a gap: see _retry)."""
        rv: str | None = None
        cut: _Cut | None = None
        while not self._stop.is_set():
            last_ok = time.time()  # the previous call ended well: current until now
            w = watch.Watch()  # type: ignore[no-untyped-call]
            with self._lock:
                self._watches.add(w)
            if self._stop.is_set():  # stop() ran before this call was registered
                break
            try:
                for item in w.stream(  # type: ignore[no-untyped-call]
                    list_fn,
                    self.namespace,
                    timeout_seconds=_WATCH_SECONDS,
                    resource_version=rv,
                    allow_watch_bookmarks=False,
                    _request_timeout=_REQUEST_TIMEOUT,
                    **kwargs,
                ):
                    obj = item["object"]
                    rv = obj.metadata.resource_version or rv
                    yield item
                    last_ok = time.time()
                    if self._stop.is_set():
                        w.stop()  # type: ignore[no-untyped-call]
                        break
            except ApiException as exc:
                if self._stop.is_set():
                    break
                if exc.status == 410:  # too old (an API server restarted): list again
                    rv = None
                    continue
                cut = self._retry(cut, source, exc, last_ok)
                continue
            except Exception as exc:
                if self._stop.is_set():  # stop() shut the call's socket: no outage
                    break
                cut = self._retry(cut, source, exc, last_ok)
                continue
            finally:
                with self._lock:
                    self._watches.discard(w)
            if cut is not None:
                # Not at the first event after the outage but at the end of the call:
                # the catch-up it delivered first is stamped with its own arrival, and
                # belongs inside the gap.
                self._close(cut, time.time())
                cut = None
        if cut is not None:  # stopped while cut off: blind until the end
            self._close(cut, time.time())

    def _record(self, events: Iterable[TimelineEvent]) -> None:
        with self._lock:
            self._events.extend(events)

    def _watch_pods(self) -> None:
        tracker = PodTracker()
        selector = {"label_selector": self.pod_selector} if self.pod_selector else {}
        for item in self._stream("pods", self.kube.core.list_namespaced_pod, **selector):
            self._record(tracker.apply(item["type"], item["object"], time.time()))
            for pod, container, restart in running_containers(item["type"], item["object"]):
                self._follow(pod, container, restart)

    def _watch_events(self) -> None:
        tracker = EventTracker(started=time.time())
        for item in self._stream("events", self.kube.core.list_namespaced_event):
            self._record(tracker.apply(item["type"], item["object"], time.time()))

    def _watch_slices(self) -> None:
        tracker = EndpointTracker()
        selector = f"kubernetes.io/service-name={self.service}"
        for item in self._stream(
            "endpointslices",
            self.kube.discovery.list_namespaced_endpoint_slice,
            label_selector=selector,
        ):
            self._record(tracker.apply(item["type"], item["object"], time.time()))

    # app logs -----------------------------------------------------------------------
    def _follow(self, pod: str, container: str, restart: int) -> None:
        key = (pod, container, restart)
        if key in self._followed:
            return
        self._followed.add(key)
        t = threading.Thread(
            target=self._guard(
                lambda: self._read_log(pod, container, restart), f"log {pod}/{container}"
            ),
            name=f"timeline-log-{pod}",
            daemon=True,
        )
        t.start()
        self._threads.append(t)

    def _read_log(self, pod: str, container: str, restart: int = 0) -> None:
        """Follow a container's log until it ends (the container exited) or stop().
        A lost connection is a gap: the log is followed again with the lines since
        the cut (their times are the app's own, so only lost lines would hurt)."""
        source = f"app log {pod}/{container}"
        cut: _Cut | None = None
        since: dict[str, int] = {}
        progress = [time.time()]  # the last moment the log was current
        while not self._stop.is_set():
            progress[0] = time.time()
            if cut is not None:  # the replay reaches back to the cut, however long it was
                since = {"since_seconds": math.ceil(time.time() - cut.start) + _LOG_REPLAY_MARGIN_S}
            try:
                resp = self.kube.core.read_namespaced_pod_log(
                    pod,
                    self.namespace,
                    container=container,
                    follow=True,
                    _preload_content=False,
                    **since,
                )
            except ApiException as exc:
                if exc.status in (400, 404):  # the container is already gone
                    if cut is not None:  # what it wrote since the cut is lost
                        self._close(cut, time.time())
                    return
                cut = self._retry(cut, source, exc, progress[0])
                continue
            except Exception as exc:
                cut = self._retry(cut, source, exc, progress[0])
                continue
            if cut is not None:  # its replay covers the cut
                self._close(cut, time.time())
                cut = None
            self._log_streams.append(resp)
            try:
                self._read_lines(pod, container, resp, progress)
                ended = time.time()  # the cut, if it is one, begins here, not after the check
                if self._stop.is_set() or self._ended_with_container(pod, container, restart):
                    return
                # A clean end while the container still runs: the API server or the
                # kubelet closed the stream (a restart, an idle timeout), not the app.
                # What it writes from here is followed again, as after a cut.
                cut = self._retry(cut, source, _StreamEnded(pod, container), ended)
            except Exception as exc:
                if self._stop.is_set():
                    return
                # A followed stream was current until it broke (an idle app writes no
                # line for minutes; its last line is not when the cut began).
                cut = self._retry(cut, source, exc, time.time())
            finally:
                with contextlib.suppress(Exception):
                    resp.release_conn()

    def _ended_with_container(self, pod: str, container: str, restart: int) -> bool:
        """Whether a followed log that ended cleanly ended with its container: the API
        server says, within _LOG_END_SETTLE_S (the kubelet reports an exit a moment
        after the stream ends), that this run of the container (`restart`) no longer
        runs, or the pod is gone. A container still running then, or no answer, is a
        cut (following again tells)."""
        deadline = time.time() + _LOG_END_SETTLE_S
        while True:
            if not self._runs(pod, container, restart):
                return True
            if time.time() >= deadline or self._stop.wait(_LOG_END_POLL_S):
                return self._stop.is_set()

    def _runs(self, pod: str, container: str, restart: int) -> bool:
        try:
            obj = self.kube.core.read_namespaced_pod(
                pod, self.namespace, _request_timeout=_REQUEST_TIMEOUT
            )
        except ApiException as exc:
            return bool(exc.status != 404)
        except Exception:
            return True
        for status in (obj.status.container_statuses if obj.status else None) or []:
            if status.name == container:
                running = bool(status.state and status.state.running)
                return running and status.restart_count == restart
        return False

    def _read_lines(self, pod: str, container: str, resp: Any, progress: list[float]) -> None:
        """Record the app events of a followed log until it ends; a line cut short by
        a lost connection is dropped (the replay brings it whole)."""
        buf = b""
        for chunk in resp.stream(4096):
            progress[0] = time.time()
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                self._app_line(pod, container, line)
            if self._stop.is_set():
                break
        if buf:
            self._app_line(pod, container, buf)

    def _signal_line(self, pod: str, container: str, raw: bytes) -> None:
        """A signal the container's process logged (graceproof.log_signals): which one
        the runtime really sent, e.g. SIGTERM despite a stopSignal it ignores."""
        got = signal_line(raw)
        if got is None:
            return
        with self._lock:
            if (pod, raw) in self._app_lines:
                return
            self._app_lines.add((pod, raw))
        self.add(
            "container_signal",
            pod,
            got.t,
            container=container,
            signal=got.name,
            number=got.number,
            precision_s=1.0,
        )

    def _app_line(self, pod: str, container: str, raw: bytes) -> None:
        try:
            obj = json.loads(raw)
        except ValueError:
            self._signal_line(pod, container, raw)
            return
        if not isinstance(obj, dict) or "event" not in obj or "t" not in obj:
            return
        try:
            t = float(obj["t"])
        except (TypeError, ValueError):
            return
        with self._lock:
            if (pod, raw) in self._app_lines:  # delivered again by a replay after a cut
                return
            self._app_lines.add((pod, raw))
        event = str(obj["event"])
        kind = _APP_EVENTS.get(event, f"app_{event}")
        detail = {k: v for k, v in obj.items() if k not in ("event", "t", "pod")}
        self.add(kind, obj.get("pod") or pod, t, **detail)
