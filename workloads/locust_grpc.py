"""Locust load for graceproof's gRPC traffic kinds (graceproof.traffic.grpc).

Locust's gRPC pattern: grpcio made gevent-cooperative (`init_gevent`, before any
channel), a User holding one channel, every call fired as a Locust request event.
Records, modes, timeouts and the target check are workloads/locustfile.py's (this file
imports it as its base and replaces only what one request is); its settings, declared
with the others in locust_settings.py:

  GRACEPROOF_CONNECTION  grpc-unary: graceproof.Probe/Unary, the pod's name as answer.
                         grpc-stream: graceproof.Probe/Ticks, GRACEPROOF_STREAM_MESSAGES
                         messages (default 10) GRACEPROOF_STREAM_INTERVAL s apart
                         (default 0.1); fewer messages with an OK status is `stream_short`.
  GRACEPROOF_GRPC_DELAY  grpc-unary: seconds the server waits before it answers
                         (default 0), so calls are in flight when a pod stops.

One channel per user, for the whole run: one HTTP/2 connection, which stays on its pod
until the server sends GOAWAY or the connection breaks; the channel then reconnects
through the Service. Calls are not wait_for_ready: a call while the channel cannot
connect fails at once (UNAVAILABLE) instead of hiding the outage in a queue. A failed
call is recorded with its status code: `status` the code's number, `error`
grpc_<name in lower case>, `detail.code` the name.
"""

from __future__ import annotations

import json
from typing import Any

import grpc  # type: ignore[import-untyped]
from grpc.experimental import gevent as grpc_gevent  # type: ignore[import-untyped]

import locustfile as base  # Locust puts this file's folder first on sys.path

# Before any channel exists: grpcio's polling then yields to gevent.
grpc_gevent.init_gevent()

base.CONNECTIONS.update({"grpc-unary", "grpc-stream"})
UNARY = "/graceproof.Probe/Unary"
TICKS = "/graceproof.Probe/Ticks"
settings = base.settings  # this kind's own: grpc_delay, stream_messages, stream_interval


def pod_of(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "x-pod-name":
            return str(value)
    return None


def failed(exc: grpc.RpcError, pod: str | None, **detail: Any) -> base.Outcome:
    # A call's error is also a grpc.Call: its code() is a grpc.StatusCode.
    code = exc.code() or grpc.StatusCode.UNKNOWN
    name, number = code.name, int(code.value[0])
    return base.Outcome(number, f"grpc_{name.lower()}", pod, exc, 0, {"code": name, **detail})


class GrpcCalls:
    """The gRPC half of a user: its channel and what one call is."""

    port: int
    environment: Any

    def label(self) -> tuple[str, str]:
        return "grpc", TICKS if settings.connection == "grpc-stream" else UNARY

    def open_channel(self) -> None:
        self.channel = grpc.insecure_channel(
            f"{settings.target_address}:{self.port}",
            # Reconnect soon after a broken connection: its default back-off (1 s and
            # growing) would fail calls that a live pod could take.
            options=[
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 1000),
            ],
        )
        self.unary = self.channel.unary_unary(UNARY)
        self.ticks = self.channel.unary_stream(TICKS)

    def close_channel(self) -> None:
        self.channel.close()

    def attempt(self) -> base.Outcome:
        if settings.connection == "grpc-stream":
            return self.stream_call()
        delay = settings.grpc_delay
        request = f"{delay:g}".encode() if delay else b""
        try:
            answer, call = self.unary.with_call(request, timeout=settings.timeout_s + delay)
        except grpc.RpcError as exc:
            return failed(exc, pod_of(_initial_metadata(exc)))
        return base.Outcome(0, None, pod_of(call.initial_metadata()), None, len(answer))

    def stream_call(self) -> base.Outcome:
        count, interval = settings.stream_messages, settings.stream_interval
        request = f"{count},{interval:g}".encode()
        # The whole stream's deadline: its messages plus one timeout of slack.
        call = self.ticks(request, timeout=count * interval + settings.timeout_s)
        messages, pod, length = 0, None, 0
        try:
            for message in call:
                messages += 1
                length += len(message)
                if pod is None:
                    pod = json.loads(message).get("pod")
        except grpc.RpcError as exc:
            return failed(exc, pod or pod_of(_initial_metadata(exc)), messages=messages)
        detail = {"code": "OK", "messages": messages}
        if messages < count:
            short = Exception(f"{messages} of {count} messages")
            return base.Outcome(0, "stream_short", pod, short, length, detail)
        return base.Outcome(0, None, pod, None, length, detail)


def _initial_metadata(exc: grpc.RpcError) -> Any:
    try:
        return exc.initial_metadata()  # a failed call is also a grpc.Call
    except Exception:
        return None


class GrpcUser(GrpcCalls, base.GraceproofUser):
    """Closed loop: call, answer, pause, next call."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.open_channel()

    def on_stop(self) -> None:
        self.close_channel()


class GrpcOpenLoopUser(GrpcCalls, base.OpenLoopUser):
    """Open loop: calls at fixed intended times on the user's one channel (HTTP/2
    carries them side by side)."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.open_channel()

    def close_idle(self) -> None:
        self.close_channel()
