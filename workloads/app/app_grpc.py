"""The sample app's gRPC server (GRPC_PORT): graceproof.Probe with raw bytes, no
protobuf (Unary, Ticks), and its drain: GOAWAY, then the calls in flight finish.
grpc is imported inside start_grpc only (see server.py's docstring)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from app_state import DRAIN_REPORT_MARGIN_S, App, log

if TYPE_CHECKING:  # for the annotations only: the real import is lazy
    import grpc  # type: ignore[import-untyped]

GRPC_SERVICE = "graceproof.Probe"
GRPC_WORKERS = 64  # each call in flight (a Ticks stream too) holds one worker thread
TICKS_MAX_COUNT = 10000
TICKS_MAX_INTERVAL_S = 10.0
TICKS_FORMAT = "ASCII '<count>,<interval_s>', e.g. '10,0.1'"
MAX_UNARY_DELAY_S = 10.0
UNARY_FORMAT = "an empty request or ASCII '<delay_s>', e.g. '0.2'"


def parse_unary_request(request: bytes) -> float | None:
    """b"" -> 0; b"<delay_s>" -> the delay, capped; None if malformed."""
    if not request:
        return 0.0
    try:
        delay = float(request.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not math.isfinite(delay) or delay < 0:
        return None
    return min(delay, MAX_UNARY_DELAY_S)


def parse_ticks_request(request: bytes) -> tuple[int, float] | None:
    """b"<count>,<interval_s>" -> (count, interval) capped; None if malformed."""
    try:
        count_text, interval_text = request.decode("ascii").split(",")
        count, interval = int(count_text), float(interval_text)
    except (UnicodeDecodeError, ValueError):
        return None
    if count < 0 or not math.isfinite(interval) or interval < 0:
        return None
    return min(count, TICKS_MAX_COUNT), min(interval, TICKS_MAX_INTERVAL_S)


def start_grpc(app: App, port: int) -> grpc.Server:
    """Serve graceproof.Probe with raw bytes (no protobuf) on port (0: a free one, kept in
    app.grpc_port); return the started server."""
    import grpc  # lazy: see the module docstring

    metadata = (("x-pod-name", app.pod),)

    def ended_event(context: grpc.ServicerContext) -> threading.Event:
        """Set when the call ends for any reason: the client cancelled or went away, or
        the drain's grace ran out. A drain alone leaves the call active: calls in flight
        finish, which is what a graceful gRPC shutdown promises."""
        ended = threading.Event()
        context.add_callback(ended.set)
        return ended

    def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
        delay = parse_unary_request(request)
        if delay is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Unary wants {UNARY_FORMAT}")
            return b""  # not reached: abort raises
        # Headers first: a call cut during its delay still tells the client its pod.
        context.send_initial_metadata(metadata)
        app.grpc_calls.add(context)
        try:
            if delay and ended_event(context).wait(delay):
                return b""  # the call is over; nobody reads this
            return app.pod.encode()
        finally:
            app.grpc_calls.discard(context)

    def ticks(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        parsed = parse_ticks_request(request)
        if parsed is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Ticks wants {TICKS_FORMAT}")
            return  # not reached: abort raises
        count, interval = parsed
        ended = ended_event(context)
        app.grpc_calls.add(context)
        sent = 0
        try:
            context.send_initial_metadata(metadata)
            for seq in range(count):
                if (seq > 0 and ended.wait(interval)) or not context.is_active():
                    return  # the call ended under the stream: stop now, not at its end
                sent = seq + 1
                yield json.dumps({"pod": app.pod, "seq": seq, "t": time.time()}).encode()
        finally:
            app.grpc_calls.discard(context)
            # Also reached when grpc itself stops asking for messages (the call ended
            # while it sent one) and the generator is closed: GeneratorExit at the yield.
            if sent < count:
                log("ticks_stopped", app.pod, sent=sent, count=count)

    handler = grpc.method_handlers_generic_handler(
        GRPC_SERVICE,
        {
            # No (de)serializers: requests and responses are raw bytes.
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Ticks": grpc.unary_stream_rpc_method_handler(ticks),
        },
    )
    # grpc sets SO_REUSEPORT by default: a second app on the same fixed port would then
    # start without error and share the traffic. Off, the bind fails as HTTP's does.
    server = grpc.server(
        ThreadPoolExecutor(max_workers=GRPC_WORKERS), options=[("grpc.so_reuseport", 0)]
    )
    server.add_generic_rpc_handlers((handler,))
    host = f"[{app.bind_address}]" if ":" in app.bind_address else app.bind_address
    app.grpc_port = server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server


def drain_grpc(app: App, server: grpc.Server, deadline: float) -> None:
    """GOAWAY and refuse new calls at once; let calls in flight finish until deadline."""
    calls = len(app.grpc_calls.snapshot())
    began = time.monotonic()
    grace = max(0.0, deadline - began)
    stopped = server.stop(grace=grace).wait(grace + DRAIN_REPORT_MARGIN_S)
    took = time.monotonic() - began
    # After its grace grpc cancels the calls left: stopping later means they were cut.
    reason = "drained" if stopped and (took < grace or not calls) else "timeout"
    log("grpc_drained", app.pod, reason=reason, calls=calls, seconds=round(took, 3))
