"""HTTP/1.1 through workloads/locustfile.py: a new connection per request, or kept alive."""

from __future__ import annotations

from graceproof.traffic.base import Traffic

__all__ = ["KeepAlive", "NewConnections"]


class NewConnections(Traffic):
    name = "new"
    description = "HTTP/1.1, a new TCP connection per request (Connection: close)"
    routes_each_request = True


class KeepAlive(Traffic):
    name = "keepalive"
    description = "HTTP/1.1, one connection per user, reused"
