"""Long-lived WebSocket streams through workloads/locust_websocket.py (websocket-client).

Each user holds one stream; the server sends a message every 0.1 s. A stream ends:
- cleanly, with a close frame from the server (a draining app closes with 1001,
  "going away") or from the client at the end of the run: not a failure;
- cut, without a close frame (the app died, a connection reset): error `stream_cut`;
- silent for longer than the load's timeout: error `timeout`.
The user then reconnects at once, through the Service; the new stream's record says
how long that took (`detail.reconnect_s`: from the end of the previous stream to the
first message of this one) and which pod served the previous one.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from graceproof.model import RequestRecord
from graceproof.traffic.base import Traffic

__all__ = ["WebSocketStreams", "describe_streams", "summarize_streams"]


class WebSocketStreams(Traffic):
    name = "websocket"
    description = "WebSocket streams, one held per user, reconnected when they end"
    locustfile = "locust_websocket.py"
    requires = (("websocket", "websocket"),)  # websocket-client
    port = "websocket"
    # A held stream is not an arrival at a rate.
    modes = ("closed",)
    error_kinds = ("stream_cut", "stream_error", "handshake")

    def summarize(self, records: Sequence[RequestRecord]) -> dict[str, Any] | None:
        summary = summarize_streams(records)
        by_server = [r for r in records if r.detail.get("closed_by") == "server"]
        summary["close_codes"] = sorted({int(r.status) for r in by_server})
        return summary

    def describe(self, summary: Mapping[str, Any]) -> str:
        codes = ", ".join(str(c) for c in summary.get("close_codes", []))
        return describe_streams(summary, f"closed by the server{f' ({codes})' if codes else ''}")


def summarize_streams(records: Sequence[RequestRecord]) -> dict[str, Any]:
    """What the records of held streams say, whatever their protocol (WebSocket, SSE):
    each record one stream, `detail.closed_by` who ended it cleanly, `detail.reconnect_s`
    and `detail.previous_pod` on each stream that followed another of its user."""
    gaps = [float(r.detail["reconnect_s"]) for r in records if "reconnect_s" in r.detail]
    return {
        "streams": len(records),
        "cut": sum(1 for r in records if r.error == "stream_cut"),
        "timed_out": sum(1 for r in records if r.error == "timeout"),
        "closed_by_server": sum(1 for r in records if r.detail.get("closed_by") == "server"),
        "messages": sum(int(r.detail.get("messages", 0)) for r in records),
        "reconnects": len(gaps),
        # Reconnections that reached another pod than the previous stream's.
        "reconnected_elsewhere": sum(
            1
            for r in records
            if "reconnect_s" in r.detail and r.detail.get("previous_pod") not in (None, r.pod)
        ),
        "reconnect_s": _spread(gaps),
    }


def describe_streams(summary: Mapping[str, Any], closed_by_server: str) -> str:
    """summarize_streams' figures in words; `closed_by_server` says how the server ends a
    stream cleanly in this protocol."""
    gaps = summary.get("reconnect_s")
    took = (
        f" in {gaps['min']:.3f}-{gaps['max']:.3f} s (median {gaps['median']:.3f} s)" if gaps else ""
    )
    return (
        f"{summary.get('streams', 0)} streams: {summary.get('cut', 0)} cut, "
        f"{summary.get('timed_out', 0)} silent, {summary.get('closed_by_server', 0)} "
        f"{closed_by_server}; "
        f"{summary.get('reconnects', 0)} reconnections, "
        f"{summary.get('reconnected_elsewhere', 0)} to another pod{took}"
    )


def _spread(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "median": round(statistics.median(values), 4),
        "max": round(max(values), 4),
        "min": round(min(values), 4),
    }
