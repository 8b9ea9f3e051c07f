"""The sample app's optional gRPC and WebSocket servers, run as a real process on
127.0.0.1 with grpc and websocket-client as clients: what they serve, and what a client
sees of each SIGTERM mode (immediate cuts, drain finishes and says goodbye)."""

from __future__ import annotations

import itertools
import json
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import websocket

# pytest imports test modules in its default "prepend" mode: with no __init__.py,
# tests/unit is on sys.path and test_app is the module pytest itself loaded.
from test_app import AppProcess, in_background, load_server_module

STREAMS = {"GRPC_PORT": "0", "WS_PORT": "0"}
CALL_TIMEOUT = 5.0  # every gRPC call and WebSocket read is bounded by this
OPCODE_TEXT, OPCODE_CLOSE = websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_CLOSE
GOING_AWAY = 1001


class Probe:
    """A gRPC channel to the app's graceproof.Probe service (raw bytes, no protobuf)."""

    def __init__(self, app: AppProcess) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{app.start['grpc_port']}")
        self.unary = self.channel.unary_unary("/graceproof.Probe/Unary")
        self.ticks = self.channel.unary_stream("/graceproof.Probe/Ticks")

    def close(self) -> None:
        self.channel.close()


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
def probe() -> Iterator[Callable[[AppProcess], Probe]]:
    probes: list[Probe] = []

    def connect(app: AppProcess) -> Probe:
        probes.append(Probe(app))
        return probes[-1]

    yield connect
    for p in probes:
        p.close()


@pytest.fixture
def ws_connect() -> Iterator[Callable[..., websocket.WebSocket]]:
    sockets: list[websocket.WebSocket] = []

    def connect(app: AppProcess, path: str = "/") -> websocket.WebSocket:
        url = f"ws://127.0.0.1:{app.start['ws_port']}{path}"
        sockets.append(websocket.create_connection(url, timeout=CALL_TIMEOUT))
        return sockets[-1]

    yield connect
    for ws in sockets:
        ws.shutdown()


def tick(message: bytes | str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(message)
    assert set(data) == {"pod", "seq", "t"}, data
    return data


def recv_until_close(ws: websocket.WebSocket) -> tuple[list[dict[str, Any]], bytes]:
    """Read ticks until the close frame; return them and the close frame's payload."""
    ticks = []
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == OPCODE_CLOSE:
            return ticks, data
        if opcode == OPCODE_TEXT:
            ticks.append(tick(data))


def events(app: AppProcess) -> list[str]:
    return [line["event"] for line in app.lines]


# --- what the servers serve ---


def test_grpc_unary_answers_the_pod_name_in_body_and_metadata(
    start_app: Callable[..., AppProcess], probe: Callable[[AppProcess], Probe]
) -> None:
    app = start_app(POD_NAME="web-7", **STREAMS)
    # No wait_for_ready: the start line (so /healthz) comes only once gRPC listens.
    body, call = probe(app).unary.with_call(b"", timeout=CALL_TIMEOUT)
    assert body == b"web-7"
    assert ("x-pod-name", "web-7") in [(m.key, m.value) for m in call.initial_metadata()]


def test_grpc_unary_waits_the_requested_delay_and_rejects_a_malformed_one(
    start_app: Callable[..., AppProcess], probe: Callable[[AppProcess], Probe]
) -> None:
    app = start_app(GRPC_PORT="0")
    unary = probe(app).unary
    began = time.monotonic()
    assert unary(b"0.3", timeout=CALL_TIMEOUT) == b"web-0"
    assert time.monotonic() - began >= 0.3
    for request in (b"soon", b"-1", b"nan", b"0.1,0.1"):
        with pytest.raises(grpc.RpcError) as caught:
            unary(request, timeout=CALL_TIMEOUT)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert "<delay_s>" in caught.value.details(), request


def test_grpc_ticks_streams_count_messages_with_increasing_seq(
    start_app: Callable[..., AppProcess], probe: Callable[[AppProcess], Probe]
) -> None:
    app = start_app(GRPC_PORT="0")
    began = time.time()
    stream = probe(app).ticks(b"5,0.05", timeout=CALL_TIMEOUT)
    ticks = [tick(m) for m in stream]
    assert [t["seq"] for t in ticks] == [0, 1, 2, 3, 4]
    assert {t["pod"] for t in ticks} == {"web-0"}
    assert began <= ticks[0]["t"]
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(ticks)]
    assert min(gaps) >= 0.04, gaps  # one every interval_s
    assert stream.code() == grpc.StatusCode.OK
    assert ("x-pod-name", "web-0") in [(m.key, m.value) for m in stream.initial_metadata()]


