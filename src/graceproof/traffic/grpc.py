"""gRPC through workloads/locust_grpc.py (grpcio, Locust's gRPC pattern: gevent-enabled
grpcio, one channel per user, every call fired as a Locust request event).

A channel is one HTTP/2 connection, kept for the whole run: like keep-alive, it stays
on its pod whatever the Service's endpoints say, so what matters is how the server
stops. A graceful server sends GOAWAY and finishes the calls in flight (grpcio's
`server.stop(grace)`); the client then opens a new connection through the Service.
A server that exits at once fails every call in flight, each recorded with its status
code (`status` is the code's number, `error` grpc_<code name>, `detail.code` the name).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from graceproof.model import RequestRecord
from graceproof.traffic.base import Traffic

__all__ = ["GRPC_ERROR_KINDS", "GrpcStream", "GrpcUnary"]

# grpc.StatusCode without OK, as the locustfile names failures (grpc_<name>).
_CODES = (
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
GRPC_ERROR_KINDS = tuple(f"grpc_{c.lower()}" for c in _CODES)


class _Grpc(Traffic):
    locustfile = "locust_grpc.py"
    requires = (("grpc", "grpc"),)
    port = "grpc"
    error_kinds = GRPC_ERROR_KINDS
    # grpc_delay: seconds the server waits before answering a unary call;
    # stream_messages, stream_interval: each server stream's length.
    options = ("grpc_delay", "stream_messages", "stream_interval")

    def summarize(self, records: Sequence[RequestRecord]) -> dict[str, Any] | None:
        # Late open-loop arrivals were never sent: no call, no code.
        calls = [r for r in records if not r.late]
        codes = Counter(str(r.detail.get("code", "OK" if r.ok else r.error)) for r in calls)
        return {"calls": len(calls), "status_codes": dict(sorted(codes.items()))}

    def describe(self, summary: Mapping[str, Any]) -> str:
        codes = ", ".join(f"{k} {v}" for k, v in summary.get("status_codes", {}).items())
        text = f"{summary.get('calls', 0)} gRPC calls by status code: {codes or 'none'}"
        if "messages" in summary:
            text += (
                f"; {summary['messages']} stream messages, "
                f"{summary.get('short_streams', 0)} streams ended short"
            )
        return text


class GrpcUnary(_Grpc):
    name = "grpc-unary"
    description = "gRPC unary calls, one channel (HTTP/2 connection) per user"

    def longest_call_s(self, settings: Any) -> float:
        return float(settings.timeout_s) + float(settings.options.get("grpc_delay", 0))


class GrpcStream(_Grpc):
    name = "grpc-stream"
    description = (
        "gRPC server-streaming calls (stream_messages, 10 by default, stream_interval, "
        "0.1 s, apart), one channel per user; a call that ends early or not OK fails"
    )

    def longest_call_s(self, settings: Any) -> float:
        messages = int(settings.options.get("stream_messages", 10))
        interval = float(settings.options.get("stream_interval", 0.1))
        return messages * interval + float(settings.timeout_s)

    error_kinds = (*GRPC_ERROR_KINDS, "stream_short")

    def summarize(self, records: Sequence[RequestRecord]) -> dict[str, Any] | None:
        out = super().summarize(records) or {}
        out["messages"] = sum(int(r.detail.get("messages", 0)) for r in records)
        out["short_streams"] = sum(1 for r in records if r.error == "stream_short")
        return out
