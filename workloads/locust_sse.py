"""Locust load for graceproof's server-sent events traffic kind (graceproof.traffic.sse).

Each user holds one stream: GET http://127.0.0.1:<port>/events with requests (Locust's
own HTTP library, cooperative under its gevent patching), the events parsed by
sseclient-py, and reads the event the app sends every 0.1 s. Why sseclient-py: of the
SSE clients for requests it is by far the most downloaded (around rank 1,400 of PyPI's
most downloaded packages; requests-sse around 10,000), pure Python with no dependency,
typed, and it only parses: it reads the response it is given and never reconnects by
itself, so every end of a stream, and how it ended, reaches this file. requests-sse
0.5.3, the other candidate, swallows a read error inside its iterator and reconnects
after a doubling wait, telling a cut only to an on_error callback, with no way to tell
it from a clean end. A stream is one record, written when it ends:
  - the server ended it with its `end` event (a draining app, workloads/app/app_sse.py):
    ok, `detail.closed_by` server; `status` is the answer's (200);
  - the run ended: the client closes it, ok;
  - it ended without the `end` event: an EOF, a reset, a chunked body broken off (the
    app died): `stream_cut`;
  - no byte for GRACEPROOF_TIMEOUT seconds: `timeout`;
  - an event that is not the app's (data not its JSON): `stream_error`;
  - it never opened: the connection's error kind, the answer's (`http_5xx`, ...) when it
    was not a 200, or `stream_error` for a 200 that is not `text/event-stream`.
`detail`: events received, who ended it, and on the next stream of the same user,
`reconnect_s` (from the end of the previous stream to this one's first event) and
`previous_pod`. The user reconnects at once, not after the `retry` delay a browser's
EventSource would wait: as for WebSocket, what is measured is the path, not a client's
back-off. A line per stream opened goes to GRACEPROOF_PROGRESS. Closed mode only.
Records, timeouts and the target check are workloads/locustfile.py's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import requests
import sseclient  # sseclient-py
from urllib3.exceptions import ReadTimeoutError

import locustfile as base  # Locust puts this file's folder first on sys.path

base.CONNECTIONS.add("sse")
settings = base.settings
PATH = "/events"
# The last event of a stream the server ends itself (workloads/app/app_sse.py END_EVENT).
END_EVENT = "end"
EVENT_STREAM = "text/event-stream"


def causes(exc: BaseException) -> Iterator[BaseException]:
    """exc and what it wraps: requests wraps urllib3's errors (in args), which wrap the
    socket's (MaxRetryError.reason, __cause__)."""
    todo, seen = [exc], set()
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [a for a in e.args if isinstance(a, BaseException)]
        todo += [
            c
            for c in (getattr(e, "reason", None), e.__cause__, e.__context__)
            if isinstance(c, BaseException)
        ]


def is_timeout(exc: BaseException) -> bool:
    return any(
        isinstance(e, requests.exceptions.Timeout | ReadTimeoutError | TimeoutError)
        for e in causes(exc)
    )


def opening_error(exc: BaseException) -> str:
    """The error kind of a stream that could not be opened: the socket's, under the
    wrappers (`connection_refused`, ...), or `other`."""
    if is_timeout(exc):
        return "timeout"
    for e in causes(exc):
        kind = base.classify(e, 0)
        if kind not in (None, "other"):
            return kind
    return "other"


class Stream:
    """One stream's state while it is held."""

    def __init__(self, pod: str | None) -> None:
        self.messages = 0
        self.pod = pod  # X-Pod-Name of the answer, before any event
        self.first_at: float | None = None  # perf_counter of the first event

    def received(self, data: str) -> None:
        tick = json.loads(data)
        self.messages += 1
        if self.first_at is None:
            self.first_at = time.perf_counter()
            self.pod = self.pod or tick.get("pod")


class SseUser(base.GraceproofUser):
    """Holds a stream; when it ends, opens the next one (after the user's pause)."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.url = f"http://{settings.target_address}:{self.port}{PATH}"
        self.ended_at: float | None = None  # perf_counter: the previous stream's end
        self.previous_pod: str | None = None

    def label(self) -> tuple[str, str]:
        return "sse", PATH

    def stopping(self) -> bool:
        return self._state == "stopping" or base.is_stopping(self.environment.runner)

    def attempt(self) -> base.Outcome:
        # A session per stream: a new connection each time, through the Service.
        with requests.Session() as session:
            session.trust_env = False  # no proxy or netrc from the environment
            return self.stream(session)

    def stream(self, session: requests.Session) -> base.Outcome:
        headers = {"Accept": EVENT_STREAM, "Cache-Control": "no-cache"}
        if settings.host_header:
            headers["Host"] = settings.host_header
        try:
            # timeout: the connect, then each read of the body (a silent stream).
            response = session.get(
                self.url,
                headers=headers,
                stream=True,
                timeout=settings.timeout_s,
                allow_redirects=False,
            )
        except Exception as exc:  # every failure is data: classify and record it
            return base.Outcome(0, opening_error(exc), None, exc)
        with response:
            status, pod = response.status_code, response.headers.get("X-Pod-Name")
            content_type = response.headers.get("Content-Type", "")
            if status != 200 or not content_type.startswith(EVENT_STREAM):
                error = base.classify(None, status) if status != 200 else None
                exc = Exception(f"HTTP {status} {content_type!r}: not an event stream")
                return base.Outcome(status, error or "stream_error", pod, exc)
            base.progress()
            stream = Stream(pod)
            out = self.hold(response, stream)
        detail: dict[str, Any] = {**(out.detail or {}), "messages": stream.messages}
        if self.ended_at is not None and stream.first_at is not None:
            # Failed attempts in between count: the gap is what a client lived with.
            detail["reconnect_s"] = round(stream.first_at - self.ended_at, 4)
            detail["previous_pod"] = self.previous_pod
        out.detail = detail
        self.ended_at, self.previous_pod = time.perf_counter(), stream.pod
        return out

    def hold(self, response: requests.Response, stream: Stream) -> base.Outcome:
        """Read events until the stream ends; what ended it."""
        status = response.status_code
        # chunk_size None: each chunk as it arrives (one event each, from the app).
        client = sseclient.SSEClient(response.iter_content(chunk_size=None))
        try:
            for event in client.events():
                if event.event == END_EVENT:
                    return base.Outcome(status, None, stream.pod, None, 0, {"closed_by": "server"})
                stream.received(event.data)
                # After every event: a stream that talks every 0.1 s never times out,
                # and the run's end must still close it.
                if self.stopping():
                    return base.Outcome(status, None, stream.pod, None, 0, {"closed_by": "client"})
        except (requests.RequestException, OSError) as exc:
            # A read that timed out comes as a ConnectionError around urllib3's
            # ReadTimeoutError; a reset or a broken chunked body as ChunkedEncodingError.
            error = "timeout" if is_timeout(exc) else "stream_cut"
            return base.Outcome(status, error, stream.pod, exc)
        except (ValueError, AttributeError) as exc:  # not the app's JSON, not UTF-8
            return base.Outcome(status, "stream_error", stream.pod, exc)
        # The body ended in good form, but without the `end` event: the server did not
        # say it meant to end the stream.
        exc = Exception(f"the stream ended without the server's {END_EVENT!r} event")
        return base.Outcome(status, "stream_cut", stream.pod, exc)