def test_grpc_ticks_rejects_a_malformed_request_with_invalid_argument(
    start_app: Callable[..., AppProcess], probe: Callable[[AppProcess], Probe]
) -> None:
    app = start_app(GRPC_PORT="0")
    ticks = probe(app).ticks
    for request in (b"", b"10", b"ten,0.1", b"10,0.1,1", b"-1,0.1", b"10,-1", b"10,nan"):
        with pytest.raises(grpc.RpcError) as caught:
            list(ticks(request, timeout=CALL_TIMEOUT))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert "<count>,<interval_s>" in caught.value.details(), request


def test_grpc_requests_are_capped_at_10000_messages_and_10_s() -> None:
    server = load_server_module()  # in this process: grpc is not needed for the parsing
    parse = server.parse_ticks_request
    assert parse(b"10,0.1") == (10, 0.1)
    assert parse(b"0,0") == (0, 0.0)
    assert parse(b"20000,60") == (10000, 10.0)
    assert parse(b"10,inf") is None
    assert server.parse_unary_request(b"") == 0.0
    assert server.parse_unary_request(b"60") == 10.0


def test_websocket_sends_ticks_with_the_pod_name_and_increasing_seq(
    start_app: Callable[..., AppProcess], ws_connect: Callable[..., websocket.WebSocket]
) -> None:
    app = start_app(POD_NAME="web-3", WS_PORT="0", WS_INTERVAL="0.05")
    ws = ws_connect(app, "/any/path")
    ticks = [tick(ws.recv()) for _ in range(4)]
    assert [t["seq"] for t in ticks] == [0, 1, 2, 3]
    assert {t["pod"] for t in ticks} == {"web-3"}
    # On a schedule of one every WS_INTERVAL (a late tick shortens the next gap).
    assert ticks[-1]["t"] - ticks[0]["t"] >= 3 * 0.05 - 0.01


