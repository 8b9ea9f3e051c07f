"""Server-sent events through workloads/locust_sse.py (requests and sseclient-py).

Each user holds one stream, GET /events answered with `text/event-stream`, on which the
server sends an event every 0.1 s. SSE has no close frame: a server that ends a stream
itself says so in it, and the sample app's last event is named `end`. A stream ends:
- cleanly, with the `end` event (a draining app sends it to every open stream), or by the
  client at the end of the run: not a failure;
- cut, without it: an EOF, a reset, a chunked body broken off (the app died): error
  `stream_cut`;
- silent for longer than the load's timeout: error `timeout`.
A stream that never opened is an HTTP failure as for any request (`connection_refused`,
`http_5xx`, ...), or `stream_error` for an answer that is not an event stream. The user
then reconnects at once, through the Service, as for WebSocket (the figures are the same:
graceproof.traffic.websocket.summarize_streams): `detail.reconnect_s` from the end of the
previous stream to the first event of this one, and the pod that served the previous one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graceproof.model import RequestRecord
from graceproof.traffic.base import Traffic
from graceproof.traffic.websocket import describe_streams, summarize_streams

__all__ = ["ServerSentEvents"]


class ServerSentEvents(Traffic):
    name = "sse"
    description = (
        "server-sent events (text/event-stream), one stream held per user, reconnected "
        "when it ends; a stream that ends without the server's `end` event is cut"
    )
    locustfile = "locust_sse.py"
    requires = (("sseclient", "sse"),)  # sseclient-py
    port = "sse"
    # A held stream is not an arrival at a rate.
    modes = ("closed",)
    error_kinds = ("stream_cut", "stream_error")

    def summarize(self, records: Sequence[RequestRecord]) -> dict[str, Any] | None:
        return summarize_streams(records)

    def describe(self, summary: Mapping[str, Any]) -> str:
        return describe_streams(summary, "ended by the server (its `end` event)")
