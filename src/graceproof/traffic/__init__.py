"""Traffic kinds (graceproof.traffic.base): HTTP new and keep-alive connections, gRPC
unary and server streaming, WebSocket streams, server-sent events. Importing this
package registers them; a kind of one's own registers when its module is imported."""

from graceproof.traffic import grpc, http, sse, websocket
from graceproof.traffic.base import TRAFFIC_KINDS, Traffic, describe_summary, kinds, traffic

__all__ = [
    "TRAFFIC_KINDS",
    "Traffic",
    "describe_summary",
    "grpc",
    "http",
    "kinds",
    "sse",
    "traffic",
    "websocket",
]