def test_without_grpc_port_and_ws_port_the_app_imports_neither(
    start_app: Callable[..., AppProcess], tmp_path: Path
) -> None:
    # Packages named grpc and websockets that fail on import, ahead of the real ones.
    for name in ("grpc", "websockets"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(
            f"raise ImportError('the app imported {name} without being asked to')\n"
        )
    shadow = {"PYTHONPATH": str(tmp_path)}
    # The shadowing works: importing either fails in a process with that path.
    for name in ("grpc", "websockets"):
        probe = subprocess.run(
            [sys.executable, "-c", f"import {name}"],
            env=shadow,
            capture_output=True,
            timeout=10,
            check=False,
        )
        assert b"without being asked to" in probe.stderr, name
    app = start_app(SHUTDOWN_MODE="drain", **shadow)
    assert app.get("/")[0] == 200
    assert "grpc_port" not in app.start and "ws_port" not in app.start
    assert app.terminate_and_wait() == 0  # the drain imports neither either
    app.wait_event("exit")
    assert events(app) == ["start", "sigterm", "drain_start", "exit"]


# --- SIGTERM ---


def test_immediate_mode_cuts_grpc_streams_and_websockets_without_goaway_or_close_frame(
    start_app: Callable[..., AppProcess],
    probe: Callable[[AppProcess], Probe],
    ws_connect: Callable[..., websocket.WebSocket],
) -> None:
    app = start_app(SHUTDOWN_MODE="immediate", **STREAMS)
    client = probe(app)
    slow_unary = client.unary.future(b"3", timeout=CALL_TIMEOUT)
    # Same connection, so the server took the unary call first; two ticks later (0.05 s
    # apart) it has long sent the unary's headers. (A unary future shows its headers
    # only once the call ends: initial_metadata() cannot tell that it is in flight.)
    stream = client.ticks(b"100,0.05", timeout=CALL_TIMEOUT)
    received = [tick(next(stream)) for _ in range(2)]
    ws = ws_connect(app)
    tick(ws.recv())
    assert app.terminate_and_wait() == 143
    unary_error = slow_unary.exception(timeout=CALL_TIMEOUT)
    assert isinstance(unary_error, grpc.RpcError)
    assert unary_error.code() == grpc.StatusCode.UNAVAILABLE, unary_error.details()
    # Its headers came before the delay: the failed call still names its pod.
    assert ("x-pod-name", "web-0") in [(m.key, m.value) for m in unary_error.initial_metadata()]
    with pytest.raises(grpc.RpcError) as caught:
        received.extend(tick(m) for m in stream)
    # Measured: UNAVAILABLE, "Stream removed (Socket closed)": the connection ended
    # under the stream, no GOAWAY, no status from the server.
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value.details()
    assert len(received) < 100
    # The WebSocket ends without a close frame: websocket-client sees the TCP end.
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        while True:
            opcode, data = ws.recv_data(control_frame=True)
            assert opcode != OPCODE_CLOSE, f"a close frame came: {data!r}"
    app.wait_event("exit")
    assert events(app)[-2:] == ["sigterm", "exit"]


def test_drain_mode_finishes_an_in_flight_ticks_stream_and_refuses_new_calls(
    start_app: Callable[..., AppProcess], probe: Callable[[AppProcess], Probe]
) -> None:
    app = start_app(SHUTDOWN_MODE="drain", DRAIN_TIMEOUT="5", GRPC_PORT="0")
    stream = probe(app).ticks(b"10,0.1", timeout=CALL_TIMEOUT)
    received = [tick(next(stream)) for _ in range(2)]
    app.proc.send_signal(signal.SIGTERM)
    sigterm = app.wait_event("sigterm")
    # A new call, on a new connection, fails once the drain has stopped the listener.
    deadline, code = time.monotonic() + 2, None
    while time.monotonic() < deadline and code != grpc.StatusCode.UNAVAILABLE:
        try:
            probe(app).unary(b"", timeout=1)
            time.sleep(0.02)  # the drain thread has not reached the gRPC server yet
        except grpc.RpcError as exc:
            code = exc.code()
    assert code == grpc.StatusCode.UNAVAILABLE
    received.extend(tick(m) for m in stream)
    assert [t["seq"] for t in received] == list(range(10))
    assert stream.code() == grpc.StatusCode.OK
    assert received[-1]["t"] > sigterm["t"] + 0.5  # it went on well after SIGTERM
    assert app.proc.wait(timeout=10) == 0
    drained, exit_line = app.wait_event("grpc_drained"), app.wait_event("exit")
    assert (drained["reason"], drained["calls"]) == ("drained", 1)
    assert events(app)[-1] == "exit"
    assert exit_line["t"] >= received[-1]["t"]  # the exit waited for the stream


def test_drain_mode_closes_websockets_with_code_1001(
    start_app: Callable[..., AppProcess], ws_connect: Callable[..., websocket.WebSocket]
) -> None:
    app = start_app(SHUTDOWN_MODE="drain", DRAIN_TIMEOUT="5", WS_PORT="0")
    first, second = ws_connect(app), ws_connect(app, "/other")
    for ws in (first, second):
        tick(ws.recv())
    app.proc.send_signal(signal.SIGTERM)
    for ws in (first, second):
        _, payload = recv_until_close(ws)
        assert struct.unpack("!H", payload[:2])[0] == GOING_AWAY
        # A well-behaved client answers (recv did) and hangs up. websocket-client's
        # close() does nothing once recv has answered: only shutdown() hangs up, and
        # until then the server waits for it (WS_CLOSE_TIMEOUT_S).
        ws.shutdown()
    assert app.proc.wait(timeout=10) == 0
    closed = app.wait_event("ws_closed")
    assert (closed["reason"], closed["streams"], closed["streams_left"]) == ("closed", 2, 0)
    app.wait_event("exit")
    assert events(app)[-4:] == ["sigterm", "drain_start", "ws_closed", "exit"]


def test_drain_mode_exits_only_after_http_grpc_and_websockets_are_done(
    start_app: Callable[..., AppProcess],
    probe: Callable[[AppProcess], Probe],
    ws_connect: Callable[..., websocket.WebSocket],
) -> None:
    app = start_app(SHUTDOWN_MODE="drain", DRAIN_TIMEOUT="5", **STREAMS)
    http, http_out = in_background(lambda: app.get("/slow?seconds=0.5"))
    stream = probe(app).ticks(b"10,0.1", timeout=CALL_TIMEOUT)
    tick(next(stream))
    ws = ws_connect(app)
    tick(ws.recv())
    app.wait_event("slow_start")
    app.proc.send_signal(signal.SIGTERM)
    assert recv_until_close(ws)[1][:2] == struct.pack("!H", GOING_AWAY)
    ws.shutdown()
    last = [tick(m) for m in stream][-1]
    assert last["seq"] == 9
    http.join(timeout=CALL_TIMEOUT)
    assert http_out["value"][0] == 200
    assert app.proc.wait(timeout=10) == 0
    exit_line = app.wait_event("exit")
    assert set(events(app)[-3:-1]) == {"grpc_drained", "ws_closed"}
    assert events(app)[-1] == "exit"
    # The gRPC stream ended last (0.9 s of ticks, against 0.5 s of HTTP): the exit
    # waited for it.
    assert exit_line["t"] >= last["t"] >= app.wait_event("slow_start")["t"] + 0.5


def test_a_cancelled_ticks_stream_stops_on_the_server_at_once(
    start_app: Callable[..., AppProcess], probe: Callable[[AppProcess], Probe]
) -> None:
    app = start_app(GRPC_PORT="0")
    # A long interval: a handler that only noticed the cancel at its next tick would
    # still be sleeping 5 s later.
    stream = probe(app).ticks(b"100,5", timeout=CALL_TIMEOUT)
    tick(next(stream))
    cancelled_at = time.time()
    stream.cancel()
    stopped = app.wait_event("ticks_stopped", timeout=3)
    assert (stopped["sent"], stopped["count"]) == (1, 100)
    assert stopped["t"] - cancelled_at < 1


def test_ignore_mode_keeps_serving_grpc_and_websockets_after_sigterm(
    start_app: Callable[..., AppProcess],
    probe: Callable[[AppProcess], Probe],
    ws_connect: Callable[..., websocket.WebSocket],
) -> None:
    app = start_app(SHUTDOWN_MODE="ignore", WS_INTERVAL="0.05", **STREAMS)
    ws = ws_connect(app)
    tick(ws.recv())
    app.proc.send_signal(signal.SIGTERM)
    app.wait_event("heartbeat")
    assert probe(app).unary(b"", timeout=CALL_TIMEOUT) == b"web-0"
    assert len(list(probe(app).ticks(b"3,0", timeout=CALL_TIMEOUT))) == 3
    seqs = [tick(ws.recv())["seq"] for _ in range(3)]
    assert seqs == sorted(seqs) and seqs[0] >= 1
    assert app.proc.poll() is None
