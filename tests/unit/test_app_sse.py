"""The sample app's server-sent events server, run as a real process on 127.0.0.1 with
requests and sseclient-py as the client (those of workloads/locust_sse.py): what it
serves, and what a client sees of each SIGTERM mode: immediate cuts a stream (no `end`
event, the chunked body broken off), drain ends it with the `end` event and the body's
end, ignore keeps serving."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import sseclient

# pytest imports test modules in its default "prepend" mode: with no __init__.py,
# tests/unit is on sys.path and test_app is the module pytest itself loaded.
from test_app import AppProcess, load_server_module

READ_TIMEOUT = 5.0  # every read of a stream is bounded by this


class Events:
    """One stream, GET /events, read event by event."""

    def __init__(self, app: AppProcess, path: str = "/events") -> None:
        url = f"http://127.0.0.1:{app.start['sse_port']}{path}"
        self.response = requests.get(url, stream=True, timeout=READ_TIMEOUT)
        self.events = sseclient.SSEClient(self.response.iter_content(chunk_size=None)).events()

    def next(self) -> Any:
        return next(self.events)

    def until_end(self) -> tuple[list[dict[str, Any]], Any]:
        """Ticks up to the `end` event; the `end` event, None if the body ended without."""
        ticks = []
        for event in self.events:
            if event.event == "end":
                return ticks, event
            ticks.append(tick(event))
        return ticks, None

    def close(self) -> None:
        self.response.close()


@pytest.fixture
def start_app() -> Iterator[Callable[..., AppProcess]]:
    apps: list[AppProcess] = []

    def start(**env: str) -> AppProcess:
        app = AppProcess(**env)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.stop()


@pytest.fixture
def connect() -> Iterator[Callable[..., Events]]:
    streams: list[Events] = []

    def open_stream(app: AppProcess, path: str = "/events") -> Events:
        streams.append(Events(app, path))
        return streams[-1]

    yield open_stream
    for stream in streams:
        stream.close()


def tick(event: Any) -> dict[str, Any]:
    assert event.event == "message", event
    data: dict[str, Any] = json.loads(event.data)
    assert set(data) == {"pod", "seq", "t"}, data
    assert event.id == str(data["seq"])
    return data


def events(app: AppProcess) -> list[str]:
    return [line["event"] for line in app.lines]


def test_sse_sends_ticks_with_the_pod_name_and_increasing_seq(
    start_app: Callable[..., AppProcess], connect: Callable[..., Events]
) -> None:
    app = start_app(POD_NAME="web-3", SSE_PORT="0", SSE_INTERVAL="0.05")
    assert app.start["sse_port"] > 0
    stream = connect(app)
    headers = stream.response.headers
    assert stream.response.status_code == 200
    assert headers["Content-Type"] == "text/event-stream"
    assert headers["Transfer-Encoding"] == "chunked"
    assert headers["X-Pod-Name"] == "web-3"  # before any event
    ticks = [tick(stream.next()) for _ in range(4)]
    assert [t["seq"] for t in ticks] == [0, 1, 2, 3]
    assert {t["pod"] for t in ticks} == {"web-3"}
    # On a schedule of one every SSE_INTERVAL (a late tick shortens the next gap).
    assert ticks[-1]["t"] - ticks[0]["t"] >= 3 * 0.05 - 0.01


def test_sse_serves_events_on_their_path_only(start_app: Callable[..., AppProcess]) -> None:
    app = start_app(SSE_PORT="0")
    response = requests.get(f"http://127.0.0.1:{app.start['sse_port']}/", timeout=READ_TIMEOUT)
    assert response.status_code == 404 and "/events" in response.text
    assert response.headers["X-Pod-Name"] == "web-0"


def test_immediate_mode_cuts_sse_streams_without_an_end_event(
    start_app: Callable[..., AppProcess], connect: Callable[..., Events]
) -> None:
    app = start_app(SHUTDOWN_MODE="immediate", SSE_PORT="0")
    stream = connect(app)
    tick(stream.next())
    assert app.terminate_and_wait() == 143
    # The body breaks off: no `end` event, no closing chunk. requests says so; a client
    # that only looked for the `end` event would see the same.
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        ticks, end = stream.until_end()
        assert end is None, f"an end event came after {len(ticks)} ticks"
    app.wait_event("exit")
    assert events(app)[-2:] == ["sigterm", "exit"]


def test_drain_mode_ends_each_stream_with_an_end_event_and_the_body_end(
    start_app: Callable[..., AppProcess], connect: Callable[..., Events]
) -> None:
    app = start_app(SHUTDOWN_MODE="drain", DRAIN_TIMEOUT="5", SSE_PORT="0")
    first, second = connect(app), connect(app)
    for stream in (first, second):
        tick(stream.next())
    app.proc.send_signal(signal.SIGTERM)
    sigterm = app.wait_event("sigterm")
    for stream in (first, second):
        _, end = stream.until_end()
        assert end is not None and end.event == "end"
        assert json.loads(end.data) == {"pod": "web-0", "reason": "server draining"}
        # Then the body ends in good form: the iterator stops without an error.
        assert list(stream.events) == []
    assert app.proc.wait(timeout=10) == 0
    closed = app.wait_event("sse_closed")
    assert (closed["reason"], closed["streams"], closed["streams_left"]) == ("closed", 2, 0)
    assert closed["t"] - sigterm["t"] < 2  # at once: no stream waited for its next tick
    app.wait_event("exit")
    assert events(app)[-4:] == ["sigterm", "drain_start", "sse_closed", "exit"]


def test_ignore_mode_keeps_serving_sse_after_sigterm(
    start_app: Callable[..., AppProcess], connect: Callable[..., Events]
) -> None:
    app = start_app(SHUTDOWN_MODE="ignore", SSE_PORT="0", SSE_INTERVAL="0.05")
    stream = connect(app)
    tick(stream.next())
    app.proc.send_signal(signal.SIGTERM)
    app.wait_event("heartbeat")
    seqs = [tick(stream.next())["seq"] for _ in range(3)]
    assert seqs == sorted(seqs) and seqs[0] >= 1
    assert tick(connect(app).next())["seq"] == 0  # and opens new streams
    assert app.proc.poll() is None


def test_a_stream_asked_for_during_the_drain_gets_503_then_the_listener_closes() -> None:
    server_module = load_server_module()
    app = server_module.App(
        {"PORT": "0", "SSE_PORT": "0", "BIND_ADDRESS": "127.0.0.1", "POD_NAME": "p"}
    )
    server = server_module.start_sse(app, 0)
    url = f"http://127.0.0.1:{app.sse_port}/events"
    server.closing.set()  # what drain_sse does first
    response = requests.get(url, timeout=READ_TIMEOUT)
    assert (response.status_code, response.text) == (503, "draining\n")
    drain = threading.Thread(
        target=server_module.drain_sse, args=(app, server, time.monotonic() + 2)
    )
    drain.start()
    drain.join(timeout=5)
    assert not drain.is_alive()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=READ_TIMEOUT)


@pytest.mark.parametrize("value", ["0", "-1", "3601"])
def test_sse_interval_must_be_positive_and_at_most_an_hour(value: str) -> None:
    server_module = load_server_module()
    with pytest.raises(SystemExit, match="SSE_INTERVAL must be in"):
        server_module.App({"SSE_INTERVAL": value})
